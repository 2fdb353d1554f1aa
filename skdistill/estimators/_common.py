"""Helpers shared by all skorch-backed estimators: devices, seeding, batched prediction, save/load.

Public estimators *wrap* a skorch ``NeuralNet`` (built in ``fit``, kept as ``net_``) rather than
inherit from it: a raw skorch net fails most of sklearn's common checks, a thin wrapper passes them.
"""

from __future__ import annotations

import contextlib
import numbers
from pathlib import Path

import numpy as np
import torch
from skorch.dataset import Dataset
from sklearn.utils import check_random_state

__all__ = [
    "check_head_width",
    "resolve_device",
    "seeded",
    "TorchStateMixin",
    "predict_batches",
]


def resolve_device(device) -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is visible, else ``"cpu"``; other values checked."""
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    device = str(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but no CUDA device is available; use "
            "device='auto' (GPU when present, else CPU) or device='cpu'."
        )
    if not (device == "cpu" or device.startswith("cuda") or device == "mps"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'; got {device!r}.")
    return device


def _seed_from(random_state) -> int:
    if isinstance(random_state, numbers.Integral):
        return int(random_state) % (2**32)
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


@contextlib.contextmanager
def seeded(random_state):
    """Run torch code under a seed derived from ``random_state`` without touching global state."""
    seed = _seed_from(random_state)
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield seed


def check_head_width(d_model, n_heads):
    """Rotary attention needs ``d_model`` divisible by ``n_heads`` and an even head width."""
    if d_model % n_heads or (d_model // n_heads) % 2:
        raise ValueError(
            f"d_model={d_model} must be divisible by n_heads={n_heads} with an even head width "
            "(rotary positions rotate pairs of dimensions)."
        )


def make_dataset(inputs: dict, y=None):
    """A skorch Dataset over a dict of equal-length arrays (passed to forward as kwargs)."""
    return Dataset(inputs, y)


@torch.no_grad()
def predict_batches(module, inputs: dict, batch_size: int, device: str, fn=None):
    """Run ``fn(module, **batch)`` (default: ``module(**batch)``) over mini-batches; concat outputs."""
    module.eval()
    n = len(next(iter(inputs.values())))
    outputs = []
    for start in range(0, n, batch_size):
        batch = {k: torch.as_tensor(v[start : start + batch_size]).to(device) for k, v in inputs.items()}
        out = fn(module, **batch) if fn is not None else module(**batch)
        outputs.append(out.detach().float().cpu().numpy())
    return np.concatenate(outputs) if outputs else np.empty((0,))


_PLAIN = (str, int, float, bool, type(None))


def _is_plain(value) -> bool:
    if isinstance(value, _PLAIN) or isinstance(value, (np.integer, np.floating, np.bool_)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def to_storable(value):
    if isinstance(value, np.ndarray):
        if value.dtype == object or value.dtype.kind in "US":
            return {"__ndarray_str__": [str(v) for v in value.tolist()]}
        return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(value))}
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, tuple):
        return {"__tuple__": [to_storable(v) for v in value]}
    if isinstance(value, list):
        return [to_storable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_storable(v) for k, v in value.items()}
    return value


def from_storable(value):
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return value["__ndarray__"].numpy()
        if "__ndarray_str__" in value:
            return np.array(value["__ndarray_str__"], dtype=object)
        if "__tuple__" in value:
            return tuple(from_storable(v) for v in value["__tuple__"])
        return {k: from_storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_storable(v) for v in value]
    return value


#: Version of the file format written by ``save``; ``load`` refuses newer ones clearly.
FORMAT_VERSION = 2


def _payload(estimator):
    """Parameters, fitted attributes, weights, history and nested estimators of ``estimator``."""
    params = estimator.get_params(deep=False)
    # callbacks are training-time objects (progress bars, checkpoints): not part of the model
    if "callbacks" in params:
        params["callbacks"] = None
    not_plain = sorted(k for k, v in params.items() if not _is_plain(v))
    if not_plain:
        raise ValueError(
            f"save() stores plain parameter values only, but {not_plain} hold objects; "
            "pickle the estimator with joblib.dump instead."
        )
    net = getattr(estimator, "net_", None)
    return {
        "class": type(estimator).__name__,
        "params": to_storable(params),
        "attributes": {a: to_storable(getattr(estimator, a)) for a in estimator._saved_attributes
                       if hasattr(estimator, a)},
        "state_dict": {k: v.detach().cpu() for k, v in estimator.module_.state_dict().items()},
        "history": to_storable(net.history.to_list()) if net is not None else [],
        "estimators": {name: _payload(getattr(estimator, name))
                       for name in getattr(estimator, "_saved_estimators", ())},
    }


def _restore(cls, payload, device, path):
    """Rebuild an estimator of class ``cls`` from :func:`_payload`'s output."""
    from skorch.history import History

    if payload.get("class") != cls.__name__:
        raise ValueError(
            f"{path} holds a {payload.get('class')!r} model, not a {cls.__name__}; load it with "
            f"skdistill.{payload.get('class')}.load(path)."
        )
    try:
        estimator = cls(**from_storable(payload["params"]))
    except TypeError as exc:
        raise ValueError(f"{path}: the stored parameters do not fit {cls.__name__} ({exc}).") from None
    for name, value in payload["attributes"].items():
        if name in cls._saved_attributes:  # files of older versions may hold derived ones
            setattr(estimator, name, from_storable(value))
    estimator.device_ = resolve_device(device)
    for name, nested in payload.get("estimators", {}).items():
        import skdistill

        setattr(estimator, name, _restore(getattr(skdistill, nested["class"]), nested, device, path))
    module = estimator._build_module()
    try:
        module.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise ValueError(f"{path}: the stored weights do not match the model they describe "
                         f"({str(exc).splitlines()[0]}).") from None
    estimator._attach_module(module.to(estimator.device_))
    history = from_storable(payload.get("history") or [])
    estimator.net_.history = History(history)
    return estimator


class TorchStateMixin:
    """``save(path)`` / ``load(path)`` as parameters + fitted attributes + weights + history.

    The file (format :data:`FORMAT_VERSION`) is read back with ``torch.load(weights_only=True)``:
    only tensors and plain Python values, never pickled code. Estimators list their fitted
    attributes in ``_saved_attributes`` (and nested fitted estimators in ``_saved_estimators``)
    and rebuild their module with ``_build_module()``. Pickling (joblib) works as well.
    """

    _saved_attributes: tuple = ()
    _saved_estimators: tuple = ()

    def save(self, path):
        """Write parameters, fitted attributes, weights and training history to ``path``."""
        from sklearn.utils.validation import check_is_fitted

        import skdistill
        import sklearn

        check_is_fitted(self)
        payload = _payload(self)
        payload["format"] = FORMAT_VERSION
        payload["versions"] = {
            "skdistill": skdistill.__version__,
            "torch": str(torch.__version__),
            "numpy": np.__version__,
            "sklearn": sklearn.__version__,
        }
        torch.save(payload, Path(path))
        return self

    @classmethod
    def load(cls, path, device="auto"):
        """Read an estimator written by :meth:`save` (``torch.load(weights_only=True)``).

        Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for one that is not a
        skdistill model file (corrupt, truncated, foreign, or of a newer format).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no model file at {path}.")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch's message advises weights_only=False: never do that
            raise ValueError(
                f"{path} is not a readable skdistill model file (corrupt, truncated, or written by "
                f"another program: {type(exc).__name__}). Save models with est.save(path)."
            ) from None
        if not isinstance(payload, dict) or not {"class", "params", "state_dict"} <= set(payload):
            raise ValueError(
                f"{path} is a torch file but not a skdistill model (no class, parameters and "
                "weights in it); save models with est.save(path)."
            )
        version = payload.get("format", 1)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ValueError(
                f"{path} has model file format {version!r}; this skdistill reads formats up to "
                f"{FORMAT_VERSION}. Upgrade skdistill to load it."
            )
        return _restore(cls, payload, device, path)
