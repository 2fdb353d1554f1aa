"""Cross-validation splitters that respect recording sessions and time.

All three take the per-row session labels as ``groups`` (so ``cross_validate(..., groups=session)``
or, with metadata routing, ``params={"groups": session, "session": session}`` works) and assume
that rows of a session are in time order. They work for 2-D continuous rows (time bins) and for
3-D epoched segments alike: only ``len(X)`` is used.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.model_selection import BaseCrossValidator

from skdistill.data import check_session, session_runs

__all__ = ["SegmentSplit", "LeaveSessionOut", "ChronologicalFolds"]


class _GroupsRequested:
    # Under metadata routing, ask for `groups` (the session labels) like sklearn's GroupKFold.
    __metadata_request__split = {"groups": True}


def _check_groups(X, groups):
    n_rows = len(X) if hasattr(X, "__len__") else np.shape(X)[0]
    if n_rows == 0:
        raise ValueError("X has no rows; a splitter needs at least one row per session.")
    return check_session(groups, n_rows)


def _check_n_splits(n_splits, owner: str) -> int:
    if isinstance(n_splits, bool) or not isinstance(n_splits, numbers.Integral) or n_splits < 1:
        raise ValueError(f"{owner}: n_splits must be a positive int; got {n_splits!r}.")
    return int(n_splits)


def _check_fraction(value, name: str, owner: str, *, allow_zero: bool) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or not (0 <= value < 1 if allow_zero else 0 < value < 1):
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise ValueError(f"{owner}: {name} must be a fraction in {interval}; got {value!r}.")
    return float(value)


def _session_indices(groups):
    """Row indices of each session, in first-appearance order (a session may be split in runs)."""
    order = {}
    for label, start, stop in session_runs(groups):
        order.setdefault(label, []).append(np.arange(start, stop))
    return {label: np.concatenate(parts) for label, parts in order.items()}


class SegmentSplit(_GroupsRequested, BaseCrossValidator):
    """The reference per-session segment split (train / val / test = 80 / 10 / 10).

    Each session is cut into consecutive, non-overlapping segments of ``segment_length`` rows (the
    remainder at the end is dropped); the segments are shuffled with ``random_state`` and
    ``floor(val_fraction * n)`` go to validation and ``floor(test_fraction * n)`` to test, the rest
    to training. Because rows inside a segment stay together, neighbouring time bins do not leak
    between train and test.

    Parameters
    ----------
    segment_length : int, default=500
        Rows per segment (500 bins = 5 s at 10 ms, the reference setting).
    val_fraction, test_fraction : float, default=0.1
    evaluate_on : {"val+test", "test", "val"}, default="val+test"
        Which rows ``split`` yields as the evaluation set (the reference scores val and test
        pooled).
    n_splits : int, default=1
        Number of independent shuffles (seeds ``random_state + k``).
    random_state : int, default=42
        The reference seed.
    split_mode : {"exact", "as_released"}, default="exact"
        ``"as_released"`` reproduces the released code's inclusive slice, which gives the test set
        one more segment than ``floor(test_fraction * n)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skdistill.model_selection import SegmentSplit
    >>> session = np.repeat(["a", "b"], 1000)
    >>> cv = SegmentSplit(segment_length=100)
    >>> train, test = next(cv.split(np.zeros((2000, 1)), groups=session))
    >>> len(train), len(test)
    (1600, 400)
    """

    def __init__(
        self,
        segment_length=500,
        *,
        val_fraction=0.1,
        test_fraction=0.1,
        evaluate_on="val+test",
        n_splits=1,
        random_state=42,
        split_mode="exact",
    ):
        self.segment_length = segment_length
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.evaluate_on = evaluate_on
        self.n_splits = n_splits
        self.random_state = random_state
        self.split_mode = split_mode

    def _check(self):
        if not isinstance(self.segment_length, numbers.Integral) or self.segment_length < 1:
            raise ValueError(f"segment_length must be a positive int; got {self.segment_length!r}.")
        if self.evaluate_on not in ("val+test", "test", "val"):
            raise ValueError(f"evaluate_on must be 'val+test', 'test' or 'val'; got {self.evaluate_on!r}.")
        if self.split_mode not in ("exact", "as_released"):
            raise ValueError(f"split_mode must be 'exact' or 'as_released'; got {self.split_mode!r}.")
        _check_n_splits(self.n_splits, "SegmentSplit")
        val = _check_fraction(self.val_fraction, "val_fraction", "SegmentSplit", allow_zero=True)
        test = _check_fraction(self.test_fraction, "test_fraction", "SegmentSplit", allow_zero=True)
        if not 0 <= val + test < 1:
            raise ValueError(
                f"SegmentSplit: val_fraction + test_fraction must be in [0, 1); got {val + test:g}."
            )
        if self.evaluate_on != "val" and test == 0 or self.evaluate_on == "val" and val == 0:
            raise ValueError(
                f"SegmentSplit: evaluate_on={self.evaluate_on!r} evaluates on an empty set "
                f"(val_fraction={val:g}, test_fraction={test:g})."
            )

    def get_n_splits(self, X=None, y=None, groups=None):
        return _check_n_splits(self.n_splits, "SegmentSplit")

    def assign(self, X, groups=None, split=0):
        """Role of every row: an array of ``"train"``, ``"val"``, ``"test"`` or ``"dropped"``."""
        self._check()
        groups = _check_groups(X, groups)
        roles = np.full(len(groups), "dropped", dtype=object)
        seed = None if self.random_state is None else self.random_state + split
        for label, rows in _session_indices(groups).items():
            n_segments = len(rows) // self.segment_length
            if n_segments < 3:
                raise ValueError(
                    f"session {label!r} has {len(rows)} rows, fewer than 3 segments of "
                    f"segment_length={self.segment_length}; use a shorter segment_length."
                )
            order = np.random.default_rng(seed).permutation(n_segments)
            n_val = max(int(np.floor(self.val_fraction * n_segments)), 1 if self.val_fraction else 0)
            n_test = max(int(np.floor(self.test_fraction * n_segments)), 1 if self.test_fraction else 0)
            if self.split_mode == "as_released":
                n_test += 1
            segment_role = np.full(n_segments, "train", dtype=object)
            segment_role[order[:n_val]] = "val"
            segment_role[order[n_val : n_val + n_test]] = "test"
            used = rows[: n_segments * self.segment_length]
            roles[used] = np.repeat(segment_role, self.segment_length)
        return roles

    def _iter_test_masks(self, X=None, y=None, groups=None):  # pragma: no cover - split overrides
        raise NotImplementedError

    def split(self, X, y=None, groups=None):
        self._check()
        wanted = {"val+test": ("val", "test"), "test": ("test",), "val": ("val",)}[self.evaluate_on]
        for k in range(self.n_splits):
            roles = self.assign(X, groups, split=k)
            yield np.flatnonzero(roles == "train"), np.flatnonzero(np.isin(roles, wanted))


class LeaveSessionOut(_GroupsRequested, BaseCrossValidator):
    """Train on all other sessions, evaluate on one held-out session per fold.

    Parameters
    ----------
    sessions : list of str, optional
        Only these sessions are held out (one fold each); default: every session.
    """

    def __init__(self, sessions=None):
        self.sessions = sessions

    def _held_out(self, groups):
        present = list(_session_indices(groups))
        if self.sessions is None:
            return present
        if isinstance(self.sessions, (str, bytes)) or np.ndim(self.sessions) != 1:
            raise ValueError(
                f"LeaveSessionOut: sessions must be a list of session labels, e.g. "
                f"[{self.sessions!r}]; got {self.sessions!r}."
            )
        missing = [s for s in self.sessions if str(s) not in present]
        if missing:
            raise ValueError(f"sessions {missing} are not in groups; known sessions: {present}.")
        return [str(s) for s in self.sessions]

    def get_n_splits(self, X=None, y=None, groups=None):
        if groups is None:
            if self.sessions is None:
                raise ValueError("LeaveSessionOut needs groups (the per-row session labels).")
            return len(self.sessions)
        return len(self._held_out(_check_groups(groups, groups)))

    def split(self, X, y=None, groups=None):
        if groups is None:
            raise ValueError(
                "LeaveSessionOut needs the per-row session labels as groups, e.g. "
                "cross_validate(..., groups=session)."
            )
        groups = _check_groups(X, groups)
        if len(set(groups)) < 2:
            raise ValueError("LeaveSessionOut needs at least two sessions.")
        for label in self._held_out(groups):
            test = groups == label
            yield np.flatnonzero(~test), np.flatnonzero(test)


#: start of the test block of each fold, as a fraction of the session (reference layout:
#: [val .05 | test .10 | val .05] windows at these positions, the rest train)
_FOLD_TEST_STARTS = (0.05, 0.85, 0.25, 0.65, 0.45)


class ChronologicalFolds(_GroupsRequested, BaseCrossValidator):
    """Buffered chronological folds within each session (BaRISTA's App. K protocol).

    Each session (rows in time order) is laid out per fold as a ``[buffer | test | buffer]``
    window, with the rest training. The buffers (``buffer_fraction`` each side) are left out of
    both sets so that overlapping segments cannot straddle train and test. Fold ``k`` places the
    test block at the reference positions (5 %, 85 %, 25 %, 65 %, 45 % of the session for
    ``k = 0..4``). When ``y`` is given and ``require_both_classes`` is set, a window whose test
    block lacks a class is slid in steps of ``2 * buffer_fraction`` until both classes appear.

    Parameters
    ----------
    n_splits : int, default=5
    test_fraction : float, default=0.1
    buffer_fraction : float, default=0.05
    require_both_classes : bool, default=True
    """

    def __init__(self, n_splits=5, *, test_fraction=0.1, buffer_fraction=0.05, require_both_classes=True):
        self.n_splits = n_splits
        self.test_fraction = test_fraction
        self.buffer_fraction = buffer_fraction
        self.require_both_classes = require_both_classes

    def get_n_splits(self, X=None, y=None, groups=None):
        return _check_n_splits(self.n_splits, "ChronologicalFolds")

    def _starts(self):
        if self.n_splits <= len(_FOLD_TEST_STARTS):
            return _FOLD_TEST_STARTS[: self.n_splits]
        span = 1 - self.test_fraction - 2 * self.buffer_fraction
        return tuple(self.buffer_fraction + span * k / (self.n_splits - 1) for k in range(self.n_splits))

    def split(self, X, y=None, groups=None):
        """Yield ``(train, test)`` row indices; every fold's test set is distinct.

        Raises a ``ValueError`` when the sessions are too short for ``n_splits`` distinct test
        windows (or leave a fold without training rows), instead of yielding repeated folds.
        """
        folds = self._folds(X, y, groups)
        yield from folds

    def _folds(self, X, y, groups):
        owner = "ChronologicalFolds"
        n_splits = _check_n_splits(self.n_splits, owner)
        _check_fraction(self.test_fraction, "test_fraction", owner, allow_zero=False)
        _check_fraction(self.buffer_fraction, "buffer_fraction", owner, allow_zero=True)
        if not 0 < self.test_fraction + 2 * self.buffer_fraction < 1:
            raise ValueError(
                f"{owner}: test_fraction + 2 * buffer_fraction must be in (0, 1); got "
                f"{self.test_fraction + 2 * self.buffer_fraction:g}."
            )
        groups = _check_groups(X, groups)
        sessions = _session_indices(groups)
        y = None if y is None else np.asarray(y)
        # the test windows at the reference positions (before any sliding for classes) must differ
        placed = {
            tuple(min(int(round(start * len(rows))), len(rows) - max(int(round(self.test_fraction * len(rows))), 1))
                  for rows in sessions.values())
            for start in self._starts()
        }
        if len(placed) < n_splits:
            shortest = min(len(rows) for rows in sessions.values())
            raise ValueError(
                f"{owner}: n_splits={n_splits} asks for more folds than the data give distinct "
                f"test windows ({len(placed)}; the shortest session has {shortest} rows). Use "
                f"n_splits <= {len(placed)} or longer sessions."
            )
        folds = []
        for start in self._starts():
            train, test = [], []
            for label, rows in sessions.items():
                n = len(rows)
                t0 = self._place(start, n, None if y is None else y[rows], label)
                t1 = t0 + max(int(round(self.test_fraction * n)), 1)
                buf = int(round(self.buffer_fraction * n))
                lo, hi = max(t0 - buf, 0), min(t1 + buf, n)
                test.append(rows[t0:t1])
                train.append(np.concatenate([rows[:lo], rows[hi:]]))
            folds.append((np.sort(np.concatenate(train)), np.sort(np.concatenate(test))))
        distinct = len({tuple(test) for _, test in folds})
        if distinct < n_splits:
            warnings.warn(
                f"{owner}: sliding the test windows until they hold both classes left "
                f"{distinct} distinct test sets for n_splits={n_splits}; the classes are "
                "concentrated in few parts of the sessions.",
                UserWarning, stacklevel=3,
            )
        if any(len(train) == 0 for train, _ in folds):
            raise ValueError(
                f"{owner}: a fold has no training rows (the sessions are too short for "
                f"test_fraction={self.test_fraction:g} and buffer_fraction={self.buffer_fraction:g})."
            )
        return folds

    def _place(self, start, n, y_session, label):
        length = max(int(round(self.test_fraction * n)), 1)
        first = int(round(start * n))
        if y_session is None or not self.require_both_classes:
            return min(first, n - length)
        step = max(int(round(2 * self.buffer_fraction * n)), 1)
        candidates = [first]
        for k in range(1, n // step + 1):  # alternate forward and backward from the reference spot
            candidates += [first + k * step, first - k * step]
        for t0 in candidates:
            if 0 <= t0 <= n - length and len(np.unique(y_session[t0 : t0 + length])) > 1:
                return t0
        raise ValueError(
            f"session {label!r}: no test window of {length} rows contains both classes; use "
            "require_both_classes=False or a larger test_fraction."
        )
