"""skorch-backed scikit-learn estimators (the public face of skdistill)."""

from skdistill.estimators._barista import BARISTA_PAPER_PARAMS, BaristaClassifier, BaristaTransformer
from skdistill.estimators._distilled import DistilledLFPTransformer
from skdistill.estimators._encoders import PAPER_PARAMS, LFPTransformer, MaskedSpikeTransformer
from skdistill.estimators._supervised import SupervisedEncoderRegressor

__all__ = [
    "MaskedSpikeTransformer",
    "LFPTransformer",
    "DistilledLFPTransformer",
    "SupervisedEncoderRegressor",
    "PAPER_PARAMS",
    "BaristaTransformer",
    "BaristaClassifier",
    "BARISTA_PAPER_PARAMS",
]
