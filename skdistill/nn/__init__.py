"""Pure torch modules: tokenizers, rotary transformer, heads and losses. No sklearn inside."""

from skdistill.nn._barista import (
    BaristaClassifierModule,
    BaristaEncoder,
    BaristaPretrainer,
    DilatedConvEncoder,
    SpatialEncoding,
    TemporalTokenizer,
    SpectralTokenizer,
    log_spaced_bands,
    ema_update,
    masked_latent_loss,
    sample_group_mask,
)
from skdistill.nn._mae import MaskedAutoencoder, masked_reconstruction_loss
from skdistill.nn._patch_encoder import PatchEncoder, make_value_embedding
from skdistill.nn._streaming import StreamingPatchEncoder, banded_encode
from skdistill.nn._tokenizers import (
    CausalConvValueEmbedding,
    CountEmbedding,
    MLPValueEmbedding,
    PatchTokenizer,
    pool_patches,
    select_sessions,
)
from skdistill.nn._transformer import (
    Attention,
    GatedMLP,
    RMSNorm,
    RotaryEmbedding,
    Transformer,
    TransformerBlock,
    build_attention_mask,
)

__all__ = [
    "BaristaClassifierModule",
    "BaristaEncoder",
    "BaristaPretrainer",
    "DilatedConvEncoder",
    "SpatialEncoding",
    "TemporalTokenizer",
    "SpectralTokenizer",
    "log_spaced_bands",
    "ema_update",
    "masked_latent_loss",
    "sample_group_mask",
    "MaskedAutoencoder",
    "PatchEncoder",
    "make_value_embedding",
    "StreamingPatchEncoder",
    "banded_encode",
    "masked_reconstruction_loss",
    "CausalConvValueEmbedding",
    "CountEmbedding",
    "MLPValueEmbedding",
    "PatchTokenizer",
    "pool_patches",
    "select_sessions",
    "Attention",
    "GatedMLP",
    "RMSNorm",
    "RotaryEmbedding",
    "Transformer",
    "TransformerBlock",
    "build_attention_mask",
]
