"""Property-based fuzzing of skdistill's public entry points (hypothesis).

Every call must end in one of two good outcomes:

* ``result``: it returned (and, where the target has an oracle, the result is consistent); a
  questionable input that returned with a warning from skdistill counts here too;
* ``clear error``: a ``ValueError`` / ``TypeError`` / ``FileNotFoundError`` raised by skdistill
  (or by scikit-learn's parameter / input validation inside a skdistill estimator) whose
  message names one of the call's arguments (or the file).

The bad outcomes are ``unhelpful crash`` (any other exception, or one raised inside numpy,
scipy, h5py, neo, pynwb, ... or one whose message names no argument), ``silent acceptance`` (an
input that the target's strategy marks as invalid returned without error or warning, or the
oracle found the result inconsistent) and ``hang`` (no answer within the target's time limit).

Targets live in a registry, ``TARGETS``: name -> :class:`Target` (a hypothesis strategy that
draws a :class:`Case` and a call). Add one with :func:`register`; the estimator entry points
are meant to be added the same way::

    register(Target("estimators.MaskedSpikeTransformer.fit", strategy=..., call=...,
                    arg_names=("X", "session")))

Run::

    python -m benchmarks.fuzz [--quick] [--max-examples N] [--targets substr ...] [--tag NAME]

writes ``benchmarks/results/fuzz.{json,md}`` (``fuzz_quick.*`` with ``--quick``,
``fuzz_<tag>.*`` with ``--tag``).
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
OUTCOMES = ("result", "clear error", "unhelpful crash", "silent acceptance", "hang")
_PKG = str(ROOT / "skdistill")
_SKLEARN_VALIDATION = ("sklearn/utils/validation.py", "sklearn/utils/_param_validation.py")
F32_MAX = float(np.finfo(np.float32).max)


# --------------------------------------------------------------------------- harness


@dataclass
class Case:
    """One drawn input: keyword arguments and, when the input is invalid, why."""

    kwargs: dict
    invalid: str | None = None
    #: for inputs that may legitimately go either way (e.g. a file with a flipped byte)
    either: bool = False

    def __repr__(self):  # short, for the report
        parts = []
        for k, v in self.kwargs.items():
            r = repr(v)
            parts.append(f"{k}={r[:60] + '...' if len(r) > 60 else r}")
        return ", ".join(parts)


@dataclass
class Target:
    """A fuzzed entry point: ``strategy`` draws a :class:`Case`, ``call(**case.kwargs)`` runs it."""

    name: str
    strategy: st.SearchStrategy
    call: Callable[..., Any]
    #: words an error message may use to name the argument (besides the kwargs' names)
    arg_names: tuple = ()
    #: oracle: ``check(case, result) -> str | None`` (a reason when the result is wrong)
    check: Callable[[Case, Any], str | None] | None = None
    #: cases always run, whatever hypothesis draws (the known bad inputs)
    examples: list = field(default_factory=list)
    timeout: float = 30.0
    layer: str = "data"


TARGETS: dict[str, Target] = {}


def register(target: Target) -> Target:
    TARGETS[target.name] = target
    return target


class _Hang(BaseException):
    pass


def _alarm(signum, frame):
    raise _Hang()


def _raised_by_skdistill(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return False
    last = frames[-1].filename
    if last.startswith(_PKG):
        return True
    inside = any(f.filename.startswith(_PKG) for f in frames)
    return inside and last.replace(os.sep, "/").endswith(_SKLEARN_VALIDATION)


def _names_argument(message: str, target: Target, case: Case) -> bool:
    words = list(case.kwargs) + list(target.arg_names)
    for value in case.kwargs.values():
        if isinstance(value, (str, os.PathLike)) and os.sep in str(value):
            words += [Path(value).name, str(Path(value).parent)]
    return any(w and w in message for w in words)


def classify(target: Target, case: Case) -> tuple[str, str]:
    """(outcome, detail) of one call."""
    use_alarm = hasattr(signal, "SIGALRM") and target.timeout
    if use_alarm:
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, target.timeout)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = target.call(**case.kwargs)
            finally:
                if use_alarm:
                    signal.setitimer(signal.ITIMER_REAL, 0)
    except _Hang:
        return "hang", f"no answer within {target.timeout:g} s"
    except (ValueError, TypeError, FileNotFoundError) as exc:
        message = f"{type(exc).__name__}: {exc}"
        if _raised_by_skdistill(exc) and _names_argument(str(exc), target, case):
            return "clear error", message
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return "unhelpful crash", f"{message} [raised in {Path(where.filename).name}:{where.lineno}]"
    except Exception as exc:  # noqa: BLE001 - classifying is the point
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return "unhelpful crash", (f"{type(exc).__name__}: {exc} "
                                   f"[raised in {Path(where.filename).name}:{where.lineno}]")
    finally:
        if use_alarm:
            signal.signal(signal.SIGALRM, old)
    # a warning raised by skdistill points at skdistill or (stacklevel) at its caller, this file
    warned = [w for w in caught if str(w.filename).startswith(_PKG) or str(w.filename) == __file__]
    if case.invalid and not case.either:
        if warned:
            return "result", f"warned: {warned[0].message}"
        return "silent acceptance", f"accepted although {case.invalid}"
    if target.check is not None:
        problem = target.check(case, result)
        if problem:
            return "silent acceptance", problem
    return "result", ""


def run_target(target: Target, max_examples: int, *, random_seed: int = 0, keep: int = 4) -> dict:
    counts = Counter()
    samples: dict[str, list] = {o: [] for o in OUTCOMES}

    def record(case):
        outcome, detail = classify(target, case)
        counts[outcome] += 1
        if len(samples[outcome]) < keep and outcome != "result":
            samples[outcome].append({"input": repr(case)[:300], "detail": detail[:400]})

    for case in target.examples:
        record(case)
    if max_examples > 0:
        @seed(random_seed)
        @settings(max_examples=max_examples, deadline=None, database=None, derandomize=False,
                  phases=(Phase.explicit, Phase.generate),
                  suppress_health_check=list(HealthCheck))
        @given(target.strategy)
        def _run(case):
            record(case)

        _run()
    return {"n": int(sum(counts.values())), "counts": {o: int(counts[o]) for o in OUTCOMES},
            "samples": {o: s for o, s in samples.items() if s}}


# --------------------------------------------------------------------------- shared strategies

BAD_NUMBERS = [0, 0.0, -1.0, float("nan"), float("inf"), -float("inf"), 1e39, "abc", None, [1.0, 2.0]]


def _positive(value) -> bool:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return False
    return isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool) \
        and math.isfinite(v) and v > 0


def numbers(good: list, bad: list = BAD_NUMBERS):
    return st.one_of(st.sampled_from(good), st.sampled_from(bad))


def float_arrays(min_rows=0, max_rows=8, min_cols=0, max_cols=4, extremes=True):
    """2-D float arrays with occasional NaN / inf / beyond-float32 values and odd shapes."""
    values = st.floats(-1e3, 1e3, allow_nan=False, width=64)
    if extremes:
        values = st.one_of(values, st.sampled_from([np.nan, np.inf, -np.inf, 1e39, -5e38, 0.5]))

    @st.composite
    def draw(d):
        kind = d(st.sampled_from(["2d", "2d", "2d", "1d", "3d", "strings", "ragged", "object"]))
        if kind == "strings":
            return np.array([["a", "b"], ["c", "d"]])
        if kind == "ragged":
            return [[1.0, 2.0], [3.0]]
        if kind == "object":
            return np.array([[1.0, None], [2.0, 3.0]], dtype=object)
        n = d(st.integers(min_rows, max_rows))
        c = d(st.integers(min_cols, max_cols))
        shape = {"1d": (n,), "2d": (n, c), "3d": (n, max(c, 1), 2)}[kind]
        flat = d(st.lists(values, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
        return np.array(flat, dtype=float).reshape(shape)

    return draw()


def _numeric(x):
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        return None
    return a


def continuous_problem(X, session=None, *, counts=False, ndim=2) -> str | None:
    """Why ``X`` breaks the continuous-signal convention of skdistill.data (None if it does not)."""
    a = _numeric(X)
    if a is None:
        return "X is not numeric"
    if a.ndim != ndim:
        return f"X is {a.ndim}-D"
    if 0 in a.shape:
        return "X is empty"
    if np.isinf(a).any():
        return "X holds infinity"
    if (np.abs(a[~np.isnan(a)]) > F32_MAX).any():
        return "X exceeds the float32 range"
    if ndim == 2:
        labels = np.zeros(len(a))
        if session is not None and np.ndim(session) == 1 and len(session) == len(a):
            labels = np.asarray([str(s) for s in session])
        for label in np.unique(labels):
            nan = np.isnan(a[labels == label])
            if (nan.any(0) & ~nan.all(0)).any():
                return "X has NaN inside a present channel"
            if nan.all():
                return "a session has no present channel"
    finite = a[~np.isnan(a)]
    if counts and ((finite < 0).any() or (finite != np.round(finite)).any()):
        return "X is not non-negative integer counts"
    return None


LABELS = [1, "1", "a", "b", 2, None, float("nan"), 2.0, "s-0"]


def session_problem(session, n_rows) -> str | None:
    if session is None or isinstance(session, (str, int)):
        return None
    seq = list(np.asarray(session, dtype=object).ravel()) if np.ndim(session) != 1 else list(session)
    if np.ndim(session) != 1:
        return "session is not 1-D"
    if len(seq) != n_rows:
        return "session length differs from the rows"
    for v in seq:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "session has a missing label"
    by_str = {}
    for v in seq:
        by_str.setdefault(str(v), set()).add(isinstance(v, str))
    if any(len(kinds) > 1 for kinds in by_str.values()):
        return "session labels of different types collide as strings (1 and '1')"
    return None


@st.composite
def sessions_for(draw, n_rows):
    kind = draw(st.sampled_from(["none", "scalar", "list", "list", "wrong_len", "2d"]))
    if kind == "none":
        return None
    if kind == "scalar":
        return draw(st.sampled_from(["a", 3]))
    if kind == "2d":
        return [["a"]] * n_rows
    n = n_rows + (draw(st.sampled_from([-1, 1])) if kind == "wrong_len" else 0)
    n = max(n, 0)
    # runs of labels, like real sessions
    labels = draw(st.lists(st.sampled_from(LABELS), min_size=1, max_size=3))
    out = []
    for i in range(n):
        out.append(labels[min(i * len(labels) // max(n, 1), len(labels) - 1)])
    return out


# --------------------------------------------------------------------------- sample files

_FILES: dict[str, Path] = {}


def sample_files() -> dict[str, Path]:
    """Small files in every layout the readers parse, written once into a temp dir."""
    if _FILES:
        return _FILES
    sys.path.insert(0, str(ROOT / "tests"))
    import io_fixtures as fx

    tmp = Path(tempfile.mkdtemp(prefix="skdistill_fuzz_"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    rng = np.random.default_rng(0)
    nwb = tmp / "session.nwb"
    fx.write_nwb(nwb, lfp=rng.standard_normal((400, 2)), lfp_rate=200.0, electrode_labels=["e0", "e1"],
                 locations=["M1", "M1"], unit_spike_times=[[0.1, 0.5, 1.2], [0.3]],
                 unit_electrodes=[0, 1], position=np.cumsum(rng.standard_normal((200, 2)), 0),
                 position_rate=100.0)
    fx.write_wild_nwb(tmp / "wild.nwb", session_duration=60.0, hand=(5.0, 40.0), eye=(45.0, 55.0), rate=10.0)
    fx.write_empty_nwb(tmp / "empty.nwb")
    fx.write_small_nwb(tmp / "raw.nwb", n_samples=600, n_channels=3, rate=300.0)
    trials = []
    for j in range(2):
        time_j = j * 2.0 + np.arange(100) / 100.0
        trials.append({"Time": time_j, "TargetPos": np.zeros((100, 2)), "HandVel": np.ones((100, 3)),
                       "Condition": 1, "Neuron": [{"Spike": time_j[::10], "LFP": rng.standard_normal(2000)}
                                                  for _ in range(2)]})
    fx.write_flint_mat(tmp / "Flint_2012_e1.mat", [trials])
    t = np.arange(300) / 100.0
    fx.write_indy_mat(tmp / "indy.mat", t, np.stack([t, t], 1), np.zeros((300, 2)),
                      spikes=[[[], [0.1, 0.2]], [[0.5], []]], chan_names=["c1", "c2"])
    src = fx.GRIPFORCE_VHDR.parent
    bids = tmp / "bids"
    shutil.copytree(src, bids)
    _FILES.update(nwb=nwb, wild=tmp / "wild.nwb", empty=tmp / "empty.nwb", raw=tmp / "raw.nwb",
                  flint=tmp / "Flint_2012_e1.mat", indy=tmp / "indy.mat",
                  vhdr=bids / fx.GRIPFORCE_VHDR.name, tmp=tmp)
    return _FILES


def _scratch() -> Path:
    path = Path(tempfile.mkdtemp(dir=sample_files()["tmp"], prefix="case_"))
    return path


def corrupt_copy(kind: str, how: str, fraction: float, offset: int) -> Path:
    """A copy of a sample file, damaged: truncated, overwritten, companion deleted, or a folder."""
    files = sample_files()
    work = _scratch()
    if kind == "vhdr":
        folder = work / "ieeg"
        shutil.copytree(files["vhdr"].parent, folder)
        target = folder / files["vhdr"].name
        victim = {"truncate": target.with_suffix(".eeg"), "overwrite": target.with_suffix(".eeg"),
                  "delete": target.with_suffix(".eeg"), "json": None}[how]
        if how == "json":
            victim = next(folder.glob("*coordsystem.json"))
        if how == "delete":
            victim.unlink()
            return target
    else:
        target = work / files[kind].name
        if how == "folder":
            target.mkdir()
            return target
        shutil.copy(files[kind], target)
        victim = target
    data = victim.read_bytes()
    if how in ("truncate", "json"):
        cut = max(1, int(len(data) * fraction))
        if kind == "vhdr" and how == "truncate":
            cut = cut - cut % 2 + 1  # an odd byte count: no whole sample frame
        victim.write_bytes(data[:cut])
    elif how == "overwrite":
        pos = offset % max(len(data) - 16, 1)
        victim.write_bytes(data[:pos] + bytes(16) + data[pos + 16:])
    return target


# --------------------------------------------------------------------------- targets: data


def _targets_data():
    from skdistill import data

    @st.composite
    def session_case(d):
        n = d(st.integers(0, 6))
        s = d(sessions_for(n))
        problem = session_problem(s, n)
        return Case({"session": s, "n_rows": n}, problem)

    def check_session_result(case, out):
        if len(out) != case.kwargs["n_rows"]:
            return "wrong number of labels"
        return None

    register(Target("data.check_session", session_case(), data.check_session, ("session",),
                    check=check_session_result,
                    examples=[Case({"session": [1, "1"], "n_rows": 2}, "1 and '1' merge"),
                              Case({"session": [None, "a"], "n_rows": 2}, "None label"),
                              Case({"session": [float("nan"), 1.0], "n_rows": 2}, "NaN label")]))

    for fn, counts, ndim in ((data.check_continuous, False, 2), (data.check_spike_counts, True, 2)):
        @st.composite
        def cont_case(d, counts=counts):
            X = d(float_arrays())
            if counts and isinstance(X, np.ndarray) and X.dtype.kind == "f" and d(st.booleans()):
                X = np.round(np.abs(X))
            n = len(X) if hasattr(X, "__len__") else 0
            s = d(st.one_of(st.none(), sessions_for(n)))
            problem = session_problem(s, n) or continuous_problem(X, s, counts=counts)
            return Case({"X": X, "session": s}, problem)

        register(Target(f"data.{fn.__name__}", cont_case(), fn, ("X", "session", "spike counts"),
                        examples=[Case({"X": np.array([[1e39, 1.0]]), "session": None}, "beyond float32")]))

    @st.composite
    def epochs_case(d):
        X = d(float_arrays(max_rows=3, max_cols=3))
        allow_nan = d(st.booleans())
        problem = continuous_problem(X, counts=False, ndim=3) if not isinstance(X, list) else "ragged"
        a = _numeric(X)
        if problem is None and not allow_nan and np.isnan(a).any():
            problem = "X holds NaN"
        if problem == "a session has no present channel":
            problem = None
        return Case({"X": X, "allow_nan": allow_nan}, problem)

    register(Target("data.check_epochs", epochs_case(), data.check_epochs, ("X",),
                    examples=[Case({"X": np.full((1, 1, 2), 1e39)}, "beyond float32")]))

    @st.composite
    def recording_case(d):
        n = d(st.integers(0, 5))
        kw = {"session": d(st.sampled_from(["s1", "s1", 1, None, float("nan")]))}
        problems = []
        if isinstance(kw["session"], float) or kw["session"] is None:
            problems.append("session is missing")
        what = d(st.sampled_from(["spikes", "lfp", "both", "behavior"]))
        if what in ("spikes", "both"):
            kw["spikes"] = d(st.sampled_from([np.ones((n, 2), int), -np.ones((n, 2)), np.full((n, 2), 0.5),
                                              np.array([["a"]] * n)]))
            if n and (kw["spikes"].dtype.kind == "U" or (kw["spikes"] < 0).any() or
                      (kw["spikes"] % 1 != 0).any()):
                problems.append("spikes are not counts")
            if n == 0:
                problems.append("spikes empty")
        if what in ("behavior",):
            kw["behavior"] = d(st.sampled_from([np.ones((n, 2)), np.array([["x"]] * n)]))
            if n == 0:
                problems.append("behavior empty")
            elif kw["behavior"].dtype.kind == "U":
                problems.append("behavior not numeric")
        if what in ("spikes", "both", "behavior"):
            kw["bin_rate"] = d(numbers([100.0, 50]))
            if not _positive(kw["bin_rate"]):
                problems.append("bin_rate invalid")
        if what in ("lfp", "both"):
            m = d(st.integers(0, 5))
            kw["lfp"] = np.zeros((m, 2))
            kw["lfp_rate"] = d(numbers([1000.0, 100]))
            if not _positive(kw["lfp_rate"]):
                problems.append("lfp_rate invalid")
            if m == 0:
                problems.append("lfp empty")
        kw["t_start"] = d(st.sampled_from([0.0, 0.0, 12.5, float("nan"), float("inf"), "zero"]))
        if not isinstance(kw["t_start"], float) or not math.isfinite(kw["t_start"]):
            problems.append("t_start invalid")
        return Case(kw, "; ".join(problems) or None)

    register(Target("data.Recording", recording_case(), data.Recording,
                    ("bin_rate", "lfp_rate", "session", "spikes", "behavior", "lfp", "t_start"),
                    examples=[Case({"session": "s", "spikes": np.ones((3, 1), int), "bin_rate": -100.0},
                                   "negative rate"),
                              Case({"session": None, "spikes": np.ones((3, 1), int), "bin_rate": 100.0},
                                   "session None")]))

    @st.composite
    def stack_case(d):
        recs = []
        problems = []
        for i in range(d(st.integers(0, 3))):
            n = d(st.integers(1, 4))
            c = d(st.integers(1, 3))
            recs.append(data.Recording(session=d(st.sampled_from([f"s{i}", "dup"])),
                                       spikes=np.ones((n, c), int), behavior=np.zeros((n, 1)),
                                       bin_rate=100.0))
        if not recs:
            problems.append("no recordings")
        ids = [r.session for r in recs]
        if len(set(ids)) != len(ids):
            problems.append("duplicate session ids")
        modality = d(st.sampled_from(["spikes", "spikes", "lfp", "LFP"]))
        if modality != "spikes" and recs:
            problems.append("modality unavailable")
        align = d(st.sampled_from(["index", "name", "columns"]))
        if align == "columns":
            problems.append("align invalid")
        if d(st.booleans()) and recs:
            recs = recs + ["not a recording"]
            problems.append("non-Recording")
        return Case({"recordings": recs, "modality": modality, "align": align}, "; ".join(problems) or None)

    register(Target("data.stack_sessions", stack_case(), data.stack_sessions,
                    ("recordings", "modality", "align", "Recording", "session")))


# --------------------------------------------------------------------------- targets: io


def _targets_io():
    from skdistill import io

    @st.composite
    def spikes_case(d):
        problems = []
        n_units = d(st.integers(0, 3))
        scale = d(st.sampled_from([1.0, 1.0, 1000.0]))
        trains = []
        for _ in range(n_units):
            times = d(st.lists(st.floats(0, 2.0), max_size=6))
            if d(st.integers(0, 9)) == 0:
                times = times + [float("nan")]
                problems.append("NaN spike time")
            trains.append(np.array(times) * scale)
        if n_units == 0:
            problems.append("no trains")
        bin_size = d(numbers([0.01, 0.1, 0.5], [0, -0.01, float("nan"), "10ms", 1e-12]))
        if not _positive(bin_size):
            problems.append("bin_size invalid")
        t_start = d(st.sampled_from([None, 0.0, 1.0, float("nan")]))
        t_stop = d(st.sampled_from([None, 2.0, 0.5, float("inf")]))
        if (t_start is not None and not math.isfinite(t_start)) or (t_stop is not None and not math.isfinite(t_stop)):
            problems.append("non-finite window")
        start = 0.0 if t_start is None or not math.isfinite(t_start) else t_start
        if t_stop is not None and math.isfinite(t_stop) and _positive(bin_size) and t_stop - start < bin_size:
            problems.append("window shorter than a bin")
        all_t = np.concatenate(trains) if trains else np.zeros(0)
        all_t = all_t[np.isfinite(all_t)]
        if (scale == 1000.0 and t_stop is not None and math.isfinite(t_stop) and all_t.size >= 3
                and np.mean(all_t > t_stop) > 0.5 and np.ptp(all_t / 1000) >= 0.25 * (t_stop - start) and np.mean(
                    (all_t / 1000 >= start) & (all_t / 1000 < t_stop)) > 0.9):
            problems.append("spike times look like ms against a window in s")
        if _positive(bin_size) and bin_size < 1e-9:
            problems.append("bin_size would allocate too much")
        return Case({"spiketrains": trains, "bin_size": bin_size, "t_start": t_start, "t_stop": t_stop},
                    "; ".join(problems) or None)

    register(Target("io.bin_spikes", spikes_case(), io.bin_spikes,
                    ("bin_size", "t_start", "t_stop", "spike train", "spiketrains"),
                    examples=[Case({"spiketrains": [np.array([100.0, 250.0, 900.0, 1500.0])], "bin_size": 0.01,
                                    "t_start": 0.0, "t_stop": 2.0}, "spike times in ms, window in s")]))

    @st.composite
    def corrupt_case(d):
        kind = d(st.sampled_from(["nwb", "flint", "indy", "vhdr", "raw"]))
        how = d(st.sampled_from(["truncate", "truncate", "overwrite", "folder"] if kind != "vhdr"
                                else ["truncate", "delete", "json", "overwrite"]))
        fraction = d(st.floats(0.05, 0.95))
        offset = d(st.integers(0, 10**6))
        path = corrupt_copy(kind, how, fraction, offset)
        return Case({"path": str(path)}, f"{kind} file damaged by {how}", either=(how == "overwrite"))

    def read_corrupt(path):
        return io.read_recording(path)

    register(Target("io.read_recording (damaged files)", corrupt_case(), read_corrupt, ("path",)))

    @st.composite
    def nwb_case(d):
        files = sample_files()
        which = d(st.sampled_from(["nwb", "wild", "empty", "raw"]))
        kw = {"path": str(files[which])}
        problems = ["no data in the file"] if which == "empty" else []
        kw["bin_size"] = d(numbers([0.01, 0.05], [0, -1.0, float("nan"), 1e-12]))
        if not _positive(kw["bin_size"]):
            problems.append("bin_size invalid")
        if kw["bin_size"] == 1e-12:
            problems.append("bin_size allocates too much")
        window = d(st.sampled_from([(None, None), (None, None), (0.0, 1.0), (1.0, 0.5), (-5.0, 1.0),
                                    (100.0, 200.0), (float("nan"), None)]))
        kw["t_start"], kw["t_stop"] = window
        if window in ((1.0, 0.5),) or (window[0] is not None and not math.isfinite(window[0])):
            problems.append("t_start/t_stop invalid")
        if window == (100.0, 200.0):
            problems.append("interval outside the data")
        if window == (-5.0, 1.0) and which in ("nwb", "raw"):
            problems.append("t_start before the LFP")
        extra = d(st.sampled_from(["none", "none", "behavior", "badbehavior", "series", "badseries"]))
        if extra == "behavior":
            kw["behavior"] = ["hand"] if which == "wild" else ["cursor"]
            if which not in ("wild", "nwb"):
                problems.append("no such behaviour")
        elif extra == "badbehavior":
            kw["behavior"] = ["nope"]
            problems.append("no such behaviour")
        elif extra == "series":
            kw["electrical_series"] = False
            if which == "raw":
                problems.append("nothing left to read")
        elif extra == "badseries":
            kw["electrical_series"] = "nope"
            problems.append("no such series")
        return Case(kw, "; ".join(problems) or None)

    register(Target("io.read_nwb", nwb_case(), io.read_nwb,
                    ("path", "bin_size", "t_start", "t_stop", "behavior", "electrical_series",
                     "ElectricalSeries", "interval"),
                    examples=[Case({"path": "WILD"}, None)]))

    @st.composite
    def bids_case(d):
        kw = {"vhdr_path": str(sample_files()["vhdr"])}
        problems = []
        kw["bin_size"] = d(numbers([0.01, 0.1], [0, -1.0, 1e-9, "a"]))
        choice = d(st.sampled_from(["auto", "none", "bad", "str"]))
        if not _positive(kw["bin_size"]):
            problems.append("bin_size invalid")
        elif kw["bin_size"] < 1e-6 and choice == "auto":
            problems.append("bin_size would allocate > 100 GiB for the behaviour bins")
        kw["behavior_channels"] = {"auto": "auto", "none": [], "bad": ["NOPE"], "str": "MOV_RIGHT"}[choice]
        if choice in ("bad", "str"):
            problems.append("behavior_channels invalid")
        return Case(kw, "; ".join(problems) or None)

    register(Target("io.read_bids_ieeg", bids_case(), io.read_bids_ieeg,
                    ("vhdr_path", "bin_size", "behavior_channels"), timeout=60,
                    examples=[Case({"vhdr_path": "VHDR", "bin_size": 1e-9}, "142 GiB allocation")]))

    @st.composite
    def flint_case(d):
        files = sample_files()
        which = d(st.sampled_from(["file", "file", "folder", "missing"]))
        path = {"file": files["flint"], "folder": files["tmp"], "missing": files["tmp"] / "nope.mat"}[which]
        kw = {"mat_path": str(path), "subject": d(st.sampled_from([0, 0, 1, -1, "a"])),
              "bin_size": d(numbers([0.01, 0.05], [0, -1.0, float("nan")])),
              "lfp_rate": d(numbers([2000.0], [0, -1.0, float("nan")]))}
        problems = [] if which == "file" else [f"mat_path is a {which}"]
        if kw["subject"] != 0:
            problems.append("subject out of range")
        if not _positive(kw["bin_size"]):
            problems.append("bin_size invalid")
        if not _positive(kw["lfp_rate"]):
            problems.append("lfp_rate invalid")
        return Case(kw, "; ".join(problems) or None)

    register(Target("io.load_flint", flint_case(), io.load_flint,
                    ("mat_path", "subject", "bin_size", "lfp_rate", "folder", "file")))


def _resolve_placeholders(case: Case) -> Case:
    files = sample_files()
    kw = dict(case.kwargs)
    for key, value in kw.items():
        if isinstance(value, str) and value == "WILD":
            kw[key] = str(files["wild"])
        elif isinstance(value, str) and value == "VHDR":
            kw[key] = str(files["vhdr"])
    return Case(kw, case.invalid, case.either)


# --------------------------------------------------------------------------- targets: preprocessing


def _targets_preprocessing():
    from skdistill import preprocessing as pp
    from skdistill.data import Recording

    @st.composite
    def lfp_case(d):
        n = d(st.sampled_from([2, 3, 10, 30, 200, 1000]))
        rate = d(st.sampled_from([1000.0, 250.0]))
        rec = Recording(session="s", lfp=np.random.default_rng(n).standard_normal((n, 2)), lfp_rate=rate,
                        spikes=np.zeros((max(int(n * 100 / rate), 1), 1), int), bin_rate=100.0)
        kw = {"recording": rec, "notch": d(st.sampled_from([60.0, None, -5.0, 1e6])),
              "highpass": d(st.sampled_from([0.05, None, 0.0, 600.0])),
              "lowpass": d(st.sampled_from([50.0, None, -1.0]))}
        problems = []
        if kw["notch"] is not None and not 0 < kw["notch"] < rate / 2:
            problems.append("notch outside (0, Nyquist)")
        for name in ("highpass", "lowpass"):
            if kw[name] is not None and not 0 < kw[name] < rate / 2:
                problems.append(f"{name} outside (0, Nyquist)")
        return Case(kw, "; ".join(problems) or None, either=not problems and n < 50)

    def check_lfp(case, out):
        rec = case.kwargs["recording"]
        if out.shape[0] != rec.n_bins or not np.isfinite(out).all():
            return f"output shape {out.shape} or values wrong"
        return None

    register(Target("preprocessing.preprocess_lfp", lfp_case(), pp.preprocess_lfp,
                    ("recording", "notch", "highpass", "lowpass", "samples", "lfp"), check=check_lfp,
                    examples=[Case({"recording": Recording(session="s", lfp=np.zeros((10, 2)), lfp_rate=1000.0,
                                                           spikes=np.zeros((1, 1), int), bin_rate=100.0)},
                                   None, either=True)]))

    @st.composite
    def filter_case(d):
        fn = d(st.sampled_from(["notch_filter", "butter_filter", "resample", "zscore",
                                "common_average_reference"]))
        X = d(float_arrays(max_rows=40, min_rows=0, extremes=True))
        problems = []
        a = _numeric(X)
        if a is None or a.ndim not in (1, 2) or a.size == 0:
            problems.append("signal shape or type")
        elif fn != "zscore" and fn != "common_average_reference" and not np.isfinite(a).all():
            problems.append("non-finite samples")
        elif np.isinf(a).any() or (np.abs(a[~np.isnan(a)]) > F32_MAX).any():
            problems.append("non-finite or huge samples")
        kw = {"signal": X}
        if fn == "common_average_reference" and a is not None and a.ndim != 2:
            problems.append("not 2-D")
        if fn in ("notch_filter", "butter_filter"):
            kw["sampling_rate"] = d(numbers([100.0, 1000.0], [0, -1.0, float("nan"), None]))
            if not _positive(kw["sampling_rate"]):
                problems.append("sampling_rate invalid")
        if fn == "butter_filter":
            kw["highpass"] = d(st.sampled_from([1.0, None, -1.0, 1e6]))
            kw["lowpass"] = d(st.sampled_from([20.0, None, 0.0]))
            if kw["highpass"] is None and kw["lowpass"] is None:
                problems.append("no corner")
            if kw["highpass"] in (-1.0, 1e6) or kw["lowpass"] == 0.0:
                problems.append("corner invalid")
        if fn == "resample":
            kw["from_rate"] = d(numbers([100.0], [0, -1.0, float("nan")]))
            kw["to_rate"] = d(numbers([50.0, 200.0], [0, -1.0]))
            if not (_positive(kw["from_rate"]) and _positive(kw["to_rate"])):
                problems.append("rate invalid")
        either = not problems and fn in ("notch_filter", "butter_filter")  # short signals may refuse
        if fn in ("zscore",) and problems == ["non-finite or huge samples"]:
            pass
        return Case(kw, "; ".join(problems) or None, either=either), fn

    @st.composite
    def filter_case_flat(d):
        case, fn = d(filter_case())
        case.kwargs = {"fn": fn, **case.kwargs}
        return case

    def run_filter(fn, **kw):
        return getattr(pp, fn)(**kw)

    register(Target("preprocessing.filters", filter_case_flat(), run_filter,
                    ("signal", "sampling_rate", "highpass", "lowpass", "from_rate", "to_rate", "samples",
                     "freqs")))

    @st.composite
    def transformer_case(d):
        name = d(st.sampled_from(["SessionStandardScaler", "SpikeSmoother", "LFPFilter", "CommonAverageReference"]))
        X = d(float_arrays(max_rows=30, extremes=True))
        n = len(X) if hasattr(X, "__len__") else 0
        session = d(st.one_of(st.none(), sessions_for(n)))
        problems = [p for p in (session_problem(session, n), continuous_problem(X, session)) if p]
        params = {}
        if name == "SpikeSmoother":
            params["sigma"] = d(st.sampled_from([0.05, 0.0, -1.0]))
            if params["sigma"] < 0:
                problems.append("sigma < 0")
        if name == "LFPFilter":
            params["sampling_rate"] = d(st.sampled_from([100.0, -1.0]))
            if params["sampling_rate"] < 0:
                problems.append("sampling_rate < 0")
        return Case({"name": name, "params": params, "X": X, "session": session}, "; ".join(problems) or None,
                    either=not problems and name == "LFPFilter")

    def run_transformer(name, params, X, session):
        return getattr(pp, name)(**params).fit_transform(X, session=session)

    register(Target("preprocessing.transformers", transformer_case(), run_transformer,
                    ("X", "session", "sigma", "sampling_rate", "samples")))

    @st.composite
    def laplacian_case(d):
        n = d(st.integers(0, 6))
        names = [f"LT{k}" for k in range(1, n + 1)]
        if d(st.booleans()):
            names = names + ["weird"]
        c = len(names) + d(st.sampled_from([0, 0, 1]))
        X = np.zeros((5, c))
        edge = d(st.sampled_from(["drop", "one-sided", "nope"]))
        problems = []
        if "weird" in names:
            problems.append("unparseable name")
        if c != len(names):
            problems.append("names and columns differ")
        if edge == "nope":
            problems.append("edge invalid")
        return Case({"signal": X, "channels": names, "edge": edge}, "; ".join(problems) or None)

    register(Target("preprocessing.shaft_laplacian", laplacian_case(), pp.shaft_laplacian,
                    ("signal", "channels", "edge", "contact")))


# --------------------------------------------------------------------------- targets: model_selection, metrics


def _targets_model_selection():
    from skdistill import model_selection as ms

    @st.composite
    def split_case(d):
        name = d(st.sampled_from(["SegmentSplit", "LeaveSessionOut", "ChronologicalFolds"]))
        n_rows = d(st.integers(0, 60))
        groups = d(st.one_of(st.none(), sessions_for(n_rows)))
        problems = [p for p in [session_problem(groups, n_rows)] if p]
        params = {}
        if name == "SegmentSplit":
            params = {"segment_length": d(st.sampled_from([5, 1, 0, 2.5, 100])),
                      "n_splits": d(st.sampled_from([1, 2, 0, -1]))}
            if params["segment_length"] in (0, 2.5):
                problems.append("segment_length invalid")
            if params["n_splits"] < 1:
                problems.append("n_splits invalid")
        elif name == "ChronologicalFolds":
            params = {"n_splits": d(st.sampled_from([2, 5, 8, 50, 0, -1])),
                      "test_fraction": d(st.sampled_from([0.1, 0.2, 0.0, 1.5, float("nan")]))}
            if params["n_splits"] < 1:
                problems.append("n_splits invalid")
            if not 0 < params["test_fraction"] < 1:
                problems.append("test_fraction invalid")
        else:
            params = {"sessions": d(st.sampled_from([None, ["a"], ["zzz"], "a"]))}
            if params["sessions"] in (["zzz"], "a"):
                problems.append("sessions invalid")
        X = np.zeros((n_rows, 1))
        return Case({"name": name, "params": params, "X": X, "groups": groups}, "; ".join(problems) or None,
                    either=not problems)

    def run_split(name, params, X, groups):
        return list(getattr(ms, name)(**params).split(X, groups=groups))

    def check_split(case, folds):
        if not folds:
            return "no folds"
        tests = [tuple(test) for _, test in folds]
        if len(set(tests)) < len(tests):
            return f"{len(tests)} folds but only {len(set(tests))} distinct test sets"
        for train, test in folds:
            if len(test) == 0 or len(train) == 0:
                return "an empty train or test set"
            if np.intersect1d(train, test).size:
                return "train and test overlap"
        n_splits = case.kwargs["params"].get("n_splits")
        if n_splits is not None and len(folds) != n_splits and case.kwargs["name"] != "LeaveSessionOut":
            return f"{len(folds)} folds for n_splits={n_splits}"
        return None

    register(Target("model_selection.splitters", split_case(), run_split,
                    ("n_splits", "segment_length", "test_fraction", "groups", "session", "sessions"),
                    check=check_split,
                    examples=[Case({"name": "ChronologicalFolds", "params": {"n_splits": 50},
                                    "X": np.zeros((6, 1)), "groups": None}, None, either=True)]))


def _targets_metrics():
    from skdistill import metrics

    @st.composite
    def r2_case(d):
        y_true = d(float_arrays(min_rows=0, max_rows=6, min_cols=1, max_cols=2, extremes=True))
        y_pred = d(st.sampled_from(["same", "same", "shape", "strings"]))
        a = _numeric(y_true)
        problems = []
        if a is None or a.ndim not in (1, 2) or a.size == 0:
            problems.append("y_true shape or type")
        elif not np.isfinite(a).all():
            problems.append("y_true not finite")
        elif len(a) < 2:
            problems.append("fewer than 2 rows")
        if y_pred == "same":
            pred = np.zeros_like(a) if a is not None else y_true
        elif y_pred == "shape":
            pred = np.zeros((3, 5))
            problems.append("shapes differ")
        else:
            pred = np.array(["a"] * 3)
            problems.append("y_pred strings")
        n = len(a) if a is not None and a.ndim else 0
        session = d(st.one_of(st.none(), sessions_for(n)))
        if session_problem(session, n):
            problems.append(session_problem(session, n))
        return Case({"y_true": y_true, "y_pred": pred, "session": session}, "; ".join(problems) or None,
                    either=problems == ["fewer than 2 rows"])

    register(Target("metrics.r2_per_session", r2_case(), metrics.r2_per_session,
                    ("y_true", "y_pred", "session")))

    @st.composite
    def bps_case(d):
        counts = d(float_arrays(min_rows=0, max_rows=6, min_cols=1, max_cols=2, extremes=False))
        a = _numeric(counts)
        problems = []
        if a is None or a.ndim != 2 or a.size == 0:
            problems.append("counts shape")
            rates = np.zeros((2, 2))
        else:
            if (a < 0).any() or (a != np.round(a)).any():
                problems.append("counts not non-negative integers")
            rates = d(st.sampled_from([np.zeros_like(a), np.zeros((1, 7)), np.full_like(a, np.nan)]))
            if rates.shape != a.shape:
                problems.append("log_rates shape")
            elif np.isnan(rates).any():
                problems.append("log_rates NaN")
            if a.sum() == 0 if not problems else False:
                problems.append("no spikes")
        return Case({"counts": counts, "log_rates": rates}, "; ".join(problems) or None)

    register(Target("metrics.bits_per_spike", bps_case(), metrics.bits_per_spike, ("counts", "log_rates", "spike")))


# --------------------------------------------------------------------------- targets: simulators, spatial


def _targets_datasets():
    from skdistill import datasets

    @st.composite
    def reaching_case(d):
        kw = {"n_sessions": d(st.sampled_from([1, 2, 0, -1, 1.5])),
              "duration": d(st.sampled_from([2.0, 3.0, 0.0, -1.0, float("nan"), 0.001])),
              "n_channels": d(st.sampled_from([4, (4, 3), 0, -2])),
              "n_units": d(st.sampled_from([5, 0, -1])),
              "bin_size": d(st.sampled_from([0.01, 0.0, -0.01, 0.5])),
              "lfp_rate": d(st.sampled_from([1000.0, 0.0, 50.0])),
              "random_state": 0}
        problems = []
        if kw["n_sessions"] not in (1, 2):
            problems.append("n_sessions")
        if not (isinstance(kw["duration"], float) and kw["duration"] >= 2.0):
            problems.append("duration")
        if kw["n_channels"] in (0, -2):
            problems.append("n_channels")
        if kw["n_channels"] == (4, 3) and kw["n_sessions"] != 2:
            problems.append("n_channels per session")
        if kw["n_units"] < 1:
            problems.append("n_units")
        if kw["bin_size"] <= 0:
            problems.append("bin_size")
        if kw["lfp_rate"] <= 0:
            problems.append("lfp_rate")
        return Case(kw, "; ".join(problems) or None, either=bool(problems) and set(problems) <= {"duration"}
                    or kw["bin_size"] == 0.5 or kw["lfp_rate"] == 50.0)

    register(Target("datasets.make_reaching_sessions", reaching_case(), datasets.make_reaching_sessions,
                    ("n_sessions", "duration", "n_channels", "n_units", "bin_size", "lfp_rate"), timeout=60))

    @st.composite
    def ieeg_case(d):
        kw = {"n_subjects": d(st.sampled_from([1, 0, -1])),
              "n_segments": d(st.sampled_from([2, 0, -3])),
              "segment_duration": d(st.sampled_from([0.5, 0.0, -1.0, float("nan")])),
              "sampling_rate": d(st.sampled_from([128.0, 0.0, -1.0])),
              "max_channels": d(st.sampled_from([8, 0, -1, None])),
              "random_state": 0}
        problems = [k for k, bad in (("n_subjects", kw["n_subjects"] < 1), ("n_segments", kw["n_segments"] < 1),
                                     ("segment_duration", not kw["segment_duration"] > 0),
                                     ("sampling_rate", kw["sampling_rate"] <= 0),
                                     ("max_channels", kw["max_channels"] is not None and kw["max_channels"] < 1))
                    if bad]
        return Case(kw, "; ".join(problems) or None)

    register(Target("datasets.make_ieeg_cohort", ieeg_case(), datasets.make_ieeg_cohort,
                    ("n_subjects", "n_segments", "segment_duration", "sampling_rate", "max_channels"),
                    timeout=120))


def _targets_spatial():
    from skdistill import spatial

    @st.composite
    def coords_case(d):
        n = d(st.integers(1, 4))
        unit = d(st.sampled_from(["mm", "mm", "m", "nan", "shape"]))
        base = np.array([[-30.0, -20.0, 10.0], [40.0, 10.0, -5.0], [20.0, 30.0, 40.0], [-50.0, 0.0, 0.0]])[:n]
        coords = {"mm": base, "m": base / 1000, "nan": np.where(np.arange(3) == 0, np.nan, base),
                  "shape": base[:, :2]}[unit]
        problems = {"mm": None, "m": "coordinates look like metres", "nan": "NaN coordinates",
                    "shape": "wrong shape"}[unit]
        names = [f"LT{k + 1}" for k in range(n)]
        return Case({"names": names, "coords_mm": coords}, problems)

    register(Target("spatial.electrode_table", coords_case(), spatial.electrode_table,
                    ("coords_mm", "names", "contact", "metres"), timeout=60,
                    examples=[Case({"names": ["A1", "A2"], "coords_mm": np.array([[0.03, -0.02, 0.01],
                                                                                  [0.04, 0.01, 0.0]])},
                                   "metres labelled as Left-Thalamus-Proper")]))


def _targets_estimators():
    from benchmarks.fuzz_estimators import register_estimator_targets

    # pass this module's register: run as ``python -m benchmarks.fuzz`` it is ``__main__``, and
    # an import of benchmarks.fuzz would be a second copy with a registry of its own
    register_estimator_targets(register)


_BUILDERS = (_targets_data, _targets_io, _targets_preprocessing, _targets_model_selection, _targets_metrics,
             _targets_datasets, _targets_spatial, _targets_estimators)


def build_targets() -> dict[str, Target]:
    """Register every target, data layer and estimators (once)."""
    if not TARGETS:
        for builder in _BUILDERS:
            builder()
        for target in TARGETS.values():
            target.examples = [_resolve_placeholders(c) for c in target.examples]
    return TARGETS


# --------------------------------------------------------------------------- CLI


def run(max_examples: int, names=None, *, random_seed=0) -> dict:
    targets = build_targets()
    report = {"max_examples": max_examples, "seed": random_seed, "targets": {}}
    for name, target in targets.items():
        if names and not any(n in name for n in names):
            continue
        start = time.perf_counter()
        res = run_target(target, max_examples, random_seed=random_seed)
        res["seconds"] = round(time.perf_counter() - start, 2)
        res["layer"] = target.layer
        report["targets"][name] = res
        print(f"{name:45s} n={res['n']:4d} " + " ".join(f"{k}={v}" for k, v in res["counts"].items()),
              f"({res['seconds']} s)", flush=True)
    totals = Counter()
    for res in report["targets"].values():
        totals.update(res["counts"])
    report["n"] = int(sum(totals.values()))
    report["totals"] = {o: int(totals[o]) for o in OUTCOMES}
    return report


def to_markdown(report: dict, title: str) -> str:
    lines = [f"# {title}", "",
             f"Inputs tried: **{report['n']}** ({report['max_examples']} drawn per target plus the listed "
             f"known-bad cases; hypothesis seed {report['seed']}).", "",
             "| outcome | count |", "|---|---|"]
    lines += [f"| {o} | {report['totals'][o]} |" for o in OUTCOMES]
    lines += ["", "| target | n | " + " | ".join(OUTCOMES) + " | s |", "|---|---|" + "---|" * len(OUTCOMES) + "---|"]
    for name, res in report["targets"].items():
        lines.append(f"| {name} | {res['n']} | " + " | ".join(str(res["counts"][o]) for o in OUTCOMES)
                     + f" | {res['seconds']} |")
    bad = [(n, o, s) for n, r in report["targets"].items() for o, ss in r["samples"].items()
           if o in ("unhelpful crash", "silent acceptance", "hang") for s in ss]
    if bad:
        lines += ["", "## Bad outcomes (first few per target)", ""]
        for name, outcome, sample in bad:
            lines.append(f"- **{name}**, {outcome}: `{sample['input']}` -> {sample['detail']}")
    return "\n".join(lines) + "\n"


def _limit_memory(gib: float):
    try:
        import resource

        limit = int(gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few examples; writes fuzz_quick.*")
    parser.add_argument("--max-examples", type=int, default=None, help="examples drawn per target")
    parser.add_argument("--targets", nargs="*", default=None, help="substrings of target names")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default=None, help="writes fuzz_<tag>.* instead")
    parser.add_argument("--memory-limit-gib", type=float, default=8.0,
                        help="address-space limit, so that a runaway allocation fails fast (0: none)")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.memory_limit_gib:
        _limit_memory(args.memory_limit_gib)
    n = args.max_examples or (10 if args.quick else 100)
    start = time.perf_counter()
    report = run(n, args.targets, random_seed=args.seed)
    report["seconds"] = round(time.perf_counter() - start, 1)
    stem = "fuzz" + ("_quick" if args.quick else "") + (f"_{args.tag}" if args.tag else "")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2, default=str))
    (RESULTS / f"{stem}.md").write_text(to_markdown(report, f"Fuzzing the public entry points ({stem})"))
    print(json.dumps({"n": report["n"], **report["totals"], "seconds": report["seconds"]}))
    return report


if __name__ == "__main__":
    main()
