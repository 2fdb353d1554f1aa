"""Pre-norm transformer shared by the distillation models and BaRISTA.

RMSNorm, gated-GELU feed-forward, rotary positions on query/key indexed by an explicit integer
position per token (a time bin or a time patch; all tokens of one time step share it, so spatial
identity must come from an added embedding), and PyTorch's ``scaled_dot_product_attention``.
Attention is bidirectional by default; ``causal=True`` lets a token see only tokens whose
position is not later than its own (so tokens of the same time step still see each other).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["RMSNorm", "RotaryEmbedding", "Attention", "GatedMLP", "TransformerBlock", "Transformer"]


class RMSNorm(nn.Module):
    """Root-mean-square layer norm with a learned scale and no bias."""

    def __init__(self, d_model: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        norm = torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return x * norm * self.weight


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (rotate-half form) for integer positions.

    Parameters
    ----------
    head_dim : int
        Per-head width; must be even.
    base : float, default=10000
        Frequency base.
    """

    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rotary embeddings need an even head dimension; got {head_dim}.")
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, positions):
        """``positions``: (B, L) int -> cos, sin of shape (B, 1, L, head_dim)."""
        angles = positions.to(self.inv_freq.dtype)[..., None] * self.inv_freq
        angles = torch.cat([angles, angles], dim=-1)[:, None]
        return angles.cos(), angles.sin()


def _rotate_half(x):
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


def apply_rotary(x, cos, sin):
    return x * cos.to(x.dtype) + _rotate_half(x) * sin.to(x.dtype)


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection, rotary positions and SDPA."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, rope_base: float = 1e4):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}.")
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)
        self.rotary = RotaryEmbedding(self.head_dim, rope_base)

    def forward(self, x, positions, attn_mask=None):
        batch, length, width = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.n_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, L, Dh)
        cos, sin = self.rotary(positions)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        # Attention-probability dropout stays 0: on CPU it makes SDPA ~2.5x slower (issue 3).
        h = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        h = h.transpose(1, 2).reshape(batch, length, width)
        return self.dropout(self.out(self.dropout(h)))


class GatedMLP(nn.Module):
    """``W_down · Drop(GELU(W_gate·h) ⊙ W_up·h)`` followed by dropout."""

    def __init__(self, d_model: int, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        hidden = int(round(mlp_ratio * d_model))
        self.gate = nn.Linear(d_model, hidden)
        self.up = nn.Linear(d_model, hidden)
        self.down = nn.Linear(hidden, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.down(self.dropout(F.gelu(self.gate(x)) * self.up(x))))


class TransformerBlock(nn.Module):
    """``h = x + Attn(RMSNorm(x)); out = h + GatedMLP(RMSNorm(h))``."""

    def __init__(self, d_model, n_heads, mlp_ratio=4.0, dropout=0.0, norm_eps=1e-6, rope_base=1e4):
        super().__init__()
        self.attn_norm = RMSNorm(d_model, norm_eps)
        self.attn = Attention(d_model, n_heads, dropout, rope_base)
        self.mlp_norm = RMSNorm(d_model, norm_eps)
        self.mlp = GatedMLP(d_model, mlp_ratio, dropout)

    def forward(self, x, positions, attn_mask=None):
        x = x + self.attn(self.attn_norm(x), positions, attn_mask)
        return x + self.mlp(self.mlp_norm(x))


def build_attention_mask(positions, key_padding_mask=None, causal=False):
    """Boolean SDPA mask (True = may attend), or ``None`` when nothing is masked.

    Parameters
    ----------
    positions : (B, L) int tensor
    key_padding_mask : (B, L) bool tensor, optional
        True for real tokens, False for padding tokens that must not be attended to.
    causal : bool
        Restrict each token to tokens at the same or an earlier position.
    """
    mask = None
    if causal:
        mask = (positions[:, None, :, None] >= positions[:, None, None, :])  # (B,1,Lq,Lk)
    if key_padding_mask is not None and not bool(key_padding_mask.all()):
        keys = key_padding_mask[:, None, None, :]
        mask = keys if mask is None else mask & keys
        # A query row with no visible key would give NaN; let padded queries see themselves.
        length = positions.shape[1]
        eye = torch.eye(length, dtype=torch.bool, device=positions.device)[None, None]
        mask = mask | (eye & ~key_padding_mask[:, None, :, None])
    return mask


class Transformer(nn.Module):
    """A stack of pre-norm blocks with a final RMSNorm.

    Parameters
    ----------
    d_model : int
        Width.
    n_layers : int
        Number of blocks.
    n_heads : int
        Attention heads (``d_model`` must be divisible by it, head width even).
    mlp_ratio : float, default=4.0
        Hidden width of the gated feed-forward relative to ``d_model``.
    dropout : float, default=0.0
        Dropout on residual branches and attention output (never on attention probabilities).
    norm_eps : float, default=1e-6
    rope_base : float, default=10000
    causal : bool, default=False
        Causal attention over positions (see module docstring).
    """

    def __init__(
        self,
        d_model: int,
        n_layers: int,
        n_heads: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        norm_eps: float = 1e-6,
        rope_base: float = 1e4,
        causal: bool = False,
    ):
        super().__init__()
        self.causal = causal
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, n_heads, mlp_ratio, dropout, norm_eps, rope_base)
            for _ in range(n_layers)
        )
        self.norm = RMSNorm(d_model, norm_eps)

    def forward(self, x, positions, key_padding_mask=None, return_layers=False):
        """Return (B, L, d) outputs after the final norm.

        With ``return_layers=True`` also return the list of every block's (normed) output, so a
        readout can take an intermediate layer.
        """
        attn_mask = build_attention_mask(positions, key_padding_mask, self.causal)
        layers = []
        for block in self.blocks:
            x = block(x, positions, attn_mask)
            if return_layers:
                layers.append(self.norm(x))
        out = self.norm(x)
        return (out, layers) if return_layers else out
