"""Multi-session masked-autoencoding transformers on spikes and on LFP, as sklearn transformers."""

from __future__ import annotations

import numbers
import time

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from skdistill.data import check_continuous, check_spike_counts
from skdistill.estimators._base import TRAINING_CONSTRAINTS, TorchEstimator
from skdistill.estimators._common import check_head_width, resolve_device, seeded
from skdistill.estimators._windows import Windowing
from skdistill.nn._mae import MaskedAutoencoder

__all__ = ["MaskedSpikeTransformer", "LFPTransformer", "PAPER_PARAMS"]

#: The reference papers' model size (10 layers, width 256, 8 heads, 5 s windows of 10 ms bins,
#: predictor 4 x 192). Impractical on a laptop CPU; meant for a GPU:
#: ``MaskedSpikeTransformer(**PAPER_PARAMS["spikes"], device="cuda")``.
PAPER_PARAMS = {
    "spikes": dict(segment_length=500, patch_size=64, d_model=256, n_layers=10, n_heads=8,
                   dropout=0.1, mask_ratio=0.6, decoder_width=192, decoder_layers=4, lr=6.25e-4,
                   weight_decay=0.1, batch_size=64),
    "lfp": dict(segment_length=500, patch_size=32, d_model=256, n_layers=10, n_heads=8,
                dropout=0.1, mask_ratio=0.6, decoder_width=192, decoder_layers=4, lr=6.25e-4,
                weight_decay=0.1, batch_size=32, conv_kernel=5, conv_dilation=2),
}


def _column_means(X):
    """Per-column mean over non-NaN rows; NaN for an all-NaN (absent) column, without warnings."""
    present = ~np.isnan(X)
    counts = present.sum(axis=0)
    sums = np.where(present, X, 0.0).sum(axis=0)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


class _SessionEncoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, TorchEstimator):
    """Shared fit/transform/adapt of the multi-session patch-token encoders."""

    _modality = None
    _reconstruction = None
    _saved_attributes = ("n_features_in_", "sessions_", "n_windows_")

    _parameter_constraints: dict = {
        "segment_length": [Interval(numbers.Integral, 1, None, closed="left")],
        "patch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "d_model": [Interval(numbers.Integral, 2, None, closed="left")],
        "n_layers": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_heads": [Interval(numbers.Integral, 1, None, closed="left")],
        "mlp_ratio": [Interval(numbers.Real, 0, None, closed="neither")],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "mask_ratio": [Interval(numbers.Real, 0, 1, closed="neither")],
        "mask_unit": [StrOptions({"token", "bin"})],
        "decoder_width": [Interval(numbers.Integral, 2, None, closed="left")],
        "decoder_layers": [Interval(numbers.Integral, 1, None, closed="left")],
        "causal": ["boolean"],
        "readout": [StrOptions({"mean", "concat"})],
        "readout_layer": [numbers.Integral],
        "train_stride": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "window_sampling": [StrOptions({"random", "grid"})],
        "unknown_session": [str],
        **TRAINING_CONSTRAINTS,
    }

    # -- subclass hooks -------------------------------------------------------------------
    def _check_values(self, X, session):
        raise NotImplementedError

    def _module_kwargs(self):
        raise NotImplementedError

    def _channel_offsets(self, X):
        """Per-channel reconstruction offsets of one session's rows (see MaskedAutoencoder)."""
        raise NotImplementedError

    def _init_offsets(self, module, X, session, session_index):
        for label in dict.fromkeys(session):
            rows = session == label
            module.set_offsets(int(session_index[rows][0]), self._channel_offsets(X[rows]))

    # -- building ---------------------------------------------------------------------------
    def _backbone_kwargs(self):
        """Tokenizer + encoder arguments shared by every patch-token module (checked here)."""
        check_head_width(self.d_model, self.n_heads)
        return dict(patch_size=self.patch_size, d_model=self.d_model, n_layers=self.n_layers,
                    n_heads=self.n_heads, mlp_ratio=self.mlp_ratio, dropout=self.dropout,
                    causal=self.causal)

    def _build_module(self):
        return MaskedAutoencoder(
            self.n_features_in_,
            len(self.sessions_),
            **self._backbone_kwargs(),
            reconstruction=self._reconstruction,
            mask_ratio=self.mask_ratio,
            mask_unit=self.mask_unit,
            decoder_width=self.decoder_width,
            decoder_layers=self.decoder_layers,
            **self._module_kwargs(),
        )

    @property
    def windowing(self):
        """The :class:`~skdistill.estimators.Windowing` this encoder cuts its rows with."""
        return Windowing(self.segment_length, self.train_stride, self.window_sampling)

    @property
    def embedding_dim_(self):
        """Width of ``transform``'s rows under the current ``readout`` (it may change after fit)."""
        return self._readout_width(self.readout)

    def _readout_width(self, readout):
        return self.module_.readout_width(readout)

    @property
    def _n_features_out(self):
        return self.embedding_dim_

    # -- validation -------------------------------------------------------------------------
    def _validate(self, X, session, reset):
        try:
            X = validate_data(self, X, reset=reset, ensure_all_finite="allow-nan",
                              dtype=np.float64, ensure_min_samples=1)
        except (ValueError, TypeError) as exc:
            # sklearn's and numpy's messages do not say which argument they are about
            message = str(exc)
            if not message.startswith("X"):
                raise type(exc)(f"X (rows = time bins, columns = channels): {message}") from None
            raise
        return self._check_values(X, session)

    def check_input(self, X, session=None):
        """Validate rows for this fitted encoder: ``(X, session, session_index)``.

        ``X`` as float64 with this encoder's checks (counts for spikes, finite values in present
        channels), ``session`` one label per row, ``session_index`` the encoder's session table
        of each row (unknown sessions follow ``unknown_session``). Models built on an encoder
        (the supervised regressor, benchmarks) use it to see rows as the encoder does.
        """
        check_is_fitted(self)
        X, session = self._validate(X, session, reset=False)
        return X, session, self._session_index(session)

    def session_index(self, session):
        """Index into this encoder's session tables of each label in ``session`` (one label or
        an array of them); labels not seen in ``fit`` follow ``unknown_session`` (an error by
        default). Online decoders and models built on an encoder use it to route rows as
        :meth:`transform` does."""
        check_is_fitted(self)
        labels = np.atleast_1d(np.asarray(session, dtype=object)).astype(str).tolist()
        return self._session_index(labels)

    def _session_index(self, session, allow_new=False):
        known = {label: i for i, label in enumerate(self.sessions_)}
        unknown = sorted(set(session) - set(known))
        if unknown and not allow_new:
            if self.unknown_session == "error":
                raise ValueError(
                    f"session(s) {unknown} were not seen in fit; known sessions: "
                    f"{list(self.sessions_)}. Add them with .adapt(X, session=...), or set "
                    "unknown_session='<a trained session>' to route them through that session's "
                    "parameters."
                )
            if self.unknown_session not in known:
                raise ValueError(
                    f"unknown_session={self.unknown_session!r} is neither 'error' nor a trained "
                    f"session; known sessions: {list(self.sessions_)}."
                )
            return np.array([known.get(s, known[self.unknown_session]) for s in session])
        return np.array([known[s] for s in session])

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, X, y=None, *, session=None):
        """Train the encoder self-supervised (masked autoencoding) on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_channels)
            Rows are time bins; absent channels of a session are all-NaN columns.
        y : ignored
        session : array-like of shape (n_rows,), optional
            Session label per row; one session table is learned per label.

        Returns
        -------
        self
        """
        self._validate_params()
        X, session = self._validate(X, session, reset=True)
        self.device_ = resolve_device(self.device)
        self.sessions_ = np.array(list(dict.fromkeys(session)), dtype=object)
        session_index = self._session_index(session)
        start = time.perf_counter()
        with seeded(self.random_state) as seed:
            train, valid = self.windowing.split(self._fit_columns(X), session_index, session,
                                                validation_fraction=self.validation_fraction,
                                                random_state=seed)
            self.n_windows_ = len(train)
            module = self._build_module()
            self._init_offsets(module, X, session, session_index)
            try:
                self._train(self._make_net(module, valid_set=valid), train)
            finally:
                self.fit_time_ = time.perf_counter() - start
        return self

    def _fit_columns(self, X, **arrays):
        """Row-aligned arrays the training windows are cut from (the module's forward kwargs)."""
        return {"x": X, **arrays}

    def adapt(self, X, *, session, finetune="session", max_epochs=None):
        """Add sessions not seen in ``fit`` and train their parameters, keeping the old sessions.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_channels)
        session : array-like of shape (n_rows,)
            Labels; new labels get new session tables (initialised from the first trained
            session's table).
        finetune : {"session", "all"}, default="session"
            ``"session"`` trains only the new sessions' tables (everything else frozen, so the old
            sessions' embeddings do not change); ``"all"`` fine-tunes every parameter.
        max_epochs : int, optional
            Defaults to ``self.max_epochs``.

        Returns
        -------
        self
        """
        check_is_fitted(self)
        self._require_session(session)
        X, session = self._validate(X, session, reset=False)
        return self._adapt(X, session, self._fit_columns(X), finetune, max_epochs)

    def _require_session(self, session):
        if session is None:
            raise ValueError(
                "adapt needs session=..., one label per row: the new sessions' labels are what "
                f"adapt adds (known: {list(self.sessions_)}).")

    def _adapt(self, X, session, columns, finetune, max_epochs):
        if finetune not in ("session", "all"):
            raise ValueError(f"finetune must be 'session' or 'all'; got {finetune!r}.")
        new = [s for s in dict.fromkeys(session) if s not in set(self.sessions_)]
        if finetune == "session" and not new:
            raise ValueError(
                "finetune='session' needs at least one new session in `session` (known: "
                f"{list(self.sessions_)}); use finetune='all' to fine-tune on known sessions.")
        new_ids = self.module_.add_sessions(len(new), init_from=0)
        self.sessions_ = np.concatenate([self.sessions_, np.array(new, dtype=object)])
        session_index = self._session_index(session)
        new_rows = np.isin(session, new)
        if new_rows.any():
            self._init_offsets(self.module_, X[new_rows], session[new_rows], session_index[new_rows])
        trainable = {f"{part}.{k}" for k in new_ids
                     for part in ("tokenizer.session_embeddings", "offsets")}
        for name, param in self.module_.named_parameters():
            param.requires_grad_(finetune == "all" or name in trainable)
        epochs = self.max_epochs if max_epochs is None else max_epochs
        history = self.history_
        try:
            with seeded(self.random_state) as seed:
                train, valid = self.windowing.split(columns, session_index, session,
                                                    validation_fraction=self.validation_fraction,
                                                    random_state=seed)
                net = self._make_net(self.module_, valid_set=valid, max_epochs=epochs)
                net.initialize()  # the module instance is kept as it is; a new optimizer
                net.history = history  # one history over fit and every adapt
                self._train(net, train, partial=True, epochs=epochs)
        finally:
            for param in self.module_.parameters():
                param.requires_grad_(True)
        return self

    # -- transform ----------------------------------------------------------------------------
    def transform(self, X, session=None, *, layer=None, readout=None, out=None):
        """One embedding row per input row, windows cut inside each session.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_channels)
        session : array-like of shape (n_rows,), optional
            Must name trained sessions, unless ``unknown_session`` routes unknown ones.
        layer : int, optional
            Encoder layer to read for this call (default: ``readout_layer``).
        readout : {"mean", "concat"}, optional
            Per-bin pooling for this call (default: ``readout``).
        out : ndarray of shape (n_rows, width), float32 or float64, optional
            Filled in place and returned instead of a new float64 array: a float32 array halves
            the output's memory, an ``np.memmap`` / ``np.lib.format.open_memmap`` keeps it on
            disk (recordings of many hours). Windows are planned and mapped a batch at a time:
            the mapping's memory does not grow with the recording (the input checks that run
            first still do; see ``benchmarks/results/long_recording.md``).

        Returns
        -------
        embeddings : ndarray of shape (n_rows, width), float64 (or ``out``)
            ``width`` is ``embedding_dim_`` under the default readout.
        """
        check_is_fitted(self)
        if readout is not None and readout not in ("mean", "concat"):
            raise ValueError(f"readout must be 'mean' or 'concat'; got {readout!r}.")
        X, session = self._validate(X, session, reset=False)
        return self._embed(X, self._session_index(session), session, layer=layer, readout=readout,
                           out=out)

    def _embed(self, X, session_index, session, layer=None, readout=None, out=None):
        # ``layer`` / ``readout`` override ``readout_layer`` / ``readout`` for one call
        module = self.module_
        layer = module.check_layer(self.readout_layer if layer is None else layer,
                                   name="readout_layer" if layer is None else "layer")
        readout = self.readout if readout is None else readout
        if X.shape[1] != module.n_channels:
            raise ValueError(
                f"X has {X.shape[1]} columns but the fitted module reads {module.n_channels}; were "
                "the model's size parameters changed with set_params after fit? Refit, or restore "
                "them.")
        module.eval()

        def encode(windows, owners):
            return module.encode(torch.from_numpy(windows).to(self.device_),
                                 torch.from_numpy(owners).to(self.device_),
                                 layer=layer, readout=readout).float().cpu().numpy()

        with torch.no_grad():
            return self.windowing.map(encode, X, session_index, session, self.batch_size * 4,
                                      module.readout_width(readout), out=out)

    def fit_transform(self, X, y=None, *, session=None):
        """``fit(X, session=session).transform(X, session=session)``."""
        return self.fit(X, y, session=session).transform(X, session=session)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # NaN marks channels absent from a session
        tags.transformer_tags.preserves_dtype = ["float64"]
        tags.non_deterministic = False
        return tags


class MaskedSpikeTransformer(_SessionEncoder):
    """Multi-session masked-autoencoding transformer on binned spike counts (the teacher).

    One token is one time bin x ``patch_size`` channels; counts are embedded by a causal
    convolution over each patch's recent bins (or, as in the reference, through a table clamped
    at ``max_count``), a learned per-session patch embedding is added, a pre-norm rotary
    transformer encodes the visible tokens, and a small predictor reconstructs the masked tokens'
    counts under a Poisson likelihood. ``transform`` returns one embedding per time bin (pooled
    over the bin's patches).

    Parameters
    ----------
    segment_length : int, default=50
        Window length in bins (windows are cut inside each session).
    patch_size : int, default=32
        Channels per token (``d_model`` must be divisible by it for the count embedding).
    d_model : int, default=128
    n_layers : int, default=2
        Wide and shallow: on CPU budgets this learned faster than 64 x 4 layers at about the same
        cost per step (velocity probe 0.594 vs 0.554 after 1,500 steps, seed 0,
        ``benchmarks/results/teacher_variants.md``).
    n_heads : int, default=4
    mlp_ratio : float, default=4.0
    dropout : float, default=0.0
        Dropout > 0 slows CPU attention markedly; the paper used 0.1 on GPUs.
    mask_ratio : float, default=0.6
        Share of tokens hidden from the encoder during training.
    mask_unit : {"token", "bin"}, default="token"
        Hide single tokens (the reference), or whole time bins.
    decoder_width : int, default=48
    decoder_layers : int, default=1
    causal : bool, default=False
        Causal attention over time bins.
    max_count : int, default=5
        Of the ``"count"`` embedding: counts above are clamped (the targets are not clamped).
    value_embedding : {"conv", "count"}, default="conv"
        ``"conv"``: a dilated causal convolution over each patch's recent counts (``conv_kernel``,
        ``conv_dilation``), which gives every token its channels' recent history. ``"count"``: the
        reference's count table (clamped at ``max_count``); in our measurements its embeddings
        decoded velocity at R² ~0.2 against ~0.5 for ``"conv"`` after the same training
        (``benchmarks/results/teacher_variants.md``, ``encoder_quality.md``).
    conv_kernel, conv_dilation : int, default=5, 2
        Of the ``"conv"`` embedding.
    readout : {"mean", "concat"}, default="mean"
        Per-bin readout: mean over patches, or their concatenation.
    readout_layer : int, default=-1
        Which encoder layer to read (``-1``: the last). ``readout`` and ``readout_layer`` act at
        ``transform`` only: ``set_params(readout="concat")`` on a fitted model needs no refit.
    lr, weight_decay : float, default=1e-3, 0.01
        AdamW settings.
    batch_size : int, default=32
        Windows per batch.
    max_epochs : int, default=20
    validation_fraction : float, default=0.1
        Share of each session run held out at its end (a contiguous block, at least one window;
        never random rows, since neighbouring 10 ms bins are nearly identical) and scored every
        epoch as ``valid_loss`` in ``history_``. Runs too short for a training and a validation
        window give none; 0 trains on every row.
    early_stopping : bool, default=False
        Stop when ``valid_loss`` has not improved for ``patience`` epochs and restore the weights
        of the best epoch (skorch's ``EarlyStopping(load_best=True)``).
    patience : int, default=5
    train_stride : int or None, default=None
        Step between grid training windows (default: ``segment_length``, no overlap); it also sets
        the number of windows per epoch under random sampling.
    window_sampling : {"random", "grid"}, default="random"
        ``"random"``: every epoch crops each training window at a new random offset inside its
        session (the same number of windows as the grid), so a small data set is not memorised
        window by window (see ``benchmarks/results/teacher_variants.md``). ``"grid"``: fixed,
        non-overlapping windows.
    unknown_session : str, default="error"
        ``"error"``, or a trained session label through which unknown sessions are routed.
    device : str, default="auto"
        ``"auto"`` uses a GPU when there is one.
    random_state : int, RandomState or None, default=None
    verbose : int, default=0
        ``1`` prints skorch's per-epoch table.
    compile : bool or dict, default=False
        Train through ``torch.compile``: faster steps after a one-off compilation. A dict
        compiles with it as ``torch.compile``'s keyword arguments (``{"mode": "max-autotune"}``,
        ``{"backend": "aot_eager"}``); see ``docs/training.md``, "Compiled training".
    callbacks : list or None, default=None
        Extra skorch callbacks (e.g. ``skorch.callbacks.ProgressBar()``, ``EarlyStopping()``,
        ``Checkpoint()``, :class:`~skdistill.estimators.TrainingCheckpoint` to resume a killed
        run). Each fit uses deep copies, so clones and CV folds never share callback state.

    Attributes
    ----------
    sessions_ : ndarray of str
        Trained session labels, in table order.
    net_ : skorch.NeuralNet
        The training engine; ``module_`` is its torch module.
    history_ : skorch.History
        Per-epoch ``train_loss``, ``valid_loss`` (when validation was held out), durations.
    n_windows_ : int
        Training windows per epoch.
    embedding_dim_ : int
        Width of the embeddings under the current ``readout``.
    n_features_in_ : int
    fit_time_ : float
        Seconds spent in training.
    """

    _modality = "spikes"
    _reconstruction = "poisson"
    _parameter_constraints = {
        **_SessionEncoder._parameter_constraints,
        "max_count": [Interval(numbers.Integral, 1, None, closed="left")],
        "value_embedding": [StrOptions({"count", "conv"})],
        "conv_kernel": [Interval(numbers.Integral, 1, None, closed="left")],
        "conv_dilation": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(self, *, segment_length=50, patch_size=32, d_model=128, n_layers=2, n_heads=4,
                 mlp_ratio=4.0, dropout=0.0, mask_ratio=0.6, mask_unit="token", decoder_width=48,
                 decoder_layers=1, causal=False, max_count=5, value_embedding="conv",
                 conv_kernel=5, conv_dilation=2, readout="mean", readout_layer=-1, lr=1e-3,
                 weight_decay=0.01, batch_size=32, max_epochs=20, validation_fraction=0.1,
                 early_stopping=False, patience=5, train_stride=None,
                 window_sampling="random", unknown_session="error", device="auto",
                 random_state=None, verbose=0, callbacks=None, compile=False):
        self.segment_length = segment_length
        self.patch_size = patch_size
        self.d_model = d_model
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.mlp_ratio = mlp_ratio
        self.dropout = dropout
        self.mask_ratio = mask_ratio
        self.mask_unit = mask_unit
        self.decoder_width = decoder_width
        self.decoder_layers = decoder_layers
        self.causal = causal
        self.max_count = max_count
        self.value_embedding = value_embedding
        self.conv_kernel = conv_kernel
        self.conv_dilation = conv_dilation
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

    def _check_values(self, X, session):
        return check_spike_counts(X, session, name="X (spike counts)")

    def _module_kwargs(self):
        if self.value_embedding == "conv":
            return {"value_embedding": "conv", "embedding_kwargs": {
                "conv_kernel": self.conv_kernel, "conv_dilation": self.conv_dilation}}
        return {"value_embedding": "count", "embedding_kwargs": {"max_count": self.max_count}}

    def _channel_offsets(self, X):
        # log mean count: the Poisson head then starts at each channel's mean rate
        return np.log(np.maximum(_column_means(X), 1e-3))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Non-negative integer counts: with these tags sklearn's checks send rounded counts.
        tags.input_tags.categorical = True
        tags.input_tags.positive_only = True
        return tags


class LFPTransformer(_SessionEncoder):
    """Multi-session masked-autoencoding transformer on LFP (the SS-LFP / MS-LFP baselines).

    Same architecture as :class:`MaskedSpikeTransformer`, with continuous value embeddings (a
    dilated causal convolution by default, or an MLP) and a mean-squared-error reconstruction of
    the masked tokens. Trained on one session it is the single-session (SS-LFP) baseline, on many
    the multi-session (MS-LFP) one. Input: preprocessed LFP at the bin rate (see
    :func:`skdistill.preprocessing.preprocess_lfp`).

    Parameters
    ----------
    value_embedding : {"conv", "mlp"}, default="conv"
    conv_kernel, conv_dilation : int, default=5, 2
        Of the causal convolution embedder (along time bins).
    d_model, n_layers : int, default=64, 4
        (The spike teacher defaults to 128 x 2; the LFP model's size was not re-tuned.)
    Other parameters as :class:`MaskedSpikeTransformer` (without ``max_count``).
    """

    _modality = "lfp"
    _reconstruction = "mse"
    _parameter_constraints = {
        **_SessionEncoder._parameter_constraints,
        "value_embedding": [StrOptions({"conv", "mlp"})],
        "conv_kernel": [Interval(numbers.Integral, 1, None, closed="left")],
        "conv_dilation": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(self, *, segment_length=50, patch_size=32, d_model=64, n_layers=4, n_heads=4,
                 mlp_ratio=4.0, dropout=0.0, mask_ratio=0.6, mask_unit="token", decoder_width=48,
                 decoder_layers=1, causal=False, value_embedding="conv", conv_kernel=5, conv_dilation=2,
                 readout="mean", readout_layer=-1, lr=1e-3, weight_decay=0.01, batch_size=32,
                 max_epochs=20, validation_fraction=0.1,
                 early_stopping=False, patience=5, train_stride=None, window_sampling="random",
                 unknown_session="error", device="auto", random_state=None, verbose=0,
                 callbacks=None, compile=False):
        self.segment_length = segment_length
        self.patch_size = patch_size
        self.d_model = d_model
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.mlp_ratio = mlp_ratio
        self.dropout = dropout
        self.mask_ratio = mask_ratio
        self.mask_unit = mask_unit
        self.decoder_width = decoder_width
        self.decoder_layers = decoder_layers
        self.causal = causal
        self.value_embedding = value_embedding
        self.conv_kernel = conv_kernel
        self.conv_dilation = conv_dilation
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

    def _check_values(self, X, session):
        return check_continuous(X, session, name="X (LFP)")

    def _channel_offsets(self, X):
        return _column_means(X)

    def _module_kwargs(self):
        kwargs = {"conv_kernel": self.conv_kernel, "conv_dilation": self.conv_dilation}
        if self.value_embedding == "mlp":
            kwargs = {}
        return {"value_embedding": self.value_embedding, "embedding_kwargs": kwargs}
