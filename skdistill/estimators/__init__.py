"""skorch-backed scikit-learn estimators (the public face of skdistill)."""

from skdistill.estimators._encoders import PAPER_PARAMS, LFPTransformer, MaskedSpikeTransformer

__all__ = ["MaskedSpikeTransformer", "LFPTransformer", "PAPER_PARAMS"]
