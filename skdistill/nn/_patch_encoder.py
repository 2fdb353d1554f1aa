"""The patch encoder shared by every 2-D model: tokenizer + rotary transformer + per-bin pooling.

:class:`~skdistill.nn._mae.MaskedAutoencoder` (the spike teacher and the LFP models) and
:class:`~skdistill.nn._distill.DistillationStudent` both *are* a :class:`PatchEncoder` with a
training objective on top, so the unmasked forward that ``transform`` reads is written once.
"""

from __future__ import annotations

from torch import nn

from skdistill.nn._tokenizers import (
    CausalConvValueEmbedding,
    CountEmbedding,
    MLPValueEmbedding,
    PatchTokenizer,
    pool_patches,
)
from skdistill.nn._transformer import Transformer

__all__ = ["PatchEncoder", "make_value_embedding"]


def make_value_embedding(kind, patch_size, d_model, *, max_count=5, hidden=(256,), dropout=0.0,
                         conv_kernel=5, conv_dilation=2, conv_axis="time"):
    """Build a value embedder by name: ``"count"``, ``"mlp"`` or ``"conv"``."""
    if kind == "count":
        return CountEmbedding(patch_size, d_model, max_count)
    if kind == "mlp":
        return MLPValueEmbedding(patch_size, d_model, hidden, dropout)
    if kind == "conv":
        return CausalConvValueEmbedding(patch_size, d_model, conv_kernel, conv_dilation, conv_axis)
    raise ValueError(f"value embedding must be 'count', 'mlp' or 'conv'; got {kind!r}.")


class PatchEncoder(nn.Module):
    """``(B, T, C)`` rows -> patch tokens (time bin x ``patch_size`` channels) -> transformer.

    Parameters
    ----------
    n_channels : int
        Input columns (union over sessions); NaN marks a channel absent from a session.
    n_sessions : int
        Session tables (learned per-session patch embeddings) to create.
    patch_size, d_model, n_layers, n_heads, mlp_ratio, dropout, causal : encoder size.
    value_embedding : {"count", "mlp", "conv"}
    embedding_kwargs : dict
        Passed to :func:`make_value_embedding`.
    """

    def __init__(self, n_channels, n_sessions=1, *, patch_size=32, d_model=64, n_layers=4,
                 n_heads=4, mlp_ratio=4.0, dropout=0.0, causal=False, value_embedding="conv",
                 embedding_kwargs=None):
        super().__init__()
        embedder = make_value_embedding(value_embedding, patch_size, d_model, **(embedding_kwargs or {}))
        self.tokenizer = PatchTokenizer(n_channels, patch_size, d_model, embedder, n_sessions)
        self.encoder = Transformer(d_model, n_layers, n_heads, mlp_ratio, dropout, causal=causal)
        self.n_channels = n_channels
        self.d_model = d_model
        self.n_layers = n_layers

    def add_sessions(self, n_new, init_from=None):
        """New session tables; returns their indices."""
        return self.tokenizer.add_sessions(n_new, init_from=init_from)

    def check_layer(self, layer, name="layer"):
        """``layer`` as an index into the encoder's layers (``-1`` / ``None``: the last)."""
        layer = -1 if layer is None else int(layer)
        if not -self.n_layers <= layer < self.n_layers:
            raise ValueError(
                f"{name}={layer} does not name one of the encoder's {self.n_layers} layer(s); use "
                f"-1 (the last) or 0..{self.n_layers - 1}."
            )
        return layer

    def readout_width(self, readout="mean"):
        """Width of one pooled row under ``readout``."""
        return self.d_model * (self.tokenizer.n_patches if readout == "concat" else 1)

    def encode_layers(self, x, session_idx, readout="mean"):
        """One unmasked pass: ``[layer_0, ..., layer_{L-1}]``, each pooled per bin ``(B, T, w)``.

        Every entry is the normed output of its block; the last is the encoder's output.
        """
        tokens, _, valid = self.tokenizer(x, session_idx)
        batch, n_bins, n_patches, width = tokens.shape
        valid_patch = valid.any(-1)
        positions = self.token_positions(batch, n_bins, n_patches, x.device)
        _, layers = self.encoder(tokens.reshape(batch, -1, width), positions,
                                 valid_patch.reshape(batch, -1), return_layers=True)
        return [pool_patches(h.reshape(batch, n_bins, n_patches, width), valid_patch, readout)
                for h in layers]

    def encode(self, x, session_idx, layer=-1, readout="mean"):
        """Per-bin embeddings ``(B, T, d)`` (``readout="concat"``: ``(B, T, P*d)``), no masking."""
        return self.encode_layers(x, session_idx, readout)[self.check_layer(layer)]

    @staticmethod
    def token_positions(batch, n_bins, n_patches, device):
        """Rotary position of every time-major token: its time bin."""
        import torch

        return torch.arange(n_bins, device=device).repeat_interleave(n_patches).expand(batch, -1)
