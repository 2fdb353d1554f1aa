"""Pre-norm transformer shared by the distillation models and BaRISTA.

RMSNorm, gated-GELU feed-forward, rotary positions on query/key indexed by an explicit integer
position per token (a time bin or a time patch; all tokens of one time step share it, so spatial
identity must come from an added embedding), and PyTorch's ``scaled_dot_product_attention``.
Attention is bidirectional by default; ``causal=True`` lets a token see only tokens whose
position is not later than its own (so tokens of the same time step still see each other).

Speed (issue 15): RMSNorm, the rotary rotation and the gated product are small autograd
functions that compute exactly what the plain tensor expressions compute (tests compare values
and gradients with the plain form) with fewer temporaries: on CPU these elementwise steps are
bound by memory traffic, not arithmetic. The rotary tables are computed once per forward and
shared by every block; query and key are rotated in one call; a padding mask is a key-only
``(B, 1, 1, L)`` mask (``None`` without padding) so that SDPA keeps its fused kernel.

Under ``torch.compile`` the same functions take their plain tensor expressions instead
(:func:`torch.compiler.is_compiling`): the hand-written autograd functions are opaque to the
compiler, the plain expressions are what it fuses. Compiled, the stack runs at 0.96-1.06x the
speed of an eager ``torch.nn.TransformerEncoder`` of equal FLOPs on CPU, eager at 0.85-0.95x
(``benchmarks/results/encoder_speed_breakdown.md``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["RMSNorm", "RotaryEmbedding", "Attention", "GatedMLP", "TransformerBlock", "Transformer",
           "build_attention_mask", "apply_rotary", "rotate", "rms_norm", "gated_gelu"]


def _fused_rms_forward():
    """torch's fused RMSNorm forward kernel (``aten::_fused_rms_norm``, returns the output and
    1/rms) when this build has it for CPU tensors, else ``None``."""
    op = getattr(torch.ops.aten, "_fused_rms_norm", None)
    if op is None:
        return None
    try:
        x = torch.randn(2, 4)
        out, inv = op(x, [4], torch.ones(4), 1e-6)
        ref = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)
        if not torch.allclose(out, ref, atol=1e-6) or inv.shape != (2, 1):
            return None
    except (RuntimeError, NotImplementedError, TypeError):
        return None
    return op


_FUSED_RMS = _fused_rms_forward()


def _rms_forward(x, weight, eps):
    """``(x * rsqrt(mean(x^2) + eps) * weight, rsqrt(...))``."""
    if _FUSED_RMS is not None and x.device.type == "cpu" and x.dtype == weight.dtype:
        return _FUSED_RMS(x, [x.shape[-1]], weight, eps)
    inv = torch.rsqrt(x.square().mean(dim=-1, keepdim=True).add_(eps))
    return (x * inv).mul_(weight), inv


class _RMSNormFunction(torch.autograd.Function):
    """``x * rsqrt(mean(x^2) + eps) * weight`` with a hand-written backward (saves x, 1/rms)."""

    @staticmethod
    def forward(ctx, x, weight, eps):
        out, inv = _rms_forward(x, weight, eps)
        ctx.save_for_backward(x, inv, weight)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, inv, weight = ctx.saved_tensors
        normed = x * inv
        grad_weight = None
        if ctx.needs_input_grad[1]:
            grad_weight = (grad * normed).reshape(-1, normed.shape[-1]).sum(0)
        grad_x = None
        if ctx.needs_input_grad[0]:
            g = grad * weight
            dot = (g * normed).mean(dim=-1, keepdim=True)
            grad_x = g.sub_(normed.mul_(dot)).mul_(inv)
        return grad_x, grad_weight, None


def _compiling():
    """Whether ``torch.compile`` is tracing: then the plain expressions stand in for the
    hand-written autograd functions, so that the compiler sees (and fuses) every operation."""
    return torch.compiler.is_compiling()


def rms_norm(x, weight, eps):
    """``x * rsqrt(mean(x^2, -1) + eps) * weight`` (one autograd node)."""
    if _compiling():
        return x * torch.rsqrt(x.square().mean(dim=-1, keepdim=True) + eps) * weight
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad):
        return _RMSNormFunction.apply(x, weight, eps)
    return _rms_forward(x, weight, eps)[0]


class RMSNorm(nn.Module):
    """Root-mean-square layer norm with a learned scale and no bias."""

    def __init__(self, d_model: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        return rms_norm(x, self.weight, self.eps)


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
        self.head_dim, self.base = head_dim, float(base)
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, positions):
        """``positions``: (B, L) int -> cos, sin of shape (B, 1, L, head_dim)."""
        angles = positions.to(self.inv_freq.dtype)[..., None] * self.inv_freq
        angles = torch.cat([angles, angles], dim=-1)[:, None]
        return angles.cos(), angles.sin()

    def half(self, positions):
        """cos, sin of the ``head_dim / 2`` distinct angles, shape (B, 1, L, head_dim / 2)
        (the rotate-half form repeats them); what :func:`rotate` takes."""
        angles = (positions.to(self.inv_freq.dtype)[..., None] * self.inv_freq)[:, None]
        return angles.cos(), angles.sin()


def _rotate_half(x):
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


def apply_rotary(x, cos, sin):
    """Rotate-half rotary embedding with full-width ``cos``/``sin`` (:meth:`RotaryEmbedding.forward`)."""
    return x * cos.to(x.dtype) + _rotate_half(x) * sin.to(x.dtype)


def _rotate_into(out, x, cos, sin, sign):
    """``out = [x1*cos - sign*x2*sin, x2*cos + sign*x1*sin]`` over the two halves of the last dim."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    o1, o2 = out[..., :half], out[..., half:]
    torch.mul(x1, cos, out=o1)
    o1.addcmul_(x2, sin, value=-sign)
    torch.mul(x2, cos, out=o2)
    o2.addcmul_(x1, sin, value=sign)
    return out


def _empty_heads(x):
    """An output for ``x``: for a 5-D ``(2, B, H, L, Dh)`` stack, laid out ``(2, B, L, H, Dh)``
    (as the value heads that SDPA reads beside it, which its CPU kernel prefers); else contiguous."""
    if x.dim() == 5:
        two, batch, heads, length, dim = x.shape
        return torch.empty((two, batch, length, heads, dim), dtype=x.dtype,
                           device=x.device).transpose(2, 3)
    return torch.empty(x.shape, dtype=x.dtype, device=x.device)


class _RotaryFunction(torch.autograd.Function):
    """:func:`apply_rotary` from half-width tables; the backward is the inverse rotation."""

    @staticmethod
    def forward(ctx, x, cos, sin):
        ctx.save_for_backward(cos, sin)
        return _rotate_into(_empty_heads(x), x, cos, sin, 1.0)

    @staticmethod
    def backward(ctx, grad):
        cos, sin = ctx.saved_tensors
        return _rotate_into(_empty_heads(grad), grad, cos, sin, -1.0), None, None


def rotate(x, cos, sin):
    """Same values as ``apply_rotary(x, cat([cos, cos]), cat([sin, sin]))`` for the half-width
    tables of :meth:`RotaryEmbedding.half`, in one pass and one output tensor; ``x`` may be a
    strided view (e.g. query and key stacked: ``(2, B, H, L, Dh)``)."""
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    if _compiling():
        return apply_rotary(x, torch.cat([cos, cos], dim=-1), torch.cat([sin, sin], dim=-1))
    if torch.is_grad_enabled() and x.requires_grad:
        return _RotaryFunction.apply(x, cos, sin)
    return _rotate_into(_empty_heads(x), x, cos, sin, 1.0)


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

    def forward(self, x, positions, attn_mask=None, rotary=None):
        """``rotary``: the ``(cos, sin)`` of :meth:`RotaryEmbedding.half` for ``positions``, when
        the caller computed them once for several blocks."""
        batch, length, width = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.n_heads, self.head_dim)
        qkv = qkv.permute(2, 0, 3, 1, 4)  # (3, B, H, L, Dh)
        cos, sin = self.rotary.half(positions) if rotary is None else rotary
        q, k = rotate(qkv[:2], cos, sin)  # query and key in one pass
        # Attention-probability dropout stays 0: on CPU it makes SDPA ~2.5x slower (issue 3).
        h = F.scaled_dot_product_attention(q, k, qkv[2], attn_mask=attn_mask)
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
        if _compiling():  # two plain GEMMs and the plain product (gated_gelu), for the compiler
            return self.dropout(self.down(self.dropout(gated_gelu(self.gate(x), self.up(x)))))
        # gate and up in one GEMM (their weights side by side; the parameters stay two Linears)
        weight = torch.cat([self.gate.weight, self.up.weight])
        bias = torch.cat([self.gate.bias, self.up.bias])
        hidden = _GatedGELUPairFunction.apply(F.linear(x, weight, bias)) \
            if torch.is_grad_enabled() else _gated_pair(F.linear(x, weight, bias))
        return self.dropout(self.down(self.dropout(hidden)))


def _gated_pair(both):
    half = both.shape[-1] // 2
    return F.gelu(both[..., :half]).mul_(both[..., half:])


class _GatedGELUPairFunction(torch.autograd.Function):
    """``gelu(both[..., :h]) * both[..., h:]`` for the side-by-side gate|up projection; the
    backward writes both halves of one gradient tensor (no concatenation)."""

    @staticmethod
    def forward(ctx, both):
        half = both.shape[-1] // 2
        activated = F.gelu(both[..., :half])
        ctx.save_for_backward(both, activated)
        return activated * both[..., half:]

    @staticmethod
    def backward(ctx, grad):
        both, activated = ctx.saved_tensors
        half = both.shape[-1] // 2
        out = torch.empty(both.shape, dtype=both.dtype, device=both.device)
        grad_gate = out[..., :half]
        torch.mul(grad, both[..., half:], out=grad_gate)
        torch.ops.aten.gelu_backward.grad_input(grad_gate, both[..., :half], grad_input=grad_gate)
        torch.mul(grad, activated, out=out[..., half:])
        return out


class _GatedGELUFunction(torch.autograd.Function):
    """``gelu(gate) * up`` as one autograd node; the backward reuses its temporaries in place."""

    @staticmethod
    def forward(ctx, gate, up):
        activated = F.gelu(gate)
        ctx.save_for_backward(gate, up, activated)
        return activated * up

    @staticmethod
    def backward(ctx, grad):
        gate, up, activated = ctx.saved_tensors
        grad_gate = grad_up = None
        if ctx.needs_input_grad[1]:
            grad_up = grad * activated
        if ctx.needs_input_grad[0]:
            scaled = grad * up
            grad_gate = torch.ops.aten.gelu_backward.grad_input(scaled, gate, grad_input=scaled)
        return grad_gate, grad_up


def gated_gelu(gate, up):
    """``F.gelu(gate) * up`` (one autograd node, one temporary fewer)."""
    if _compiling():
        return F.gelu(gate) * up
    if torch.is_grad_enabled() and (gate.requires_grad or up.requires_grad):
        return _GatedGELUFunction.apply(gate, up)
    return F.gelu(gate).mul_(up)


class TransformerBlock(nn.Module):
    """``h = x + Attn(RMSNorm(x)); out = h + GatedMLP(RMSNorm(h))``."""

    def __init__(self, d_model, n_heads, mlp_ratio=4.0, dropout=0.0, norm_eps=1e-6, rope_base=1e4):
        super().__init__()
        self.attn_norm = RMSNorm(d_model, norm_eps)
        self.attn = Attention(d_model, n_heads, dropout, rope_base)
        self.mlp_norm = RMSNorm(d_model, norm_eps)
        self.mlp = GatedMLP(d_model, mlp_ratio, dropout)

    def forward(self, x, positions, attn_mask=None, rotary=None):
        x = x + self.attn(self.attn_norm(x), positions, attn_mask, rotary)
        return x + self.mlp(self.mlp_norm(x))


def build_attention_mask(positions, key_padding_mask=None, causal=False):
    """Boolean SDPA mask (True = may attend), or ``None`` when nothing is masked.

    Without ``causal`` the mask only hides padding keys: a ``(B, 1, 1, L)`` key mask (``None``
    when nothing is padded), which SDPA broadcasts over queries; a sample with no real token
    at all sees every key (its outputs are never read, but stay finite). With ``causal`` it is a
    dense ``(B, 1, L, L)`` mask in which a padded query that would see no key sees itself.
    Real tokens' outputs are the same either way; padded tokens' outputs are not read.

    Parameters
    ----------
    positions : (B, L) int tensor
    key_padding_mask : (B, L) bool tensor, optional
        True for real tokens, False for padding tokens that must not be attended to.
    causal : bool
        Restrict each token to tokens at the same or an earlier position.
    """
    # compiled, never ask the data (a graph break): an all-True key mask hides nothing either
    padded = key_padding_mask is not None and (_compiling() or not bool(key_padding_mask.all()))
    if not causal:
        if not padded:
            return None
        keys = key_padding_mask | ~key_padding_mask.any(dim=1, keepdim=True)
        return keys[:, None, None, :]
    mask = positions[:, None, :, None] >= positions[:, None, None, :]  # (B,1,Lq,Lk)
    if padded:
        mask = mask & key_padding_mask[:, None, None, :]
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

    def _shared_rotary(self):
        """Every block rotates with the same frequencies (true unless a block was swapped)."""
        # the frequencies are a function of (head width, base) and never loaded (a non-persistent
        # buffer): comparing those is exact, and data-independent (as torch.compile needs)
        first = self.blocks[0].attn.rotary
        return all((b.attn.rotary.head_dim, b.attn.rotary.base) == (first.head_dim, first.base)
                   for b in self.blocks[1:])

    def forward(self, x, positions, key_padding_mask=None, return_layers=False):
        """Return (B, L, d) outputs after the final norm.

        With ``return_layers=True`` also return the list of every block's (normed) output, so a
        readout can take an intermediate layer.
        """
        attn_mask = build_attention_mask(positions, key_padding_mask, self.causal)
        rotary = self.blocks[0].attn.rotary.half(positions) if self._shared_rotary() else None
        layers = []
        for block in self.blocks:
            x = block(x, positions, attn_mask, rotary)
            if return_layers:
                layers.append(self.norm(x))
        out = self.norm(x)
        return (out, layers) if return_layers else out
