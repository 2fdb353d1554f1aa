"""Feature builders that respect session boundaries: lagged copies and circular shifts."""

from __future__ import annotations

import numbers

import numpy as np

from skdistill.data import check_session, session_runs

__all__ = ["lagged", "circular_shift"]


def _run_bounds(session, n_rows):
    """Per row: start and stop of the contiguous session run it belongs to."""
    start = np.empty(n_rows, dtype=np.int64)
    stop = np.empty(n_rows, dtype=np.int64)
    for _, a, b in session_runs(session):
        start[a:b], stop[a:b] = a, b
    return start, stop


def lagged(X, lags, session=None, *, fill="edge"):
    """Lagged copies of the columns of ``X``, never reaching into another session.

    Column block ``k`` of the result holds ``X[t - lags[k]]``: a positive lag is the past
    (``lags=(5,)`` gives each row the features of 5 bins earlier), a negative lag the future.
    Lags are taken inside each contiguous run of one session label; a row whose lagged row falls
    outside its run gets the run's first (or last) row with ``fill="edge"`` or NaN with
    ``fill="nan"`` -- never a row of the neighbouring session.

    Parameters
    ----------
    X : array-like of shape (n_rows, n_features) or (n_rows,)
        Rows in time order within each session.
    lags : sequence of int
        Lags in rows (bins).
    session : array-like of shape (n_rows,), optional
        Per-row session labels; ``None`` means one session.
    fill : {"edge", "nan"}, default="edge"

    Returns
    -------
    ndarray of shape (n_rows, n_features * len(lags))
        Blocks in the order of ``lags``.

    Examples
    --------
    >>> import numpy as np
    >>> from skdistill.evaluation import lagged
    >>> lagged(np.arange(4.0), lags=(0, 1), session=["a", "a", "b", "b"])
    array([[0., 0.],
           [1., 0.],
           [2., 2.],
           [3., 2.]])
    """
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (rows x features); got shape {X.shape}.")
    if isinstance(lags, numbers.Integral):
        lags = (lags,)
    lags = list(lags)
    if not lags or not all(isinstance(k, numbers.Integral) for k in lags):
        raise TypeError(f"lags must be a non-empty sequence of ints; got {lags!r}.")
    if fill not in ("edge", "nan"):
        raise ValueError(f"fill must be 'edge' or 'nan'; got {fill!r}.")
    session = check_session(session, len(X))
    start, stop = _run_bounds(session, len(X))
    rows = np.arange(len(X))
    blocks = []
    for lag in lags:
        source = rows - int(lag)
        outside = (source < start) | (source >= stop)
        block = X[np.clip(source, start, stop - 1)]
        if fill == "nan":
            block[outside] = np.nan
        blocks.append(block)
    return np.hstack(blocks)


def circular_shift(y, session=None, rng=None, *, min_shift=0.1):
    """``y`` rotated in time by a random offset inside each session (a null control).

    Each session's rows (in order) are rolled by an offset drawn uniformly between
    ``min_shift`` and ``1 - min_shift`` of the session's length, so the behaviour keeps its own
    autocorrelation and marginal distribution but loses its alignment with the features. A
    probe on shifted behaviour should score about 0 (R²) or 0.5 (AUROC); what it scores above
    that is what autocorrelation alone buys.

    Parameters
    ----------
    y : array-like of shape (n_rows, ...)
    session : array-like of shape (n_rows,), optional
    rng : int, numpy Generator or None
    min_shift : float in [0, 0.5), default=0.1
        Smallest offset as a fraction of the session's length.

    Returns
    -------
    ndarray of the shape of ``y``
    """
    y = np.asarray(y)
    if not 0 <= min_shift < 0.5:
        raise ValueError(f"min_shift must be in [0, 0.5); got {min_shift!r}.")
    session = check_session(session, len(y))
    rng = np.random.default_rng(rng)
    out = y.copy()
    for label in dict.fromkeys(session):
        rows = np.flatnonzero(session == label)
        n = len(rows)
        low = max(int(np.ceil(min_shift * n)), 1)
        high = n - low
        if high < low:
            continue  # too short to shift
        out[rows] = np.roll(y[rows], int(rng.integers(low, high + 1)), axis=0)
    return out
