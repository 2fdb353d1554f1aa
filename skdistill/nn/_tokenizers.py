"""Patch tokenizer of the distillation models: one token = one time bin x a group of channels.

Channels are grouped by index (``patch_size`` consecutive columns; the last group right-padded),
each group's values are embedded to ``d_model`` by a *value embedder*, and a learned per-session
``(n_patches, d_model)`` table is added by patch index. The session tables are the only
session-specific parameters, so a new recording session needs only a new table.

Absent channels (the all-NaN columns of a session with fewer channels) and right-padding are
handled the same way: their values are replaced (0, or the padding row of the count table) and a
``valid`` mask travels with the patched target so losses can leave them out.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "CountEmbedding",
    "MLPValueEmbedding",
    "CausalConvValueEmbedding",
    "PatchTokenizer",
    "pool_patches",
    "select_sessions",
]


def select_sessions(tables, session_idx):
    """Stack the per-session parameters of ``tables`` (an ``nn.ParameterDict`` keyed ``"0"``,
    ``"1"``, ...) and index them by ``session_idx`` (a ``(B,)`` long tensor): ``(B, *shape)``.

    One gather on the device, without reading ``session_idx`` on the host, so ``torch.compile``
    traces it without a graph break; gradients reach exactly the tables that were selected."""
    stacked = torch.stack([tables[str(k)] for k in range(len(tables))])
    return stacked[session_idx.to(device=stacked.device, dtype=torch.long)]


class CountEmbedding(nn.Module):
    """Embed spike counts: each channel's clamped count indexes a table of ``d_model / patch_size``
    vectors and the ``patch_size`` vectors of a patch are concatenated.

    Counts are clamped to ``[0, max_count]``; row ``max_count + 1`` is the padding row used by
    absent and padded channels.
    """

    def __init__(self, patch_size: int, d_model: int, max_count: int = 5):
        super().__init__()
        if d_model % patch_size:
            raise ValueError(
                f"count embedding needs d_model divisible by patch_size; got d_model={d_model}, "
                f"patch_size={patch_size}."
            )
        self.max_count = max_count
        self.table = nn.Embedding(max_count + 2, d_model // patch_size)
        nn.init.normal_(self.table.weight, std=1.0 / math.sqrt(d_model // patch_size))

    def forward(self, values, valid):
        index = values.round().clamp(0, self.max_count).long()
        index = torch.where(valid, index, torch.full_like(index, self.max_count + 1))
        emb = self.table(index)  # (B, T, P, S, d/S)
        return emb.flatten(-2)


class MLPValueEmbedding(nn.Module):
    """Embed a patch of continuous values with an MLP (tanh hidden layers)."""

    def __init__(self, patch_size: int, d_model: int, hidden=(256,), dropout: float = 0.0):
        super().__init__()
        layers, width = [], patch_size
        for h in hidden:
            layers += [nn.Linear(width, h), nn.Tanh(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, d_model))
        self.mlp = nn.Sequential(*layers)

    def forward(self, values, valid):
        return self.mlp(values * valid)


class CausalConvValueEmbedding(nn.Module):
    """Embed continuous patches with a dilated causal 1-D convolution.

    ``axis="time"`` (default) convolves each patch position along time bins, so a token sees its
    own patch in the current and ``(kernel_size - 1) * dilation`` earlier bins. ``axis="tokens"``
    reproduces the released code, which convolves along the flattened (time-major) token sequence
    so neighbouring patches mix.
    """

    def __init__(self, patch_size, d_model, kernel_size=5, dilation=2, axis="time"):
        super().__init__()
        if axis not in ("time", "tokens"):
            raise ValueError(f"axis must be 'time' or 'tokens'; got {axis!r}.")
        self.axis = axis
        self.left_pad = (kernel_size - 1) * dilation
        self.conv = nn.Conv1d(patch_size, d_model, kernel_size, dilation=dilation)

    def forward(self, values, valid, visible_fraction=1.0):
        """Embed ``(B, T, P, S)`` values.

        ``visible_fraction`` < 1: the caller has zeroed the masked tokens (masked training) and
        only this share of the history is visible. The history taps are then scaled by
        ``1 / visible_fraction`` (as inverted dropout does), so their expected input matches
        what an unmasked ``transform`` feeds them; the current token's own tap is not scaled.
        """
        values = values * valid
        batch, n_bins, n_patches, size = values.shape
        if self.axis == "time":
            seq = values.permute(0, 2, 3, 1).reshape(batch * n_patches, size, n_bins)
        else:
            seq = values.reshape(batch, n_bins * n_patches, size).transpose(1, 2)
        if visible_fraction != 1.0:
            scale = 1.0 / visible_fraction
            out = self.conv(F.pad(seq * scale, (self.left_pad, 0)))
            out = out - (scale - 1.0) * torch.einsum("dc,nct->ndt", self.conv.weight[:, :, -1], seq)
        else:
            out = self.conv(F.pad(seq, (self.left_pad, 0)))
        if self.axis == "time":
            return out.reshape(batch, n_patches, -1, n_bins).permute(0, 3, 1, 2)
        return out.transpose(1, 2).reshape(batch, n_bins, n_patches, -1)


class PatchTokenizer(nn.Module):
    """Cut ``(B, T, C)`` inputs into tokens and add the session's patch embedding.

    Parameters
    ----------
    n_channels : int
        Columns of the input (the union over sessions).
    patch_size : int
        Channels per token.
    d_model : int
    value_embedding : nn.Module
        A value embedder (``CountEmbedding``, ``MLPValueEmbedding``, ``CausalConvValueEmbedding``)
        mapping ``(B, T, P, S)`` values and validity to ``(B, T, P, d_model)``.
    n_sessions : int
        Number of session tables to create.
    """

    def __init__(self, n_channels, patch_size, d_model, value_embedding, n_sessions=1):
        super().__init__()
        self.n_channels = n_channels
        self.patch_size = patch_size
        self.n_patches = math.ceil(n_channels / patch_size)
        self.d_model = d_model
        self.value_embedding = value_embedding
        self.session_embeddings = nn.ParameterDict()
        self.add_sessions(n_sessions)

    @property
    def n_sessions(self) -> int:
        return len(self.session_embeddings)

    def add_sessions(self, n_new: int, init_from: int | None = None):
        """Append ``n_new`` session tables (copies of session ``init_from``, or N(0, 0.02))."""
        start = self.n_sessions
        device = next(self.value_embedding.parameters()).device
        for k in range(start, start + n_new):
            if init_from is not None:
                table = self.session_embeddings[str(init_from)].detach().clone()
            else:
                table = torch.randn(self.n_patches, self.d_model, device=device) * 0.02
            self.session_embeddings[str(k)] = nn.Parameter(table)
        return list(range(start, start + n_new))

    def patchify(self, x):
        """``(B, T, C)`` with NaN for absent channels -> values, valid ``(B, T, P, S)``."""
        valid = ~torch.isnan(x)
        pad = self.n_patches * self.patch_size - x.shape[-1]
        values = torch.nan_to_num(x, nan=0.0)
        if pad:
            values = F.pad(values, (0, pad))
            valid = F.pad(valid, (0, pad), value=False)
        shape = (*x.shape[:2], self.n_patches, self.patch_size)
        return values.reshape(shape), valid.reshape(shape)

    def forward(self, x, session_idx):
        """Return tokens ``(B, T, P, d)``, and the patched values and validity ``(B, T, P, S)``."""
        values, valid = self.patchify(x)
        tokens = self.value_embedding(values, valid)
        return tokens + self.session_tables(session_idx)[:, None], values, valid

    def session_tables(self, session_idx):
        """The ``(B, n_patches, d_model)`` session tables of a batch (:func:`select_sessions`)."""
        return select_sessions(self.session_embeddings, session_idx)


def pool_patches(tokens, valid_patch=None, readout="mean"):
    """Per-bin readout of ``(B, T, P, d)`` token outputs: true mean over patches or concatenation."""
    if readout == "concat":
        return tokens.flatten(-2)
    if valid_patch is None:
        return tokens.mean(dim=2)
    weights = valid_patch.to(tokens.dtype)[..., None]
    return (tokens * weights).sum(2) / weights.sum(2).clamp_min(1.0)
