"""The one engine under every torch-backed estimator.

Every public estimator is a plain sklearn ``BaseEstimator`` that builds a skorch net in ``fit``
(``net_``; ``module_`` is its torch module, ``history_`` its skorch ``History``). This module
holds what they share:

* :data:`TRAINING_CONSTRAINTS` -- the training parameters every estimator takes (``lr``,
  ``weight_decay``, ``batch_size``, ``max_epochs``, ``validation_fraction``, ``early_stopping``,
  ``patience``, ``device``, ``random_state``, ``verbose``, ``callbacks``), validated once.
* :class:`EngineNet` -- a skorch ``NeuralNet`` whose module may return its own loss (a dict with a
  ``"loss"`` entry; self-supervised objectives compute theirs inside the module) and that stops
  on a non-finite loss *before* the optimizer step, so the weights stay the last finite ones.
* :class:`TrainingCheckpoint` -- a callback that writes the whole training state (weights,
  optimizer, history, random generators) after every epoch and resumes from it, so that a run
  killed mid-way ends with the same weights as an uninterrupted one.
* :class:`TorchEstimator` -- the base class: ``_train`` runs the engine with held-out
  validation, early stopping that restores the best weights, the guard and the user's callbacks.
* :func:`resolve_inner` -- the inner estimator (a teacher, an encoder to fine-tune) from a
  fitted estimator, a ``FrozenEstimator`` or an unfitted one.
"""

from __future__ import annotations

import contextvars
import copy
import hashlib
import numbers
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, Checkpoint, EarlyStopping, LoadInitState, PassthroughScoring
from skorch.helper import predefined_split
from skorch.history import History
from sklearn.base import BaseEstimator, clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from skdistill.estimators._common import TorchStateMixin, from_storable, to_storable

__all__ = [
    "TRAINING_CONSTRAINTS",
    "EngineNet",
    "TorchEstimator",
    "TrainingCheckpoint",
    "TrainingDivergedError",
    "TrainingMemoryError",
    "resolve_inner",
]

#: Parameter constraints shared by every torch-backed estimator.
TRAINING_CONSTRAINTS = {
    "lr": [Interval(numbers.Real, 0, None, closed="neither")],
    "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
    "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
    "max_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
    "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
    "early_stopping": ["boolean"],
    "patience": [Interval(numbers.Integral, 1, None, closed="left")],
    "device": [str, None],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "callbacks": [list, None],
    "compile": ["boolean", dict],
}


class TrainingDivergedError(FloatingPointError):
    """The training loss (or a gradient) became NaN or infinite; the estimator keeps the weights
    of the last finite step and stays usable."""


class TrainingMemoryError(MemoryError):
    """A batch did not fit in the device's memory; the estimator keeps the weights of the last
    completed step and stays usable."""


def _is_out_of_memory(exc):
    if isinstance(exc, getattr(torch, "OutOfMemoryError", ())):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text
                                              or "can't allocate memory" in text)


class EngineNet(NeuralNet):
    """skorch engine of every estimator.

    * A module may return a dict with a ``"loss"`` entry (its own objective); a tensor output is
      scored by ``criterion`` as usual.
    * A non-finite loss or gradient raises :class:`TrainingDivergedError` before the optimizer
      step, naming the epoch and batch.
    * :class:`TrainingCheckpoint` sets ``resumed_epochs_``; the loop then runs only the epochs that
      remain of ``max_epochs``.
    """

    resumed_epochs_ = 0

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if isinstance(y_pred, dict):
            return y_pred["loss"]
        return super().get_loss(y_pred, y_true, X=X, training=training)

    def train_step_single(self, batch, **fit_params):
        step = super().train_step_single(batch, **fit_params)
        loss = step["loss"].detach()
        grads = [p.grad for p in self.module_.parameters() if p.grad is not None]
        # one sync per batch: the loss plus zero times the gradient norms is finite iff all are
        probe = loss + torch.stack(torch._foreach_norm(grads)).sum() * 0.0 if grads else loss
        if not bool(torch.isfinite(probe)):
            epoch = len(self.history)
            batch_no = len(self.history[-1, "batches"]) + 1 if len(self.history) else 1
            what = (f"the loss is {float(loss)!r}" if not bool(torch.isfinite(loss))
                    else f"a gradient is not finite (loss {float(loss):.4g})")
            raise TrainingDivergedError(
                f"training diverged at epoch {epoch}, batch {batch_no}: {what}. The estimator "
                "keeps the weights of the last finite step and stays usable. Try a smaller lr "
                f"(now {self.lr:g}), check the input scale (e.g. z-score the LFP with "
                "skdistill.preprocessing.preprocess_lfp), or a smaller batch."
            )
        return step

    def train_step(self, batch, **fit_params):
        try:
            return super().train_step(batch, **fit_params)
        except Exception as exc:
            if not _is_out_of_memory(exc):
                raise
            self._zero_grad_optimizer()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise TrainingMemoryError(
                f"a batch of {self.batch_size} did not fit in the memory of device "
                f"{self.device!r} (epoch {len(self.history)}): {str(exc).splitlines()[0]}. The "
                "estimator keeps the weights of the last completed step and stays usable. Try "
                f"batch_size={max(1, self.batch_size // 2)}, a shorter segment_length, or a "
                "smaller model."
            ) from None

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        epochs = self.max_epochs if epochs is None else epochs
        try:
            return super().fit_loop(X, y, epochs=max(0, epochs - self.resumed_epochs_),
                                    **fit_params)
        except KeyboardInterrupt:
            # skorch's EarlyStopping stops training by raising KeyboardInterrupt: not an interrupt
            if any(isinstance(cb, EarlyStopping) and getattr(cb, "misses_", 0) >= cb.patience
                   for _, cb in getattr(self, "callbacks_", [])):
                return self
            # a real one: skorch would swallow it silently; say what state the estimator is in
            warnings.warn(
                f"training was interrupted (KeyboardInterrupt) in epoch {len(self.history)}; the "
                "estimator keeps the weights of the last completed step and is usable. Fit again "
                "to retrain (with a TrainingCheckpoint callback, a new fit resumes instead).",
                UserWarning, stacklevel=2)
            return self


#: The engine class ``TorchEstimator._make_net`` builds (``None``: :class:`EngineNet`).
#: ``skdistill.estimators.fit_distributed`` sets its data-parallel subclass for one fit.
ENGINE_CLASS = contextvars.ContextVar("skdistill_engine_class", default=None)


class RecordOutput(Callback):
    """Record scalar entries of the module's output dict per batch (``train_<key>`` /
    ``valid_<key>``); :class:`skorch.callbacks.PassthroughScoring` averages them per epoch."""

    def __init__(self, key):
        self.key = key

    def on_batch_end(self, net, batch=None, training=None, y_pred=None, **kwargs):
        if isinstance(y_pred, dict) and self.key in y_pred:
            prefix = "train" if training else "valid"
            net.history.record_batch(f"{prefix}_{self.key}", float(y_pred[self.key]))


def plain_module(module):
    """``module`` without its ``torch.compile`` wrapper: the parameters and state-dict keys of the
    module itself, whether or not training compiled it."""
    return getattr(module, "_orig_mod", module)


def _fingerprint(net, dataset):
    """What a checkpoint must match to be resumed: parameter shapes, data, epochs."""
    h = hashlib.sha256()
    for name, value in plain_module(net.module_).state_dict().items():
        h.update(f"{name}{tuple(value.shape)}".encode())
    h.update(f"{len(dataset)}|{net.max_epochs}|{net.batch_size}|{net.lr}".encode())
    for name, column in sorted(getattr(dataset, "columns", {}).items()):
        h.update(name.encode())
        h.update(np.ascontiguousarray(column).tobytes())
    return h.hexdigest()


class TrainingCheckpoint(Callback):
    """Write the whole training state after every epoch and resume from it.

    ``dirname/state.pt`` holds the weights, the optimizer, the history, the random generators
    (torch's CPU and CUDA ones and the training windows') and the state of every early-stopping callback (its
    patience count, best score and best weights), written atomically at the end of each epoch.
    When a fit
    starts and the file exists for the same model, data and training settings, training resumes
    after its last epoch and ends with the same weights as an uninterrupted run with the same
    ``random_state``. A file written for anything else is ignored (and overwritten).

    Parameters
    ----------
    dirname : str or path
        Folder of the checkpoint (created when missing). Use one folder per model.

    Examples
    --------
    >>> from skdistill import LFPTransformer
    >>> from skdistill.estimators import TrainingCheckpoint
    >>> est = LFPTransformer(max_epochs=50, callbacks=[TrainingCheckpoint("ckpt/lfp")])
    >>> est.fit(X, session=s)  # killed? run the same line again: it resumes  # doctest: +SKIP
    """

    def __init__(self, dirname):
        self.dirname = dirname

    @property
    def path(self):
        return Path(self.dirname) / "state.pt"

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self._key = _fingerprint(net, X)
        net.resumed_epochs_ = 0
        if not self.path.exists():
            return
        state = torch.load(self.path, map_location="cpu", weights_only=True)
        if state.get("fingerprint") != self._key:
            return
        plain_module(net.module_).load_state_dict(state["module"])
        net.optimizer_.load_state_dict(state["optimizer"])
        net.history = History(from_storable(state["history"]))
        torch.set_rng_state(state["torch_rng"])
        cuda_rng = state.get("cuda_rng")
        if cuda_rng is not None and torch.cuda.is_available() \
                and len(cuda_rng) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_rng)
        if state.get("window_rng") is not None and hasattr(X, "set_rng_state"):
            X.set_rng_state(state["window_rng"])
        net.resumed_epochs_ = len(state["history"])
        # early stopping resumes with its patience count and best weights (its own
        # on_train_begin, which runs before a user callback's, has just reset them)
        stoppers = _early_stoppers(net)
        for name, saved in (state.get("early_stopping") or {}).items():
            if name in stoppers:
                cb = stoppers[name]
                cb.misses_ = int(saved["misses"])
                cb.dynamic_threshold_ = float(saved["threshold"])
                cb.best_epoch_ = int(saved["best_epoch"])
                cb.best_model_weights_ = saved.get("best_weights")

    def on_epoch_end(self, net, dataset_train=None, **kwargs):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "fingerprint": self._key,
            "module": plain_module(net.module_).state_dict(),
            "optimizer": net.optimizer_.state_dict(),
            "history": to_storable(net.history.to_list()),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "window_rng": (dataset_train.rng_state() if hasattr(dataset_train, "rng_state")
                           else None),
            "early_stopping": {
                name: {"misses": int(cb.misses_), "threshold": float(cb.dynamic_threshold_),
                       "best_epoch": int(cb.best_epoch_), "best_weights": cb.best_model_weights_}
                for name, cb in _early_stoppers(net).items() if hasattr(cb, "misses_")},
        }
        tmp = self.path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.path)

    def on_train_end(self, net, **kwargs):
        net.resumed_epochs_ = 0


def _early_stoppers(net):
    """``{name: EarlyStopping}`` among the net's initialized callbacks."""
    return {name: cb for name, cb in getattr(net, "callbacks_", [])
            if isinstance(cb, EarlyStopping)}


def _needs_validation(callbacks):
    """User callbacks that monitor a validation score with skorch's defaults."""
    found = []
    for cb in callbacks or []:
        cb = cb[1] if isinstance(cb, tuple) else cb
        monitor = getattr(cb, "monitor", None)
        if isinstance(cb, (EarlyStopping, Checkpoint)) and isinstance(monitor, str) \
                and monitor.startswith("valid"):
            found.append(type(cb).__name__)
        if isinstance(cb, LoadInitState):
            inner = getattr(cb.checkpoint, "monitor", None)
            if isinstance(inner, str) and inner.startswith("valid"):
                found.append("LoadInitState")
    return found


class TorchEstimator(TorchStateMixin, BaseEstimator):
    """Base of every torch-backed estimator (see the module docstring).

    Subclasses build their module and datasets in ``fit`` and call :meth:`_train`; they define
    ``_build_module()`` (also used by ``load``) and list their fitted attributes in
    ``_saved_attributes``. ``history_`` and ``module_`` follow ``net_``.
    """

    _parameter_constraints: dict = dict(TRAINING_CONSTRAINTS)
    _recorded_outputs: tuple = ()  # scalar module outputs recorded per epoch (train_/valid_)

    @property
    def module_(self):
        """The torch module (the plain one when training compiled it)."""
        return plain_module(self.net_.module_)

    @property
    def history_(self):
        return self.net_.history

    # -- the engine ---------------------------------------------------------------------------
    def _callbacks(self, valid_set, extra=()):
        callbacks = list(extra)
        for key in self._recorded_outputs:
            callbacks.append((f"record_{key}", RecordOutput(key)))
            callbacks.append((f"train_{key}", PassthroughScoring(f"train_{key}", on_train=True)))
            if valid_set is not None:
                callbacks.append((f"valid_{key}", PassthroughScoring(f"valid_{key}")))
        if self.early_stopping:
            if valid_set is None:
                raise ValueError(self._no_validation_message("early_stopping=True"))
            callbacks.append(("early_stopping", EarlyStopping(
                monitor="valid_loss", patience=self.patience, load_best=True, sink=_quiet)))
        user = list(self.callbacks or [])
        if valid_set is None and _needs_validation(user):
            raise ValueError(self._no_validation_message(", ".join(_needs_validation(user))))
        # deep copies: a callback keeps state, and clones / CV folds must not share it
        return callbacks + [copy.deepcopy(cb) for cb in user]

    def _no_validation_message(self, what):
        return (
            f"{what} needs held-out validation, but none was made: validation_fraction="
            f"{self.validation_fraction} and the data give no validation block (each session run "
            "needs room for a training and a validation window). Pass more rows per session, a "
            "larger validation_fraction, or drop the early stopping."
        )

    def _make_net(self, module, *, valid_set=None, criterion=torch.nn.MSELoss, callbacks=(),
                  max_epochs=None, **net_params):
        return (ENGINE_CLASS.get() or EngineNet)(
            module=module,
            criterion=criterion,  # unused when the module returns its own loss
            optimizer=torch.optim.AdamW,
            optimizer__weight_decay=self.weight_decay,
            lr=self.lr,
            max_epochs=self.max_epochs if max_epochs is None else max_epochs,
            batch_size=self.batch_size,
            iterator_train__shuffle=True,
            train_split=None if valid_set is None else predefined_split(valid_set),
            callbacks=self._callbacks(valid_set, callbacks),
            device=self.device_,
            verbose=self.verbose,
            **compile_params(getattr(self, "compile", False)),
            **net_params,
        )

    def _train(self, net, train_set, *, partial=False, epochs=None):
        """Fit ``net`` on ``train_set`` (keeping it as ``net_`` whatever happens)."""
        self.net_ = net
        try:
            if partial:
                net.partial_fit(train_set, None, epochs=epochs)
            else:
                net.fit(train_set, None)
        finally:
            # a compiled module (``compile=True``) trained; the fitted estimator keeps the plain
            # one (same parameters): it pickles, and transform / predict run it eagerly
            if hasattr(net, "module_"):
                net.module_ = plain_module(net.module_)
        return net

    def _attach_module(self, module):
        """Wrap a (loaded) module in an engine, as ``fit`` leaves it (without training state)."""
        self.net_ = EngineNet(module=module, criterion=torch.nn.MSELoss, optimizer=torch.optim.AdamW,
                              lr=self.lr, batch_size=self.batch_size, max_epochs=self.max_epochs,
                              train_split=None, device=self.device_, verbose=self.verbose)
        self.net_.initialize()


def compile_params(option):
    """skorch's ``compile`` arguments for an estimator's ``compile`` (``True``, ``False`` or a
    dict of ``torch.compile`` keyword arguments, passed as skorch's ``compile__*``)."""
    if isinstance(option, dict):
        return {"compile": True, **{f"compile__{key}": value for key, value in option.items()}}
    return {"compile": bool(option)}


def _quiet(*args, **kwargs):
    """EarlyStopping's message goes to the history, not to stdout (``verbose`` prints it)."""


def resolve_inner(inner, fit, *, name, use_fitted=False):
    """The fitted inner estimator of a meta-estimator, and whether it was fitted here.

    * ``FrozenEstimator(fitted)`` -> the wrapped estimator, used as is (an unfitted one inside
      is an error that says what to do).
    * a fitted estimator -> used as is when ``use_fitted`` (a "pretrained" argument), else cloned
      and fitted like an unfitted one (sklearn's meta-estimator convention).
    * an unfitted estimator -> ``fit(clone(inner))``.
    """
    if isinstance(inner, FrozenEstimator):
        wrapped = inner.estimator
        try:
            check_is_fitted(wrapped)
        except Exception:
            raise ValueError(
                f"{name} is a FrozenEstimator around an unfitted {type(wrapped).__name__}; fit it "
                f"first (FrozenEstimator({type(wrapped).__name__}(...).fit(...))) or pass it "
                "unfrozen so that it is fitted here."
            ) from None
        return wrapped, False
    if use_fitted:
        try:
            check_is_fitted(inner)
            return inner, False
        except Exception:
            pass
    return fit(clone(inner)), True

