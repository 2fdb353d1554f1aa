"""The shared benchmark harness: arguments, threads, seeds, result files and a model cache.

Every benchmark is ``python -m benchmarks.<name>`` and does::

    parser = make_parser(__doc__, seeds=(0, 1, 2))
    parser.add_argument(...)                 # its own options
    args = parse_args(parser, argv)          # --quick, --threads (pinned), --seeds, --out
    cache = ModelCache(enabled=not args.quick and not args.no_cache)
    for seed in args.seeds:
        model = cache.fit(MaskedSpikeTransformer(...), X, session=session,
                          data={"simulator": ..., "seed": seed}).estimator
    write_results("name", report, markdown_lines, quick=args.quick, out=args.out, figure=fig)

``--quick`` results go to ``<name>_quick.{json,md,png}``: a smoke run never overwrites the real
results. The JSON gets a ``machine`` entry (platform, cores, torch threads and version,
skdistill version and source hash).

:class:`ModelCache` stores fitted estimators under ``~/.cache/skdistill/benchmarks`` (or ``$SKDISTILL_BENCH_CACHE``), keyed by
a hash of the estimator's class and parameters, the data description and the fit inputs, and
the code version (skdistill's version plus a hash of its source files), so that a benchmark
killed halfway resumes where it stopped and a code change never reuses a stale model.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import inspect
import json
import os
import platform
import sys
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
# Outside the work tree by default: a later working session may get a fresh checkout, but the
# same machine (and home folder); SKDISTILL_BENCH_CACHE overrides it.
CACHE = Path(os.environ.get("SKDISTILL_BENCH_CACHE",
                            Path.home() / ".cache" / "skdistill" / "benchmarks"))

__all__ = ["make_parser", "parse_args", "pin_threads", "machine", "code_version", "code_version_of",
           "stem",
           "write_results", "run_seeds", "ModelCache", "CachedFit", "literal_dict", "RESULTS",
           "CACHE"]


# --------------------------------------------------------------------------- arguments


def literal_dict(text):
    """argparse ``type`` for dict arguments: JSON (``'{"d_model": 64}'``) or a Python literal
    (``"{'d_model': 64}"``), never ``eval``."""
    import ast

    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError) as exc:
            raise argparse.ArgumentTypeError(f"not a dict literal: {text!r} ({exc})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a dict, got {type(value).__name__}: {text!r}")
    return value


def make_parser(doc, *, seeds=(0, 1, 2), threads=1, quick_help="a small smoke run (< 2 min)"):
    """An ``ArgumentParser`` with the common options: ``--quick``, ``--threads``, ``--seeds``,
    ``--out`` and ``--no-cache``. ``doc`` (the benchmark's module docstring) becomes the help."""
    doc = inspect.cleandoc(doc or "")
    first, _, rest = doc.partition("\n")
    parser = argparse.ArgumentParser(description=first, epilog=rest.strip() or None,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"{quick_help}; writes <name>_quick.* and never the real results")
    parser.add_argument("--threads", type=int, default=threads,
                        help="torch threads (default %(default)s: fastest on shared cores)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(seeds),
                        help="seeds (default %(default)s)")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="directory of the result files (default benchmarks/results)")
    parser.add_argument("--no-cache", action="store_true",
                        help="refit every model instead of reading the model cache")
    return parser


def pin_threads(n):
    """Pin torch (and the BLAS threads of later-started libraries) to ``n`` threads."""
    if n is None:
        return
    if n < 1:
        raise ValueError(f"--threads must be a positive int; got {n}.")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(n))
    import torch

    torch.set_num_threads(n)


def parse_args(parser, argv=None):
    """Parse and apply ``--threads``; returns the namespace."""
    args = parser.parse_args(argv)
    pin_threads(args.threads)
    return args


# --------------------------------------------------------------------------- provenance


@lru_cache(maxsize=None)
def code_version():
    """``"<skdistill version>+<sha1 of the package's .py files>"`` (12 hex digits)."""
    import skdistill

    root = Path(skdistill.__file__).resolve().parent
    digest = hashlib.sha1()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return f"{skdistill.__version__}+{digest.hexdigest()[:12]}"


def _strip_docstrings(tree):
    import ast

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(getattr(body[0], "value", None), ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def code_version_of(files=None):
    """The code version of a subset of the package: ``None`` is :func:`code_version` (every
    source byte); a tuple of module paths relative to the package (``"nn/_mae.py"``) is
    ``"<version>+ast<sha1>"`` over their ASTs without docstrings (comments are not in an AST), so
    editing documentation, or modules a benchmark does not run, leaves its cached models valid."""
    return code_version() if files is None else _ast_version(tuple(files))


@lru_cache(maxsize=None)
def _ast_version(files):
    import ast

    import skdistill

    root = Path(skdistill.__file__).resolve().parent
    digest = hashlib.sha1()
    for name in files:
        tree = _strip_docstrings(ast.parse((root / name).read_text()))
        digest.update(name.encode())
        digest.update(ast.dump(tree).encode())
    return f"{skdistill.__version__}+ast{digest.hexdigest()[:12]}"


def machine():
    """Where the numbers were measured: platform, cores, threads, library versions."""
    import sklearn

    info = {"platform": platform.platform(), "processor": platform.processor(),
            "python": platform.python_version(), "cores": os.cpu_count(),
            "sklearn": sklearn.__version__, "skdistill": code_version()}
    try:
        import torch

        info.update(torch=str(torch.__version__), threads=torch.get_num_threads())
    except ImportError:  # pragma: no cover - torch is a dependency
        info.update(torch=None, threads=None)
    return info


# --------------------------------------------------------------------------- results


def stem(name, quick=False):
    """File stem of a benchmark's results: ``name`` or ``name_quick``."""
    return f"{name}_quick" if quick else name


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    return str(value)


def write_results(name, report, markdown, *, quick=False, out=None, figure=None, echo=True):
    """Write ``<out>/<stem>.json`` (``report`` plus ``machine`` and ``quick``), ``<stem>.md``
    (``markdown``: a string or a list of lines) and, if given, ``<stem>.png`` (``figure``: a
    matplotlib figure, or a callable that saves to the path it gets). Returns the paths."""
    out = Path(RESULTS if out is None else out)
    out.mkdir(parents=True, exist_ok=True)
    base = out / stem(name, quick)
    paths = {"json": base.with_suffix(".json"), "md": base.with_suffix(".md")}
    payload = {**report, "quick": bool(quick), "machine": machine()}
    paths["json"].write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n")
    text = markdown if isinstance(markdown, str) else "\n".join(markdown)
    paths["md"].write_text(text.rstrip("\n") + "\n")
    if figure is not None:
        paths["png"] = base.with_suffix(".png")
        if callable(figure) and not hasattr(figure, "savefig"):
            figure(paths["png"])
        else:
            figure.savefig(paths["png"], dpi=120)
            import matplotlib.pyplot as plt

            plt.close(figure)
    if echo:
        print(text, flush=True)
    return paths


def run_seeds(seeds, fn, *, say=print):
    """``[fn(seed) for seed in seeds]`` with a progress line per seed."""
    start = time.perf_counter()
    results = []
    for seed in seeds:
        if say:
            say(f"seed {seed} [{time.perf_counter() - start:.0f} s]")
        results.append(fn(seed))
    return results


# --------------------------------------------------------------------------- model cache


def _weights_hash(estimator):
    """sha1 of a fitted torch-backed estimator's weights (``module_.state_dict()``), else None."""
    try:
        module = estimator.__dict__.get("module_") or getattr(estimator, "module_", None)
    except Exception:  # noqa: BLE001 - unfitted estimators may raise from a property
        return None
    if module is None or not hasattr(module, "state_dict"):
        return None
    digest = hashlib.sha1()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _canonical(value, _depth=0):
    """A JSON-able, deterministic description of a parameter value (arrays by hash)."""
    if _depth > 6:
        return type(value).__qualname__
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, np.generic):
        return _canonical(value.item(), _depth)
    if isinstance(value, np.ndarray):
        if value.dtype == object or value.dtype.kind in "USO":
            # the bytes of an object array are pointers, new in every process: hash the text
            data = "\x1f".join(map(str, value.ravel().tolist())).encode()
        else:
            data = np.ascontiguousarray(value).tobytes()
        return {"ndarray": [list(value.shape), str(value.dtype), hashlib.sha1(data).hexdigest()]}
    if isinstance(value, dict):
        return {str(k): _canonical(v, _depth + 1) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v, _depth + 1) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "get_params") and not isinstance(value, type):
        try:
            params = value.get_params(deep=False)
        except Exception:  # noqa: BLE001 - anything without sklearn-style params
            params = {}
        # nested estimators (e.g. a FrozenEstimator teacher) enter by class and parameters;
        # fitted state is not hashed: a cached model of a fitted inner one depends on the
        # caller's data description
        desc = {"class": f"{type(value).__module__}.{type(value).__qualname__}",
                "params": {k: _canonical(v, _depth + 1) for k, v in sorted(params.items())
                           if v is not value}}
        weights = _weights_hash(value)
        if weights is not None:
            desc["weights"] = weights
        return desc
    if callable(value):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', repr(value))}"
    return f"{type(value).__module__}.{type(value).__qualname__}"


@dataclasses.dataclass
class CachedFit:
    """What :meth:`ModelCache.fit` returns."""

    estimator: object
    hit: bool
    key: str
    seconds: float  # the fit's wall time (of the original fit on a hit)
    record: dict  # the ``record(estimator)`` dict stored with the model


class ModelCache:
    """Fitted estimators on disk, keyed by class + parameters + data + inputs + code version.

    Parameters
    ----------
    root : path, default ``~/.cache/skdistill/benchmarks`` (``$SKDISTILL_BENCH_CACHE``)
    enabled : bool, default=True
        ``False`` fits every time and writes nothing (``--quick`` / ``--no-cache``).
    ignore : sequence of str, default=("callbacks",)
        Parameters left out of the key (callbacks that only observe training).
    code_files : sequence of str or None, default=None
        The modules (paths relative to the package, e.g. ``"nn/_mae.py"``) whose code can change
        a fitted model or a score of this benchmark; only their ASTs, without docstrings, enter
        the key (:func:`code_version_of`). ``None`` hashes every source byte of the package: safe,
        but any edit anywhere then refits hours of models.
    """

    def __init__(self, root=CACHE, *, enabled=True, ignore=("callbacks",), code_files=None):
        self.root = Path(root)
        self.enabled = enabled
        self.ignore = tuple(ignore)
        self.code_files = None if code_files is None else tuple(code_files)
        self.hits = 0
        self.misses = 0

    def key(self, estimator, data=None, X=None, y=None, **fit_params):
        """The cache key: 20 hex digits of a sha1 over everything that determines the fit."""
        params = {k: v for k, v in estimator.get_params(deep=False).items() if k not in self.ignore}
        inputs = {"X": X, "y": y, **fit_params}
        desc = {"class": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
                "params": _canonical(params), "data": _canonical(data),
                "inputs": _canonical({k: (np.asarray(v) if isinstance(v, (list, np.ndarray)) else v)
                                      for k, v in inputs.items() if v is not None}),
                "code": self.code()}
        blob = json.dumps(desc, sort_keys=True, default=str).encode()
        return hashlib.sha1(blob).hexdigest()[:20]

    def code(self):
        """The code version in this cache's keys (:func:`code_version_of` its ``code_files``)."""
        return code_version_of(self.code_files)

    def _paths(self, key, estimator):
        base = self.root / f"{type(estimator).__name__}_{key}"
        return base.with_suffix(".json"), base.with_suffix(".pt"), base.with_suffix(".joblib")

    def fit(self, estimator, X, y=None, *, data=None, record=None, **fit_params):
        """Load the fitted ``estimator`` from the cache, or fit and store it.

        Parameters
        ----------
        estimator : unfitted estimator with ``get_params``
        X, y, **fit_params
            Passed to ``estimator.fit`` (and hashed into the key).
        data : dict, optional
            A description of the data (simulator settings, seed, ...), part of the key.
        record : callable, optional
            ``record(fitted) -> dict`` of JSON-able extras to keep with the model (e.g. a
            probe curve recorded by a callback); returned as ``CachedFit.record`` on a hit.

        Returns
        -------
        CachedFit
        """
        key = self.key(estimator, data, X, y, **fit_params)
        meta_path, pt_path, joblib_path = self._paths(key, estimator)
        if self.enabled and meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if meta["format"] == "pt":
                fitted = type(estimator).load(pt_path)
            else:
                import joblib

                fitted = joblib.load(joblib_path)
            self.hits += 1
            return CachedFit(fitted, True, key, meta["seconds"], meta.get("record", {}))
        self.misses += 1
        start = time.perf_counter()
        fitted = estimator.fit(X, y, **fit_params) if y is not None else estimator.fit(X, **fit_params)
        seconds = time.perf_counter() - start
        extra = record(fitted) if record is not None else {}
        if self.enabled:
            self._store(fitted, key, meta_path, pt_path, joblib_path, seconds, extra)
        return CachedFit(fitted, False, key, seconds, extra)

    def _store(self, fitted, key, meta_path, pt_path, joblib_path, seconds, extra):
        self.root.mkdir(parents=True, exist_ok=True)
        fmt = None
        if hasattr(fitted, "save"):
            plain = copy.copy(fitted)  # callbacks (observers) are not stored
            if "callbacks" in plain.get_params(deep=False):
                plain.set_params(callbacks=None)
            tmp = pt_path.with_suffix(".pt.tmp")
            try:
                plain.save(tmp)
                fmt = "pt"
                os.replace(tmp, pt_path)
            except (ValueError, TypeError, AttributeError, NotImplementedError):
                tmp.unlink(missing_ok=True)
                fmt = None
        if fmt is None:
            import joblib

            tmp = joblib_path.with_suffix(".joblib.tmp")
            joblib.dump(fitted, tmp)
            os.replace(tmp, joblib_path)
            fmt = "joblib"
        meta = {"key": key, "class": type(fitted).__name__, "format": fmt, "seconds": seconds,
                "record": extra, "code": self.code(), "written": time.strftime("%Y-%m-%d %H:%M:%S"),
                "python": sys.version.split()[0]}
        tmp = meta_path.with_suffix(".json.tmp")  # written last: its presence marks a whole entry
        tmp.write_text(json.dumps(meta, indent=1, default=_jsonable))
        os.replace(tmp, meta_path)

    def memo(self, name, config, fn):
        """``fn()`` cached under ``name`` and ``config`` (any picklable result, e.g. simulated
        data or one seed's scores) with the same code-version key."""
        blob = json.dumps({"config": _canonical(config), "code": self.code()},
                          sort_keys=True).encode()
        path = self.root / f"{name}_{hashlib.sha1(blob).hexdigest()[:20]}.joblib"
        import joblib

        if self.enabled and path.exists():
            self.hits += 1
            return joblib.load(path)
        self.misses += 1
        value = fn()
        if self.enabled:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".joblib.tmp")
            joblib.dump(value, tmp)
            os.replace(tmp, path)
        return value
