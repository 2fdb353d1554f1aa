"""Cutting 2-D ``(time bins, channels)`` rows into windows inside each session, and stitching back.

Windows never cross a session boundary (a change of the per-row session label). Training cuts
full windows, either on a fixed grid (``sampling="grid"``: every ``stride`` rows, by default
non-overlapping, the remainder of each run dropped) or as random crops (``sampling="random"``: the
same number of windows per run, each start redrawn uniformly inside its run every time the
window is read, so every epoch sees the data at new offsets). Transform covers every row once,
from half-overlapping windows, each row read where it sits nearest its window's centre (see
:func:`covering_windows`); a run shorter than a window becomes one shorter window.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils import check_random_state

from skdistill.data import session_runs

__all__ = ["Windowing", "WindowDataset", "covering_windows", "holdout_rows",
           "iter_covering_windows", "iter_window_batches", "map_windows"]


def _segments(session, rows=None):
    """``(start, stop)`` of each stretch of consecutive allowed rows inside one session run."""
    for _, start, stop in session_runs(session):
        if rows is None:
            yield start, stop
            continue
        allowed = np.asarray(rows[start:stop], dtype=bool)
        edges = np.flatnonzero(np.diff(np.r_[False, allowed, False].astype(np.int8)))
        for a, b in zip(edges[::2], edges[1::2]):
            yield start + int(a), start + int(b)


def _grid_starts(session, segment_length, stride, rows=None):
    """Grid window starts and, per window, the first and last valid start of its stretch and
    its length (a stretch shorter than ``segment_length`` gives one shorter window, padded)."""
    stride = stride or segment_length
    starts, lows, highs, lengths = [], [], [], []
    for start, stop in _segments(session, rows):
        if stop - start < segment_length:
            starts.append(start)
            lows.append(start)
            highs.append(start)
            lengths.append(stop - start)
            continue
        for s in range(start, stop - segment_length + 1, stride):
            starts.append(s)
            lows.append(start)
            highs.append(stop - segment_length)
            lengths.append(segment_length)
    if not starts:
        raise ValueError("X has no rows to cut training windows from.")
    return np.asarray(starts), np.asarray(lows), np.asarray(highs), np.asarray(lengths)


def holdout_rows(session, fraction, segment_length):
    """Rows held out for validation: a contiguous block at the end of each session run.

    Each run gives its last ``ceil(fraction * n)`` rows (at least one window of
    ``segment_length``) when what stays for training still holds a window; shorter runs give
    none. Never random rows: neighbouring 10 ms bins are nearly identical, so a random split
    would score memorisation as generalisation. BaRISTA, whose rows are whole segments, calls it
    with ``segment_length=1``: the last segments of each session run.
    """
    held = np.zeros(len(session), dtype=bool)
    if fraction <= 0:
        return held
    for _, start, stop in session_runs(session):
        n = stop - start
        k = max(int(np.ceil(fraction * n)), segment_length)
        if n - k >= segment_length:
            held[stop - k : stop] = True
    return held


class WindowDataset(torch.utils.data.Dataset):
    """Training windows cut from row-aligned arrays, for a skorch ``fit``.

    Item ``i`` is ``({name: window of columns[name], ..., "session_idx": int}, 0)``; the dict is
    passed to the module's ``forward`` as keyword arguments.

    Parameters
    ----------
    columns : dict of str -> ndarray of shape (n_rows, ...)
        Row-aligned arrays to cut (e.g. ``{"x": X}``, ``{"x": X, "target": T}``).
    session_index : ndarray of shape (n_rows,)
        Integer session table per row.
    session : ndarray of shape (n_rows,)
        Session labels (a change of label ends a run; windows stay inside runs).
    segment_length : int
    stride : int or None
        Grid step (default ``segment_length``); with ``sampling="random"`` it sets how many windows
        an epoch draws per run (as many as the grid has).
    sampling : {"grid", "random"}
    random_state : int, RandomState or None
        Seeds the random crops (reproducible given the same seed and read order).
    rows : ndarray of bool, optional
        Only windows that lie wholly on these rows (e.g. the training part of a validation
        split); a gap ends a stretch as a session boundary does.

    A stretch shorter than ``segment_length`` gives one window padded with NaN rows: NaN marks
    absent values, so the padded tokens are attention-masked and no loss counts them.
    """

    def __init__(self, columns, session_index, session, segment_length, stride=None,
                 sampling="grid", random_state=None, rows=None):
        if sampling not in ("grid", "random"):
            raise ValueError(f"window sampling must be 'grid' or 'random'; got {sampling!r}.")
        self.columns = {name: np.ascontiguousarray(value, dtype=np.float32)
                        for name, value in columns.items()}
        self.segment_length = segment_length
        self.starts, self.lows, self.highs, self.lengths = _grid_starts(
            session, segment_length, stride, rows)
        self.owners = np.asarray(session_index[self.starts], dtype=np.int64)
        self.sampling = sampling
        self._rng = check_random_state(random_state)

    def __len__(self):
        return len(self.starts)

    def rng_state(self):
        """The random crops' generator state, as tensors and plain values (for checkpoints)."""
        name, keys, pos, has_gauss, cached = self._rng.get_state()
        return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                "has_gauss": int(has_gauss), "cached": float(cached)}

    def set_rng_state(self, state):
        self._rng.set_state((state["name"], state["keys"].numpy().astype(np.uint32), state["pos"],
                             state["has_gauss"], state["cached"]))

    def window_start(self, i):
        if self.sampling == "grid":
            return int(self.starts[i])
        return int(self._rng.randint(self.lows[i], self.highs[i] + 1))

    def __getitem__(self, i):
        start, length = self.window_start(i), int(self.lengths[i])
        item = {name: value[start : start + length] for name, value in self.columns.items()}
        if length < self.segment_length:
            # a run shorter than a window: NaN rows pad it; NaN marks absent values, so padded
            # tokens are attention-masked and every loss skips them
            item = {name: np.concatenate([v, np.full((self.segment_length - length,) + v.shape[1:],
                                                     np.nan, dtype=v.dtype)])
                    for name, v in item.items()}
        item["session_idx"] = self.owners[i]
        return item, np.float32(0.0)


def iter_covering_windows(session, segment_length, centred=True):
    """Yield the entries of :func:`covering_windows` one by one (nothing kept per window)."""
    margin = segment_length // 4 if centred else 0
    stride = segment_length - 2 * margin
    for _, start, stop in session_runs(session):
        n = stop - start
        if n <= segment_length:
            yield (start, n, 0, n)
            continue
        s, kept_until = start, start
        while s + segment_length < stop:
            keep_to = s + segment_length - margin
            yield (s, segment_length, kept_until - s, keep_to - s)
            kept_until = keep_to
            s += stride
        last = stop - segment_length
        yield (last, segment_length, kept_until - last, segment_length)


def covering_windows(session, segment_length, centred=True):
    """``[(start, length, keep_from, keep_to)]``: windows covering every row exactly once.

    A window's outputs ``keep_from:keep_to`` (offsets inside it) are kept. With ``centred=True``
    windows overlap by half and each row is read from the window in which it sits nearest the
    centre (the middle half of every window, the first and last quarter of a run from its first
    and last window), so no row is read at a window edge with context on one side only, unless
    it is at the edge of its run. ``centred=False``: consecutive windows, plus one last window
    aligned to the run's end whose already-covered rows are discarded (half the compute).
    A run no longer than ``segment_length`` is one (possibly shorter) window.
    """
    return list(iter_covering_windows(session, segment_length, centred))


def iter_window_batches(X, session_index, plan, batch_size):
    """Yield ``(windows, window_session, entries)`` batches of up to ``batch_size`` windows of
    one length, in plan order (``plan`` may be a generator: it is read as it goes).

    A batch ends when it is full or the next window has another length (a run shorter than a
    window), so memory stays one batch whatever the recording's length. ``windows`` is float32,
    read row block by row block from ``X`` (which may be a memory map).
    """
    chunk = []

    def emit(chunk):
        length = chunk[0][1]
        windows = np.empty((len(chunk), length, X.shape[1]), dtype=np.float32)
        for i, entry in enumerate(chunk):
            windows[i] = X[entry[0] : entry[0] + length]
        owners = session_index[[e[0] for e in chunk]].astype(np.int64)
        return windows, owners, chunk

    for entry in plan:
        if chunk and (len(chunk) == batch_size or entry[1] != chunk[0][1]):
            yield emit(chunk)
            chunk = []
        chunk.append(entry)
    if chunk:
        yield emit(chunk)


def _check_out(out, n_rows, width):
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a NumPy array (or np.memmap); got {type(out).__name__}.")
    if out.shape != (n_rows, width):
        raise ValueError(f"out must have shape (n_rows, width) = {(n_rows, width)}; got "
                         f"{out.shape}.")
    if out.dtype not in (np.float32, np.float64):
        raise ValueError(f"out must be float32 or float64; got dtype {out.dtype}.")
    if not out.flags.writeable:
        raise ValueError("out is read-only; pass a writeable array (e.g. an np.memmap opened "
                         "with mode='w+' or 'r+').")
    return out


def map_windows(fn, X, session_index, session, segment_length, batch_size, width, *, out=None):
    """Run ``fn(windows, window_session) -> (B, T, width)`` over the covering windows of ``X`` and
    stitch the per-bin outputs back into ``(n_rows, width)`` rows.

    The output is a new float64 array, or ``out`` (float32 or float64, shape ``(n_rows, width)``,
    e.g. an ``np.memmap`` or ``np.lib.format.open_memmap``), filled in place and returned.
    Windows are planned, read and mapped one batch at a time: apart from ``out``, memory does
    not grow with the number of rows.
    """
    out = (np.empty((len(X), width), dtype=np.float64) if out is None
           else _check_out(out, len(X), width))
    plan = iter_covering_windows(session, segment_length)
    for windows, owners, entries in iter_window_batches(X, session_index, plan, batch_size):
        for (start, _, keep_from, keep_to), rows in zip(entries, fn(windows, owners)):
            out[start + keep_from : start + keep_to] = rows[keep_from:keep_to]
    return out


class Windowing:
    """How an encoder cuts 2-D rows into windows: for training, validation and ``transform``.

    The encoder owns one (its ``windowing`` property); the distilled student, the supervised
    regressor and the benchmarks borrow it, so that every model built on an encoder sees its
    rows exactly as the encoder does.

    Parameters
    ----------
    segment_length : int
        Window length in rows (time bins).
    stride : int or None
        Grid step of the training windows (default ``segment_length``).
    sampling : {"random", "grid"}
        Training windows: random crops redrawn every epoch, or a fixed grid.
    """

    def __init__(self, segment_length, stride=None, sampling="random"):
        self.segment_length = int(segment_length)
        self.stride = stride
        self.sampling = sampling

    def __repr__(self):
        return (f"Windowing(segment_length={self.segment_length}, stride={self.stride}, "
                f"sampling={self.sampling!r})")

    def split(self, columns, session_index, session, *, validation_fraction=0.0, random_state=None):
        """Training windows and held-out validation windows (``None`` when none fit).

        ``columns`` are row-aligned arrays (``{"x": X}``, ``{"x": X, "target": T}``, ...); the
        validation block is the end of each session run (:func:`holdout_rows`), read on a fixed
        grid; training windows come from the rest only.
        """
        held = holdout_rows(session, validation_fraction, self.segment_length)
        valid = None
        if held.any():
            valid = WindowDataset(columns, session_index, session, self.segment_length,
                                  self.segment_length, "grid", rows=held)
        train = WindowDataset(columns, session_index, session, self.segment_length, self.stride,
                              self.sampling, random_state, rows=None if valid is None else ~held)
        return train, valid

    def map(self, fn, X, session_index, session, batch_size, width, *, out=None):
        """``fn(windows, window_session) -> (B, T, width)`` over covering windows, stitched back
        into ``(n_rows, width)`` float64 rows, or into ``out`` (see :func:`map_windows`)."""
        return map_windows(fn, X, session_index, session, self.segment_length, batch_size, width,
                           out=out)
