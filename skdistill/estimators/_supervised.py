"""The supervised setting: fine-tune a fitted encoder end to end with a linear head on behaviour."""

from __future__ import annotations

import copy
import numbers
import time

import numpy as np
import torch
from sklearn.base import RegressorMixin
from sklearn.frozen import FrozenEstimator
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn
from torch.nn import functional as F

from skdistill.data import check_target
from skdistill.estimators._base import TRAINING_CONSTRAINTS, TorchEstimator, resolve_inner
from skdistill.estimators._common import resolve_device, seeded
from skdistill.estimators._encoders import LFPTransformer

__all__ = ["SupervisedEncoderRegressor"]


class _EncoderWithHead(nn.Module):
    """A copy of an encoder module plus a linear per-bin head; loss = MSE + w * encoder's own loss."""

    def __init__(self, encoder, n_targets, ssl_weight=1.0, layer=-1, readout="mean"):
        super().__init__()
        self.encoder = encoder
        with torch.no_grad():
            probe = next(encoder.parameters())
        width = encoder.readout_width(readout)
        self.head = nn.Linear(width, n_targets).to(probe.device)
        self.ssl_weight = float(ssl_weight)
        self.layer = layer
        self.readout = readout

    def predict(self, x, session_idx):
        return self.head(self.encoder.encode(x, session_idx, layer=self.layer, readout=self.readout))

    def forward(self, x, session_idx, y):
        prediction = self.predict(x, session_idx)
        rows = ~torch.isnan(y).any(-1)  # NaN rows pad a window shorter than its run
        loss = F.mse_loss(prediction[rows], y[rows])
        if self.ssl_weight:
            # the encoder's self-supervised objective (masked reconstruction, or the student's
            # input reconstruction) regularises the fine-tuning, as in the reference App. A.1
            loss = loss + self.ssl_weight * self.encoder(x, session_idx)["loss"]
        return {"loss": loss, "prediction": prediction}


class SupervisedEncoderRegressor(RegressorMixin, TorchEstimator):
    """Fine-tune a (pre)trained encoder end to end with a linear head on behaviour.

    The encoder's module is copied, a linear head maps its per-bin latent to the (internally
    z-scored) targets, and both are trained on ``MSE(y, head(z)) + ssl_weight * L_ssl``, where
    ``L_ssl`` is the encoder's own self-supervised loss (masked reconstruction for
    :class:`MaskedSpikeTransformer` / :class:`LFPTransformer`, input reconstruction for
    :class:`DistilledLFPTransformer`). The encoder passed in is never modified.

    For the unsupervised setting (frozen embeddings + linear decoder) use a ``Pipeline`` instead:
    ``make_pipeline(FrozenEstimator(encoder), LinearRegression())``.

    Parameters
    ----------
    encoder : estimator, FrozenEstimator or None, default=None
        ``FrozenEstimator(fitted_encoder)``: its weights initialise the fine-tuning. An unfrozen
        encoder is cloned and fitted self-supervised on ``X`` first (a distilled one needs
        ``teacher_X``). ``None``: a default :class:`LFPTransformer`.
    ssl_weight : float, default=1.0
        Weight of the encoder's self-supervised loss (0: behaviour loss only).
    finetune : {"all", "head"}, default="all"
        Train every parameter, or only the linear head (a linear probe trained by gradient).
    lr, weight_decay : float, default=1e-3, 0.01
        AdamW settings of the fine-tuning.
    batch_size : int, default=32
    max_epochs : int, default=10
    validation_fraction, early_stopping, patience :
        As :class:`MaskedSpikeTransformer`: the end of each session run is held out.
    device : str, default="auto"
    random_state : int, RandomState or None, default=None
    verbose : int, default=0
    compile : bool or dict, default=False
        Train through ``torch.compile``: faster steps after a one-off compilation. A dict
        compiles with it as ``torch.compile``'s keyword arguments (``{"mode": "max-autotune"}``,
        ``{"backend": "aot_eager"}``); see ``docs/training.md``, "Compiled training".
    callbacks : list or None, default=None

    Attributes
    ----------
    encoder_ : estimator
        The fitted encoder whose weights were the starting point (its windows, sessions and
        validation are reused).
    net_ : skorch.NeuralNet
        Engine holding the fine-tuned encoder copy and the head (``net_.module_``).
    n_features_in_ : int
    n_targets_ : int
    history_ : skorch.History
    fit_time_ : float
    """

    _parameter_constraints: dict = {
        "encoder": [HasMethods(["fit", "transform"]), None],
        "ssl_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "finetune": [StrOptions({"all", "head"})],
        **TRAINING_CONSTRAINTS,
    }
    _saved_attributes = ("n_features_in_", "n_targets_", "y_mean_", "y_scale_", "y_1d_")
    _saved_estimators = ("encoder_",)

    def __init__(self, encoder=None, *, ssl_weight=1.0, finetune="all", lr=1e-3, weight_decay=0.01,
                 batch_size=32, max_epochs=10, validation_fraction=0.1, early_stopping=False,
                 patience=5, device="auto", random_state=None, verbose=0, callbacks=None, compile=False):
        self.encoder = encoder
        self.ssl_weight = ssl_weight
        self.finetune = finetune
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.patience = patience
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.compile = compile

    def _fitted_encoder(self, X, session, teacher_X):
        encoder = self.encoder
        if encoder is None:
            encoder = LFPTransformer(random_state=self.random_state, device=self.device)

        def fit(est):
            if teacher_X is not None:
                return est.fit(X, teacher_X=teacher_X, session=session)
            return est.fit(X, session=session)

        return resolve_inner(encoder, fit, name="encoder")[0]

    def _build_module(self, encoder_module=None):
        if encoder_module is None:  # load(): the weights follow
            encoder_module = self.encoder_._build_module()
        return _EncoderWithHead(encoder_module, self.n_targets_, self.ssl_weight,
                                self.encoder_.readout_layer, self.encoder_.readout)

    def fit(self, X, y, *, session=None, teacher_X=None):
        """Fine-tune the encoder and the head on behaviour ``y``.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_channels)
        y : array-like of shape (n_rows,) or (n_rows, n_targets)
            Behaviour per row (e.g. 2-D velocity).
        session : array-like of shape (n_rows,), optional
        teacher_X : array-like of shape (n_rows, n_units), optional
            Only for an unfitted :class:`DistilledLFPTransformer` encoder.

        Returns
        -------
        self
        """
        self._validate_params()
        if y is not None:  # (sklearn's own message for a missing y)
            # numeric, finite, within float32, row-aligned: says what was expected
            n_rows = getattr(X, "shape", (None,))[0] if hasattr(X, "shape") else (
                len(X) if hasattr(X, "__len__") else None)
            check_target(y, n_rows=n_rows)
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64,
                             ensure_all_finite="allow-nan")
        if not np.isfinite(y).all():
            raise ValueError("y contains NaN or infinity; behaviour must be finite on every row.")
        self.y_1d_ = y.ndim == 1
        y2 = y.reshape(len(y), -1)
        self.n_targets_ = y2.shape[1]
        self.device_ = resolve_device(self.device)
        start = time.perf_counter()
        self.encoder_ = self._fitted_encoder(X, session, teacher_X)
        X, session, session_index = self.encoder_.check_input(X, session)
        self.y_mean_ = y2.mean(0)
        self.y_scale_ = np.where(y2.std(0) > 0, y2.std(0), 1.0)
        yz = (y2 - self.y_mean_) / self.y_scale_
        with seeded(self.random_state) as seed:
            # the encoder's window length, sampling and stride; this estimator's validation
            train, valid = self.encoder_.windowing.split(
                {"x": X, "y": yz}, session_index, session,
                validation_fraction=self.validation_fraction, random_state=seed)
            module = self._build_module(copy.deepcopy(self.encoder_.module_))
            if self.finetune == "head":
                module.encoder.requires_grad_(False)
            try:
                self._train(self._make_net(module.to(self.device_), valid_set=valid), train)
            finally:
                self.fit_time_ = time.perf_counter() - start
        return self

    def predict(self, X, session=None):
        """Behaviour per row, windows cut inside each session.

        Returns
        -------
        y_pred : ndarray of shape (n_rows,) or (n_rows, n_targets), float64
        """
        check_is_fitted(self, "net_")
        X = validate_data(self, X, reset=False, dtype=np.float64, ensure_all_finite="allow-nan")
        X, session, session_index = self.encoder_.check_input(X, session)
        module = self.module_
        module.eval()

        def predict(windows, owners):
            return module.predict(torch.from_numpy(windows).to(self.device_),
                                  torch.from_numpy(owners).to(self.device_)).double().cpu().numpy()

        with torch.no_grad():
            out = self.encoder_.windowing.map(predict, X, session_index, session,
                                              self.batch_size * 4, self.n_targets_)
        out = out * self.y_scale_ + self.y_mean_
        return out[:, 0] if self.y_1d_ else out

    def save(self, path):
        """Write the fine-tuned model (with its encoder's parameters and fitted state) to ``path``.

        The ``encoder`` parameter is stored as ``None``; ``encoder_`` is kept, so the loaded
        regressor predicts identically.
        """
        plain = copy.copy(self)
        plain.encoder = None
        TorchEstimator.save(plain, path)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # NaN marks channels absent from a session
        tags.regressor_tags.poor_score = True  # a few epochs on sklearn's toy data
        tags.target_tags.multi_output = True
        encoder = self.encoder.estimator if isinstance(self.encoder, FrozenEstimator) else self.encoder
        if encoder is not None:
            inner = encoder.__sklearn_tags__().input_tags
            tags.input_tags.positive_only = inner.positive_only
            tags.input_tags.categorical = inner.categorical
        return tags
