"""NWB 2.x files as written by pynwb-based tools: units table, LFP, behaviour time series.

neo's NWBIO reads only a subset of the NWB files found in the wild, so this reader goes
through pynwb directly.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import FLOAT32_MAX, Recording
from ._binning import _n_bins, _seconds, bin_spikes, signal_to_bins
from ._common import as_seconds, check_grid_bytes, existing_path, open_hdf5

__all__ = ["read_nwb"]

_AXES = ("x", "y", "z")

#: bytes of one chunk read from an ElectricalSeries (rows x channels x the stored item size);
#: the LFP is converted to floats one chunk at a time, so the peak memory of reading is the
#: output array plus about two chunks
LFP_CHUNK_BYTES = 64 * 2**20


def _series_times(series) -> np.ndarray:
    n = len(series.data)
    if series.timestamps is not None:
        return np.asarray(series.timestamps[:], dtype=float)
    return float(series.starting_time or 0.0) + np.arange(n) / float(series.rate)


def _read_rows(data, start: int, stop: int) -> np.ndarray:
    """Rows ``[start, stop)`` of a stored dataset (one chunk; the hook the chunking test spies on)."""
    return np.asarray(data[start:stop])


def _chunked_series(series, first: int, last: int, path, dtype, chunk_bytes) -> np.ndarray:
    """Rows ``[first, last)`` of an ElectricalSeries in volts, read and converted chunk by chunk.

    Only the selected rows are read; each chunk is scaled (``conversion``, ``offset``,
    ``channel_conversion``), checked (no infinity, nothing beyond float32) and written into the
    preallocated output, so the full series is never held as float64.
    """
    data = series.data
    shape = data.shape
    n_channels = 1 if len(shape) == 1 else int(np.prod(shape[1:]))
    # chunk_bytes bounds the float64 working copy of one chunk
    rows = max(1, int(chunk_bytes // (n_channels * 8)))
    out = np.empty((last - first, n_channels), dtype=dtype)
    scale = float(series.conversion)
    offset = float(getattr(series, "offset", 0.0) or 0.0)
    channel_scale = None
    if series.channel_conversion is not None:
        channel_scale = np.asarray(series.channel_conversion[:], dtype=float)[None, :]
    any_nan = np.zeros(n_channels, bool)
    all_nan = np.ones(n_channels, bool)
    for a in range(first, last, rows):
        b = min(a + rows, last)
        try:
            chunk = _read_rows(data, a, b)
        except (OSError, RuntimeError, KeyError) as exc:
            raise ValueError(
                f"'{path}': rows {a}..{b} of ElectricalSeries {series.name!r} cannot be read "
                f"({type(exc).__name__}: {exc}); the file is truncated or corrupt."
            ) from None
        chunk = chunk.reshape(b - a, n_channels).astype(np.float64)
        chunk *= scale
        if offset:
            chunk += offset
        if channel_scale is not None:
            chunk *= channel_scale
        with np.errstate(invalid="ignore"):
            bad = ~(np.abs(chunk, out=np.empty_like(chunk)) <= FLOAT32_MAX) & ~np.isnan(chunk)
        if bad.any():
            row, col = (int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"'{path}': ElectricalSeries {series.name!r} holds {chunk[row, col]:g} (row {a + row}, "
                f"channel {col}), infinite or beyond the float32 range."
            )
        nan = np.isnan(chunk)
        any_nan |= nan.any(axis=0)
        all_nan &= nan.all(axis=0)
        out[a - first : b - first] = chunk
    partial = any_nan & ~all_nan
    if partial.any():
        col = int(np.flatnonzero(partial)[0])
        raise ValueError(
            f"LFP read from {path} has NaN value(s) inside channel {col} of ElectricalSeries "
            f"{series.name!r}, which is present there. NaN marks a channel absent from a whole "
            "session; interpolate or drop the bad samples first."
        )
    return out


def _series_values(series) -> np.ndarray:
    values = np.asarray(series.data[:], dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    values = values * float(series.conversion)
    return values + float(getattr(series, "offset", 0.0) or 0.0)


def _lfp_candidates(nwbfile):
    """(name, series, in_lfp_container) for every ElectricalSeries in processing and acquisition."""
    from pynwb.ecephys import ElectricalSeries

    found = []

    def visit(container):
        for obj in container.values() if hasattr(container, "values") else []:
            if isinstance(obj, ElectricalSeries):
                found.append((obj.name, obj, False))
            elif hasattr(obj, "electrical_series"):
                for series in obj.electrical_series.values():
                    found.append((series.name, series, type(obj).__name__ in ("LFP", "FilteredEphys")))

    for module in nwbfile.processing.values():
        visit(module.data_interfaces)
    visit(nwbfile.acquisition)
    return found


def _behavior_candidates(nwbfile):
    """(name, series) of behavioural TimeSeries in processing['behavior'] and acquisition."""
    from pynwb import TimeSeries
    from pynwb.ecephys import ElectricalSeries

    found = []

    def visit(container):
        for obj in container.values():
            if isinstance(obj, ElectricalSeries):
                continue
            if isinstance(obj, TimeSeries):
                found.append((obj.name, obj))
                continue
            for attr in ("spatial_series", "time_series"):
                for series in (getattr(obj, attr, None) or {}).values():
                    found.append((series.name, series))

    if "behavior" in nwbfile.processing:
        visit(nwbfile.processing["behavior"].data_interfaces)
    visit(nwbfile.acquisition)
    return found


def _check_nwb2(path: Path):
    with open_hdf5(path, "NWB 2 file") as f:
        version = f.attrs.get("nwb_version", b"")
        if isinstance(version, bytes):
            version = version.decode()
        version = str(np.asarray(version).ravel()[0]) if np.ndim(version) else str(version)
    if not version or version.lstrip("NWB-").startswith("1"):
        raise ValueError(
            f"'{path}' is an NWB 1.x file (nwb_version {version or 'missing'}), which pynwb cannot "
            "read. For the Makin/O'Doherty broadband files use skdistill.io.load_indy(mat_path, "
            "nwb_path=...) or read_recording(path)."
        )


def _electrode_table(region) -> pd.DataFrame:
    table = region.table
    rows = np.asarray(region.data[:], dtype=int)
    ids = np.asarray(table.id[:])[rows]
    out = pd.DataFrame({"name": [f"electrode{i}" for i in ids]})
    colnames = set(table.colnames)
    if "label" in colnames:
        out["name"] = [str(table["label"][i]) for i in rows]
    for col in ("location", "group_name", "x", "y", "z"):
        if col in colnames:
            out[col] = [table[col][i] for i in rows]
    return out


def read_nwb(
    path,
    bin_size=0.01,
    *,
    session=None,
    electrical_series=None,
    behavior=None,
    velocity=False,
    t_start=None,
    t_stop=None,
    grid="neural",
    lfp_dtype=np.float64,
    chunk_bytes=None,
) -> Recording:
    """Read an NWB 2 file (units, LFP, behaviour) with pynwb into a :class:`Recording`.

    Parameters
    ----------
    path : str or path-like
        NWB 2.x file (HDF5).
    bin_size : float, default=0.01
        Width of the spike / behaviour bins, seconds.
    session : str, optional
        Defaults to the file's ``session_id``, else its ``identifier``.
    electrical_series : str, optional
        Name of the ElectricalSeries to use as LFP. Default: the only one in an ``LFP`` (or
        ``FilteredEphys``) container of a processing module, else the only ElectricalSeries of
        the file; several candidates raise a ``ValueError`` listing them. ``False``: no LFP.
    behavior : list of str, optional
        Names of the TimeSeries / SpatialSeries to use as behaviour. Default: every series in
        ``processing["behavior"]`` (e.g. ``Position`` -> its SpatialSeries) and every
        non-electrical TimeSeries in ``acquisition``. Each bin gets the mean of its samples
        (linear interpolation at the bin centres when sampled more coarsely than the bins).
    velocity : bool, default=False
        Use the time derivative (``numpy.gradient`` against the timestamps) of each behaviour
        series instead of the series, e.g. cursor velocity from a ``Position``.
    t_start, t_stop : float, optional
        Binned interval, seconds on the file's clock; each overrides the ``grid`` default.
    grid : {"neural", "shared"}, default="neural"
        The default interval when ``t_start`` / ``t_stop`` are not given (see ``docs/io.md``).
        ``"neural"``: the span of the neural data -- the LFP's samples when there is an LFP,
        else the units' ``obs_intervals`` (or 0 to the bin after the last spike); with
        behaviour only, the union of the behaviour series. Behaviour series are put on that
        grid and are **NaN outside their own span** (a ``UserWarning`` says which series and
        where; ``annotations["behavior_span"]`` records every series' span). ``"shared"``: the
        interval that every behaviour series and the LFP cover; a ``ValueError`` names the
        series that do not overlap and what to pass instead.
    lfp_dtype : numpy dtype, default=numpy.float64
        dtype of the returned LFP. ``numpy.float32`` halves the memory of a large series.
    chunk_bytes : int, optional
        Size of the chunks the ElectricalSeries is read in (default
        ``skdistill.io._nwb.LFP_CHUNK_BYTES``, 64 MiB). Only the rows of ``[t_start, t_stop)``
        are read.

    Returns
    -------
    Recording
        ``lfp`` in volts (``conversion``, ``offset`` and ``channel_conversion`` applied);
        ``channels`` from the electrodes table (``name`` = its ``label`` column when present,
        ``location``, ``group_name`` and ``x, y, z`` as stored in the file); ``units`` with
        ``name``, ``channel`` and ``location`` of each unit's first electrode.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        A truncated or corrupt file, a file with no units, ElectricalSeries or behaviour, an
        interval holding no whole bin, a bin grid above ``skdistill.io.MAX_BIN_BYTES``.
    """
    from pynwb import NWBHDF5IO

    bin_size = as_seconds(bin_size, "bin_size")
    if grid not in ("neural", "shared"):
        raise ValueError(f"grid must be 'neural' or 'shared'; got {grid!r}.")
    t_start = None if t_start is None else _seconds(t_start, "t_start")
    t_stop = None if t_stop is None else _seconds(t_stop, "t_stop")
    if t_start is not None and t_stop is not None and t_stop - t_start < bin_size:
        raise ValueError(
            f"t_stop - t_start = {t_stop - t_start:g} s is shorter than one bin of {bin_size:g} s; "
            "pass t_stop > t_start + bin_size."
        )
    if isinstance(behavior, str):
        raise ValueError(f"behavior must be a list of series names, e.g. [{behavior!r}].")
    lfp_dtype = np.dtype(lfp_dtype)
    if lfp_dtype.kind != "f":
        raise ValueError(f"lfp_dtype must be a float dtype (float32 or float64); got {lfp_dtype}.")
    chunk_bytes = LFP_CHUNK_BYTES if chunk_bytes is None else int(chunk_bytes)
    if chunk_bytes < 1:
        raise ValueError(f"chunk_bytes must be a positive number of bytes; got {chunk_bytes!r}.")
    path = existing_path(path, kind="file")
    _check_nwb2(path)
    try:
        io = NWBHDF5IO(str(path), "r", load_namespaces=True)
        nwbfile = io.read()
    except Exception as exc:  # noqa: BLE001 - pynwb/hdmf/h5py raise many types on a bad file
        raise ValueError(
            f"'{path}' is an HDF5 file but pynwb cannot read it as NWB 2 ({type(exc).__name__}: "
            f"{exc}); the file is truncated, corrupt or not written to the NWB schema."
        ) from None
    with io:
        return _read_open_nwb(nwbfile, path, bin_size, session, electrical_series, behavior,
                              velocity, t_start, t_stop, grid, lfp_dtype, chunk_bytes)


def _span(times: np.ndarray) -> tuple[float, float]:
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    return float(times[0]), float(times[-1] + step)


def _read_open_nwb(nwbfile, path, bin_size, session, electrical_series, behavior, velocity,
                   t_start, t_stop, grid, lfp_dtype, chunk_bytes):
    session = session or nwbfile.session_id or nwbfile.identifier

    # ---- LFP (chosen now, read later: only the binned interval)
    lfp_series = lfp_rate = lfp_t0 = None
    n_lfp = 0
    channels = pd.DataFrame({"name": []})
    candidates = _lfp_candidates(nwbfile) if electrical_series is not False else []
    if electrical_series:
        chosen = [c for c in candidates if c[0] == electrical_series]
        if not chosen:
            raise ValueError(
                f"{path} has no ElectricalSeries named {electrical_series!r} (electrical_series); "
                f"it has {[c[0] for c in candidates]}."
            )
    else:
        chosen = [c for c in candidates if c[2]] or candidates
    if len(chosen) > 1:
        raise ValueError(
            f"{path} has several ElectricalSeries {[c[0] for c in chosen]}; pass "
            "electrical_series='<name>' to pick the LFP (or False for none)."
        )
    if chosen:
        lfp_series = chosen[0][1]
        n_lfp = int(lfp_series.data.shape[0])
        if lfp_series.timestamps is not None:
            times = np.asarray(lfp_series.timestamps[:], dtype=float)
            lfp_rate = round(float(1.0 / np.median(np.diff(times))), 6)
            lfp_t0 = float(times[0])
        else:
            lfp_rate = float(lfp_series.rate)
            lfp_t0 = float(lfp_series.starting_time or 0.0)
        channels = _electrode_table(lfp_series.electrodes)
        channels["units"] = "V"

    # ---- behaviour
    available = _behavior_candidates(nwbfile)
    if behavior is None:
        picked = available
    else:
        names = [n for n, _ in available]
        missing = [b for b in behavior if b not in names]
        if missing:
            raise ValueError(f"{path} has no behaviour series {missing} (behavior); it has {names}.")
        picked = [c for c in available if c[0] in behavior]
    beh_series = []
    for name, series in picked:
        values, times = _series_values(series), _series_times(series)
        if len(times) == 0:
            continue
        if velocity:
            if len(times) < 2:
                raise ValueError(f"{path}: behaviour series {name!r} has one sample; velocity needs two.")
            values = np.gradient(values, times, axis=0)
        axes = _AXES if values.shape[1] <= 3 else [str(i) for i in range(values.shape[1])]
        prefix = "d_" if velocity else ""
        beh_series.append((values, times, [f"{prefix}{name}_{a}" for a in axes[: values.shape[1]]], name))

    # ---- units
    unit_times, unit_rows, obs = [], [], []
    if nwbfile.units is not None and len(nwbfile.units) > 0:
        units_table = nwbfile.units
        ids = np.asarray(units_table.id[:])
        has_electrodes = "electrodes" in units_table.colnames
        has_obs = "obs_intervals" in units_table.colnames
        for i, uid in enumerate(ids):
            unit_times.append(np.asarray(units_table["spike_times"][i], dtype=float))
            if has_obs:
                intervals = np.asarray(units_table["obs_intervals"][i], dtype=float).reshape(-1, 2)
                if intervals.size:
                    obs.append((intervals[:, 0].min(), intervals[:, 1].max()))
            row = {"name": f"unit{uid}"}
            if has_electrodes:
                elec = units_table["electrodes"][i]
                if len(elec):
                    label = elec["label"].iloc[0] if "label" in elec else f"electrode{elec.index[0]}"
                    row["channel"] = str(label)
                    if "location" in elec:
                        row["location"] = elec["location"].iloc[0]
                    if "group_name" in elec:
                        row["group"] = elec["group_name"].iloc[0]
            unit_rows.append(row)
    if lfp_series is None and not beh_series and not unit_times:
        raise ValueError(
            f"'{path}' is a valid NWB file but holds nothing to read: no units, no "
            "ElectricalSeries (or electrical_series=False) and no behaviour series"
            + (f" named {behavior}" if behavior else "") + "."
        )

    # ---- bin grid
    spans = {name: _span(t) for _, t, _, name in beh_series}
    lfp_span = (lfp_t0, lfp_t0 + n_lfp / lfp_rate) if lfp_series is not None else None
    if unit_times:
        if obs:
            unit_span = (min(a for a, _ in obs), max(b for _, b in obs))
        else:
            first = min((t.min() for t in unit_times if t.size), default=0.0)
            last = max((t.max() for t in unit_times if t.size), default=0.0)
            start = min(0.0, first)
            unit_span = (start, start + bin_size * (_n_bins(start, last, bin_size) + 1))
    else:
        unit_span = None
    if grid == "shared":
        parts = dict(spans)
        if lfp_span is not None:
            parts[f"ElectricalSeries {lfp_series.name!r}"] = lfp_span
        if not parts and unit_span is not None:
            parts["units"] = unit_span
        lo = max(a for a, _ in parts.values())
        hi = min(b for _, b in parts.values())
        if hi - lo < bin_size and (t_start is None or t_stop is None):
            listing = ", ".join(f"{k} [{a:g}, {b:g}) s" for k, (a, b) in parts.items())
            raise ValueError(
                f"{path}: the series do not share an interval of one bin ({listing}). Pass "
                "grid='neural' (behaviour NaN outside its own span), behavior=[...] to pick "
                "series that overlap, or t_start=/t_stop= explicitly."
            )
        default = (lo, hi)
    else:
        if lfp_span is not None:
            default = lfp_span
        elif unit_span is not None:
            default = unit_span
        else:
            default = (min(a for a, _ in spans.values()), max(b for _, b in spans.values()))
    t_start = default[0] if t_start is None else t_start
    t_stop = default[1] if t_stop is None else t_stop
    n_bins = _n_bins(t_start, t_stop, bin_size)
    if n_bins < 1:
        raise ValueError(
            f"{path}: the interval [t_start, t_stop) = [{t_start:g}, {t_stop:g}) s holds no whole bin "
            f"of {bin_size:g} s; pass t_start < t_stop (the data span "
            f"[{default[0]:g}, {default[1]:g}) s) or a smaller bin_size."
        )
    n_columns = len(unit_times) + sum(v.shape[1] for v, _, _, _ in beh_series)
    check_grid_bytes(n_bins, n_columns, bin_size, f"{n_columns} unit/behaviour column(s) of '{path}'")

    lfp = None
    if lfp_series is not None:
        first = int(round((t_start - lfp_t0) * lfp_rate))
        if first < 0:
            raise ValueError(
                f"t_start={t_start:g} s is before the LFP starts ({lfp_t0:g} s); pass "
                f"t_start >= {lfp_t0:g} or electrical_series=False."
            )
        last = min(n_lfp, int(np.floor((t_stop - lfp_t0) * lfp_rate + 1e-9)))
        if last <= first:
            raise ValueError(
                f"{path}: the LFP covers [{lfp_span[0]:g}, {lfp_span[1]:g}) s, nothing of "
                f"[t_start, t_stop) = [{t_start:g}, {t_stop:g}) s; pass an interval inside it or "
                "electrical_series=False."
            )
        lfp = _chunked_series(lfp_series, first, last, path, lfp_dtype, chunk_bytes)

    behavior_values, behavior_names = None, []
    if beh_series:
        outside = []
        for name, (a, b) in spans.items():
            if a > t_start + bin_size or b < t_start + n_bins * bin_size - bin_size:
                outside.append(f"{name!r} covers [{a:g}, {b:g}) s")
        behavior_values = np.concatenate(
            [signal_to_bins(v, t, t_start, bin_size, n_bins, nan_outside=True) for v, t, _, _ in beh_series],
            axis=1,
        )
        behavior_names = [n for _, _, names, _ in beh_series for n in names]
        if outside:
            warnings.warn(
                f"{path}: bins [{t_start:g}, {t_start + n_bins * bin_size:g}) s, and behaviour is NaN "
                "outside each series' own span: " + "; ".join(outside) + ". Pass t_start=/t_stop= (or "
                "grid='shared') to bin only where every series has data, or behavior=[...] to pick "
                "series.",
                UserWarning, stacklevel=3,
            )

    spikes, units = None, pd.DataFrame({"name": []})
    if unit_times:
        spikes = bin_spikes(unit_times, bin_size, t_start=t_start, t_stop=t_start + n_bins * bin_size)
        units = pd.DataFrame(unit_rows)

    return Recording(
        session=session,
        spikes=spikes,
        behavior=behavior_values,
        bin_rate=1.0 / bin_size,
        lfp=lfp,
        lfp_rate=lfp_rate,
        channels=channels,
        units=units,
        behavior_names=behavior_names,
        t_start=t_start,
        annotations={"source": str(path), "reader": "read_nwb", "lfp_units": "V",
                     "behavior_span": spans, "grid": grid},
    )
