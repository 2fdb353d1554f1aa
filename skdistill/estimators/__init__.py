"""skorch-backed scikit-learn estimators (the public face of skdistill)."""

from skdistill.estimators._barista import BARISTA_PAPER_PARAMS, BaristaClassifier, BaristaTransformer
from skdistill.estimators._encoders import PAPER_PARAMS, LFPTransformer, MaskedSpikeTransformer

__all__ = [
    "MaskedSpikeTransformer",
    "LFPTransformer",
    "PAPER_PARAMS",
    "BaristaTransformer",
    "BaristaClassifier",
    "BARISTA_PAPER_PARAMS",
]
