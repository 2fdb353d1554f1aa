"""Multi-session masked autoencoder over patch tokens (the spike teacher and the LFP models).

Training (MAE style): a share ``mask_ratio`` of the tokens (time bin x channel patch) is dropped
uniformly at random; the encoder sees only the remaining tokens; learnable mask tokens, with their
session patch embeddings added, fill the dropped positions; a small predictor transformer and a
linear head reconstruct the channels of every masked patch. The loss is the Poisson NLL of the
counts (``reconstruction="poisson"``, log-rate link) or the MSE of the values (``"mse"``), on masked
entries of present channels only.

Embedding (``encode``): no masking; every token goes through the encoder and the outputs are
pooled per time bin (true mean over patches, or concatenated), giving ``(B, T, d)``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from skdistill.nn._patch_encoder import PatchEncoder, make_value_embedding
from skdistill.nn._tokenizers import CausalConvValueEmbedding, select_sessions
from skdistill.nn._transformer import Transformer

__all__ = ["MaskedAutoencoder", "make_value_embedding", "masked_reconstruction_loss"]


def masked_reconstruction_loss(prediction, target, weight, kind):
    """Mean Poisson NLL (log-rate ``prediction``) or squared error over entries with ``weight``."""
    if kind == "poisson":
        per_entry = F.poisson_nll_loss(prediction, target, log_input=True, full=False, reduction="none")
    elif kind == "mse":
        per_entry = (prediction - target) ** 2
    else:
        raise ValueError(f"reconstruction must be 'poisson' or 'mse'; got {kind!r}.")
    weight = weight.to(per_entry.dtype)
    return (per_entry * weight).sum() / weight.sum().clamp_min(1.0)


class MaskedAutoencoder(PatchEncoder):
    """A :class:`~skdistill.nn._patch_encoder.PatchEncoder` + MAE predictor (see module docstring).

    Parameters
    ----------
    n_channels : int
        Input columns (union over sessions).
    n_sessions : int
        Session tables to create.
    patch_size : int
        Channels per token.
    d_model, n_layers, n_heads, mlp_ratio, dropout : encoder size.
    value_embedding : {"count", "mlp", "conv"}
    reconstruction : {"poisson", "mse"}
    mask_ratio : float
    mask_unit : {"token", "bin"}
        Mask single tokens, or whole time bins (all patches of a bin together).
    decoder_width, decoder_layers : predictor size (a linear map connects the widths).
    causal : bool
        Causal attention in the encoder.
    embedding_kwargs : dict
        Passed to :func:`make_value_embedding`.
    """

    def __init__(
        self,
        n_channels,
        n_sessions=1,
        *,
        patch_size=32,
        d_model=64,
        n_layers=4,
        n_heads=4,
        mlp_ratio=4.0,
        dropout=0.0,
        value_embedding="count",
        reconstruction="poisson",
        mask_ratio=0.6,
        mask_unit="token",
        decoder_width=48,
        decoder_layers=1,
        causal=False,
        embedding_kwargs=None,
    ):
        super().__init__(n_channels, n_sessions, patch_size=patch_size, d_model=d_model,
                         n_layers=n_layers, n_heads=n_heads, mlp_ratio=mlp_ratio, dropout=dropout,
                         causal=causal, value_embedding=value_embedding,
                         embedding_kwargs=embedding_kwargs)
        self.mask_token = nn.Parameter(torch.randn(d_model) * 0.02)
        self.decoder_in = nn.Linear(d_model, decoder_width)
        n_dec_heads = max(1, min(n_heads, decoder_width // 8))
        while decoder_width % n_dec_heads or (decoder_width // n_dec_heads) % 2:
            n_dec_heads -= 1
        self.decoder = Transformer(decoder_width, decoder_layers, n_dec_heads, mlp_ratio, dropout)
        self.head = nn.Linear(decoder_width, patch_size)
        # Per-session, per-channel offset of the reconstruction (log mean count for spikes, mean
        # value for LFP). Initialised from the data by `set_offsets`: sparse 10 ms spike counts
        # carry little signal per token, and a model that must first learn each channel's mean
        # rate through the head spends most of a CPU budget doing only that.
        self.offsets = nn.ParameterDict()
        self._add_offsets(self.tokenizer.n_sessions)
        self.reconstruction = reconstruction
        if mask_unit not in ("token", "bin"):
            raise ValueError(f"mask_unit must be 'token' or 'bin'; got {mask_unit!r}.")
        self.mask_ratio = mask_ratio
        self.mask_unit = mask_unit

    # -- helpers --------------------------------------------------------------------------
    def _add_offsets(self, n_sessions, init_from=None):
        shape = (self.tokenizer.n_patches, self.tokenizer.patch_size)
        device = self.mask_token.device
        for k in range(len(self.offsets), n_sessions):
            value = (self.offsets[str(init_from)].detach().clone() if init_from is not None
                     else torch.zeros(shape, device=device))
            self.offsets[str(k)] = nn.Parameter(value)

    def add_sessions(self, n_new, init_from=None):
        """New session tables (and reconstruction offsets); returns their indices."""
        ids = self.tokenizer.add_sessions(n_new, init_from=init_from)
        self._add_offsets(self.tokenizer.n_sessions, init_from=init_from)
        return ids

    @torch.no_grad()
    def set_offsets(self, session, channel_values):
        """Set session ``session``'s offsets from ``(n_channels,)`` values (NaN -> 0)."""
        values = torch.nan_to_num(torch.as_tensor(channel_values, dtype=torch.float32), nan=0.0)
        padded = torch.zeros(self.tokenizer.n_patches * self.tokenizer.patch_size)
        padded[: len(values)] = values
        self.offsets[str(session)].copy_(padded.reshape(self.offsets[str(session)].shape))

    def forward(self, x, session_idx, mask_ratio=None, noise=None):
        """Masked-autoencoding loss: returns ``{"loss", "prediction", "masked", "hidden"}``.

        ``noise`` ``(B, n_tokens)`` (time-major tokens) fixes the mask instead of a random draw:
        the ``(1 - mask_ratio)`` share of valid tokens with the lowest noise stays visible.
        ``hidden`` is the predictor's output before the reconstruction head.
        """
        ratio = self.mask_ratio if mask_ratio is None else mask_ratio
        values, valid = self.tokenizer.patchify(x)
        batch, n_bins, n_patches, size = values.shape
        n_tokens = n_bins * n_patches
        valid_patch = valid.any(-1).reshape(batch, n_tokens)
        n_keep = max(1, int(round((1.0 - ratio) * n_tokens)))

        # Invalid patches sort last, so they are never among the kept (visible) tokens. With
        # mask_unit="bin" all patches of a bin share one draw, so whole bins are hidden and must be
        # inferred from neighbouring bins (temporal interpolation) rather than from other patches.
        if noise is not None:
            noise = noise.to(x.dtype)
        elif self.mask_unit == "bin":
            noise = torch.rand(batch, n_bins, device=x.device).repeat_interleave(n_patches, dim=1)
            noise = noise + torch.rand(batch, n_tokens, device=x.device) * 1e-4
        else:
            noise = torch.rand(batch, n_tokens, device=x.device)
        noise = noise + (~valid_patch).to(x.dtype) * 2
        order = noise.argsort(dim=1)
        keep_idx = order[:, :n_keep]
        keep = torch.zeros(batch, n_tokens, dtype=torch.bool, device=x.device)
        keep.scatter_(1, keep_idx, True)
        keep4 = keep.reshape(batch, n_bins, n_patches, 1)

        # Hide masked values from the value embedder too (a causal conv would leak them). The
        # conv then sees only a share of each token's history, and `encode` later sees all of it:
        # its history taps are rescaled so the two agree in expectation.
        embedder = self.tokenizer.value_embedding
        extra = ({"visible_fraction": n_keep / n_tokens}
                 if isinstance(embedder, CausalConvValueEmbedding) else {})
        tokens = embedder(values * keep4, valid & keep4, **extra)
        tables = self.tokenizer.session_tables(session_idx)
        tokens = (tokens + tables[:, None]).reshape(batch, n_tokens, -1)
        positions = self.token_positions(batch, n_bins, n_patches, x.device)

        gather = keep_idx[..., None].expand(-1, -1, tokens.shape[-1])
        visible = torch.gather(tokens, 1, gather)
        encoded = self.encoder(
            visible, torch.gather(positions, 1, keep_idx), torch.gather(valid_patch, 1, keep_idx)
        )

        session_part = tables[:, None].expand(-1, n_bins, -1, -1).reshape(batch, n_tokens, -1)
        full = self.mask_token + session_part  # a fresh tensor: scattered into in place
        full.scatter_(1, gather, encoded)
        decoded = self.decoder(self.decoder_in(full), positions, valid_patch)
        offsets = select_sessions(self.offsets, session_idx)
        prediction = self.head(decoded).reshape(batch, n_bins, n_patches, size) + offsets[:, None]

        masked = ~keep4 & valid
        loss = masked_reconstruction_loss(prediction, values, masked, self.reconstruction)
        return {"loss": loss, "prediction": prediction, "masked": masked, "hidden": decoded}
