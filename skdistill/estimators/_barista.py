"""BaRISTA as scikit-learn estimators: self-supervised :class:`BaristaTransformer` and the
fine-tuned :class:`BaristaClassifier`.

Input contract (``DESIGN.md``, epoched signals): ``X`` is ``(n_segments, n_channels, n_times)``,
``session`` one label per segment and ``electrodes`` a dict ``{session: DataFrame}`` with one
row per channel row of ``X`` for that session (``name``; ``x, y, z`` MNI mm for the channel
encoding; ``parcel`` / ``lobe`` for the region scales, e.g. from :mod:`skdistill.spatial`).
Channels beyond a session's table are padding and must be all-NaN. Subjects with different
montages share a batch: padding channels become padding tokens that attention ignores.
"""

from __future__ import annotations

import copy
import numbers
import time

import numpy as np
import torch
from skorch.callbacks import Callback, EpochScoring, GradientNormClipping, LRScheduler
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import type_of_target
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from skdistill.estimators._base import TRAINING_CONSTRAINTS, TorchEstimator, resolve_inner
from skdistill.estimators._common import (
    check_head_width,
    make_dataset,
    predict_batches,
    resolve_device,
    seeded,
)
from skdistill.estimators._electrodes import COORD_RANGE_MM, ElectrodeLayout, tables_to_plain
from skdistill.estimators._windows import holdout_rows
from skdistill.spatial._scales import get_scale
from skdistill.nn._barista import (
    BaristaClassifierModule,
    BaristaEncoder,
    BaristaPretrainer,
)

__all__ = ["BaristaTransformer", "BaristaClassifier", "BARISTA_PAPER_PARAMS", "COORD_RANGE_MM"]

#: The reference model size (12 layers, width 64, 4 heads, 512-sample patches = 0.25 s at
#: 2048 Hz) and pretraining recipe; ``BaristaTransformer(**BARISTA_PAPER_PARAMS)``. Needs a GPU.
BARISTA_PAPER_PARAMS = {
    "spatial_encoding": "parcel",
    "mask_scale": "channel",
    "mask_ratio": 0.3,
    "patch_size": 512,
    "d_model": 64,
    "n_layers": 12,
    "n_heads": 4,
    "mlp_ratio": 4.0,
    "dropout": 0.1,
    "coord_bins": 200,
    "ema_momentum": 0.996,
    "lr": 1e-3,
    "batch_size": 128,
    "max_epochs": 70,
}

def _nn_spatial_kind(name):
    """The spatial table layout of a registered scale, as the torch module names it: one table per
    MNI axis (``"channel"``) or one region table with an unknown row (``"parcel"``)."""
    return "channel" if get_scale(name).kind == "coordinates" else "parcel"


class _EMATarget(Callback):
    """EMA step of the target tokenizer after every optimizer step.

    ``schedule="constant"``: the momentum is ``momentum`` throughout. ``"cosine"``: it rises
    from ``momentum`` to 1 over the planned steps (``max_epochs`` x batches per epoch) on a
    half cosine, as in BYOL / data2vec, so the target settles as training ends.
    """

    def __init__(self, momentum, schedule="constant"):
        self.momentum = momentum
        self.schedule = schedule

    def on_train_begin(self, net, X=None, **kwargs):
        self.per_epoch_ = int(np.ceil(len(X) / net.batch_size)) if X is not None else 1
        self.total_ = max(1, self.per_epoch_ * net.max_epochs)
        self.step_ = None  # set at the first batch, after a TrainingCheckpoint has resumed

    def current(self):
        """The momentum of the next EMA step."""
        if self.schedule == "constant":
            return self.momentum
        frac = min((self.step_ or 0) / getattr(self, "total_", 1), 1.0)
        return 1.0 - (1.0 - self.momentum) * (np.cos(np.pi * frac) + 1.0) / 2.0

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if training:
            if getattr(self, "step_", None) is None:
                self.step_ = getattr(self, "per_epoch_", 0) * getattr(net, "resumed_epochs_", 0)
            net.module_.update_target(self.current())
            self.step_ += 1


def _split_inputs(arrays, held, y=None):
    """skorch datasets of the training and held-out segments (``None`` when none are held)."""
    def subset(mask):
        return make_dataset({k: v[mask] for k, v in arrays.items()},
                            None if y is None else y[mask])

    if not held.any():
        return make_dataset(arrays, y), None
    return subset(~held), subset(held)


class KeepBest(Callback):
    """Restore, at the end of training, the weights of the epoch with the best ``monitor``
    (e.g. ``valid_auroc``); NaN scores never count, ties go to the later epoch."""

    def __init__(self, monitor, lower_is_better=True):
        self.monitor = monitor
        self.lower_is_better = lower_is_better

    def on_train_begin(self, net, **kwargs):
        self.best_, self.state_, self.epoch_ = None, None, None

    def on_epoch_end(self, net, **kwargs):
        score = net.history[-1].get(self.monitor)
        if score is None or not np.isfinite(score):
            return
        # ties go to the later epoch: a saturated score (AUROC 1 on a few held-out segments)
        # should not pin the weights to the first epoch that reached it
        better = self.best_ is None or (score <= self.best_ if self.lower_is_better
                                        else score >= self.best_)
        if better:
            self.best_, self.epoch_ = score, len(net.history)
            self.state_ = copy.deepcopy(net.module_.state_dict())

    def on_train_end(self, net, **kwargs):
        if self.state_ is not None:
            net.module_.load_state_dict(self.state_)


def _valid_auroc(net, X, y):
    """ROC-AUC of the held-out segments (one-vs-rest for more classes); NaN with one class."""
    logits = torch.as_tensor(net.forward(X)).float()
    prob = torch.softmax(logits, dim=1).numpy()
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return float("nan")
    if prob.shape[1] == 2:
        return float(roc_auc_score(y, prob[:, 1]))
    return float(roc_auc_score(y, prob, multi_class="ovr", labels=np.arange(prob.shape[1])))


# --------------------------------------------------------------------------- transformer


class BaristaTransformer(TransformerMixin, TorchEstimator):
    """BaRISTA spatiotemporal iEEG encoder pretrained by masked latent reconstruction.

    ``fit`` is self-supervised on 3-D segments of many subjects with different montages;
    ``transform`` returns one embedding per segment (the mean of the contextual tokens over real
    channels and patches), ``transform_tokens`` the per-token outputs. Each segment is
    z-scored per channel before tokenisation.

    Parameters
    ----------
    spatial_encoding : {"channel", "parcel", "lobe"}, default="parcel"
        What the spatial vector added to a channel's tokens is learned from: ``"channel"`` bins
        the MNI coordinates (``coord_bins`` per axis over :data:`COORD_RANGE_MM`, one table per
        axis, summed: the reference encoding); ``"parcel"`` / ``"lobe"`` learn one vector per
        region seen at fit (regions unseen at fit and ``"unknown"`` map to a zero row that is
        never trained).
    mask_scale : {"channel", "parcel", "lobe"}, default="channel"
        Spatial groups that are masked together (every token of every channel of a chosen
        group, across all patches). Unknown-region channels are their own group.
    mask_ratio : float, default=0.3
        Share of groups masked per segment (rounded, at least one, at most all but one).
    tokenizer : {"cnn", "spectral"}, default="cnn"
        How a patch becomes a token. ``"cnn"``: the reference's dilated CNN and bias-free
        pooler (:class:`skdistill.nn.TemporalTokenizer`); ``"spectral"``: the patch's log power
        spectrum through a linear layer (:class:`skdistill.nn.SpectralTokenizer`, as
        BrainBERT's spectrogram input). The CNN's per-patch layer norms hide band power that is a
        small share of a z-scored channel's variance (70-150 Hz high gamma is about 1 %); the
        spectral tokens carry every band's power linearly (``docs/barista.md``, "Which tokenizer").
    spectral_bands : int, optional
        With ``tokenizer="spectral"``: average the periodogram's power over this many
        logarithmically spaced bands before the log (:func:`skdistill.nn.log_spaced_bands`;
        at most ``patch_size // 2 + 1``); None keeps every bin. Band powers are less noisy than
        single bins, and with ``spectral_bands <= d_model`` the token layer can keep every band
        (``docs/barista.md``, "Band-averaged spectra"). Ignored by the CNN tokenizer.
    patch_size : int, default=128
        Samples per token patch. 128 = 0.25 s at the 512 Hz of
        :func:`skdistill.datasets.make_ieeg_cohort`, so its 3 s segments give 12 patches as in
        the reference (512 samples = 0.25 s at 2048 Hz). Trailing samples that do not fill a patch
        are unused.
    d_model, n_layers, n_heads : int, default=32, 2, 4
        Size of the transformer (CPU-friendly; see :data:`BARISTA_PAPER_PARAMS`: 64, 12, 4).
    mlp_ratio : float, default=4.0
    dropout : float, default=0.1
    coord_bins : int, default=200
        Bins per MNI axis for ``spatial_encoding="channel"``.
    predictor_depth : int, default=2
        Linear layers in the predictor MLP.
    predictor_hidden : int, default=128
    ema_momentum : float, default=0.996
        Momentum of the EMA target tokenizer (updated after every optimizer step).
    ema_schedule : {"constant", "cosine"}, default="constant"
        ``"cosine"`` raises the momentum from ``ema_momentum`` to 1 over the planned steps
        (BYOL / data2vec style); ``"constant"`` keeps it.
    normalize_targets : bool, default=False
        Layer-norm targets before the MSE.
    lr : float, default=1e-3
    weight_decay : float, default=0.05
        AdamW.
    batch_size : int, default=32
    max_epochs : int, default=10
        Pretraining epochs; 0 gives a randomly initialised encoder (the "random" baseline).
    grad_clip : float or None, default=1.0
        Gradient-norm clipping.
    validation_fraction : float, default=0.1
        Share of each session's segments held out at its end (in the order of ``X``) and scored
        every epoch as ``valid_loss`` (the masked-latent loss of held-out segments).
    early_stopping : bool, default=False
        Stop when ``valid_loss`` has not improved for ``patience`` epochs; restore the best.
    patience : int, default=5
    device : str, default="auto"
    random_state : int, RandomState or None, default=None
    verbose : int, default=0
        skorch's per-epoch history printout.
    compile : bool or dict, default=False
        Train through ``torch.compile``: faster steps after a one-off compilation. A dict
        compiles with it as ``torch.compile``'s keyword arguments (``{"mode": "max-autotune"}``,
        ``{"backend": "aot_eager"}``); see ``docs/training.md``, "Compiled training".
    callbacks : list or None, default=None
        Extra skorch callbacks (e.g. ``skorch.callbacks.ProgressBar()``).

    Attributes
    ----------
    vocabulary_ : ndarray of str or None
        Regions of ``spatial_encoding`` seen at fit; id ``i + 1`` is ``vocabulary_[i]``.
    n_patches_ : int
        Patches per segment at fit.
    electrodes_ : dict
        The electrode tables seen at fit (as plain column lists); ``transform`` falls back to them
        when ``electrodes`` is not given.
    sessions_ : ndarray of str
        Sessions seen at fit.
    n_features_in_ : int
        Channel rows of ``X`` at fit.
    net_ : skorch.NeuralNet
    module_ : BaristaPretrainer
    history_ : skorch.History
        Per-epoch ``train_loss`` and ``valid_loss``.
    fit_time_ : float
        Seconds spent in pretraining.
    """

    _parameter_constraints = {
        "spatial_encoding": [str],  # a registered scale: skdistill.spatial.spatial_scales()
        "mask_scale": [str],
        "mask_ratio": [Interval(numbers.Real, 0, 1, closed="right")],
        "tokenizer": [StrOptions({"cnn", "spectral"})],
        "spectral_bands": [Interval(numbers.Integral, 2, None, closed="left"), None],
        "patch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "d_model": [Interval(numbers.Integral, 2, None, closed="left")],
        "n_layers": [Interval(numbers.Integral, 0, None, closed="left")],
        "n_heads": [Interval(numbers.Integral, 1, None, closed="left")],
        "mlp_ratio": [Interval(numbers.Real, 0, None, closed="neither")],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "coord_bins": [Interval(numbers.Integral, 1, None, closed="left")],
        "predictor_depth": [Interval(numbers.Integral, 1, None, closed="left")],
        "predictor_hidden": [Interval(numbers.Integral, 1, None, closed="left")],
        "ema_momentum": [Interval(numbers.Real, 0, 1, closed="both")],
        "ema_schedule": [StrOptions({"constant", "cosine"})],
        "normalize_targets": ["boolean"],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "grad_clip": [Interval(numbers.Real, 0, None, closed="neither"), None],
        **TRAINING_CONSTRAINTS,
    }
    _saved_attributes = ("vocabulary_", "n_patches_", "fit_time_", "electrodes_", "sessions_",
                         "n_features_in_")

    def __init__(
        self,
        spatial_encoding="parcel",
        mask_scale="channel",
        mask_ratio=0.3,
        *,
        tokenizer="cnn",
        spectral_bands=None,
        patch_size=128,
        d_model=32,
        n_layers=2,
        n_heads=4,
        mlp_ratio=4.0,
        dropout=0.1,
        coord_bins=200,
        predictor_depth=2,
        predictor_hidden=128,
        ema_momentum=0.996,
        ema_schedule="constant",
        normalize_targets=False,
        lr=1e-3,
        weight_decay=0.05,
        batch_size=32,
        max_epochs=10,
        grad_clip=1.0,
        validation_fraction=0.1,
        early_stopping=False,
        patience=5,
        device="auto",
        random_state=None,
        verbose=0,
        callbacks=None,
        compile=False,
    ):
        self.spatial_encoding = spatial_encoding
        self.mask_scale = mask_scale
        self.mask_ratio = mask_ratio
        self.tokenizer = tokenizer
        self.spectral_bands = spectral_bands
        self.patch_size = patch_size
        self.d_model = d_model
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.mlp_ratio = mlp_ratio
        self.dropout = dropout
        self.coord_bins = coord_bins
        self.predictor_depth = predictor_depth
        self.predictor_hidden = predictor_hidden
        self.ema_momentum = ema_momentum
        self.ema_schedule = ema_schedule
        self.normalize_targets = normalize_targets
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.grad_clip = grad_clip
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.patience = patience
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.compile = compile

    # ---- model construction (also used by load())
    def _layout(self, fitting):
        return ElectrodeLayout(
            self.spatial_encoding, self.mask_scale if fitting else None,
            patch_size=self.patch_size, coord_bins=self.coord_bins,
            vocabulary=None if fitting else getattr(self, "vocabulary_", None),
            tables=None if fitting else getattr(self, "electrodes_", None))

    def _encoder_params(self):
        return {
            "patch_size": self.patch_size,
            "d_model": self.d_model,
            "spatial_encoding": _nn_spatial_kind(self.spatial_encoding),
            "n_spatial_ids": self._layout(fitting=False).n_spatial_ids,
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "mlp_ratio": self.mlp_ratio,
            "dropout": self.dropout,
            "tokenizer": self.tokenizer,
            "spectral_bands": self.spectral_bands if self.tokenizer == "spectral" else None,
        }

    def _build_module(self):
        encoder = BaristaEncoder(**self._encoder_params())
        return BaristaPretrainer(
            encoder,
            mask_ratio=self.mask_ratio,
            predictor_depth=self.predictor_depth,
            predictor_hidden=self.predictor_hidden,
            normalize_targets=self.normalize_targets,
        )

    def _training_callbacks(self):
        callbacks = [("ema_target", _EMATarget(self.ema_momentum, self.ema_schedule))]
        if self.grad_clip is not None:
            callbacks.append(("grad_clip", GradientNormClipping(self.grad_clip)))
        return callbacks

    def _prepare(self, X, session, electrodes, fitting):
        check_head_width(self.d_model, self.n_heads)
        layout = self._layout(fitting)
        if not fitting:
            return layout.transform(X, session, electrodes)
        inputs = layout.fit(X, session, electrodes)
        self.vocabulary_, self.electrodes_ = layout.vocabulary, layout.tables
        return inputs

    def fit(self, X, y=None, *, session=None, electrodes=None):
        """Pretrain by masked latent reconstruction.

        Parameters
        ----------
        X : (n_segments, n_channels, n_times) array-like
            Segments; padding channels (after each session's table) all-NaN.
        y : ignored
        session : (n_segments,) array-like of str, optional
            Session (subject/montage) of each segment; default one session.
        electrodes : dict {session: DataFrame}
            One electrode table per session (see module docstring).

        Returns
        -------
        self
        """
        self._validate_params()
        inputs = self._prepare(X, session, electrodes, fitting=True)
        self.n_patches_ = inputs.arrays["x"].shape[2] // self.patch_size
        self.n_features_in_ = int(np.shape(X)[1])
        self.sessions_ = np.array(list(inputs.n_channels), dtype=object)
        self.device_ = resolve_device(self.device)
        held = holdout_rows(inputs.session, self.validation_fraction, 1)  # a row is a segment
        train, valid = _split_inputs(inputs.arrays, held)
        start = time.perf_counter()
        with seeded(self.random_state):
            module = self._build_module()
            net = self._make_net(module, valid_set=valid, callbacks=self._training_callbacks())
            try:
                if self.max_epochs > 0:
                    self._train(net, train)
                else:
                    self.net_ = net.initialize()
            finally:
                self.fit_time_ = time.perf_counter() - start
        return self

    def save(self, path):
        """Save parameters, fitted state, weights and ``history_`` (``load`` restores them);
        ``callbacks`` are stored as None (observers such as ``ProgressBar`` are not part of the
        model)."""
        clone = copy.copy(self)
        clone.callbacks = None
        TorchEstimator.save(clone, path)
        return self

    def fit_transform(self, X, y=None, *, session=None, electrodes=None):
        """``fit`` then ``transform`` on the same segments (metadata passed to both)."""
        return self.fit(X, y, session=session, electrodes=electrodes).transform(
            X, session=session, electrodes=electrodes
        )

    def _forward_inputs(self, X, session, electrodes):
        check_is_fitted(self, "net_")
        return self._prepare(X, session, electrodes, fitting=False)

    def transform(self, X, *, session=None, electrodes=None):
        """One embedding per segment: mean of the contextual tokens over channels and patches.

        Parameters
        ----------
        X : (n_segments, n_channels, n_times) array-like
        session : (n_segments,) array-like of str, optional
            When omitted it is inferred: the only session of ``electrodes``, else the session
            whose table length equals the segment's number of present channel rows (an error if
            that is ambiguous). sklearn's scorers call ``predict_proba(X)`` without metadata, so
            this lets ``scoring="roc_auc"`` work in cross-validation.
        electrodes : dict {session: DataFrame}, optional
            Default: the tables seen at fit. Regions unseen at fit map to the zero row.

        Returns
        -------
        (n_segments, d_model) float64 ndarray
        """
        inputs = self._forward_inputs(X, session, electrodes)
        emb = predict_batches(
            self.module_, inputs.arrays, self.batch_size, self.device_,
            fn=lambda m, **b: m.embed(**b),
        )
        return emb.astype(np.float64)

    def transform_tokens(self, X, *, session=None, electrodes=None):
        """Contextual tokens ``(n_segments, n_patches, n_channels, d_model)``, NaN for padding."""
        inputs = self._forward_inputs(X, session, electrodes)
        tokens = predict_batches(
            self.module_, inputs.arrays, self.batch_size, self.device_,
            fn=lambda m, **b: m.tokens(**b),
        ).astype(np.float64)
        n_columns = np.shape(X)[1]
        out = np.full(tokens.shape[:2] + (n_columns, tokens.shape[3]), np.nan)
        mask = inputs.arrays["channel_mask"]
        out[:, :, : tokens.shape[2]] = np.where(mask[:, None, :, None], tokens, np.nan)
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.two_d_array = False
        tags.input_tags.allow_nan = True
        tags.non_deterministic = self.random_state is None
        return tags


# --------------------------------------------------------------------------- classifier


def _resolve_pretrained(pretrained, init_params, random_state, X, session, electrodes):
    """The fitted BaristaTransformer to fine-tune from, and whether it is pretrained."""
    from sklearn.frozen import FrozenEstimator

    if pretrained is None:
        params = dict(init_params or {})
        params.update(max_epochs=0, random_state=random_state)
        return BaristaTransformer(**params).fit(X, session=session, electrodes=electrodes), False
    inner = pretrained.estimator if isinstance(pretrained, FrozenEstimator) else pretrained
    if not isinstance(inner, BaristaTransformer):
        raise ValueError(
            "pretrained must be a BaristaTransformer (fitted, optionally wrapped in "
            f"sklearn.frozen.FrozenEstimator) or None for random init; got {type(inner).__name__}."
        )
    # a fitted encoder is *the* pretrained model (used as is); an unfitted one is pretrained here
    fitted, _ = resolve_inner(pretrained, lambda t: t.fit(X, session=session, electrodes=electrodes),
                              name="pretrained", use_fitted=True)
    return fitted, fitted.max_epochs > 0


class _WarmupDecay:
    """LR factor per epoch: linear 0.2 -> 1 over ``warmup`` epochs, then ``decay ** k``."""

    def __init__(self, warmup, decay):
        self.warmup, self.decay = warmup, decay

    def __call__(self, epoch):
        if epoch < self.warmup:
            return 0.2 + 0.8 * epoch / self.warmup
        return self.decay ** (epoch - self.warmup)


class BaristaClassifier(ClassifierMixin, TorchEstimator):
    """Fine-tune a BaRISTA encoder for segment classification (the reference protocol).

    Parameters
    ----------
    pretrained : BaristaTransformer, FrozenEstimator or None, default=None
        The encoder to start from (its EMA tokenizer and transformer are copied; the original
        is never modified). A fitted one, or one inside ``sklearn.frozen.FrozenEstimator``, is
        used as is; an unfitted one is first pretrained on the ``fit`` data. ``None`` = random
        initialisation with the architecture of ``BaristaTransformer(**init_params)``.
    init_params : dict or None, default=None
        BaristaTransformer parameters for ``pretrained=None``.
    readout : {"token_weights", "mean", "attention"}, default="token_weights"
        ``"token_weights"``: a learned weight per channel x patch token, one set per session
        (the reference head; predicting needs a session seen at fit). ``"mean"``: mean pooling
        (any session). ``"attention"``: attentive pooling, a softmax over the real tokens of
        their dot product with one learned query (started at zero = the mean; any session):
        weights tokens by their content, so a few responsive channels can dominate the pooled
        embedding. Not in the reference head.
    head_norm : bool, default=False
        Standardise the pooled embedding over each batch (``BatchNorm1d`` without affine
        parameters; its running statistics at prediction) before the linear classifier, as
        MAE's linear probe does. Not in the reference head. Without it, the classifier reads
        the small between-segment variation of a mean over hundreds of tokens only after many
        steps (measured in ``docs/barista.md``, "Fine-tuning that learns").
    freeze_tokenizer : bool or "auto", default="auto"
        Freeze the CNN, pooler and spatial tables. ``"auto"``: frozen when starting from a
        pretrained encoder, trainable at random init (the reference's random baseline).
    head_init : {"random", "probe"}, default="random"
        How the classifier starts. ``"random"``: torch's default initialisation (the reference
        protocol). ``"probe"``: the solution of a logistic regression (``StandardScaler`` +
        ``LogisticRegression(C=probe_C)``, solved to convergence by sklearn) on the pooled
        embeddings of the training segments from the starting encoder, folded into the linear
        layer (and, with ``head_norm``, its standardisation into the norm's running
        statistics); fine-tuning then starts where the frozen linear probe ends (linear probing,
        then fine-tuning: LP-FT, Kumar et al. 2022, ICLR). A probe solved exactly beats a head
        trained by a few hundred noisy AdamW steps from few segments (measured in
        ``docs/barista.md``, "Start from the probe").
    probe_C : float, default=1.0
        Inverse L2 penalty of that logistic regression (sklearn's ``C``).
    lr, head_lr : float, default=1e-4, 1e-3
        AdamW learning rates of the encoder and of the new head (token weights + classifier).
    weight_decay : float, default=1e-2
    warmup_epochs : int, default=5
        LR warm-up from 0.2x to 1x, then exponential decay ``lr_decay`` per epoch.
    lr_decay : float, default=0.99
    batch_size : int, default=32
    max_epochs : int, default=30
    validation_fraction : float, default=0.1
        Share of each session's segments held out at its end (in the order of ``X``); scored
        every epoch as ``valid_loss`` and ``valid_auroc``.
    selection : {"valid_auroc", "valid_loss", "last"}, default="valid_auroc"
        Which weights ``fit`` keeps: those of the epoch with the best held-out ROC-AUC (the
        reference protocol), the lowest held-out loss, or the last epoch. Without held-out
        segments the last epoch is kept.
    early_stopping : bool, default=False
        Stop when ``valid_loss`` has not improved for ``patience`` epochs.
    patience : int, default=5
    device : str, default="auto"
    random_state : int, RandomState or None, default=None
    verbose : int, default=0
    compile : bool or dict, default=False
        Train through ``torch.compile``: faster steps after a one-off compilation. A dict
        compiles with it as ``torch.compile``'s keyword arguments (``{"mode": "max-autotune"}``,
        ``{"backend": "aot_eager"}``); see ``docs/training.md``, "Compiled training".
    callbacks : list or None, default=None
        Extra skorch callbacks (e.g. ``skorch.callbacks.ProgressBar()``).

    Attributes
    ----------
    classes_ : ndarray
    sessions_ : ndarray of str
        Sessions seen at fit (each with its own token weights).
    session_channels_ : list of int
    pretrained_ : bool
        Whether the encoder was pretrained (False = random init).
    n_features_in_ : int
    module_ : BaristaClassifierModule
    history_ : skorch.History
        Per-epoch ``train_loss``, ``valid_loss``, ``valid_auroc``.
    best_epoch_ : int or None
        The epoch whose weights were kept (``selection``), 1-based.
    """

    _parameter_constraints = {
        "pretrained": [None, BaseEstimator],
        "init_params": [dict, None],
        "readout": [StrOptions({"token_weights", "mean", "attention"})],
        "head_norm": ["boolean"],
        "freeze_tokenizer": ["boolean", StrOptions({"auto"})],
        "head_init": [StrOptions({"random", "probe"})],
        "probe_C": [Interval(numbers.Real, 0, None, closed="neither")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "head_lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "warmup_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "lr_decay": [Interval(numbers.Real, 0, 1, closed="right")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "selection": [StrOptions({"valid_auroc", "valid_loss", "last"})],
        **TRAINING_CONSTRAINTS,
    }
    #: with a frozen tokenizer, fit trains on tokens computed once (False: recompute every step)
    _cache_tokens = True
    _saved_attributes = (
        "classes_", "vocabulary_", "encoder_params_", "sessions_", "session_channels_",
        "n_patches_", "max_channels_", "pretrained_", "electrodes_", "n_features_in_",
        "best_epoch_", "spatial_encoding_",
    )

    def __init__(
        self,
        pretrained=None,
        *,
        init_params=None,
        readout="token_weights",
        head_norm=False,
        freeze_tokenizer="auto",
        head_init="random",
        probe_C=1.0,
        lr=1e-4,
        head_lr=1e-3,
        weight_decay=1e-2,
        warmup_epochs=5,
        lr_decay=0.99,
        batch_size=32,
        max_epochs=30,
        validation_fraction=0.1,
        selection="valid_auroc",
        early_stopping=False,
        patience=5,
        device="auto",
        random_state=None,
        verbose=0,
        callbacks=None,
        compile=False,
    ):
        self.pretrained = pretrained
        self.init_params = init_params
        self.readout = readout
        self.head_norm = head_norm
        self.freeze_tokenizer = freeze_tokenizer
        self.head_init = head_init
        self.probe_C = probe_C
        self.lr = lr
        self.head_lr = head_lr
        self.weight_decay = weight_decay
        self.warmup_epochs = warmup_epochs
        self.lr_decay = lr_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.validation_fraction = validation_fraction
        self.selection = selection
        self.early_stopping = early_stopping
        self.patience = patience
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.compile = compile

    def _build_module(self, encoder=None):
        if encoder is None:
            encoder = BaristaEncoder(**self.encoder_params_)
        return BaristaClassifierModule(
            encoder,
            n_classes=len(self.classes_),
            n_sessions=len(self.sessions_),
            n_patches=self.n_patches_,
            max_channels=self.max_channels_,
            readout=self.readout,
            session_channels=self.session_channels_,
            head_norm=self.head_norm,
        )

    def _training_callbacks(self, validated):
        schedule = _WarmupDecay(self.warmup_epochs, self.lr_decay)
        callbacks = [("lr_schedule", LRScheduler("LambdaLR", lr_lambda=schedule))]
        if validated:
            callbacks.append(("valid_auroc", EpochScoring(
                _valid_auroc, lower_is_better=False, on_train=False, name="valid_auroc")))
            if self.selection != "last":
                callbacks.append(("keep_best", KeepBest(
                    self.selection, lower_is_better=self.selection == "valid_loss")))
        return callbacks

    def _inputs(self, X, session, electrodes, fitting):
        layout = ElectrodeLayout(
            getattr(self, "spatial_encoding_", self.encoder_params_["spatial_encoding"]),
            patch_size=self.encoder_params_["patch_size"],
            coord_bins=self.encoder_params_["n_spatial_ids"],
            vocabulary=self.vocabulary_, tables=None if fitting else self.electrodes_)
        if fitting:
            inputs = layout.transform(X, session, electrodes)
            self.electrodes_ = tables_to_plain(
                {s: {str(k): v for k, v in electrodes.items()}[s] for s in inputs.n_channels})
        else:
            inputs = layout.transform(X, session, electrodes, max_channels=self.max_channels_)
        n_patches = inputs.arrays["x"].shape[2] // self.encoder_params_["patch_size"]
        if not fitting and n_patches != self.n_patches_:
            raise ValueError(
                f"segments give {n_patches} patches but the classifier was fitted on "
                f"{self.n_patches_}; use segments of the same length as at fit."
            )
        index = {s: i for i, s in enumerate(self.sessions_)} if not fitting else None
        if index is not None:
            unknown = sorted(set(inputs.session) - set(index))
            if unknown and self.readout == "token_weights":
                raise ValueError(
                    f"session(s) {unknown} were not seen at fit; the token-weight readout is "
                    f"session-specific (known: {list(self.sessions_)}). Refit with these "
                    "sessions or use readout='mean'."
                )
            session_index = np.array([index.get(s, 0) for s in inputs.session], dtype=np.int64)
            inputs.arrays["session_index"] = session_index
        return inputs

    def fit(self, X, y, *, session=None, electrodes=None):
        """Fine-tune on labelled segments.

        Parameters
        ----------
        X : (n_segments, n_channels, n_times) array-like
        y : (n_segments,) array-like
        session : (n_segments,) array-like of str, optional
        electrodes : dict {session: DataFrame}

        Returns
        -------
        self
        """
        self._validate_params()
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != np.shape(X)[0]:
            raise ValueError(
                f"y must be one label per segment, shape ({np.shape(X)[0]},); got {y.shape}."
            )
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise ValueError("y contains NaN or infinity; give one class label per segment.")
        if y.dtype.kind in "fc" and type_of_target(y) == "continuous":
            raise ValueError(
                f"y holds continuous values (e.g. {y[:3].tolist()}), but BaristaClassifier needs "
                "one class label per segment; threshold or bin the target first, or encode the "
                "classes as integers or strings."
            )
        encoder_le = LabelEncoder().fit(y)
        self.classes_ = encoder_le.classes_
        if len(self.classes_) < 2:
            raise ValueError(f"y has a single class {self.classes_}; need at least two.")
        self.device_ = resolve_device(self.device)
        with seeded(self.random_state):
            source, self.pretrained_ = _resolve_pretrained(
                self.pretrained, self.init_params, self.random_state, X, session, electrodes
            )
            self.vocabulary_ = source.vocabulary_
            self.spatial_encoding_ = source.spatial_encoding
            self.encoder_params_ = source._encoder_params()
            inputs = self._inputs(X, session, electrodes, fitting=True)
            self.sessions_ = np.array(list(inputs.n_channels), dtype=object)
            self.n_features_in_ = int(np.shape(X)[1])
            self.session_channels_ = [int(inputs.n_channels[s]) for s in self.sessions_]
            self.max_channels_ = int(inputs.arrays["x"].shape[1])
            self.n_patches_ = int(inputs.arrays["x"].shape[2] // self.encoder_params_["patch_size"])
            index = {s: i for i, s in enumerate(self.sessions_)}
            inputs.arrays["session_index"] = np.array([index[s] for s in inputs.session])
            encoder = source.module_.downstream_encoder()
            module = self._build_module(encoder)
            freeze = self.pretrained_ if self.freeze_tokenizer == "auto" else self.freeze_tokenizer
            if freeze:
                for part in (module.encoder.tokenizer, module.encoder.spatial):
                    for param in part.parameters():
                        param.requires_grad_(False)
            labels = encoder_le.transform(y).astype(np.int64)
            if freeze and self.max_epochs > 0 and self._cache_tokens:
                # a frozen tokenizer has no dropout and fixed weights: its tokens are the same
                # every epoch, so compute them once and train on them (exact; ~a quarter of a
                # fine-tuning step saved)
                arrays = dict(inputs.arrays)
                arrays["tokens"] = predict_batches(
                    module.encoder.tokenizer,
                    {"x": arrays.pop("x"), "channel_mask": arrays["channel_mask"]},
                    max(self.batch_size, 64), self.device_)
                inputs.arrays = arrays
            held = holdout_rows(inputs.session, self.validation_fraction, 1)  # a row is a segment
            if self.head_init == "probe":
                self._init_head_from_probe(module, inputs.arrays, ~held, labels)
            train, valid = _split_inputs(inputs.arrays, held, labels)
            net = self._make_net(
                module, valid_set=valid, criterion=torch.nn.CrossEntropyLoss,
                callbacks=self._training_callbacks(valid is not None),
                optimizer__param_groups=[("token_weights", {"lr": self.head_lr}),
                                         ("query", {"lr": self.head_lr}),
                                         ("classifier.*", {"lr": self.head_lr})])
            self.best_epoch_ = None
            if self.max_epochs > 0:
                self._train(net, train)
                keep = dict(net.callbacks_).get("keep_best")
                self.best_epoch_ = keep.epoch_ if keep is not None and keep.epoch_ else \
                    len(net.history)
            else:
                self.net_ = net.initialize()
        return self

    def _init_head_from_probe(self, module, arrays, rows, labels):
        """Set the classifier (and the head norm's running statistics) to the logistic
        regression of ``labels`` on the pooled embeddings of ``rows`` (``head_init="probe"``)."""
        from sklearn.linear_model import LogisticRegression

        pooled = predict_batches(
            module, {k: v[rows] for k, v in arrays.items()}, max(self.batch_size, 64),
            self.device_, fn=lambda m, **batch: m.pool(**batch)).astype(np.float64)
        y = labels[rows]
        if len(np.unique(y)) < 2:
            raise ValueError("head_init='probe' needs both classes among the training segments "
                             "(after the held-out validation segments are set aside).")
        mean, var = pooled.mean(axis=0), pooled.var(axis=0)
        if module.norm is not None:
            eps = module.norm.eps
            scale = np.sqrt(var + eps)
        else:
            scale = np.where(var > 0, np.sqrt(var), 1.0)
        z = (pooled - mean) / scale
        probe = LogisticRegression(C=self.probe_C, max_iter=2000).fit(z, y)
        coef, intercept = probe.coef_, probe.intercept_
        n_classes = len(self.classes_)
        if coef.shape[0] == 1:  # binary: logit(class 1) = z @ coef + b -> two logits, half each
            coef = np.concatenate([-coef, coef]) / 2.0
            intercept = np.concatenate([-intercept, intercept]) / 2.0
        weight = np.zeros((n_classes, pooled.shape[1]))
        bias = np.zeros(n_classes)
        weight[probe.classes_] = coef
        bias[probe.classes_] = intercept
        if module.norm is not None:  # the norm standardises; the linear layer reads z
            with torch.no_grad():
                module.norm.running_mean.copy_(torch.as_tensor(mean))
                module.norm.running_var.copy_(torch.as_tensor(var))
        else:  # fold the standardisation into the linear layer
            weight = weight / scale
            bias = bias - weight @ mean
        with torch.no_grad():
            module.classifier.weight.copy_(torch.as_tensor(weight))
            module.classifier.bias.copy_(torch.as_tensor(bias))

    def decision_function(self, X, *, session=None, electrodes=None):
        """Class logits ``(n_segments, n_classes)`` (a column vector for two classes)."""
        check_is_fitted(self, "net_")
        inputs = self._inputs(X, session, electrodes, fitting=False)
        return predict_batches(self.module_, inputs.arrays, self.batch_size, self.device_).astype(
            np.float64
        )

    def predict_proba(self, X, *, session=None, electrodes=None):
        """Softmax class probabilities ``(n_segments, n_classes)``."""
        logits = self.decision_function(X, session=session, electrodes=electrodes)
        logits = logits - logits.max(axis=1, keepdims=True)
        prob = np.exp(logits)
        return prob / prob.sum(axis=1, keepdims=True)

    def predict(self, X, *, session=None, electrodes=None):
        """Most probable class of each segment."""
        proba = self.predict_proba(X, session=session, electrodes=electrodes)
        return self.classes_[np.argmax(proba, axis=1)]

    def save(self, path):
        """Save weights, fitted state and ``history_``; ``pretrained`` is stored as None (its
        weights are in the classifier's state dict, so the loaded classifier predicts
        identically) and ``callbacks`` as None (observers such as ``ProgressBar`` are not
        part of the model)."""
        clone = copy.copy(self)
        clone.pretrained = None
        clone.callbacks = None
        TorchEstimator.save(clone, path)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.two_d_array = False
        tags.input_tags.allow_nan = True
        tags.non_deterministic = self.random_state is None
        return tags
