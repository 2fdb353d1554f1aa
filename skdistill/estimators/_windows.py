"""Cutting 2-D ``(time bins, channels)`` rows into windows inside each session, and stitching back.

Windows never cross a session boundary (a change of the per-row session label). Training uses
non-overlapping full windows (the remainder of each run is dropped). Transform covers every row:
full windows from the start of each run, plus one last window aligned to the run's end whose
already-covered rows are discarded; a run shorter than a window becomes one shorter window.
"""

from __future__ import annotations

import numpy as np

from skdistill.data import session_runs

__all__ = ["training_windows", "covering_windows", "iter_window_batches"]


def training_windows(X, session_index, session, segment_length, stride=None):
    """Stack full windows: returns ``windows (N, T, C) float32`` and ``window_session (N,)``."""
    stride = stride or segment_length
    starts, owners = [], []
    for _, start, stop in session_runs(session):
        for s in range(start, stop - segment_length + 1, stride):
            starts.append(s)
            owners.append(session_index[s])
    if not starts:
        longest = max(stop - start for _, start, stop in session_runs(session))
        raise ValueError(
            f"X has no run of segment_length={segment_length} consecutive rows within one session "
            f"(the longest run has {longest} sample(s)); pass more rows per session or a smaller "
            "segment_length."
        )
    starts = np.asarray(starts)
    index = starts[:, None] + np.arange(segment_length)
    return X[index].astype(np.float32), np.asarray(owners, dtype=np.int64)


def covering_windows(session, segment_length):
    """``[(start, length, keep_from)]``: windows covering every row exactly once when stitched.

    ``keep_from`` is the offset inside the window from which its outputs are kept.
    """
    plan = []
    for _, start, stop in session_runs(session):
        n = stop - start
        if n <= segment_length:
            plan.append((start, n, 0))
            continue
        s = start
        while s + segment_length <= stop:
            plan.append((s, segment_length, 0))
            s += segment_length
        if s < stop:
            last = stop - segment_length
            plan.append((last, segment_length, s - last))
    return plan


def iter_window_batches(X, session_index, plan, batch_size):
    """Yield ``(windows, window_session, entries)`` batches, each of one window length."""
    by_length = {}
    for entry in plan:
        by_length.setdefault(entry[1], []).append(entry)
    for length, entries in by_length.items():
        for k in range(0, len(entries), batch_size):
            chunk = entries[k : k + batch_size]
            index = np.array([e[0] for e in chunk])[:, None] + np.arange(length)
            yield (
                X[index].astype(np.float32),
                session_index[[e[0] for e in chunk]].astype(np.int64),
                chunk,
            )
