"""The ``Recording`` container, :func:`stack_sessions`, and input validation shared by every layer.

Data conventions (see ``DESIGN.md``):

* continuous signals are 2-D ``(n_rows = time bins, n_channels)``;
* ``session`` is per-row metadata; contiguous runs of one label are one recording;
* sessions with different channel counts share the union of columns, a channel absent from a
  session is an all-NaN column on that session's rows, and a NaN inside a present channel is an
  error that names the session and the channel;
* epoched signals (iEEG) are 3-D ``(n_segments, n_channels, n_times)``.

This module is the bottom layer: it imports nothing else from skdistill.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "Recording",
    "stack_sessions",
    "check_session",
    "session_runs",
    "check_continuous",
    "check_spike_counts",
    "check_epochs",
    "check_paired",
    "check_target",
    "present_channels",
    "DEFAULT_SESSION",
    "FLOAT32_MAX",
]

#: label given to every row when no ``session`` is passed
DEFAULT_SESSION = "session-0"

#: the largest magnitude the models can hold: they compute in float32, so a finite float64 value
#: beyond it would become infinity there
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _rate_or_none(value, name: str, session: str):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(
            f"Recording {session!r}: {name} must be a positive rate in Hz (e.g. 100.0); got "
            f"{value!r} of type {type(value).__name__}."
        )
    if not np.isfinite(value) or value <= 0:
        raise ValueError(
            f"Recording {session!r}: {name} must be a positive, finite rate in Hz (e.g. 100.0 for "
            f"10 ms bins); got {value!r}."
        )
    return float(value)


def _numeric_2d(value, name: str, session: str) -> np.ndarray:
    value = np.asarray(value)
    if value.dtype.kind not in "biuf":
        try:
            value = value.astype(float)
        except (TypeError, ValueError):
            raise ValueError(
                f"Recording {session!r}: {name} must be numeric; got an array of dtype "
                f"{value.dtype}."
            ) from None
    return value


@dataclass
class Recording:
    """One recording session: binned spikes, LFP and behaviour, with their rates.

    Rows of ``spikes`` and ``behavior`` are time bins at ``bin_rate`` (Hz). ``lfp`` has its own
    rate ``lfp_rate`` (Hz); it is row-aligned with ``spikes`` only when ``lfp_rate == bin_rate``
    (e.g. after :func:`skdistill.preprocessing.preprocess_recording`).

    Parameters
    ----------
    session : str
        Session identifier, e.g. ``"MonkeyI_20160622_01"``.
    spikes : (n_bins, n_units) ndarray of int or None
        Spike counts per bin.
    behavior : (n_bins, n_dims) ndarray of float or None
        Behaviour per bin, e.g. 2-D cursor velocity.
    bin_rate : float
        Rate of the ``spikes``/``behavior`` rows in Hz (100.0 for 10 ms bins).
    lfp : (n_samples, n_channels) ndarray of float or None
        Local field potential (or ECoG / sEEG) samples.
    lfp_rate : float or None
        Sampling rate of ``lfp`` in Hz.
    channels : pandas.DataFrame
        One row per LFP channel: ``name`` and, where known, ``x, y, z`` (MNI, mm), ``parcel``,
        ``lobe``, ``shaft``.
    units : pandas.DataFrame
        One row per spike unit: ``name`` and, where known, ``channel``, ``location``.
    behavior_names : list of str
        Names of the behaviour columns (e.g. ``["vx", "vy"]``).
    t_start : float
        Time of the first bin / sample in seconds.
    annotations : dict
        Free-form metadata (subject, task, source file, units of the LFP, ...).
    """

    session: str
    spikes: np.ndarray | None = None
    behavior: np.ndarray | None = None
    bin_rate: float | None = None
    lfp: np.ndarray | None = None
    lfp_rate: float | None = None
    channels: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"name": []}))
    units: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"name": []}))
    behavior_names: list = field(default_factory=list)
    t_start: float = 0.0
    annotations: dict = field(default_factory=dict)

    def __post_init__(self):
        self.session = _session_label(self.session, "Recording session")
        self.bin_rate = _rate_or_none(self.bin_rate, "bin_rate", self.session)
        self.lfp_rate = _rate_or_none(self.lfp_rate, "lfp_rate", self.session)
        if isinstance(self.t_start, bool) or not isinstance(
            self.t_start, (int, float, np.integer, np.floating)
        ) or not np.isfinite(self.t_start):
            raise ValueError(
                f"Recording {self.session!r}: t_start must be a finite time in seconds; got "
                f"{self.t_start!r}."
            )
        self.t_start = float(self.t_start)
        for name in ("spikes", "behavior", "lfp"):
            value = getattr(self, name)
            if value is None:
                continue
            value = _numeric_2d(value, name, self.session)
            if value.ndim == 1:
                value = value[:, None]
            if value.ndim != 2:
                raise ValueError(
                    f"Recording {self.session!r}: {name} must be 2-D (rows = time, columns = "
                    f"channels); got shape {value.shape}."
                )
            if 0 in value.shape:
                raise ValueError(
                    f"Recording {self.session!r}: {name} is empty (shape {value.shape}); pass None "
                    "for a modality the recording does not have."
                )
            setattr(self, name, value)
        if self.behavior is not None and np.isinf(self.behavior).any():
            raise ValueError(
                f"Recording {self.session!r}: behavior contains infinity; NaN marks bins outside a "
                "behaviour series' own time range, infinity is never valid."
            )
        if (self.spikes is not None or self.behavior is not None) and not self.bin_rate:
            raise ValueError(
                f"Recording {self.session!r}: bin_rate (Hz) is required with spikes or behavior."
            )
        if self.lfp is not None and not self.lfp_rate:
            raise ValueError(f"Recording {self.session!r}: lfp_rate (Hz) is required with lfp.")
        if self.spikes is not None and self.behavior is not None:
            if len(self.spikes) != len(self.behavior):
                raise ValueError(
                    f"Recording {self.session!r}: spikes has {len(self.spikes)} bins but behavior "
                    f"has {len(self.behavior)}; they must be row-aligned at bin_rate."
                )
        if self.spikes is not None:
            check_spike_counts(self.spikes, name=f"spikes of session {self.session!r}")
        if self.lfp is not None:
            if len(self.channels) == 0:
                self.channels = pd.DataFrame(
                    {"name": [f"ch{i:03d}" for i in range(self.lfp.shape[1])]}
                )
            if len(self.channels) != self.lfp.shape[1]:
                raise ValueError(
                    f"Recording {self.session!r}: channels has {len(self.channels)} rows but lfp "
                    f"has {self.lfp.shape[1]} columns; give one row per LFP channel."
                )
        if self.spikes is not None and len(self.units) == 0:
            self.units = pd.DataFrame({"name": [f"unit{i:03d}" for i in range(self.spikes.shape[1])]})
        if self.behavior is not None and not self.behavior_names:
            self.behavior_names = [f"b{i}" for i in range(self.behavior.shape[1])]

    @property
    def n_bins(self) -> int | None:
        """Number of rows at ``bin_rate`` (from spikes or behaviour)."""
        for value in (self.spikes, self.behavior):
            if value is not None:
                return len(value)
        if self.lfp is not None and self.lfp_rate == self.bin_rate:
            return len(self.lfp)
        return None

    @property
    def duration(self) -> float:
        """Duration in seconds."""
        if self.n_bins is not None and self.bin_rate:
            return self.n_bins / self.bin_rate
        if self.lfp is not None:
            return len(self.lfp) / self.lfp_rate
        return 0.0

    def replace(self, **changes) -> "Recording":
        """A copy with some fields replaced (validated again)."""
        return replace(self, **changes)

    def __repr__(self):
        parts = [f"session={self.session!r}"]
        if self.spikes is not None:
            parts.append(f"spikes={self.spikes.shape} @ {self.bin_rate:g} Hz")
        if self.behavior is not None:
            parts.append(f"behavior={self.behavior.shape}")
        if self.lfp is not None:
            parts.append(f"lfp={self.lfp.shape} @ {self.lfp_rate:g} Hz")
        return f"Recording({', '.join(parts)})"


# --------------------------------------------------------------------------- sessions


def _is_missing(value) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    return isinstance(value, (float, np.floating)) and bool(np.isnan(value))


def _session_label(value, what: str = "session") -> str:
    """One session label as ``str``; ``None``/NaN are refused (they would become 'None'/'nan')."""
    if _is_missing(value):
        raise ValueError(
            f"{what} is {value!r}; every recording needs a session label (a string such as "
            "'MonkeyI_20160622_01')."
        )
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def check_session(session, n_rows: int) -> np.ndarray:
    """Validate per-row session labels; ``None`` means one session for all rows.

    Labels are compared as strings, so labels that differ in type but not in text (the int
    ``1`` and the string ``"1"``) are refused rather than merged, and a missing label (``None``,
    NaN) is refused rather than becoming the session ``'None'``/``'nan'``.

    Returns an object array of ``str`` labels of length ``n_rows``.
    """
    if session is None:
        return np.full(n_rows, DEFAULT_SESSION, dtype=object)
    if isinstance(session, (str, bytes, int, np.integer)) and not isinstance(session, bool):
        return np.full(n_rows, _session_label(session), dtype=object)
    if np.ndim(session) == 0:
        raise ValueError(
            f"session must be one label per row (a 1-D array of {n_rows} labels) or a single "
            f"str/int label; got {session!r}."
        )
    if isinstance(session, np.ndarray) and session.dtype.kind in "UiuS":
        labels = session
    else:
        try:
            labels = np.asarray(session, dtype=object)
        except ValueError:
            raise ValueError(
                "session must be a 1-D array of one label per row; got a ragged sequence."
            ) from None
    if labels.ndim != 1:
        raise ValueError(
            f"session must be a 1-D array of one label per row; got shape {labels.shape}."
        )
    if len(labels) != n_rows:
        raise ValueError(
            f"session has {len(labels)} labels but X has {n_rows} rows; pass one session label "
            "per row (skdistill.data.stack_sessions builds it)."
        )
    if labels.dtype.kind == "S":
        labels = np.char.decode(labels, "utf-8", errors="replace")
    if labels.dtype.kind in "Uiu":
        return labels.astype(str).astype(object)
    codes, uniques = pd.factorize(labels, use_na_sentinel=True)
    if (codes < 0).any():
        row = int(np.flatnonzero(codes < 0)[0])
        raise ValueError(
            f"session has a missing label ({labels[row]!r}) at row {row} "
            f"({int((codes < 0).sum())} row(s) in all); every row needs a session label."
        )
    text = [_session_label(u) for u in uniques]
    if len(set(text)) < len(text):
        seen = {}
        for u, t in zip(uniques, text):
            if t in seen:
                a, b = seen[t], u
                raise ValueError(
                    f"session labels {a!r} ({type(a).__name__}) and {b!r} ({type(b).__name__}) are "
                    f"both the session {t!r} as text; use labels of one type (e.g. all str) so that "
                    "different sessions stay apart."
                )
            seen[t] = u
    return np.asarray(text, dtype=object)[codes]


def session_runs(session: np.ndarray) -> list[tuple[str, int, int]]:
    """Contiguous runs of one label: ``[(label, start, stop), ...]`` in row order."""
    session = np.asarray(session)
    if len(session) == 0:
        return []
    change = np.flatnonzero(session[1:] != session[:-1]) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [len(session)]])
    return [(str(session[a]), int(a), int(b)) for a, b in zip(starts, stops)]


def present_channels(X: np.ndarray, session: np.ndarray) -> dict[str, np.ndarray]:
    """For each session, the boolean mask of columns that are present (not all-NaN)."""
    masks = {}
    for label in pd.unique(session):
        rows = X[session == label]
        masks[str(label)] = ~np.all(np.isnan(rows), axis=0)
    return masks


# --------------------------------------------------------------------------- validators


def _as_float_2d(X, name: str) -> np.ndarray:
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric; {exc}") from None
    if X.ndim != 2:
        hint = " (one column per channel)" if X.ndim == 1 else ""
        raise ValueError(
            f"{name} must be 2-D (rows = time bins, columns = channels){hint}; got an array "
            f"with {X.ndim} dimension(s) and shape {X.shape}."
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {X.shape}); expected at least one row and column.")
    _check_range(X, name)
    return X


def _check_range(X: np.ndarray, name: str) -> None:
    """Refuse infinity and finite values beyond the float32 range (they overflow in the models)."""
    flat = X.reshape(len(X), -1) if X.ndim > 1 else X[:, None]
    over = None
    for start in range(0, len(flat), _CHECK_BLOCK_ROWS):
        with np.errstate(invalid="ignore"):
            block = np.abs(flat[start:start + _CHECK_BLOCK_ROWS]) > FLOAT32_MAX
        if block.any():
            i, j = (int(v) for v in np.argwhere(block)[0])
            over = np.unravel_index((start + i) * flat.shape[1] + j, X.shape)
            break
    if over is not None:
        where = tuple(int(i) for i in over)
        value = X[where]
        if np.isinf(value):
            raise ValueError(f"{name} contains infinity (at index {where}).")
        raise ValueError(
            f"{name} holds {value:g} at index {where}, beyond the float32 range "
            f"(|x| <= {FLOAT32_MAX:.3g}) that the models compute in; rescale the data (e.g. to "
            "volts or z-scores) first."
        )


def check_continuous(X, session=None, *, name: str = "X", channel_names=None):
    """Validate a 2-D continuous signal with the NaN-column convention.

    A column may be all-NaN on the rows of a session (channel absent there); a NaN inside a
    present channel raises a ``ValueError`` naming the session and the channel.

    Returns
    -------
    X : (n_rows, n_channels) float64 ndarray
    session : (n_rows,) object ndarray of str
    """
    X = _as_float_2d(X, name)
    session = check_session(session, X.shape[0])
    # per session and column: any NaN / all NaN, accumulated over blocks of rows, so that no
    # temporary grows with the recording (a NaN mask of 10 h x 96 channels is 350 MB)
    any_nan, all_nan = {}, {}
    for start in range(0, X.shape[0], _CHECK_BLOCK_ROWS):
        nan = np.isnan(X[start:start + _CHECK_BLOCK_ROWS])
        labels = session[start:start + _CHECK_BLOCK_ROWS]
        has_nan = nan.any()
        for label in pd.unique(labels):
            if not has_nan:
                any_nan.setdefault(label, np.zeros(X.shape[1], dtype=bool))
                all_nan[label] = np.zeros(X.shape[1], dtype=bool)
                continue
            col_nan = nan[labels == label]
            any_nan[label] = any_nan.get(label, False) | col_nan.any(axis=0)
            all_nan[label] = all_nan.get(label, True) & col_nan.all(axis=0)
    for label, some in any_nan.items():  # in order of first appearance
        partial = some & ~all_nan[label]
        if partial.any():
            col = int(np.flatnonzero(partial)[0])
            col_name = channel_names[col] if channel_names is not None else f"column {col}"
            n_bad = int(np.isnan(X[session == label, col]).sum())
            raise ValueError(
                f"{name} has {n_bad} NaN value(s) inside channel {col_name} of session "
                f"{label!r}, which is present there. NaN marks a channel absent from a whole "
                "session; interpolate or drop the bad samples first."
            )
        if all_nan[label].all():
            raise ValueError(f"{name} has no present channel in session {label!r}.")
    return X, session


def check_target(y, *, name: str = "y", n_rows: int | None = None) -> np.ndarray:
    """Validate a regression target: numeric, finite, within float32, 1-D or 2-D.

    Returns a float64 array of the same shape.
    """
    y_in = y
    try:
        y = np.asarray(y, dtype=float)
    except (TypeError, ValueError):
        kind = getattr(np.asarray(y_in, dtype=object).ravel()[:1], "dtype", None)
        raise ValueError(
            f"{name} must be numeric (a float per row, e.g. a velocity); got values such as "
            f"{np.asarray(y_in, dtype=object).ravel()[:1].tolist()} (dtype {kind}). Encode class labels "
            "as numbers, or use a classifier."
        ) from None
    if y.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D (rows, targets); got shape {y.shape}.")
    if y.size == 0:
        raise ValueError(f"{name} is empty (shape {y.shape}).")
    if n_rows is not None and len(y) != n_rows:
        raise ValueError(f"{name} has {len(y)} rows but X has {n_rows}; they must be row-aligned.")
    if np.isnan(y).any():
        raise ValueError(f"{name} contains NaN (row {int(np.argwhere(np.isnan(y))[0][0])}); "
                         "behaviour must be finite on every row.")
    _check_range(y, name)
    return y


def check_spike_counts(X, session=None, *, name: str = "spike counts"):
    """Validate binned spike counts: non-negative integers (all-NaN absent columns allowed)."""
    X, session = check_continuous(X, session, name=name)
    # in blocks of rows: no temporary grows with the recording (hours of 10 ms bins)
    for start in range(0, len(X), _CHECK_BLOCK_ROWS):
        finite = X[start:start + _CHECK_BLOCK_ROWS]
        finite = finite[~np.isnan(finite)]
        if (finite < 0).any():
            raise ValueError(
                f"Negative values in data: {name} must be non-negative spike counts; found the "
                f"value {finite.min():g}. "
                "Did you pass a z-scored or filtered signal where counts were expected?"
            )
        if not np.all(finite == np.round(finite)):
            bad = finite[finite != np.round(finite)][0]
            raise ValueError(
                f"{name} must be integer spike counts; found the value {bad:g}. Pass raw binned "
                "counts (e.g. skdistill.preprocessing.bin_spikes), not smoothed rates."
            )
    return X, session


#: rows checked at a time by the value checks (bounds their temporaries)
_CHECK_BLOCK_ROWS = 65536


def check_epochs(X, *, name: str = "X", allow_nan: bool = False) -> np.ndarray:
    """Validate 3-D epoched signals ``(n_segments, n_channels, n_times)``."""
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric; {exc}") from None
    if X.ndim != 3:
        raise ValueError(
            f"{name} must be 3-D (n_segments, n_channels, n_times); got shape {X.shape}. "
            "Cut continuous signals into segments first."
        )
    if 0 in X.shape:
        raise ValueError(f"{name} is empty (shape {X.shape}).")
    _check_range(X, name)
    if not allow_nan and np.isnan(X).any():
        where = tuple(int(i) for i in np.argwhere(np.isnan(X))[0])
        raise ValueError(f"{name} contains NaN (first at index {where}).")
    return X


def check_paired(X, teacher_X, *, name: str = "teacher_X") -> None:
    """Check that a paired modality is row-aligned with ``X``."""
    n_rows = np.shape(X)[0]
    n_teacher = np.shape(teacher_X)[0]
    if n_teacher != n_rows:
        raise ValueError(
            f"{name} has {n_teacher} rows but X has {n_rows}; the two modalities must be "
            "row-aligned (same time bins, same order)."
        )


# --------------------------------------------------------------------------- stacking


def _modality_matrix(rec: Recording, modality: str):
    if modality == "spikes":
        if rec.spikes is None:
            raise ValueError(f"Recording {rec.session!r} has no spikes.")
        return rec.spikes.astype(float), list(rec.units["name"])
    if modality == "lfp":
        if rec.lfp is None:
            raise ValueError(f"Recording {rec.session!r} has no lfp.")
        if rec.bin_rate is not None and rec.lfp_rate != rec.bin_rate:
            raise ValueError(
                f"Recording {rec.session!r}: lfp is at {rec.lfp_rate:g} Hz but the bins are at "
                f"{rec.bin_rate:g} Hz; run skdistill.preprocessing.preprocess_recording(recording) "
                "first so the LFP is row-aligned with the bins."
            )
        return rec.lfp.astype(float), list(rec.channels["name"])
    raise ValueError(f"modality must be 'spikes' or 'lfp'; got {modality!r}.")


def stack_sessions(
    recordings: Sequence[Recording],
    modality: str = "spikes",
    *,
    align: str = "index",
    return_channels: bool = False,
):
    """Stack sessions along rows into ``X, y, session``.

    Parameters
    ----------
    recordings : sequence of Recording
        One per session (session ids must be unique).
    modality : {"spikes", "lfp"}, default="spikes"
        Which signal becomes ``X``. For ``"lfp"`` the LFP must be at ``bin_rate``
        (see :func:`skdistill.preprocessing.preprocess_recording`).
    align : {"index", "name"}, default="index"
        How columns of different sessions line up. ``"index"``: column ``i`` is each session's
        ``i``-th channel, shorter sessions are right-padded with all-NaN columns (the reference
        method's session-specific tokenization does this). ``"name"``: columns are the union of
        channel names in order of first appearance.
    return_channels : bool, default=False
        Also return the column names (for ``align="name"``) or positions.

    Returns
    -------
    X : (n_rows, n_columns) float64 ndarray
        NaN where a channel is absent from a session.
    y : (n_rows, n_dims) float64 ndarray or None
        Behaviour, if every recording has it.
    session : (n_rows,) object ndarray of str
    """
    recordings = list(recordings)
    if not recordings:
        raise ValueError("stack_sessions needs at least one Recording.")
    for rec in recordings:
        if not isinstance(rec, Recording):
            raise ValueError(
                f"stack_sessions takes Recording objects; got {type(rec).__name__}. Build one "
                "with skdistill.data.Recording(session=..., spikes=..., behavior=..., bin_rate=...)."
            )
    ids = [rec.session for rec in recordings]
    if len(set(ids)) != len(ids):
        dup = sorted({s for s in ids if ids.count(s) > 1})
        raise ValueError(f"session ids must be unique across recordings; repeated: {dup}.")
    if align not in ("index", "name"):
        raise ValueError(f"align must be 'index' or 'name'; got {align!r}.")

    mats, names = zip(*(_modality_matrix(rec, modality) for rec in recordings))
    if align == "index":
        columns = list(range(max(m.shape[1] for m in mats)))
        positions = [np.arange(m.shape[1]) for m in mats]
    else:
        columns = list(dict.fromkeys(n for session_names in names for n in session_names))
        index = {n: i for i, n in enumerate(columns)}
        positions = [np.array([index[n] for n in session_names]) for session_names in names]

    n_rows = sum(len(m) for m in mats)
    X = np.full((n_rows, len(columns)), np.nan)
    start = 0
    for mat, pos in zip(mats, positions):
        X[start : start + len(mat), pos] = mat
        start += len(mat)
    session = np.concatenate(
        [np.full(len(m), rec.session, dtype=object) for m, rec in zip(mats, recordings)]
    )
    if all(rec.behavior is not None for rec in recordings):
        for mat, rec in zip(mats, recordings):
            if len(rec.behavior) != len(mat):
                raise ValueError(
                    f"Recording {rec.session!r}: behavior has {len(rec.behavior)} rows but "
                    f"{modality} has {len(mat)}."
                )
        y = np.concatenate([rec.behavior.astype(float) for rec in recordings])
    else:
        y = None
    if return_channels:
        return X, y, session, columns
    return X, y, session
