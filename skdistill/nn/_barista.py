"""BaRISTA torch modules: temporal tokenizer, spatial encodings, masked latent reconstruction.

One token is one channel x one time patch. A segment ``(C, T)`` is cut into ``n_patches`` patches
of ``patch_size`` samples per channel; a dilated 1-D CNN shared by every token encodes each patch
on its own and a bias-free linear pooler maps it to ``d_model`` (the reference's tokenizer;
:class:`SpectralTokenizer` is the log-spectrum alternative). Tokens are laid out time-major
(``[t0: ch0..ch(C-1), t1: ...]``) and carry their patch index as rotary position, so channels of
one time step share a position and space is told apart only by the spatial encoding that is
added to every token of a channel.

Pretraining (:class:`BaristaPretrainer`) masks whole spatial groups (channels, parcels or lobes)
across all patches, replaces their tokens with a learned mask token that keeps its spatial
encoding, and regresses, through a predictor MLP, the outputs of an EMA copy of the tokenizer at
the masked positions. Downstream models start from the EMA tokenizer and the encoder.

Speed (issue 13): the CNN runs in a channel-major ``(width, tokens, samples)`` layout, in chunks
of :attr:`DilatedConvEncoder.chunk_size` tokens, each convolution one matrix product over the
stacked dilated taps (oneDNN's convolution is very slow for 5-channel signals with tens of
thousands of batch rows); pretraining encodes with the online tokenizer only the tokens it keeps
(masked tokens are replaced by the mask token anyway), with the target tokenizer and the
predictor only the masked tokens the loss reads, and the EMA step is one fused ``_foreach_lerp_``.
The same parameters give the same outputs (``tests/test_barista_nn.py`` checks them against the
straightforward computation).

No sklearn in here (layering rule of ``skdistill.nn``).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn
from torch.nn import functional as F

from skdistill.nn._transformer import Transformer

__all__ = [
    "SPATIAL_SCALES",
    "DilatedConvEncoder",
    "TemporalTokenizer",
    "SpectralTokenizer",
    "log_spaced_bands",
    "SpatialEncoding",
    "BaristaEncoder",
    "BaristaPretrainer",
    "BaristaClassifierModule",
    "sample_group_mask",
    "masked_latent_loss",
    "ema_update",
]

#: spatial scales of encoding and of masking
SPATIAL_SCALES = ("channel", "parcel", "lobe")


class _TapConv(torch.autograd.Function):
    """"Same" dilated convolution of channel-major ``h`` (C, N, L) -> (O, N, L) as one matrix
    product over the stacked taps, with a hand-written backward (the weight gradient as
    ``taps @ grad.T``, about 2x faster than autograd's ``grad @ taps.T`` for these shapes, and
    the input gradient folded back by shifted adds instead of a zero-padded buffer)."""

    @staticmethod
    def forward(ctx, h, weight, bias, dilation, pad):
        n_in, n_tokens, length = h.shape
        n_out, _, size = weight.shape
        if size == 1:
            taps = h.reshape(n_in, n_tokens * length)
        else:
            padded = F.pad(h, (pad, pad))
            taps = torch.stack(
                [padded[..., k * dilation: k * dilation + length] for k in range(size)], dim=1
            ).reshape(n_in * size, n_tokens * length)
        out = torch.addmm(bias[:, None], weight.reshape(n_out, n_in * size), taps)
        ctx.save_for_backward(taps, weight)
        ctx.geometry = (n_in, n_tokens, length, dilation, pad)
        return out.view(n_out, n_tokens, length)

    @staticmethod
    def backward(ctx, grad):
        taps, weight = ctx.saved_tensors
        n_in, n_tokens, length, dilation, pad = ctx.geometry
        n_out, _, size = weight.shape
        g = grad.reshape(n_out, n_tokens * length)
        grad_h = grad_w = grad_b = None
        if ctx.needs_input_grad[1]:
            grad_w = torch.mm(taps, g.t()).t().reshape(weight.shape)
        if ctx.needs_input_grad[2]:
            grad_b = g.sum(dim=1)
        if ctx.needs_input_grad[0]:
            g_taps = torch.mm(weight.reshape(n_out, n_in * size).t(), g)
            g_taps = g_taps.view(n_in, size, n_tokens, length)
            if size == 1:
                grad_h = g_taps[:, 0]
            else:
                # out[t] reads h[t + o_k], o_k = k * dilation - pad  =>  grad_h[s] += g_k[s - o_k]
                grad_h = None
                for k in sorted(range(size), key=lambda k: k * dilation != pad):  # centre first
                    o = k * dilation - pad
                    if abs(o) >= length:
                        continue
                    g_k = g_taps[:, k]
                    if grad_h is None and o == 0:
                        grad_h = g_k.clone()
                        continue
                    if grad_h is None:
                        grad_h = g_k.new_zeros(n_in, n_tokens, length)
                    if o >= 0:
                        grad_h[..., o:] += g_k[..., : length - o]
                    else:
                        grad_h[..., :o] += g_k[..., -o:]
                if grad_h is None:
                    grad_h = g_taps.new_zeros(n_in, n_tokens, length)
        return grad_h, grad_w, grad_b, None, None


def _conv_taps(h, conv):
    """A "same" dilated ``conv`` (an ``nn.Conv1d``) of channel-major ``h`` (C, N, L) -> (O, N, L).

    The ``k`` dilated taps are stacked into a ``(C*k, N*L)`` matrix and multiplied by the
    ``(O, C*k)`` weight: one matrix product instead of a convolution over ``N`` tiny rows.
    """
    return _TapConv.apply(h, conv.weight, conv.bias, conv.dilation[0], conv.padding[0])


class _DilatedConvBlock(nn.Module):
    """Two dilated "same" convolutions, each followed by a time-axis layer norm and a GELU."""

    def __init__(self, in_channels, out_channels, dilation, kernel_size=3, project=False):
        super().__init__()
        same = dict(padding=dilation * (kernel_size - 1) // 2, dilation=dilation)
        self.conv1 = nn.Conv1d(in_channels, out_channels, kernel_size, **same)
        self.conv2 = nn.Conv1d(out_channels, out_channels, kernel_size, **same)
        self.projector = nn.Conv1d(in_channels, out_channels, 1) if project else None

    def forward(self, x):
        """Batch-major ``x`` (N, C, L) with ``nn.Conv1d`` (the straightforward, slow path)."""
        residual = x if self.projector is None else self.projector(x)
        length = x.shape[-1]
        h = F.gelu(F.layer_norm(self.conv1(x), (length,)))
        h = F.gelu(F.layer_norm(self.conv2(h), (length,)))
        return h + residual

    def forward_channel_major(self, h):
        """The same block on channel-major ``h`` (C, N, L) -> (O, N, L)."""
        residual = h if self.projector is None else _conv_taps(h, self.projector)
        length = h.shape[-1]
        h = F.gelu(F.layer_norm(_conv_taps(h, self.conv1), (length,)))
        h = F.gelu(F.layer_norm(_conv_taps(h, self.conv2), (length,)))
        return h + residual


class DilatedConvEncoder(nn.Module):
    """TS2Vec-style dilated residual CNN applied to one patch as a 1-channel sequence.

    Block ``i`` has dilation ``2**i``; the residual of the first block (1 -> width) and of the
    last (width -> 1) goes through a 1x1 convolution. With the default widths ``(5, 5, 5, 5, 1)``
    the encoder has 616 parameters and a receptive field of 125 samples, as in the reference.

    The forward pass works on chunks of :attr:`chunk_size` patches in a channel-major layout
    (see :func:`_conv_taps`); :meth:`forward_reference` is the plain ``nn.Conv1d`` computation
    of the same function.

    Parameters
    ----------
    widths : sequence of int, default=(5, 5, 5, 5, 1)
        Output channels of each block; the last must be 1.
    kernel_size : int, default=3
    """

    #: patches encoded together; ~512 keeps a chunk's activations in cache (measured fastest
    #: on one CPU thread for 128-sample patches, see benchmarks/barista_speed.py)
    chunk_size = 512

    def __init__(self, widths=(5, 5, 5, 5, 1), kernel_size=3):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if not widths or widths[-1] != 1:
            raise ValueError(f"the last CNN width must be 1 (one value per sample); got {widths}.")
        blocks, in_channels = [], 1
        for i, out_channels in enumerate(widths):
            project = i == 0 or i == len(widths) - 1 or in_channels != out_channels
            blocks.append(_DilatedConvBlock(in_channels, out_channels, 2**i, kernel_size, project))
            in_channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        for module in self.modules():
            if isinstance(module, nn.Conv1d):
                nn.init.kaiming_normal_(module.weight)
                nn.init.zeros_(module.bias)

    def _forward_chunk(self, x):
        h = x[None]  # (1, N, L)
        for block in self.blocks:
            h = block.forward_channel_major(h)
        return h[0]

    def forward(self, x):
        """``x``: (N, patch_size) -> (N, patch_size)."""
        if x.shape[0] <= self.chunk_size:
            return self._forward_chunk(x)
        return torch.cat([self._forward_chunk(chunk) for chunk in x.split(self.chunk_size)])

    def forward_reference(self, x):
        """The same function with ``nn.Conv1d`` on (N, 1, L) (slow; for tests and benchmarks)."""
        return self.blocks(x[:, None, :])[:, 0, :]


class _PatchTokenizer(nn.Module):
    """Cut segments into per-channel patches and encode each with :meth:`encode` (subclasses set
    ``patch_size``, a ``pooler`` linear layer whose ``out_features`` is ``d_model``, and
    ``encode``)."""

    def patches(self, x):
        """``x``: (B, C, T) -> patches (B, n_patches, C, patch_size) (a view when possible)."""
        batch, n_channels, n_times = x.shape
        n_patches = n_times // self.patch_size
        return x[..., : n_patches * self.patch_size].reshape(
            batch, n_channels, n_patches, self.patch_size
        ).transpose(1, 2)

    def forward(self, x, channel_mask=None, keep=None):
        """``x``: (B, C, T) -> tokens (B, n_patches, C, d_model); trailing samples are dropped.

        Padding channels (``channel_mask`` False) are not encoded and get zero tokens; so are
        tokens outside ``keep`` ((B, n_patches, C) bool), when given.
        """
        patches = self.patches(x)  # (B, n, C, P)
        batch, n_patches, n_channels, _ = patches.shape
        width = self.pooler.out_features
        if channel_mask is not None:
            real = channel_mask[:, None, :].expand(batch, n_patches, n_channels)
            keep = real if keep is None else keep & real
        if keep is None:
            flat = patches.reshape(-1, self.patch_size)
            return self.encode(flat).reshape(batch, n_patches, n_channels, width)
        out = patches.new_zeros(batch, n_patches, n_channels, width)
        out[keep] = self.encode(patches[keep])
        return out


class TemporalTokenizer(_PatchTokenizer):
    """Patch each channel, encode every patch with the dilated CNN, pool to ``d_model``.

    Parameters
    ----------
    patch_size : int
        Samples per patch (512 at 2048 Hz in the reference, i.e. 0.25 s).
    d_model : int
        Token width.
    widths : sequence of int, default=(5, 5, 5, 5, 1)
        CNN block widths (see :class:`DilatedConvEncoder`).
    """

    def __init__(self, patch_size: int, d_model: int, widths=(5, 5, 5, 5, 1)):
        super().__init__()
        self.patch_size = int(patch_size)
        self.cnn = DilatedConvEncoder(widths)
        self.pooler = nn.Linear(self.patch_size, d_model, bias=False)

    def encode(self, patches):
        """(M, patch_size) patches -> (M, d_model) tokens."""
        return self.pooler(self.cnn(patches))


class SpectralTokenizer(_PatchTokenizer):
    """Patch each channel, take each patch's log power spectrum, map it linearly to ``d_model``.

    Not the reference's tokenizer (that is :class:`TemporalTokenizer`, the dilated CNN): the
    spectrogram input of BrainBERT (Wang et al. 2023, ICLR) and of Neuroprobe's spectrogram
    baselines, here per 0.25 s patch. A patch of ``P`` samples is Hann-windowed; its
    periodogram's ``P // 2 + 1`` bins go through ``log(power + 1e-6)`` and a linear layer with
    bias. Because the layer is linear in log power, a token carries band power in every band
    with equal ease, 70-150 Hz included: about 1 % of a z-scored iEEG channel's variance, which
    the time-domain CNN, whose layer norms rescale every patch, does not expose (reference
    note: 40-150 Hz content "reconstructs badly"; measured on the simulated cohort in
    ``docs/barista.md``). Same interface as :class:`TemporalTokenizer` (``patches``,
    ``encode``, ``forward``), so masking, EMA targets and fine-tuning are unchanged.

    With ``n_bands``, the periodogram's power is first averaged over ``n_bands`` contiguous,
    logarithmically spaced bands (:func:`log_spaced_bands`: one bin each at the low end, wider
    towards Nyquist, as constant-Q and mel filterbanks are) and the log is taken of each band's
    mean power. Two things follow. A band of ``k`` bins has about ``1/sqrt(k)`` of one bin's
    sampling noise (one periodogram bin of a 0.25 s patch is a chi-squared variable with 2
    degrees of freedom: 5.6 dB standard deviation, more than the 1.6 dB of the cohort's
    high-gamma response), so the band powers a masked-latent target reads are predictable
    where single bins are not. And with ``n_bands <= d_model`` the linear layer can be
    injective, so a frozen tokenizer need not drop any band: with all ``P // 2 + 1`` bins and
    ``d_model`` < that, pretraining chooses which ``d_model`` directions of the spectrum to
    keep, and it keeps the predictable low frequencies.

    Parameters
    ----------
    patch_size : int
        Samples per patch.
    d_model : int
        Token width.
    n_bands : int, optional
        Log-spaced bands the power is averaged over before the log (None: every bin).
    """

    def __init__(self, patch_size: int, d_model: int, n_bands=None):
        super().__init__()
        self.patch_size = int(patch_size)
        self.register_buffer("window", torch.hann_window(self.patch_size, periodic=False),
                             persistent=False)
        n_bins = self.patch_size // 2 + 1
        if n_bands is None:
            self.register_buffer("band_weights", None, persistent=False)
            n_features = n_bins
        else:
            edges = log_spaced_bands(n_bins, int(n_bands))
            weights = torch.zeros(len(edges) - 1, n_bins)
            for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
                weights[i, lo:hi] = 1.0 / (hi - lo)
            self.register_buffer("band_weights", weights, persistent=False)
            n_features = weights.shape[0]
        self.n_bands = None if n_bands is None else int(n_bands)
        self.pooler = nn.Linear(n_features, d_model)

    def log_spectrum(self, patches):
        """(M, patch_size) -> (M, n_features) log periodogram (window power 1), band-averaged
        when ``n_bands`` is set."""
        window = self.window.to(patches.dtype)
        spectrum = torch.fft.rfft(patches * window, dim=-1)
        power = (spectrum.real.square() + spectrum.imag.square()) / window.square().sum()
        if self.band_weights is not None:
            power = power @ self.band_weights.to(power.dtype).t()
        return torch.log(power + 1e-6)

    def encode(self, patches):
        """(M, patch_size) patches -> (M, d_model) tokens."""
        return self.pooler(self.log_spectrum(patches))


def log_spaced_bands(n_bins: int, n_bands: int) -> list:
    """Edges ``e_0 = 0 < e_1 < ... < e_n = n_bins`` of ``n_bands`` contiguous bands of
    periodogram bins: bin 0 (DC) alone, then logarithmically spaced edges over bins
    ``1 .. n_bins - 1``, each band at least one bin wide (so the lowest bands are single bins).

    Raises ``ValueError`` unless ``2 <= n_bands <= n_bins``.
    """
    if not 2 <= n_bands <= n_bins:
        raise ValueError(f"n_bands must be in [2, {n_bins}] (the periodogram's bins for this "
                         f"patch size); got {n_bands}.")
    edges = [0, 1]
    for i in range(1, n_bands):
        remaining = n_bands - i  # bands still to place after this edge
        ideal = round(float(n_bins) ** (i / (n_bands - 1)))  # geometric over 1..n_bins
        lo = edges[-1] + 1
        hi = n_bins - remaining + 1
        edges.append(int(min(max(ideal, lo), hi)))
    edges[-1] = n_bins
    return edges


class SpatialEncoding(nn.Module):
    """A learned vector per channel, added to every token of that channel.

    ``"channel"``: the channel's MNI coordinates are binned into ``n_ids`` bins per axis and one
    table per axis is looked up; the three vectors are summed (the reference's coordinate
    encoding). ``"parcel"`` / ``"lobe"``: one vector per region id; id 0 is the reserved
    *unknown* row, held at zero and never trained. Tables start N(0, 1) as in the reference.

    Parameters
    ----------
    kind : {"channel", "parcel", "lobe"}
    n_ids : int
        Bins per axis (``"channel"``) or vocabulary size including the unknown row 0.
    d_model : int
    """

    def __init__(self, kind: str, n_ids: int, d_model: int):
        super().__init__()
        if kind not in SPATIAL_SCALES:
            raise ValueError(f"kind must be one of {SPATIAL_SCALES}; got {kind!r}.")
        self.kind = kind
        if kind == "channel":
            self.tables = nn.ModuleList(nn.Embedding(n_ids, d_model) for _ in range(3))
        else:
            self.tables = nn.ModuleList([nn.Embedding(n_ids, d_model, padding_idx=0)])
        for table in self.tables:
            nn.init.normal_(table.weight, 0.0, 1.0)
            if table.padding_idx is not None:
                with torch.no_grad():
                    table.weight[table.padding_idx].zero_()

    def forward(self, spatial_ids):
        """``spatial_ids``: (B, C, k) long (k = 3 for channel, 1 for regions) -> (B, C, d)."""
        return sum(table(spatial_ids[..., i]) for i, table in enumerate(self.tables))


def _token_layout(tokens, channel_mask):
    """(B, n, C, d) -> flat (B, n*C, d), positions = patch index, key padding mask."""
    batch, n_patches, n_channels, width = tokens.shape
    positions = torch.arange(n_patches, device=tokens.device).repeat_interleave(n_channels)
    positions = positions[None].expand(batch, -1)
    padding = channel_mask[:, None, :].expand(batch, n_patches, n_channels).reshape(batch, -1)
    return tokens.reshape(batch, n_patches * n_channels, width), positions, padding


class BaristaEncoder(nn.Module):
    """Tokenizer + spatial encoding + joint space-time transformer.

    Parameters
    ----------
    patch_size, d_model : int
    spatial_encoding : {"channel", "parcel", "lobe"}
    n_spatial_ids : int
        Coordinate bins per axis, or region vocabulary size including unknown row 0.
    n_layers, n_heads : int
    mlp_ratio, dropout : float
    norm_eps : float, default=1e-8
        RMSNorm epsilon (the reference value).
    cnn_widths : sequence of int, default=(5, 5, 5, 5, 1)
        Widths of the ``"cnn"`` tokenizer's blocks.
    tokenizer : {"cnn", "spectral"}, default="cnn"
        :class:`TemporalTokenizer` (the reference's dilated CNN) or :class:`SpectralTokenizer`.
    spectral_bands : int, optional
        ``n_bands`` of the :class:`SpectralTokenizer` (None: every periodogram bin).
    """

    def __init__(
        self,
        patch_size,
        d_model,
        spatial_encoding,
        n_spatial_ids,
        n_layers,
        n_heads,
        mlp_ratio=4.0,
        dropout=0.1,
        norm_eps=1e-8,
        cnn_widths=(5, 5, 5, 5, 1),
        tokenizer="cnn",
        spectral_bands=None,
    ):
        super().__init__()
        if tokenizer == "cnn":
            self.tokenizer = TemporalTokenizer(patch_size, d_model, cnn_widths)
        elif tokenizer == "spectral":
            self.tokenizer = SpectralTokenizer(patch_size, d_model, spectral_bands)
        else:
            raise ValueError(f"tokenizer must be one of ['cnn', 'spectral']; got {tokenizer!r}.")
        self.spatial = SpatialEncoding(spatial_encoding, n_spatial_ids, d_model)
        self.backbone = Transformer(d_model, n_layers, n_heads, mlp_ratio, dropout, norm_eps)

    def contextualize(self, tokens, spatial_ids, channel_mask):
        """Add the spatial encoding to (B, n, C, d) tokens and run the backbone; same shape out.

        Padding tokens are masked as keys only (a ``(B, 1, 1, L)`` mask, cheaper than the
        backbone's ``(B, 1, L, L)`` one); every segment has a real token, so no row is empty.
        Real tokens come out as from ``self.backbone(flat, positions, key_padding_mask)``;
        padding tokens attend to the real ones instead of to themselves (their outputs are
        never read).
        """
        tokens = tokens + self.spatial(spatial_ids)[:, None]
        flat, positions, padding = _token_layout(tokens, channel_mask)
        attn_mask = None if bool(padding.all()) else padding[:, None, None, :]
        for block in self.backbone.blocks:
            flat = block(flat, positions, attn_mask)
        out = self.backbone.norm(flat)
        return out.reshape(tokens.shape)

    def forward(self, x, spatial_ids, channel_mask):
        """``x`` (B, C, T) -> contextual tokens (B, n_patches, C, d)."""
        return self.contextualize(self.tokenizer(x, channel_mask), spatial_ids, channel_mask)


def sample_group_mask(group_ids, mask_ratio: float, generator=None):
    """Choose ``mask_ratio`` of the spatial groups of each sample; mask their channels.

    Parameters
    ----------
    group_ids : (B, C) long tensor
        Group of each channel, numbered ``0..G_b-1`` within sample ``b``; ``-1`` for padding.
    mask_ratio : float
        Share of groups to mask: ``round(mask_ratio * G_b)``, at least 1 and, when a sample has
        more than one group, at most ``G_b - 1`` so that some context is always left.
    generator : torch.Generator, optional

    Returns
    -------
    (B, C) bool tensor, True for masked (real) channels.
    """
    real = group_ids >= 0
    n_groups = (group_ids.max(dim=1).values + 1).clamp(min=0)
    g_max = max(int(n_groups.max()), 1)
    n_mask = torch.round(n_groups.to(torch.float64) * mask_ratio).long()
    n_mask = torch.minimum(n_mask.clamp(min=1), (n_groups - 1).clamp(min=1))
    scores = torch.rand(group_ids.shape[0], g_max, generator=generator, device=group_ids.device)
    absent = torch.arange(g_max, device=group_ids.device)[None] >= n_groups[:, None]
    scores = scores.masked_fill(absent, 2.0)
    rank = scores.argsort(dim=1).argsort(dim=1)
    group_masked = rank < n_mask[:, None]
    return torch.gather(group_masked, 1, group_ids.clamp(min=0)) & real


def masked_latent_loss(predicted, target, mask, normalize_targets=False):
    """Mean squared error over the masked tokens (mean over tokens and features).

    ``predicted`` and ``target``: (..., d); ``mask``: boolean of the leading shape, or None when
    they hold the masked tokens only.
    """
    if normalize_targets:
        target = F.layer_norm(target, target.shape[-1:])
    err = (predicted - target).pow(2).mean(dim=-1)
    return err.mean() if mask is None else err[mask].mean()


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """``target <- momentum * target + (1 - momentum) * online`` (one fused ``lerp`` over all
    parameters)."""
    t_params = list(target.parameters())
    o_params = [p.detach() for p in online.parameters()]
    if len(t_params) != len(o_params):
        raise ValueError("target and online modules must have the same parameters.")
    if t_params:
        torch._foreach_lerp_(t_params, o_params, 1.0 - momentum)


def _mlp(d_model, hidden, depth):
    layers, width = [], d_model
    for _ in range(max(depth - 1, 0)):
        layers += [nn.Linear(width, hidden), nn.GELU()]
        width = hidden
    layers.append(nn.Linear(width, d_model))
    return nn.Sequential(*layers)


class BaristaPretrainer(nn.Module):
    """Masked latent reconstruction around a :class:`BaristaEncoder`.

    Parameters
    ----------
    encoder : BaristaEncoder
    mask_ratio : float, default=0.3
    predictor_depth : int, default=2
        Linear layers of the predictor MLP (GELU between them).
    predictor_hidden : int, default=128
    normalize_targets : bool, default=False
        Layer-norm the targets (no affine) before the MSE.
    """

    def __init__(self, encoder, mask_ratio=0.3, predictor_depth=2, predictor_hidden=128,
                 normalize_targets=False):
        super().__init__()
        d_model = encoder.tokenizer.pooler.out_features
        self.encoder = encoder
        # The target is CNN + pooler only (no spatial vector): reference open question 3.
        self.target_tokenizer = copy.deepcopy(encoder.tokenizer)
        for param in self.target_tokenizer.parameters():
            param.requires_grad_(False)
        self.mask_token = nn.Parameter(torch.randn(d_model) * 0.02)
        self.predictor = _mlp(d_model, predictor_hidden, predictor_depth)
        self.mask_ratio = float(mask_ratio)
        self.normalize_targets = bool(normalize_targets)

    def forward(self, x, spatial_ids, group_ids, channel_mask):
        """Loss dict: ``loss`` (masked-token MSE) and ``masked`` (B, C) bool.

        The online tokenizer encodes only the real, unmasked tokens (masked ones are replaced by
        the mask token), the target tokenizer and the predictor only the masked tokens.
        """
        masked = sample_group_mask(group_ids, self.mask_ratio)
        tokenizer = self.encoder.tokenizer
        n_patches = x.shape[-1] // tokenizer.patch_size
        token_mask = masked[:, None, :].expand(-1, n_patches, -1)
        tokens = tokenizer(x, channel_mask, keep=~token_mask)
        tokens = torch.where(token_mask[..., None], self.mask_token.to(tokens.dtype), tokens)
        out = self.encoder.contextualize(tokens, spatial_ids, channel_mask)
        with torch.no_grad():
            target = self.target_tokenizer.encode(self.target_tokenizer.patches(x)[token_mask])
        predicted = self.predictor(out[token_mask])
        loss = masked_latent_loss(predicted, target, None, self.normalize_targets)
        return {"loss": loss, "masked": masked}

    def update_target(self, momentum: float) -> None:
        """One EMA step of the target tokenizer towards the online tokenizer."""
        ema_update(self.target_tokenizer, self.encoder.tokenizer, momentum)

    def downstream_encoder(self) -> BaristaEncoder:
        """A copy of the encoder whose tokenizer is the EMA target tokenizer."""
        encoder = copy.deepcopy(self.encoder)
        encoder.tokenizer.load_state_dict(self.target_tokenizer.state_dict())
        return encoder

    def tokens(self, x, spatial_ids, channel_mask):
        """Contextual tokens (B, n_patches, C, d) from the EMA tokenizer and the encoder."""
        tokens = self.target_tokenizer(x, channel_mask)
        return self.encoder.contextualize(tokens, spatial_ids, channel_mask)

    def embed(self, x, spatial_ids, channel_mask):
        """Mean of the contextual tokens over real channels and all patches: (B, d)."""
        out = self.tokens(x, spatial_ids, channel_mask)
        weight = channel_mask.to(out.dtype)[:, None, :, None]
        return (out * weight).sum(dim=(1, 2)) / (weight.sum(dim=(1, 2)) * out.shape[1])


class BaristaClassifierModule(nn.Module):
    """Encoder + readout + linear classifier.

    ``readout="token_weights"``: a bias-free weight per channel x patch token, one set per
    session (the token count depends on the montage), started at the mean over real tokens;
    ``readout="mean"``: the plain mean over real tokens;
    ``readout="attention"``: attentive pooling, a softmax over the real tokens of
    ``token . query / sqrt(d)`` with one learned ``query`` shared by every session (the
    attentive probe of I-JEPA / V-JEPA: Assran et al. 2023, Bardes et al. 2024). The query
    starts at zero, i.e. at the plain mean, and learns which tokens to weight by what they
    contain, not by where they are, so it needs no per-session table.

    Parameters
    ----------
    encoder : BaristaEncoder
    n_classes : int
    n_sessions, n_patches, max_channels : int
        Shape of the per-session token-weight table.
    readout : {"token_weights", "mean", "attention"}
    session_channels : sequence of int, optional
        Real channels per session (for the mean-pool initial weights).
    head_norm : bool, default=False
        Standardise the pooled embedding over the batch (``BatchNorm1d`` without affine
        parameters; running statistics at evaluation) before the linear classifier, as MAE's
        linear probe does (He et al. 2022, CVPR): a mean over hundreds of tokens varies little
        between segments, and unscaled, the classifier needs thousands of steps to read it.
    """

    def __init__(self, encoder, n_classes, n_sessions, n_patches, max_channels,
                 readout="token_weights", session_channels=None, head_norm=False):
        super().__init__()
        self.encoder = encoder
        self.readout = readout
        d_model = encoder.tokenizer.pooler.out_features
        weights = torch.zeros(n_sessions, n_patches, max_channels)
        if session_channels is not None:
            for s, n_ch in enumerate(session_channels):
                weights[s, :, :n_ch] = 1.0 / (n_patches * n_ch)
        self.token_weights = nn.Parameter(weights) if readout == "token_weights" else None
        self.query = nn.Parameter(torch.zeros(d_model)) if readout == "attention" else None
        self.norm = nn.BatchNorm1d(d_model, affine=False) if head_norm else None
        self.classifier = nn.Linear(d_model, n_classes)

    def forward(self, x=None, spatial_ids=None, channel_mask=None, session_index=None, tokens=None):
        """Class logits from segments ``x`` (B, C, T) or from precomputed tokenizer outputs
        ``tokens`` (B, n, C, d) (a frozen tokenizer gives the same tokens every epoch, so
        fine-tuning computes them once; see :meth:`BaristaEncoder.contextualize`)."""
        pooled = self.pool(x, spatial_ids, channel_mask, session_index, tokens)
        if self.norm is not None:
            pooled = self.norm(pooled)
        return self.classifier(pooled)

    def pool(self, x=None, spatial_ids=None, channel_mask=None, session_index=None, tokens=None):
        """The pooled embedding (B, d) the head reads (before ``head_norm``); same inputs as
        :meth:`forward`."""
        if (x is None) == (tokens is None):
            raise ValueError("pass exactly one of x (segments) and tokens (tokenizer outputs).")
        if tokens is None:
            out = self.encoder(x, spatial_ids, channel_mask)  # (B, n, C, d)
        else:
            out = self.encoder.contextualize(tokens, spatial_ids, channel_mask)
        real = channel_mask.to(out.dtype)[:, None, :]
        if self.query is not None:
            scores = torch.einsum("bncd,d->bnc", out, self.query) / math.sqrt(out.shape[-1])
            scores = scores.masked_fill(~channel_mask[:, None, :].bool(), float("-inf"))
            weight = torch.softmax(scores.flatten(1), dim=1).view_as(scores)
        elif self.token_weights is None:
            weight = real.expand(-1, out.shape[1], -1)
            weight = weight / weight.sum(dim=(1, 2), keepdim=True)
        else:
            weight = self.token_weights[session_index][:, : out.shape[1], : out.shape[2]] * real
        return torch.einsum("bncd,bnc->bd", out, weight)
