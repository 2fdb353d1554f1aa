"""The distilled LFP student: LFP patch tokens -> transformer -> per-bin latents aligned with a teacher.

The student uses the same tokenizer and encoder classes as the LFP masked autoencoders
(:class:`~skdistill.nn._mae.MaskedAutoencoder`), so its :meth:`DistillationStudent.encode` has the
same signature and output ``(B, T, d)``. Training minimises (reference Eq. 1)::

    L = recon_weight * mean_t ||x_t - g(z_t)||^2 / N  +  align_weight * A(P(z_t^(l)), target_t)

with ``g`` a linear per-bin head from the final pooled latent to the ``N`` input channels (present
channels only), ``P`` the projection to the teacher's width (identity when the widths agree), ``l``
the student layer that is aligned, and ``A`` one minus the mean cosine or the mean squared error.

Target form. ``target_mode="raw"`` (the default) is the paper's plain form: cosine to the raw
pooled latent. Much of the energy of a pooled teacher latent can be its global mean (~40-60 % in
the simulator), so the raw cosine also rewards a student that emits (nearly) the same vector at
every bin. The optional collapse guards transform the target by buffers set from the training
targets: ``"center"`` removes the teacher's mean (the constant solution then scores 0),
``"standardize"`` also divides each dimension by its standard deviation. An optional VICReg-style variance hinge (``variance_weight``) keeps every
projected dimension's across-bin standard deviation above ``variance_floor``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from skdistill.nn._patch_encoder import PatchEncoder

__all__ = ["DistillationStudent", "alignment_loss", "variance_hinge"]

TARGET_MODES = ("raw", "center", "standardize")


def _weighted_mean(values, weights):
    """Mean of ``values`` (no weights) or its ``weights``-weighted mean (0/1 masks)."""
    if weights is None:
        return values.mean()
    weights = weights.to(values.dtype)
    return (values * weights).sum() / weights.sum().clamp_min(1.0)


def alignment_loss(prediction, target, kind="cosine", weights=None):
    """``1 - mean cosine`` or mean squared error between ``(..., d)`` tensors.

    ``weights`` (``prediction.shape[:-1]``, e.g. a 0/1 mask of real rows) weights the mean over
    rows: with a mask it equals the loss on the masked rows alone, without indexing them (a
    data-dependent shape, which ``torch.compile`` cannot trace in one graph)."""
    if kind == "cosine":
        return 1.0 - _weighted_mean(F.cosine_similarity(prediction, target, dim=-1, eps=1e-6),
                                    weights)
    if kind == "mse":
        return _weighted_mean((prediction - target).square().mean(-1), weights)
    raise ValueError(f"alignment loss must be 'cosine' or 'mse'; got {kind!r}.")


def variance_hinge(latents, floor=1.0, weights=None):
    """Mean over dimensions of ``relu(floor - std)``, std taken over every bin of the batch
    (over the bins where ``weights`` is 1, when given)."""
    flat = latents.reshape(-1, latents.shape[-1])
    w = (torch.ones(len(flat), dtype=flat.dtype, device=flat.device) if weights is None
         else weights.reshape(-1).to(flat.dtype))[:, None]
    n = w.sum()
    mean = (flat * w).sum(0) / n.clamp_min(1.0)
    var = ((flat - mean).square() * w).sum(0) / (n - 1).clamp_min(1.0)  # unbiased, as torch.var
    std = torch.sqrt(var + 1e-4)
    return F.relu(floor - std).mean()


class DistillationStudent(PatchEncoder):
    """A :class:`~skdistill.nn._patch_encoder.PatchEncoder` on LFP + reconstruction head + projection
    to the teacher.

    Parameters
    ----------
    n_channels : int
        Input LFP columns (union over sessions).
    n_sessions : int
        Session tables to create.
    teacher_dim : int
        Width of the teacher latents that are the alignment targets.
    patch_size, d_model, n_layers, n_heads, mlp_ratio, dropout, causal : encoder size
        As in :class:`~skdistill.nn._mae.MaskedAutoencoder`.
    value_embedding : {"conv", "mlp"}
    embedding_kwargs : dict
        Passed to :func:`~skdistill.nn._mae.make_value_embedding`.
    projection : {"auto", "linear"}
        ``"auto"``: identity when ``teacher_dim == d_model`` (the paper's setting), else linear;
        ``"linear"``: always a learned affine map.
    align_loss : {"cosine", "mse"}
    align_weight : float
        Weight of the alignment term (the paper's lambda = 5).
    recon_weight : float
        Weight of the per-bin reconstruction of the (unmasked) input.
    align_layer : int
        Student encoder layer whose pooled output is aligned (-1: the final output).
    target_mode : {"raw", "center", "standardize"}
        How the teacher targets are transformed before alignment (see the module docstring).
    variance_weight, variance_floor : float
        Weight and floor of the variance hinge on the projected student latents (0: off).
    """

    def __init__(
        self,
        n_channels,
        n_sessions=1,
        *,
        teacher_dim,
        patch_size=32,
        d_model=64,
        n_layers=4,
        n_heads=4,
        mlp_ratio=4.0,
        dropout=0.0,
        causal=False,
        value_embedding="conv",
        embedding_kwargs=None,
        projection="auto",
        align_loss="cosine",
        align_weight=5.0,
        recon_weight=1.0,
        align_layer=-1,
        target_mode="raw",
        variance_weight=0.0,
        variance_floor=1.0,
    ):
        super().__init__(n_channels, n_sessions, patch_size=patch_size, d_model=d_model,
                         n_layers=n_layers, n_heads=n_heads, mlp_ratio=mlp_ratio, dropout=dropout,
                         causal=causal, value_embedding=value_embedding,
                         embedding_kwargs=embedding_kwargs)
        if target_mode not in TARGET_MODES:
            raise ValueError(f"target_mode must be one of {TARGET_MODES}; got {target_mode!r}.")
        if projection not in ("auto", "linear"):
            raise ValueError(f"projection must be 'auto' or 'linear'; got {projection!r}.")
        if not -n_layers <= align_layer < n_layers:
            raise ValueError(
                f"align_layer={align_layer} does not name one of the student's {n_layers} layers; "
                f"use -1 (the last) up to {n_layers - 1}."
            )
        self.reconstruction_head = nn.Linear(d_model, n_channels)
        if projection == "auto" and teacher_dim == d_model:
            self.projection = nn.Identity()
        else:
            self.projection = nn.Linear(d_model, teacher_dim)
        # set from the training targets by the estimator; stored with the weights
        self.register_buffer("target_mean", torch.zeros(teacher_dim))
        self.register_buffer("target_scale", torch.ones(teacher_dim))
        self.align_loss = align_loss
        self.align_weight = float(align_weight)
        self.recon_weight = float(recon_weight)
        self.align_layer = align_layer
        self.target_mode = target_mode
        self.variance_weight = float(variance_weight)
        self.variance_floor = float(variance_floor)

    def set_target_statistics(self, targets):
        """Set the target mean and scale from ``(..., teacher_dim)`` teacher latents."""
        flat = torch.as_tensor(targets, dtype=torch.float32).reshape(-1, self.target_mean.shape[0])
        if self.target_mode == "raw":
            self.target_mean.zero_()
            self.target_scale.fill_(1.0)
            return
        self.target_mean.copy_(flat.mean(0))
        if self.target_mode == "standardize":
            self.target_scale.copy_(flat.std(0).clamp_min(1e-6))
        else:
            self.target_scale.fill_(1.0)

    def normalize_target(self, target):
        return (target - self.target_mean) / self.target_scale

    def forward(self, x, session_idx, target=None):
        """Training loss; without ``target`` only the reconstruction term (self-supervised).

        Returns ``{"loss", "reconstruction", "alignment", "cosine", "latent"}``; ``cosine`` is the
        mean per-bin cosine between the projected latents and the transformed targets (NaN
        without a target), a diagnostic whatever ``align_loss`` is.
        """
        layers = self.encode_layers(x, session_idx)
        final = layers[-1]
        valid = ~torch.isnan(x)
        recon = self.reconstruction_head(final)
        err = (recon - torch.nan_to_num(x)) ** 2 * valid
        recon_loss = err.sum() / valid.sum().clamp_min(1)
        loss = self.recon_weight * recon_loss
        align = torch.zeros((), device=x.device)
        cosine = torch.full((), float("nan"), device=x.device)
        if target is not None:
            # NaN rows pad a window shorter than its run: weighted out (not indexed away, which
            # would give a data-dependent shape and a graph break under torch.compile)
            rows = ~torch.isnan(target).any(-1)
            projected = self.projection(layers[self.align_layer])
            goal = self.normalize_target(torch.where(rows[..., None], target, 0.0))
            align = alignment_loss(projected, goal, self.align_loss, weights=rows)
            with torch.no_grad():
                cosine = _weighted_mean(
                    F.cosine_similarity(projected, goal, dim=-1, eps=1e-6), rows)
            loss = loss + self.align_weight * align
            if self.variance_weight:
                loss = loss + self.variance_weight * variance_hinge(projected, self.variance_floor,
                                                                    weights=rows)
        return {"loss": loss, "reconstruction": recon_loss.detach(), "alignment": align.detach(),
                "cosine": cosine, "latent": final}
