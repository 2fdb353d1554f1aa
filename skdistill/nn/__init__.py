"""Pure torch modules: tokenizers, rotary transformer, heads and losses. No sklearn inside."""

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
    "Attention",
    "GatedMLP",
    "RMSNorm",
    "RotaryEmbedding",
    "Transformer",
    "TransformerBlock",
    "build_attention_mask",
]
