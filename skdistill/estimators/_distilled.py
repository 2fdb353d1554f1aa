"""Cross-modal distillation: an LFP student aligned with a frozen spike teacher, as an sklearn transformer."""

from __future__ import annotations

import copy
import numbers
import time

import numpy as np
import torch
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from skdistill.data import check_paired
from skdistill.estimators._base import TorchEstimator, resolve_inner
from skdistill.estimators._common import resolve_device, seeded
from skdistill.estimators._encoders import LFPTransformer, MaskedSpikeTransformer
from skdistill.nn._distill import DistillationStudent
from skdistill.preprocessing import SpikeSmoother

__all__ = ["DistilledLFPTransformer"]

_NOT_STUDENT = ("mask_ratio", "decoder_width", "decoder_layers")


class DistilledLFPTransformer(LFPTransformer):
    """LFP transformer distilled from a frozen spike teacher (cross-modal distillation).

    The student reads LFP only. During ``fit`` it minimises a per-bin reconstruction of its LFP
    input plus ``align_weight`` times the misalignment (cosine by default) between its pooled
    per-bin latents and the frozen teacher's latents on the row-aligned spike counts
    ``teacher_X``. The teacher latents are computed once, without masking, and cached as targets.
    After fitting, :meth:`transform` needs LFP only and returns one embedding per row, to be
    decoded linearly (``Pipeline([student, LinearRegression()])``).

    Parameters
    ----------
    teacher : MaskedSpikeTransformer, FrozenEstimator or None, default=None
        ``FrozenEstimator(fitted_teacher)`` is used as is (never refitted). An unfitted (or
        unfrozen) estimator is cloned and fitted on ``teacher_X`` first. ``None`` fits a default
        :class:`MaskedSpikeTransformer` with this estimator's ``random_state`` and ``device``.
        The student's session labels must be known to the teacher unless the teacher routes
        unknown sessions (its ``unknown_session``).
    segment_length : int, default=50
        Student window length in bins (windows never cross a session boundary).
    patch_size, d_model, n_layers, n_heads, mlp_ratio, dropout, causal :
        Student encoder size, as :class:`LFPTransformer`.
    value_embedding : {"conv", "mlp"}, default="conv"
    conv_kernel, conv_dilation : int, default=5, 2
    align_loss : {"cosine", "mse"}, default="cosine"
        Alignment term: one minus the mean per-bin cosine similarity, or the mean squared error.
    align_weight : float, default=5.0
        Weight of the alignment term (the paper's lambda).
    recon_weight : float, default=1.0
        Weight of the per-bin linear reconstruction of the LFP input.
    target_mode : {"raw", "center", "standardize"}, default="raw"
        How the teacher targets enter the alignment. ``"raw"`` is the paper's form (cosine to
        the raw pooled last-layer latent). The collapse guards: ``"center"`` removes the
        teacher's training mean first (a constant student then scores a cosine of 0),
        ``"standardize"`` also gives each dimension unit variance. Under ``"raw"`` a student
        can sit near the constant "emit the mean" solution; when and whether the guard helps
        is measured in ``docs/distillation.md``.
    target_smoothing : float, default=0.0
        Standard deviation, in bins, of a Gaussian that smooths the teacher targets along time
        (within each session run) before alignment; 0 aligns with the raw per-bin latents. The
        teacher's per-bin latents jitter with the spikes' Poisson noise, which no LFP can predict.
    variance_weight : float, default=0.0
        Weight of a VICReg-style hinge keeping the across-bin std of every projected student
        dimension above 1 (0 turns it off).
    teacher_layer : int or None, default=None
        Teacher encoder layer whose pooled output is the target (``None``: the teacher's own
        ``readout_layer``).
    align_layer : int, default=-1
        Student encoder layer that is aligned (-1: the final output).
    projection : {"auto", "linear"}, default="auto"
        ``"auto"``: identity when the widths agree, a learned linear map otherwise.
    readout, readout_layer :
        What :meth:`transform` returns, as :class:`LFPTransformer`.
    lr, weight_decay, batch_size, max_epochs, train_stride, window_sampling, unknown_session, device,
    random_state, verbose, callbacks :
        As :class:`LFPTransformer`.

    Attributes
    ----------
    teacher_ : MaskedSpikeTransformer
        The fitted teacher (for a ``FrozenEstimator``, the very object it wraps).
    teacher_dim_ : int
        Width of the alignment targets.
    sessions_, net_, history_, embedding_dim_, n_features_in_, fit_time_ :
        As :class:`LFPTransformer`.

    Examples
    --------
    >>> from sklearn.frozen import FrozenEstimator
    >>> teacher = MaskedSpikeTransformer().fit(S, session=s)          # doctest: +SKIP
    >>> student = DistilledLFPTransformer(teacher=FrozenEstimator(teacher))
    >>> student.fit(L, teacher_X=S, session=s).transform(L, session=s)  # doctest: +SKIP
    """

    _saved_attributes = LFPTransformer._saved_attributes + ("teacher_dim_",)
    _recorded_outputs = ("cosine",)  # train_cosine / valid_cosine: held-out alignment
    _parameter_constraints = {
        **{k: v for k, v in LFPTransformer._parameter_constraints.items() if k not in _NOT_STUDENT},
        "teacher": [HasMethods(["fit", "transform"]), None],
        "align_loss": [StrOptions({"cosine", "mse"})],
        "align_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "recon_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "target_mode": [StrOptions({"center", "standardize", "raw"})],
        "variance_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "target_smoothing": [Interval(numbers.Real, 0, None, closed="left")],
        "teacher_layer": [numbers.Integral, None],
        "align_layer": [numbers.Integral],
        "projection": [StrOptions({"auto", "linear"})],
    }

    def __init__(self, teacher=None, *, segment_length=50, patch_size=32, d_model=64, n_layers=4,
                 n_heads=4, mlp_ratio=4.0, dropout=0.0, causal=False, value_embedding="conv",
                 conv_kernel=5, conv_dilation=2, align_loss="cosine", align_weight=5.0,
                 recon_weight=1.0, target_mode="raw", target_smoothing=0.0,
                 variance_weight=0.0, teacher_layer=None,
                 align_layer=-1, projection="auto", readout="mean", readout_layer=-1, lr=1e-3,
                 weight_decay=0.01, batch_size=32, max_epochs=20, validation_fraction=0.1,
                 early_stopping=False, patience=5, train_stride=None,
                 window_sampling="random", unknown_session="error", device="auto",
                 random_state=None, verbose=0, callbacks=None, compile=False):
        self.teacher = teacher
        self.segment_length = segment_length
        self.patch_size = patch_size
        self.d_model = d_model
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.mlp_ratio = mlp_ratio
        self.dropout = dropout
        self.causal = causal
        self.value_embedding = value_embedding
        self.conv_kernel = conv_kernel
        self.conv_dilation = conv_dilation
        self.align_loss = align_loss
        self.align_weight = align_weight
        self.recon_weight = recon_weight
        self.target_mode = target_mode
        self.target_smoothing = target_smoothing
        self.variance_weight = variance_weight
        self.teacher_layer = teacher_layer
        self.align_layer = align_layer
        self.projection = projection
        self.readout = readout
        self.readout_layer = readout_layer
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.patience = patience
        self.train_stride = train_stride
        self.window_sampling = window_sampling
        self.unknown_session = unknown_session
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.compile = compile

    # -- module -------------------------------------------------------------------------------
    def _init_offsets(self, module, X, session, session_index):
        # The student reconstructs the LFP per bin from the pooled latent with a biased linear
        # head; it has no per-session offsets to initialise.
        return None

    def _build_module(self):
        return DistillationStudent(
            self.n_features_in_,
            len(self.sessions_),
            teacher_dim=self.teacher_dim_,
            **self._backbone_kwargs(),
            projection=self.projection,
            align_loss=self.align_loss,
            align_weight=self.align_weight,
            recon_weight=self.recon_weight,
            align_layer=self.align_layer,
            target_mode=self.target_mode,
            variance_weight=self.variance_weight,
            **self._module_kwargs(),
        )

    # -- teacher ------------------------------------------------------------------------------
    def _fitted_teacher(self, teacher_X, session):
        teacher = self.teacher
        if teacher is None:
            teacher = MaskedSpikeTransformer(random_state=self.random_state, device=self.device,
                                             verbose=self.verbose)
        fitted, _ = resolve_inner(teacher, lambda t: t.fit(teacher_X, session=session),
                                  name="teacher")
        return fitted

    def _teacher_latents(self, teacher, teacher_X, session):
        latents = teacher.transform(teacher_X, session=session, layer=self.teacher_layer)
        if self.target_smoothing:
            smoother = SpikeSmoother(sigma=self.target_smoothing, bin_size=1.0)
            latents = smoother.fit_transform(latents, session=session)
        return latents

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, X, y=None, *, teacher_X=None, session=None):
        """Distil the teacher's spike latents into an LFP student.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_channels)
            Preprocessed LFP at the bin rate; absent channels are all-NaN columns.
        y : ignored
        teacher_X : array-like of shape (n_rows, n_units)
            Spike counts row-aligned with ``X`` (same bins, same order); fit metadata, routed
            with ``set_fit_request(teacher_X=True)``.
        session : array-like of shape (n_rows,), optional
            Session label per row.

        Returns
        -------
        self
        """
        self._validate_params()
        if teacher_X is None:
            raise ValueError(
                "DistilledLFPTransformer.fit needs teacher_X, the spike counts row-aligned with X "
                "(fit(X_lfp, teacher_X=spike_counts, session=session)); in a Pipeline or "
                "cross_validate, request it with set_fit_request(teacher_X=True) and pass "
                "params={'teacher_X': spike_counts}."
            )
        check_paired(X, teacher_X)
        X, session = self._validate(X, session, reset=True)
        self.device_ = resolve_device(self.device)
        start = time.perf_counter()
        self.teacher_ = self._fitted_teacher(teacher_X, session)
        targets = self._teacher_latents(self.teacher_, teacher_X, session)
        self.teacher_dim_ = targets.shape[1]

        self.sessions_ = np.array(list(dict.fromkeys(session)), dtype=object)
        session_index = self._session_index(session)
        with seeded(self.random_state) as seed:
            # the same starts cut the LFP and its cached targets, so they stay row-aligned; the
            # held-out blocks carry their targets too, so valid_loss includes the alignment
            train, valid = self.windowing.split(self._fit_columns(X, target=targets), session_index,
                                                session, validation_fraction=self.validation_fraction,
                                                random_state=seed)
            self.n_windows_ = len(train)
            module = self._build_module()
            module.set_target_statistics(targets)
            try:
                self._train(self._make_net(module, valid_set=valid), train)
            finally:
                self.fit_time_ = time.perf_counter() - start
        return self

    def adapt(self, X, *, teacher_X=None, session, finetune="session", max_epochs=None):
        """Add sessions not seen in ``fit`` and train them with the full distillation objective.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_channels)
            LFP of the new (or known) sessions.
        teacher_X : array-like of shape (n_rows, n_units)
            Spike counts row-aligned with ``X``; the teacher's latents on them are the alignment
            targets, as in ``fit``. Required: without them only the reconstruction term would
            train and the student would drift from its teacher.
        session : array-like of shape (n_rows,)
            New labels get new session tables; the teacher must know them (or route them with
            its ``unknown_session``).
        finetune : {"session", "all"}, default="session"
        max_epochs : int, optional

        Returns
        -------
        self
        """
        check_is_fitted(self)
        if teacher_X is None:
            raise ValueError(
                "DistilledLFPTransformer.adapt needs teacher_X, the spike counts row-aligned with X: "
                "the new sessions are trained on reconstruction + alignment to the teacher, as in "
                "fit. For reconstruction only, adapt an LFPTransformer instead.")
        teacher = self._require_teacher("adapt")
        self._require_session(session)
        check_paired(X, teacher_X)
        X, session = self._validate(X, session, reset=False)
        targets = self._teacher_latents(teacher, teacher_X, session)
        self._check_target_width(targets)
        return self._adapt(X, session, self._fit_columns(X, target=targets), finetune, max_epochs)

    def _require_teacher(self, what):
        teacher = getattr(self, "teacher_", None)
        if teacher is None:
            raise ValueError(
                f"{what} needs the teacher, but this student has none (a student read with load() "
                "does not store its teacher). Attach the fitted teacher first: "
                "student.teacher_ = fitted_teacher.")
        return teacher

    def _check_target_width(self, targets):
        if targets.shape[1] != self.teacher_dim_:
            raise ValueError(
                f"the teacher now gives {targets.shape[1]}-wide latents, but the student was aligned "
                f"to {self.teacher_dim_}-wide ones; restore the teacher's readout of fit time.")

    def fit_transform(self, X, y=None, *, teacher_X=None, session=None):
        """``fit(X, teacher_X=teacher_X, session=session).transform(X, session=session)``."""
        return self.fit(X, y, teacher_X=teacher_X, session=session).transform(X, session=session)

    def alignment_score(self, X, teacher_X, *, session=None):
        """Mean per-bin cosine between the projected student latents and the (transformed) targets.

        A diagnostic of how well the student matches its teacher on new data; 1 is perfect,
        0 is what a constant (collapsed) student scores under ``target_mode="center"``.
        """
        check_is_fitted(self)
        teacher = self._require_teacher("alignment_score")
        check_paired(X, teacher_X)
        X, session = self._validate(X, session, reset=False)
        targets = self._teacher_latents(teacher, teacher_X, session)
        self._check_target_width(targets)
        module = self.module_
        # the pooled latent that training aligned, whatever ``readout`` transform now uses
        latents = self._embed(X, self._session_index(session), session, layer=module.align_layer,
                              readout="mean")
        with torch.no_grad():
            z = torch.as_tensor(latents, dtype=torch.float32, device=self.device_)
            t = torch.as_tensor(targets, dtype=torch.float32, device=self.device_)
            proj = module.projection(z)
            return float(torch.nn.functional.cosine_similarity(proj, module.normalize_target(t), dim=-1).mean())

    # -- persistence --------------------------------------------------------------------------
    def save(self, path):
        """Write the student (parameters, fitted attributes, weights) to ``path``.

        The teacher is not stored (``transform`` needs only LFP); the loaded student has
        ``teacher=None`` and no ``teacher_``.
        """
        plain = copy.copy(self)
        plain.teacher = None
        TorchEstimator.save(plain, path)
        return self
