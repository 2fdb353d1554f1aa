"""Incremental (one time bin at a time) inference of the causal patch-token encoders.

:class:`StreamingPatchEncoder` runs a fitted *causal* patch-token model (anything with a
:class:`~skdistill.nn._tokenizers.PatchTokenizer` as ``tokenizer`` and a causal
:class:`~skdistill.nn._transformer.Transformer` as ``encoder``: the MAE encoders and the distilled
student) on one new bin per :meth:`~StreamingPatchEncoder.step`:

* the value embedding is computed for the new bin only. The causal convolution keeps the last
  ``(kernel_size - 1) * dilation`` bins of (masked) patch values in a shift buffer, zero before
  the first bin, exactly as the batch convolution's left zero padding;
* every block keeps a key/value cache of the last ``context`` bins (a ring buffer of
  ``context * n_patches`` tokens). The new bin's queries attend to the cached keys and to the
  new bin's own tokens (tokens of one bin see each other, as in batch causal attention), so a
  step costs O(context) rather than O(context^2);
* keys are rotated once, when written, at their absolute bin index since :meth:`reset`; the
  rotary angles are computed in float64 so that hours-long streams keep full precision (rotary
  scores depend only on the difference of positions).

What a streamed output sees. Every layer of bin ``t`` attends to the previous layer's outputs of
bins ``t - context + 1 .. t``, each of which was itself computed, when it was the newest bin, from
its own last ``context`` bins. So the first ``context`` bins after a reset equal the batch causal
model on those bins (``module.encode`` of the run's first ``context`` bins), and afterwards the
outputs equal a batch pass over the whole run whose causal attention is restricted to the last
``context`` bins (sliding-window attention; :func:`banded_encode` computes it). The convolution
always sees the true history of the run. Nothing here uses sklearn.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from skdistill.nn._tokenizers import (
    CausalConvValueEmbedding,
    CountEmbedding,
    MLPValueEmbedding,
    pool_patches,
)
from skdistill.nn._transformer import build_attention_mask

__all__ = ["StreamingPatchEncoder", "banded_encode"]


def _check_module(module):
    tokenizer = getattr(module, "tokenizer", None)
    encoder = getattr(module, "encoder", None)
    if tokenizer is None or encoder is None or not hasattr(encoder, "blocks"):
        raise TypeError(
            "streaming needs a patch-token module with `tokenizer` (PatchTokenizer) and `encoder` "
            f"(Transformer) attributes; got {type(module).__name__}."
        )
    if not getattr(encoder, "causal", False):
        raise ValueError(
            "streaming needs a causal encoder (fit it with causal=True): a bidirectional encoder "
            "attends to later bins, so a bin's output would change as the following bins arrive."
        )
    return tokenizer, encoder


def _layer_index(layer, n_layers):
    if layer is None:
        layer = -1
    if not -n_layers <= int(layer) < n_layers:
        raise ValueError(
            f"layer={layer} does not name one of the encoder's {n_layers} layers; use -1 (the "
            f"last) up to {n_layers - 1}."
        )
    return int(layer) % n_layers


class _ConvHistory:
    """The causal convolution evaluated for the newest bin from a shift buffer of past inputs."""

    def __init__(self, embedder: CausalConvValueEmbedding, n_patches, patch_size):
        conv = embedder.conv
        kernel, dilation = conv.kernel_size[0], conv.dilation[0]
        self.axis = embedder.axis
        self.left_pad = embedder.left_pad
        self.n_patches, self.patch_size = n_patches, patch_size
        # (d, S, K) -> (K*S, d): one matmul over the K taps of every patch
        weight = conv.weight.detach().permute(2, 1, 0)
        self.weight = weight.reshape(kernel * patch_size, -1).contiguous()
        self.bias = (conv.bias.detach() if conv.bias is not None
                     else torch.zeros(conv.out_channels, device=conv.weight.device))
        if self.axis == "time":
            # buffer (left_pad + 1, P, S): bins t - left_pad .. t; taps every `dilation` bins
            self.taps = torch.arange(0, self.left_pad + 1, dilation)
            self.length = self.left_pad + 1
        else:
            # buffer (left_pad + P, S): the flattened (time-major) token sequence up to bin t
            offsets = torch.arange(kernel) * dilation - self.left_pad  # from the output token
            self.taps = (self.left_pad + torch.arange(n_patches))[:, None] + offsets[None]  # (P, K)
            self.length = self.left_pad + n_patches
        self.reset()

    def reset(self):
        shape = ((self.length, self.n_patches, self.patch_size) if self.axis == "time"
                 else (self.length, self.patch_size))
        self.buffer = torch.zeros(shape, dtype=self.weight.dtype, device=self.weight.device)

    def __call__(self, values):
        """``values`` (P, S), already multiplied by validity -> tokens (P, d)."""
        if self.axis == "time":
            self.buffer = torch.cat([self.buffer[1:], values[None]])
            taps = self.buffer[self.taps].transpose(0, 1)  # (P, K, S)
        else:
            self.buffer = torch.cat([self.buffer[self.n_patches:], values])
            taps = self.buffer[self.taps]  # (P, K, S)
        return torch.addmm(self.bias, taps.reshape(self.n_patches, -1), self.weight)


def _rms(x, weight, eps):
    """``RMSNorm`` with given weight and eps (the same arithmetic as the module)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight


class _BlockWeights:
    """The tensors of one ``TransformerBlock`` in eval mode (dropout is identity), gate and up
    projections stacked into one matrix so the feed-forward is two matmuls."""

    def __init__(self, block):
        def grab(linear):
            bias = linear.bias.detach() if linear.bias is not None else None
            return linear.weight.detach(), bias

        self.attn_norm = (block.attn_norm.weight.detach(), block.attn_norm.eps)
        self.mlp_norm = (block.mlp_norm.weight.detach(), block.mlp_norm.eps)
        self.qkv_weight, self.qkv_bias = grab(block.attn.qkv)
        self.out_weight, self.out_bias = grab(block.attn.out)
        (gw, gb), (uw, ub) = grab(block.mlp.gate), grab(block.mlp.up)
        self.gate_up_weight = torch.cat([gw, uw])
        self.gate_up_bias = None if gb is None else torch.cat([gb, ub])
        self.down_weight, self.down_bias = grab(block.mlp.down)


class StreamingPatchEncoder:
    """Per-bin incremental inference of a causal patch-token model (see the module docstring).

    Parameters
    ----------
    module : torch.nn.Module
        A model with ``tokenizer`` (``PatchTokenizer``) and a causal ``encoder``
        (``Transformer(causal=True)``), e.g. ``MaskedAutoencoder`` or ``DistillationStudent``.
        Its weights are read, never modified; put it in ``eval()`` mode and on the device to
        stream on before building the streamer.
    session_idx : int
        Which session table of the tokenizer to add.
    context : int
        Bins every layer attends to (the key/value cache length), the newest included.
    layer : int, default=-1
        Encoder layer whose (final-normed) output is returned; later blocks are not computed.
    readout : {"mean", "concat"}, default="mean"
        Pooling over the bin's patches, as ``pool_patches``.
    """

    def __init__(self, module, session_idx, *, context, layer=-1, readout="mean"):
        tokenizer, encoder = _check_module(module)
        if readout not in ("mean", "concat"):
            raise ValueError(f"readout must be 'mean' or 'concat'; got {readout!r}.")
        context = int(context)
        if context < 1:
            raise ValueError(f"context must be a positive number of bins; got {context}.")
        key = str(int(session_idx))
        if key not in tokenizer.session_embeddings:
            raise ValueError(
                f"session_idx={session_idx} names no session table; the tokenizer has "
                f"{tokenizer.n_sessions} (0 .. {tokenizer.n_sessions - 1})."
            )
        embedder = tokenizer.value_embedding
        self.n_channels = tokenizer.n_channels
        self.n_patches, self.patch_size = tokenizer.n_patches, tokenizer.patch_size
        self.d_model = tokenizer.d_model
        self.context, self.readout = context, readout
        self.table = tokenizer.session_embeddings[key].detach()
        self.device, self.dtype = self.table.device, self.table.dtype
        if isinstance(embedder, CausalConvValueEmbedding):
            self._conv = _ConvHistory(embedder, self.n_patches, self.patch_size)
            self._embed = self._conv
        elif isinstance(embedder, (CountEmbedding, MLPValueEmbedding)):
            self._conv = None
            self._embedder = embedder
            self._embed = None
        else:
            raise TypeError(
                f"no incremental form for the value embedding {type(embedder).__name__}; "
                "streaming supports CausalConvValueEmbedding, CountEmbedding and MLPValueEmbedding."
            )
        index = _layer_index(layer, len(encoder.blocks))
        self.blocks = [_BlockWeights(block) for block in list(encoder.blocks)[: index + 1]]
        self.final_norm = (encoder.norm.weight.detach(), encoder.norm.eps)
        first = encoder.blocks[0].attn
        self.n_heads, self.head_dim = first.n_heads, first.head_dim
        self._inv_freq = [block.attn.rotary.inv_freq.detach().double()
                          for block in list(encoder.blocks)[: index + 1]]
        self._same_freq = all(torch.equal(f, self._inv_freq[0]) for f in self._inv_freq)
        self.reset()

    @property
    def n_seen(self) -> int:
        """Bins stepped since the last :meth:`reset`."""
        return self._t

    def reset(self, position=0):
        """Forget the stream: empty caches, zero convolution history.

        ``position`` is the rotary index given to the next bin. Outputs do not depend on it
        (rotary attention sees only differences of positions) beyond float rounding; it exists
        to check that a stream hours long keeps its precision.
        """
        n_keys = self.context * self.n_patches
        shape = (len(self.blocks), self.n_heads, n_keys, self.head_dim)
        self._k = torch.zeros(shape, dtype=self.dtype, device=self.device)
        self._v = torch.zeros(shape, dtype=self.dtype, device=self.device)
        self._key_ok = torch.zeros(n_keys, dtype=torch.bool, device=self.device)
        self._own = torch.eye(self.n_patches, dtype=torch.bool, device=self.device)
        if self._conv is not None:
            self._conv.reset()
        self._t = 0
        self._position = int(position)

    def _rotary(self, position):
        """cos, sin (Dh,) per block at ``position``: float64 angles, cast to the model's dtype."""
        out, cached = [], None
        for inv_freq in self._inv_freq:
            if cached is None or not self._same_freq:
                angles = position * inv_freq
                angles = torch.cat([angles, angles])
                cached = angles.cos().to(self.dtype), angles.sin().to(self.dtype)
            out.append(cached)
        return out

    @torch.inference_mode()
    def step(self, x_bin):
        """Feed one bin ``(n_channels,)`` (NaN for absent channels) -> its embedding.

        Returns a tensor ``(d_model,)`` (``readout="concat"``: ``(n_patches * d_model,)``).
        """
        x = torch.as_tensor(x_bin, dtype=self.dtype, device=self.device).reshape(-1)
        if x.shape[0] != self.n_channels:
            raise ValueError(
                f"x_bin must hold one bin of {self.n_channels} channels; got {x.shape[0]} values."
            )
        P, S = self.n_patches, self.patch_size
        valid = ~torch.isnan(x)
        values = torch.nan_to_num(x, nan=0.0)
        pad = P * S - self.n_channels
        if pad:
            values = F.pad(values, (0, pad))
            valid = F.pad(valid, (0, pad), value=False)
        values, valid = values.reshape(P, S), valid.reshape(P, S)
        if self._conv is not None:
            tokens = self._conv(values * valid)
        else:
            tokens = self._embedder(values[None, None], valid[None, None])[0, 0]
        h = tokens + self.table  # (P, d)
        valid_patch = valid.any(-1)

        slot = self._t % self.context
        cols = slice(slot * P, slot * P + P)
        self._key_ok[cols] = valid_patch
        mask = self._key_ok.expand(P, -1)
        if not bool(valid_patch.all()):
            # as in batch: a padding query sees the valid keys and itself
            mask = mask.clone()
            mask[:, cols] |= self._own & ~valid_patch[:, None]
        mask = mask[None]  # (1, P, n_keys) broadcast over heads

        H, Dh, half = self.n_heads, self.head_dim, self.head_dim // 2
        rotary = self._rotary(float(self._position + self._t))
        for i, (w, (cos, sin)) in enumerate(zip(self.blocks, rotary)):
            qkv = F.linear(_rms(h, *w.attn_norm), w.qkv_weight, w.qkv_bias)
            q, k, v = qkv.view(P, 3, H, Dh).permute(1, 2, 0, 3)  # each (H, P, Dh)
            q = q * cos + torch.cat([-q[..., half:], q[..., :half]], -1) * sin
            k = k * cos + torch.cat([-k[..., half:], k[..., :half]], -1) * sin
            self._k[i, :, cols] = k
            self._v[i, :, cols] = v
            att = F.scaled_dot_product_attention(q, self._k[i], self._v[i], attn_mask=mask)
            h = h + F.linear(att.transpose(0, 1).reshape(P, H * Dh), w.out_weight, w.out_bias)
            gate, up = F.linear(_rms(h, *w.mlp_norm), w.gate_up_weight, w.gate_up_bias).chunk(2, -1)
            h = h + F.linear(F.gelu(gate) * up, w.down_weight, w.down_bias)
        self._t += 1
        out = _rms(h, *self.final_norm)
        return pool_patches(out[None, None], valid_patch[None, None], self.readout)[0, 0]

@torch.no_grad()
def banded_encode(module, x, session_idx, context, layer=-1, readout="mean"):
    """Batch reference of :class:`StreamingPatchEncoder`: whole runs, attention over the last
    ``context`` bins only.

    ``x`` ``(B, T, C)`` are runs from their first bin (as after
    :meth:`StreamingPatchEncoder.reset`), ``session_idx`` ``(B,)``. Returns ``(B, T, width)``. Memory grows as ``(T * n_patches)^2``:
    meant for tests and short runs.
    """
    tokenizer, encoder = _check_module(module)
    tokens, _, valid = tokenizer(x, session_idx)
    batch, n_bins, n_patches, width = tokens.shape
    valid_patch = valid.any(-1)
    positions = torch.arange(n_bins, device=x.device).repeat_interleave(n_patches).expand(batch, -1)
    mask = build_attention_mask(positions, valid_patch.reshape(batch, -1), causal=True)
    mask = mask & ((positions[:, None, :, None] - positions[:, None, None, :]) < context)
    h = tokens.reshape(batch, -1, width)
    index = _layer_index(layer, len(encoder.blocks))
    for block in list(encoder.blocks)[: index + 1]:
        h = block(h, positions, mask)
    out = encoder.norm(h).reshape(batch, n_bins, n_patches, width)
    return pool_patches(out, valid_patch, readout)
