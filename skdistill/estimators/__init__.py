"""skorch-backed scikit-learn estimators (the public face of skdistill), on one engine."""

from skdistill.estimators._barista import BARISTA_PAPER_PARAMS, BaristaClassifier, BaristaTransformer
from skdistill.estimators._base import (
    TRAINING_CONSTRAINTS,
    TorchEstimator,
    TrainingCheckpoint,
    TrainingDivergedError,
    TrainingMemoryError,
    resolve_inner,
)
from skdistill.estimators._distilled import DistilledLFPTransformer
from skdistill.estimators._distributed import fit_distributed
from skdistill.estimators._encoders import PAPER_PARAMS, LFPTransformer, MaskedSpikeTransformer
from skdistill.estimators._supervised import SupervisedEncoderRegressor
from skdistill.estimators._windows import Windowing

__all__ = [
    "MaskedSpikeTransformer",
    "LFPTransformer",
    "DistilledLFPTransformer",
    "SupervisedEncoderRegressor",
    "PAPER_PARAMS",
    "BaristaTransformer",
    "BaristaClassifier",
    "BARISTA_PAPER_PARAMS",
    "TorchEstimator",
    "TrainingCheckpoint",
    "TrainingDivergedError",
    "TrainingMemoryError",
    "TRAINING_CONSTRAINTS",
    "Windowing",
    "resolve_inner",
    "fit_distributed",
]
