"""benchmarks/_harness.py: arguments, result files, the model cache."""

import json

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.frozen import FrozenEstimator

from benchmarks import _harness
from benchmarks._harness import ModelCache, literal_dict, make_parser, parse_args, stem, write_results


class CountingRidge(RegressorMixin, BaseEstimator):
    """A tiny estimator that counts its fits (class-level, survives pickling)."""

    fits = 0

    def __init__(self, alpha=1.0, callbacks=None):
        self.alpha = alpha
        self.callbacks = callbacks

    def fit(self, X, y):
        type(self).fits += 1
        X = np.asarray(X)
        self.coef_ = np.linalg.solve(X.T @ X + self.alpha * np.eye(X.shape[1]), X.T @ y)
        return self

    def predict(self, X):
        return np.asarray(X) @ self.coef_


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(50, 3))
    return X, X @ np.array([1.0, -2.0, 0.5])


def test_cache_hit_and_miss_on_a_changed_param(tmp_path):
    X, y = _data()
    cache = ModelCache(tmp_path)
    CountingRidge.fits = 0
    first = cache.fit(CountingRidge(alpha=1.0), X, y, data={"seed": 0}, record=lambda m: {"n": 3})
    assert not first.hit and CountingRidge.fits == 1
    again = cache.fit(CountingRidge(alpha=1.0), X, y, data={"seed": 0})
    assert again.hit and CountingRidge.fits == 1 and again.key == first.key
    assert again.record == {"n": 3} and again.seconds == pytest.approx(first.seconds)
    np.testing.assert_allclose(again.estimator.coef_, first.estimator.coef_)
    # a changed parameter, data description or input is a miss
    other = cache.fit(CountingRidge(alpha=2.0), X, y, data={"seed": 0})
    assert not other.hit and other.key != first.key and CountingRidge.fits == 2
    assert not cache.fit(CountingRidge(alpha=1.0), X, y, data={"seed": 1}).hit
    assert not cache.fit(CountingRidge(alpha=1.0), X + 1e-9, y, data={"seed": 0}).hit
    assert CountingRidge.fits == 4
    # observer callbacks are not part of the key
    assert cache.fit(CountingRidge(alpha=1.0, callbacks=[print]), X, y, data={"seed": 0}).hit
    assert (cache.hits, cache.misses) == (2, 4)


def test_cache_key_covers_the_code_version(tmp_path, monkeypatch):
    X, y = _data()
    cache = ModelCache(tmp_path)
    key = cache.key(CountingRidge(), {"seed": 0}, X, y)
    monkeypatch.setattr(_harness, "code_version", lambda: "0.0+changed")
    assert cache.key(CountingRidge(), {"seed": 0}, X, y) != key


def test_disabled_cache_refits_and_writes_nothing(tmp_path):
    X, y = _data()
    cache = ModelCache(tmp_path / "c", enabled=False)
    CountingRidge.fits = 0
    cache.fit(CountingRidge(), X, y)
    cache.fit(CountingRidge(), X, y)
    assert CountingRidge.fits == 2 and not (tmp_path / "c").exists()


def test_cache_round_trips_a_torch_estimator_with_save_load(tmp_path):
    from skdistill import LFPTransformer

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 8))
    session = np.repeat(["a", "b"], 200)
    params = dict(segment_length=20, d_model=16, n_layers=1, n_heads=2, patch_size=4,
                  decoder_width=16, max_epochs=1, batch_size=16, random_state=0)
    cache = ModelCache(tmp_path)
    first = cache.fit(LFPTransformer(**params), X, session=session)
    assert list(tmp_path.glob("*.pt"))  # stored with the estimator's own save()
    second = cache.fit(LFPTransformer(**params), X, session=session)
    assert second.hit
    np.testing.assert_allclose(second.estimator.transform(X, session=session),
                               first.estimator.transform(X, session=session), rtol=1e-6)
    # a wrapper of a fitted model is keyed by that model's weights
    k1 = cache.key(FrozenEstimator(first.estimator), None, X)
    third = cache.fit(LFPTransformer(**{**params, "random_state": 1}), X, session=session)
    assert cache.key(FrozenEstimator(third.estimator), None, X) != k1


def test_memo(tmp_path):
    cache = ModelCache(tmp_path)
    calls = []
    f = lambda: calls.append(1) or {"a": np.arange(3)}  # noqa: E731
    assert cache.memo("sim", {"seed": 0}, f)["a"].tolist() == [0, 1, 2]
    cache.memo("sim", {"seed": 0}, f)
    cache.memo("sim", {"seed": 1}, f)
    assert len(calls) == 2


def test_quick_results_never_overwrite_real_ones(tmp_path):
    assert stem("bench", quick=True) == "bench_quick" and stem("bench") == "bench"
    real = write_results("bench", {"x": 1}, ["# real"], out=tmp_path, echo=False)
    quick = write_results("bench", {"x": np.float64(2.0)}, "# quick", quick=True, out=tmp_path,
                          echo=False)
    assert quick["json"].name == "bench_quick.json" and quick["md"].name == "bench_quick.md"
    assert json.loads(real["json"].read_text())["x"] == 1
    assert real["md"].read_text() == "# real\n"
    payload = json.loads(quick["json"].read_text())
    assert payload["x"] == 2.0 and payload["quick"] is True
    assert {"cores", "threads", "torch", "skdistill", "platform"} <= set(payload["machine"])


def test_write_results_saves_a_figure(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    paths = write_results("fig", {}, "", quick=True, out=tmp_path, figure=fig, echo=False)
    assert paths["png"].name == "fig_quick.png" and paths["png"].stat().st_size > 0


def test_parser_and_threads():
    import torch

    parser = make_parser("Title line.\n\nMore text.", seeds=(3, 4))
    args = parse_args(parser, ["--quick", "--threads", "1"])
    assert args.quick and args.seeds == [3, 4] and args.threads == 1
    assert torch.get_num_threads() == 1
    assert parser.description == "Title line."
    assert parse_args(parser, ["--seeds", "7"]).seeds == [7]
    with pytest.raises(ValueError, match="threads"):
        _harness.pin_threads(0)


def test_literal_dict():
    assert literal_dict('{"a": 1}') == {"a": 1}
    assert literal_dict("{'a': (1, 2)}") == {"a": (1, 2)}
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        literal_dict("__import__('os')")
    with pytest.raises(argparse.ArgumentTypeError):
        literal_dict("[1, 2]")


def test_object_arrays_hash_the_same_in_every_process():
    import subprocess
    import sys

    code = ("import numpy as np; from benchmarks._harness import _canonical; "
            "print(_canonical(np.array(['a', 'b', 1], dtype=object))['ndarray'][2])")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout for _ in range(2)}
    assert len(runs) == 1


def test_cache_keyed_by_chosen_modules_ignores_docstrings(tmp_path, monkeypatch):
    # a benchmark that names the modules on its fitting path keeps its cached models when other
    # modules, or only docstrings, change; a code change in a named module gives a new key
    import skdistill
    from benchmarks import _harness
    from skdistill import LFPTransformer

    pkg = tmp_path / "pkg"
    (pkg / "nn").mkdir(parents=True)
    (pkg / "nn" / "_m.py").write_text('def f(x):\n    """Doc."""\n    return x + 1  # note\n')
    monkeypatch.setattr(skdistill, "__file__", str(pkg / "__init__.py"))

    def key(files):
        _harness._ast_version.cache_clear()
        cache = _harness.ModelCache(tmp_path / "c", code_files=files)
        return cache.code(), cache.key(LFPTransformer(d_model=8), {"seed": 0})

    before = key(("nn/_m.py",))
    assert before[0].startswith(f"{skdistill.__version__}+ast")
    (pkg / "nn" / "_m.py").write_text('def f(x):\n    """Other doc."""\n    return x + 1\n')
    assert key(("nn/_m.py",)) == before  # docstring and comment edits: same key
    (pkg / "nn" / "_m.py").write_text('def f(x):\n    return x + 2\n')
    assert key(("nn/_m.py",))[1] != before[1]  # a code edit: a new key
    _harness._ast_version.cache_clear()
