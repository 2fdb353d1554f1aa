"""Spatial scale as a hyperparameter: grid-search BaRISTA's encoding x masking scale.

A small simulated sEEG cohort (real Brain Treebank electrode positions, a speech / non-speech
task carried by 70-150 Hz activity in auditory cortex) is searched over the 3 x 3 grid of
``spatial_encoding`` x ``mask_scale`` with a frozen-embedding probe
(``BaristaTransformer -> LogisticRegression``), chronological folds within each subject and
ROC-AUC. ``session`` and ``electrodes`` are routed to the transformer by sklearn's metadata
routing; ``electrodes`` is a dict, which sklearn's CV passes through to every fold unchanged.

Runs in about a minute on two CPU cores: the model and the data are tiny, so the scores say
that the pipeline works, not which scale is best (see ``benchmarks/barista.py`` for that).
"""

import numpy as np
import pandas as pd
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skdistill.datasets import make_ieeg_cohort
from skdistill import BaristaClassifier, BaristaTransformer
from skdistill.model_selection import ChronologicalFolds

cohort = make_ieeg_cohort(n_subjects=2, n_segments=40, max_channels=12, random_state=0)
X, y, session, electrodes = cohort.X, cohort.y, cohort.session, cohort.electrodes
print(f"X {X.shape} at {cohort.sampling_rate:g} Hz; sessions {sorted(electrodes)}")
print(electrodes["sub-1"][["name", "parcel", "lobe"]].head())

with sklearn.config_context(enable_metadata_routing=True):
    barista = BaristaTransformer(d_model=16, n_layers=1, max_epochs=1, batch_size=16, random_state=0)
    barista.set_fit_request(session=True, electrodes=True)
    barista.set_transform_request(session=True, electrodes=True)
    pipe = Pipeline([("barista", barista), ("probe", LogisticRegression(max_iter=1000))])
    search = GridSearchCV(
        pipe,
        {
            "barista__spatial_encoding": ["channel", "parcel", "lobe"],
            "barista__mask_scale": ["channel", "parcel", "lobe"],
        },
        cv=ChronologicalFolds(n_splits=2),
        scoring="roc_auc",
    )
    search.fit(X, y, session=session, electrodes=electrodes, groups=session)

table = pd.DataFrame(search.cv_results_["params"])
table["roc_auc"] = search.cv_results_["mean_test_score"]
print(table.pivot(index="barista__spatial_encoding", columns="barista__mask_scale", values="roc_auc"))

# Fine-tune the best encoder with the reference head (token weights, frozen tokenizer).
from sklearn.frozen import FrozenEstimator

encoder = search.best_estimator_.named_steps["barista"]
clf = BaristaClassifier(FrozenEstimator(encoder), max_epochs=3, batch_size=16, random_state=0)
clf.fit(X, y, session=session, electrodes=electrodes)
proba = clf.predict_proba(X, session=session, electrodes=electrodes)[:, 1]
print("fine-tuned training-set P(speech) by label:",
      {int(k): float(np.mean(proba[y == k]).round(3)) for k in (0, 1)})

# With few labelled segments, start the classifier at the logistic-regression probe of the
# frozen embedding and fine-tune from there (LP-FT; docs/barista.md, "Start from the probe").
clf = BaristaClassifier(FrozenEstimator(encoder), head_init="probe", readout="mean",
                        head_norm=True, max_epochs=3, batch_size=16, random_state=0)
clf.fit(X, y, session=session, electrodes=electrodes)

# The tokenizer is a hyperparameter too: the reference's dilated CNN ("cnn") or the per-patch
# log power spectrum ("spectral"), whose tokens carry 70-150 Hz power linearly, here also with
# the power averaged over 16 log-spaced bands (docs/barista.md, "Which tokenizer",
# "Band-averaged spectra"). Same frozen probe, same folds.
from sklearn.model_selection import cross_val_score

with sklearn.config_context(enable_metadata_routing=True):
    for tokenizer, bands in (("cnn", None), ("spectral", None), ("spectral", 16)):
        probe = sklearn.clone(search.best_estimator_).set_params(
            barista__tokenizer=tokenizer, barista__spectral_bands=bands)
        scores = cross_val_score(probe, X, y, cv=ChronologicalFolds(n_splits=2), scoring="roc_auc",
                                 params=dict(session=session, electrodes=electrodes,
                                             groups=session))
        print(f"tokenizer={tokenizer!r}, spectral_bands={bands}: frozen-probe ROC-AUC "
              f"{scores.mean():.3f}")
