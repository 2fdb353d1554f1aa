"""Fuzz targets of the estimators' entry points (fit / transform / predict / adapt / save / load),
registered into :mod:`benchmarks.fuzz`'s registry (``layer="estimators"``).

Models are tiny (width 8, one layer, one epoch) so that hundreds of fits take seconds; what is
fuzzed is the input handling, not the training.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from benchmarks.fuzz import (
    Case,
    Target,
    continuous_problem,
    float_arrays,
    register,
    session_problem,
    sessions_for,
)

TINY = dict(segment_length=6, patch_size=2, d_model=8, n_layers=1, n_heads=2, batch_size=8,
            max_epochs=1, random_state=0, device="cpu")
BARISTA_TINY = dict(patch_size=16, d_model=8, n_layers=1, n_heads=2, predictor_hidden=8,
                    batch_size=8, max_epochs=1, random_state=0, device="cpu")
_FITTED: dict = {}


def _fitted(name):
    """Small fitted models shared by the transform / predict / adapt / save targets."""
    if name in _FITTED:
        return _FITTED[name]
    from sklearn.frozen import FrozenEstimator

    from skdistill import (
        BaristaTransformer,
        DistilledLFPTransformer,
        LFPTransformer,
        MaskedSpikeTransformer,
        SupervisedEncoderRegressor,
    )

    rng = np.random.default_rng(0)
    S = rng.poisson(1.0, (60, 4)).astype(float)
    L = rng.standard_normal((60, 4))
    s = np.repeat(["a", "b"], 30)
    if name == "spikes":
        est = MaskedSpikeTransformer(decoder_width=8, **TINY).fit(S, session=s)
    elif name == "lfp":
        est = LFPTransformer(decoder_width=8, **TINY).fit(L, session=s)
    elif name == "student":
        est = DistilledLFPTransformer(FrozenEstimator(_fitted("spikes")), **TINY)
        est.fit(L, teacher_X=S, session=s)
    elif name == "supervised":
        est = SupervisedEncoderRegressor(FrozenEstimator(_fitted("lfp")), max_epochs=1,
                                         random_state=0, device="cpu")
        est.fit(L, rng.standard_normal((60, 2)), session=s)
    elif name == "barista":
        X, tables = _barista_data()
        est = BaristaTransformer(**BARISTA_TINY).fit(X, session=np.full(len(X), "s1"),
                                                     electrodes=tables)
    _FITTED[name] = est
    return est


def _barista_data(n=8, n_channels=3, n_times=32):
    X = np.random.default_rng(1).standard_normal((n, n_channels, n_times))
    table = pd.DataFrame({"name": [f"c{i}" for i in range(n_channels)],
                          "x": [-40.0, 0.0, 40.0][:n_channels], "y": 0.0, "z": 10.0,
                          "parcel": list("ABC")[:n_channels],
                          "lobe": ["frontal", "temporal", "parietal"][:n_channels]})
    return X, {"s1": table}


def _problems(X, session, counts):
    problem = continuous_problem(X, session, counts=counts)
    if problem is None:
        a = np.asarray(X, dtype=float)
        problem = session_problem(session, len(a))
    return problem


# --------------------------------------------------------------------------- 2-D encoders


def _valid_rows(draw, counts, n_cols=4):
    n = draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 9)))
    X = rng.poisson(1.0, (n, n_cols)).astype(float) if counts else rng.standard_normal((n, n_cols))
    if draw(st.booleans()) and n_cols > 1:  # a channel absent from the second session
        X[n // 2:, -1] = np.nan
    return X, np.repeat(["a", "b"], [n // 2, n - n // 2]) if n > 1 else np.array(["a"])


@st.composite
def fit_case(draw, counts):
    if draw(st.booleans()):  # well-formed input (with occasional bad parameters below)
        X, session = _valid_rows(draw, counts)
        if n := len(X):
            session = session if n > 1 else None
    else:
        X = draw(float_arrays(min_rows=0, max_rows=40, min_cols=0, max_cols=5))
        session = None
    if counts and draw(st.booleans()):
        a = np.asarray(X, dtype=object)
        try:
            X = np.abs(np.round(np.asarray(X, dtype=float)))
        except (TypeError, ValueError):
            X = a
    n = len(X) if hasattr(X, "__len__") else 0
    if session is None or draw(st.booleans()):
        session = draw(sessions_for(n))
    params = draw(st.sampled_from([{}, {}, {"readout_layer": 3}, {"segment_length": 0},
                                   {"validation_fraction": 1.0}, {"lr": -1.0},
                                   {"readout": "max"}, {"d_model": 7}]))
    invalid = _problems(X, session, counts)
    if invalid is None and params:
        invalid = f"bad parameter {params}"
    if params.get("readout_layer") == 3:
        invalid = invalid or None  # checked at transform: fit may accept it
    return Case({"X": X, "session": session, "params": params}, invalid,
                either=params.get("readout_layer") == 3)


def _fit_encoder(cls_name):
    def call(X, session, params):
        import skdistill

        cls = getattr(skdistill, cls_name)
        kw = {**TINY, "decoder_width": 8, **params}
        return cls(**kw).fit(X, session=session)

    return call


@st.composite
def transform_case(draw, name, counts):
    est = _fitted(name)
    if draw(st.booleans()):  # well-formed rows of the trained sessions
        X, session = _valid_rows(draw, counts)
        n = len(X)
    else:
        X = draw(float_arrays(min_rows=0, max_rows=30, min_cols=3, max_cols=5))
        n = len(X) if hasattr(X, "__len__") else 0
        session = draw(st.one_of(sessions_for(n), st.just(["a"] * n), st.just(["zz"] * n)))
    layer = draw(st.sampled_from([None, None, 0, -1, 1, 5, -3]))
    readout = draw(st.sampled_from([None, None, "mean", "concat", "max"]))
    invalid = _problems(X, session, counts)
    a = np.asarray(X, dtype=object)
    if invalid is None and (a.ndim != 2 or a.shape[1] != est.n_features_in_):
        invalid = "X has another number of columns than at fit"
    if invalid is None and session is not None and not isinstance(session, (str, int)):
        if set(map(str, session)) - set(est.sessions_):
            invalid = "unknown session"
    if invalid is None and session is None and len(est.sessions_) > 1:
        invalid = None  # one default session: unknown to a two-session model
        invalid = "no session given to a multi-session model"
    if invalid is None and isinstance(session, (str, int)):
        invalid = "scalar session"
    if invalid is None and layer not in (None, 0, -1):
        invalid = f"layer={layer} beyond the depth"
    if invalid is None and readout == "max":
        invalid = "unknown readout"
    return Case({"X": X, "session": session, "layer": layer, "readout": readout}, invalid)


def _transform(name):
    def call(X, session, layer, readout):
        return _fitted(name).transform(X, session=session, layer=layer, readout=readout)

    return call


def _transform_check(case, result):
    n = len(np.asarray(case.kwargs["X"]))
    if result.shape[0] != n or not np.isfinite(result).all():
        return f"transform gave shape {result.shape} / non-finite values for {n} rows"
    return None


# --------------------------------------------------------------------------- student, regressor


@st.composite
def student_case(draw):
    rng = np.random.default_rng(draw(st.integers(0, 3)))
    n = draw(st.integers(0, 40))
    L = rng.standard_normal((n, 4))
    kind = draw(st.sampled_from(["ok", "ok", "ok", "none", "short", "negative", "nan", "strings",
                                 "wide"]))
    S = rng.poisson(1.0, (n, 4)).astype(float)
    invalid = None if n else "X is empty"
    if kind == "none":
        S, invalid = None, "teacher_X missing"
    elif kind == "short":
        S, invalid = S[: max(n - 1, 0)], "teacher_X rows differ from X"
    elif kind == "negative":
        S = -S - 1
        invalid = invalid or "negative counts"
    elif kind == "nan" and n >= 4:
        S[n - 1, 0] = np.nan  # the last rows (second session) keep channel 0 elsewhere
        invalid = "NaN in a present spike channel"
    elif kind == "strings":
        S, invalid = np.full((n, 4), "x"), "teacher_X not numeric"
    elif kind == "wide":
        S = np.hstack([S, S])
        invalid = invalid or "teacher_X has other columns than the teacher"
    session = draw(st.sampled_from([None, "ab", "ab", "ab", "zz"]))
    if session == "ab":
        session = np.repeat(["a", "b"], [n // 2, n - n // 2]) if n else []
    elif session == "zz":
        session = np.full(n, "zz")
        invalid = invalid or "session unknown to the frozen teacher"
    elif session is None:
        invalid = invalid or "no session: unknown to the two-session teacher"
    return Case({"X": L, "teacher_X": S, "session": session}, invalid)


def _fit_student(X, teacher_X, session):
    from sklearn.frozen import FrozenEstimator

    from skdistill import DistilledLFPTransformer

    return DistilledLFPTransformer(FrozenEstimator(_fitted("spikes")), **TINY).fit(
        X, teacher_X=teacher_X, session=session)


@st.composite
def regressor_case(draw):
    rng = np.random.default_rng(draw(st.integers(0, 3)))
    n = draw(st.integers(1, 40))
    X = rng.standard_normal((n, 4))
    kind = draw(st.sampled_from(["ok", "ok1d", "strings", "nan", "short", "huge", "none"]))
    y = rng.standard_normal((n, 2))
    invalid = None
    if kind == "ok1d":
        y = y[:, 0]
    elif kind == "strings":
        y, invalid = np.array(["left", "right"] * n)[:n], "string targets"
    elif kind == "nan":
        y[0, 0], invalid = np.nan, "NaN target"
    elif kind == "short":
        y, invalid = y[:-1], "y rows differ from X"
    elif kind == "huge":
        y[0, 0], invalid = 1e39, "target beyond float32"
    elif kind == "none":
        y, invalid = None, "y missing"
    session = np.repeat(["a", "b"], [n // 2, n - n // 2])
    if n < 2:
        session = np.full(n, "a")
    return Case({"X": X, "y": y, "session": session}, invalid)


def _fit_regressor(X, y, session):
    from sklearn.frozen import FrozenEstimator

    from skdistill import SupervisedEncoderRegressor

    return SupervisedEncoderRegressor(FrozenEstimator(_fitted("lfp")), max_epochs=1,
                                      random_state=0, device="cpu").fit(X, y, session=session)


@st.composite
def adapt_case(draw):
    n = draw(st.integers(0, 30))
    X = np.random.default_rng(2).poisson(1.0, (n, 4)).astype(float)
    session = draw(st.sampled_from(["new", "known", "none", "mixed"]))
    finetune = draw(st.sampled_from(["session", "all", "head"]))
    invalid = None if n else "X is empty"
    if session == "new":
        session = np.full(n, "c")
    elif session == "known":
        session = np.full(n, "a")
        if finetune == "session":
            invalid = invalid or "finetune='session' without a new session"
    elif session == "mixed":
        session = np.array(["a", "c"] * n)[:n]
    else:
        session, invalid = None, invalid or "adapt without session"
    if finetune == "head":
        invalid = invalid or "unknown finetune"
    return Case({"X": X, "session": session, "finetune": finetune}, invalid)


def _adapt(X, session, finetune):
    import copy

    est = copy.deepcopy(_fitted("spikes"))
    return est.adapt(X, session=session, finetune=finetune, max_epochs=1)


# --------------------------------------------------------------------------- save / load


@st.composite
def load_case(draw):
    import tempfile
    from pathlib import Path

    import torch

    kind = draw(st.sampled_from(["good", "random", "truncated", "foreign", "dict", "missing",
                                 "wrong_class", "newer", "dir"]))
    folder = Path(tempfile.mkdtemp(prefix="skd-fuzz-load-"))
    path = folder / "model.pt"
    est = _fitted("lfp")
    est.save(path)
    invalid = None
    if kind == "random":
        path.write_bytes(np.random.default_rng(draw(st.integers(0, 9))).bytes(200))
        invalid = "random bytes"
    elif kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: draw(st.integers(1, len(data) - 1))])
        invalid = "truncated file"
    elif kind == "foreign":
        torch.save({"weights": torch.zeros(3)}, path)
        invalid = "a torch file of another program"
    elif kind == "dict":
        payload = torch.load(path, weights_only=True)
        del payload["params"]
        torch.save(payload, path)
        invalid = "a model file without its parameters"
    elif kind == "missing":
        path, invalid = folder / "nope.pt", "missing file"
    elif kind == "wrong_class":
        _fitted("spikes").save(path)
        invalid = "a MaskedSpikeTransformer file loaded as LFPTransformer"
    elif kind == "newer":
        payload = torch.load(path, weights_only=True)
        payload["format"] = 99
        torch.save(payload, path)
        invalid = "a newer file format"
    elif kind == "dir":
        path, invalid = folder, "a folder"
    return Case({"path": path}, invalid)


def _load(path):
    from skdistill import LFPTransformer

    est = LFPTransformer.load(path, device="cpu")
    return est.transform(np.zeros((12, 4)), session=np.full(12, "a"))


# --------------------------------------------------------------------------- BaRISTA


@st.composite
def barista_case(draw):
    X, tables = _barista_data()
    table = tables["s1"].copy()
    kind = draw(st.sampled_from(["ok", "metres", "no_coords", "no_parcel", "nan_channel",
                                 "too_many_rows", "not_dict", "short_segments", "bad_scale",
                                 "y_continuous", "y_nan", "y_one_class"]))
    encoding = draw(st.sampled_from(["channel", "parcel", "lobe"]))
    y = np.tile([0, 1], len(X) // 2)
    invalid = None
    electrodes = {"s1": table}
    if kind == "metres":
        table[["x", "y", "z"]] = table[["x", "y", "z"]] / 1000.0
        invalid = "coordinates in metres" if encoding == "channel" else None
    elif kind == "no_coords":
        table = table.drop(columns=["x"])
        electrodes = {"s1": table}
        invalid = "no x column" if encoding == "channel" else None
    elif kind == "no_parcel":
        table = table.drop(columns=["parcel"])
        electrodes = {"s1": table}
        invalid = "no parcel column" if encoding == "parcel" else None
    elif kind == "nan_channel":
        X = X.copy()
        X[0, 1, 3] = np.nan
        invalid = "NaN inside a present channel"
    elif kind == "too_many_rows":
        electrodes = {"s1": pd.concat([table, table])}
        invalid = "table longer than the channel rows"
    elif kind == "not_dict":
        electrodes, invalid = table, "electrodes is not a dict"
    elif kind == "short_segments":
        X, invalid = X[:, :, :8], "segments shorter than a patch"
    elif kind == "bad_scale":
        encoding, invalid = "voxel", "unregistered scale"
    elif kind == "y_continuous":
        y, invalid = np.linspace(0, 1, len(X)), "continuous target"
    elif kind == "y_nan":
        y = y.astype(float)
        y[0], invalid = np.nan, "NaN target"
    elif kind == "y_one_class":
        y, invalid = np.zeros(len(X), int), "a single class"
    either = kind == "metres" and encoding != "channel"
    return Case({"X": X, "y": y, "electrodes": electrodes, "spatial_encoding": encoding},
                invalid, either=either)


def _fit_barista_classifier(X, y, electrodes, spatial_encoding):
    from skdistill import BaristaClassifier

    params = {**BARISTA_TINY, "spatial_encoding": spatial_encoding}
    params.pop("device")
    clf = BaristaClassifier(None, init_params=params, max_epochs=1, random_state=0, device="cpu")
    return clf.fit(X, y, session=np.full(len(X), "s1"), electrodes=electrodes)


def register_estimator_targets(register=register):
    """Register every estimator target (called by ``benchmarks.fuzz.build_targets`` with its
    own ``register``)."""
    for cls_name, counts in (("MaskedSpikeTransformer", True), ("LFPTransformer", False)):
        register(Target(f"estimators.{cls_name}.fit", fit_case(counts), _fit_encoder(cls_name),
                        ("X", "session", "spike counts", "segment_length", "validation_fraction",
                         "lr", "readout", "d_model", "n_heads"), layer="estimators"))
    for name, counts in (("spikes", True), ("lfp", False), ("student", False)):
        register(Target(f"estimators.{name}.transform", transform_case(name, counts),
                        _transform(name), ("X", "session", "layer", "readout", "spike counts"),
                        check=_transform_check, layer="estimators"))
    register(Target("estimators.DistilledLFPTransformer.fit", student_case(), _fit_student,
                    ("X", "teacher_X", "session", "spike counts"), layer="estimators"))
    register(Target("estimators.SupervisedEncoderRegressor.fit", regressor_case(), _fit_regressor,
                    ("X", "y", "session"), layer="estimators"))
    register(Target("estimators.MaskedSpikeTransformer.adapt", adapt_case(), _adapt,
                    ("X", "session", "finetune"), layer="estimators"))
    register(Target("estimators.load", load_case(), _load, ("path", "model file", ".pt"),
                    layer="estimators"))
    register(Target("estimators.BaristaClassifier.fit", barista_case(), _fit_barista_classifier,
                    ("X", "y", "electrodes", "spatial_encoding", "coordinates", "patch_size"),
                    layer="estimators"))
