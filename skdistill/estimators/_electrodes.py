"""Electrode tables -> BaRISTA's model inputs, for every registered spatial scale.

:class:`ElectrodeLayout` validates 3-D segments, their ``session`` labels and the per-session
electrode tables, z-scores each segment per channel, and builds the arrays the BaRISTA modules
read: ``x``, ``spatial_ids`` (coordinate bins or region ids, by the scale's kind),
``channel_mask`` and, for pretraining, ``group_ids`` (the masking groups). ``fit`` learns the
region vocabulary and keeps the tables; ``transform`` falls back to them when no tables are given.
The scales come from :mod:`skdistill.spatial`'s registry, so a new scale needs no change here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skdistill.data import check_epochs, check_session
from skdistill.spatial._atlas import UNKNOWN
from skdistill.spatial._scales import channel_names, get_scale, scale_columns

__all__ = ["COORD_RANGE_MM", "ElectrodeLayout", "LayoutInputs", "complete_table"]

#: MNI range (mm, every axis) split into ``coord_bins`` bins for coordinate encodings; it holds
#: the whole MNI152 brain (x -90..91, y -126..91, z -72..109). Outside values are clipped.
COORD_RANGE_MM = (-130.0, 130.0)


def coordinate_bins(coords, coord_bins):
    lo, hi = COORD_RANGE_MM
    idx = np.floor((coords - lo) / (hi - lo) * coord_bins).astype(np.int64)
    return np.clip(idx, 0, coord_bins - 1)


class LayoutInputs:
    """Validated, model-ready arrays for one call: the dict passed to the modules' forward."""

    def __init__(self, arrays, session, n_channels):
        self.arrays = arrays
        self.session = session
        self.n_channels = n_channels  # real channels per session


def infer_session(X, tables, name):
    """Session of each segment when none is given: the only table, or the unique table whose
    length equals the segment's number of present (not all-NaN) channel rows."""
    if len(tables) == 1:
        return np.full(len(X), next(iter(tables)), dtype=object)
    n_real = (~np.isnan(X).all(axis=2)).sum(axis=1)
    by_length = {}
    for label, table in tables.items():
        by_length.setdefault(len(table), []).append(label)
    out = np.empty(len(X), dtype=object)
    for count in np.unique(n_real):
        found = by_length.get(int(count), [])
        if len(found) != 1:
            why = "no electrode table has" if not found else f"sessions {found} all have"
            raise ValueError(
                f"session was not given and cannot be inferred: {why} {count} channels, the "
                f"number present in some segments of {name}. Pass session=... (one label per "
                "segment; with metadata routing, set_transform_request(session=True))."
            )
        out[n_real == count] = found[0]
    return out


def complete_table(table, needed):
    """``table`` with the atlas columns in ``needed`` (``parcel``, ``lobe`` and, for the lobe
    scale's hemisphere split, ``hemisphere``) filled in from its MNI ``x, y, z`` by :func:`skdistill.spatial.electrode_table` (Destrieux,
    5 mm nearest-parcel radius), when they are missing and every coordinate is finite: what
    ``read_bids_ieeg``'s channel table gives where the BIDS sidecars carry positions. Columns
    already present are never changed; a table that cannot be completed is returned as is (the
    scale's own check then names the missing column)."""
    from skdistill.spatial import electrode_table

    fill = [c for c in ("parcel", "lobe", "hemisphere") if c in needed and c not in table.columns]
    if "lobe" not in fill and "hemisphere" in fill:
        fill.remove("hemisphere")  # a table's own lobes are never split by a looked-up hemisphere
    if not fill or not {"x", "y", "z"} <= set(table.columns):
        return table
    coords = table[["x", "y", "z"]].to_numpy(dtype=float)
    if not np.isfinite(coords).all():
        return table
    labelled = electrode_table(channel_names(table), coords)
    out = table.copy()
    for column in fill:
        out[column] = labelled[column].to_numpy()
    return out


def tables_to_plain(tables):
    """Electrode tables as plain column lists (what ``save`` stores): every column a registered
    scale reads, plus ``name`` and ``hemisphere``."""
    keep = {"name", "hemisphere"} | scale_columns()
    return {str(s): {c: t[c].tolist() for c in t.columns if c in keep} for s, t in tables.items()}


class ElectrodeLayout:
    """How BaRISTA sees channels: spatial ids, masking groups, padding, per-segment z-score.

    Parameters
    ----------
    spatial_encoding : str
        A registered scale (``skdistill.spatial.spatial_scales()``) for the spatial ids.
    mask_scale : str or None
        A registered scale for the masking groups (``None``: no groups, as at transform time).
    patch_size : int
    coord_bins : int
        Bins per axis of a coordinate encoding.
    vocabulary : array of str, optional
        Region vocabulary of a fitted layout (id ``i + 1`` is ``vocabulary[i]``; 0 is unknown).
    tables : dict, optional
        Plain tables of a fitted layout, used when ``transform`` gets no ``electrodes``.
    """

    def __init__(self, spatial_encoding, mask_scale=None, *, patch_size, coord_bins,
                 vocabulary=None, tables=None):
        self.encoding = get_scale(spatial_encoding, "spatial_encoding")
        self.masking = None if mask_scale is None else get_scale(mask_scale, "mask_scale")
        self.patch_size = patch_size
        self.coord_bins = coord_bins
        self.vocabulary = vocabulary
        self.tables = tables

    @property
    def n_spatial_ids(self):
        """Rows of each spatial table: coordinate bins, or the vocabulary plus the unknown row."""
        if self.encoding.kind == "coordinates":
            return self.coord_bins
        return len(self.vocabulary) + 1

    def fit(self, X, session=None, electrodes=None, *, name="X"):
        """Learn the region vocabulary and keep the tables; returns the fit inputs too."""
        X, session, tables, labels = self._check(X, session, electrodes, name)
        if self.encoding.kind == "regions":
            found = {l for s in labels for l in self.encoding.labels(tables[s], s)} - {UNKNOWN}
            self.vocabulary = np.array(sorted(found), dtype=object)
        self.tables = tables_to_plain({s: tables[s] for s in labels})
        return self._arrays(X, session, tables, labels, max_channels=None, name=name)

    def transform(self, X, session=None, electrodes=None, *, max_channels=None, name="X"):
        """Model inputs of new segments (tables default to those seen at fit)."""
        if electrodes is None and self.tables is not None:
            electrodes = {s: pd.DataFrame(t) for s, t in self.tables.items()}
        X, session, tables, labels = self._check(X, session, electrodes, name)
        return self._arrays(X, session, tables, labels, max_channels=max_channels, name=name)

    # -- checks ---------------------------------------------------------------------------
    def _check(self, X, session, electrodes, name):
        X = check_epochs(X, name=name, allow_nan=True)
        n_segments, n_columns, n_times = X.shape
        if n_times < self.patch_size:
            raise ValueError(
                f"{name} has {n_times} samples per segment, fewer than patch_size="
                f"{self.patch_size}; use longer segments or a smaller patch_size."
            )
        if electrodes is None:
            raise ValueError(
                "electrodes is required: a dict {session: DataFrame} with one row per channel of "
                "X (name, x, y, z in MNI mm, parcel, lobe), e.g. from skdistill.spatial."
                "electrode_table. With metadata routing, request it with set_fit_request("
                "electrodes=True) / set_transform_request(electrodes=True)."
            )
        if not isinstance(electrodes, dict):
            raise ValueError(
                f"electrodes must be a dict {{session: DataFrame}}; got {type(electrodes).__name__}."
            )
        tables = {str(k): v for k, v in electrodes.items()}
        if not tables:
            raise ValueError("electrodes is an empty dict; give one table per session.")
        if session is None:
            session = infer_session(X, tables, name)
        session = check_session(session, n_segments)
        labels = list(pd.unique(session))
        missing = [s for s in labels if s not in tables]
        if missing:
            raise ValueError(
                f"electrodes has no table for session(s) {missing}; known: {sorted(tables)}. Pass "
                "one electrode table per session present in X."
            )
        read = set(self.encoding.columns) | set(() if self.masking is None else self.masking.columns)
        # atlas regions only (a scale reading any other column, e.g. a registered "hemisphere"
        # scale, gets its own missing-column message); the lobe scale splits by hemisphere
        needed = read & {"parcel", "lobe"}
        if "lobe" in needed:
            needed.add("hemisphere")
        for s in labels:
            if not isinstance(tables[s], pd.DataFrame):
                raise ValueError(
                    f"electrodes[{s!r}] must be a pandas DataFrame; got {type(tables[s]).__name__}.")
            tables[s] = complete_table(tables[s], needed)
            if len(tables[s]) == 0 or len(tables[s]) > n_columns:
                raise ValueError(
                    f"electrodes[{s!r}] has {len(tables[s])} rows but X has {n_columns} channel "
                    "rows; give one row per real channel (padding channels come after them)."
                )
        return X, session, tables, labels

    def _spatial_ids(self, table, session):
        if self.encoding.kind == "coordinates":
            return coordinate_bins(self.encoding.coordinates(table, session), self.coord_bins)
        lookup = {str(v): i + 1 for i, v in enumerate(self.vocabulary)}
        return np.array([lookup.get(l, 0) for l in self.encoding.labels(table, session)])[:, None]

    def _arrays(self, X, session, tables, labels, *, max_channels, name):
        n_segments, n_columns, n_times = X.shape
        used = max(len(tables[s]) for s in labels)
        width = used if max_channels is None else max_channels
        if used > width:
            raise ValueError(
                f"a session has {used} channels but the model was fitted with at most {width}.")
        k = 3 if self.encoding.kind == "coordinates" else 1
        x_out = np.zeros((n_segments, width, n_times), dtype=np.float32)
        spatial_ids = np.zeros((n_segments, width, k), dtype=np.int64)
        group_ids = np.full((n_segments, width), -1, dtype=np.int64)
        channel_mask = np.zeros((n_segments, width), dtype=bool)
        n_channels = {}
        for s in labels:
            rows = np.flatnonzero(session == s)
            table = tables[s]
            n_ch = len(table)
            n_channels[s] = n_ch
            block = X[rows]
            real, pad = block[:, :n_ch], block[:, n_ch:]
            if np.isnan(real).any():
                ch = int(np.flatnonzero(np.isnan(real).any(axis=(0, 2)))[0])
                raise ValueError(
                    f"{name} has NaN inside channel {channel_names(table)[ch]!r} (row {ch}) of "
                    f"session {s!r}, which its electrode table lists as present. NaN marks padding "
                    "channels only (rows after the table); interpolate or drop the bad samples "
                    "first."
                )
            if pad.size and not np.isnan(pad).all():
                raise ValueError(
                    f"{name} has values in channel rows {n_ch}..{n_columns - 1} of session {s!r}, "
                    f"but its electrode table lists only {n_ch} channels; channels beyond the "
                    "table are padding and must be all-NaN (or add them to the table)."
                )
            # Per-segment, per-channel z-score (the reference normalisation); flat channels -> 0.
            mean = real.mean(axis=2, keepdims=True)
            std = real.std(axis=2, keepdims=True)
            x_out[rows, :n_ch] = np.where(std > 0, (real - mean) / np.where(std > 0, std, 1), 0.0)
            spatial_ids[rows, :n_ch] = self._spatial_ids(table, s)
            if self.masking is not None:
                group_ids[rows, :n_ch] = self.masking.groups(table, s)
            channel_mask[rows, :n_ch] = True
        arrays = {"x": x_out, "spatial_ids": spatial_ids, "channel_mask": channel_mask}
        if self.masking is not None:
            arrays["group_ids"] = group_ids
        return LayoutInputs(arrays, session, n_channels)
