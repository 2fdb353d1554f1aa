"""Linear probes of embeddings: per-session R² and AUROC, lagged features, floors, null controls.

The protocol of the distillation benchmarks (the reference's): each session is cut into
consecutive 5 s segments (500 bins) that are shuffled with seed 42 and split 80/10/10; a linear
readout is fitted per session on the train rows and scored on the val and test rows pooled, R²
averaged over the behaviour's columns (:func:`reference_split`, :func:`probe_r2`).

* :func:`probe_r2` -- per-session OLS or ridge probe (ridge penalty by *blocked* CV: contiguous,
  unshuffled folds of the train rows);
* :func:`ridge_floor` -- the same ridge probe on raw features (standardized; optionally smoothed
  and lagged), the "floor" an embedding has to beat;
* :func:`lagged` -- lagged copies of features that never cross a session boundary;
* :func:`probe_auc` -- logistic-regression ROC-AUC probe of segment-level embeddings under
  chronological folds;
* :func:`circular_shift` -- the null control: behaviour rotated in time inside each session
  (``null=True`` on every probe).

This layer sits above ``metrics`` and ``model_selection`` and below ``estimators``; it imports
neither torch nor the estimators, so it scores any feature matrix.
"""

from skdistill.evaluation._features import circular_shift, lagged
from skdistill.evaluation._probes import (
    RIDGE_ALPHAS,
    blocked_ridge,
    probe_auc,
    probe_r2,
    reference_split,
    ridge_floor,
    zscore_per_session,
)

__all__ = [
    "probe_r2",
    "ridge_floor",
    "probe_auc",
    "lagged",
    "circular_shift",
    "reference_split",
    "blocked_ridge",
    "zscore_per_session",
    "RIDGE_ALPHAS",
]
