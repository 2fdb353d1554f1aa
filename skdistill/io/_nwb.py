"""NWB 2.x files as written by pynwb-based tools: units table, LFP, behaviour time series.

neo's NWBIO reads only a subset of the NWB files found in the wild, so this reader goes
through pynwb directly.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from ..data import Recording
from ._binning import _n_bins, bin_spikes, signal_to_bins
from ._common import as_seconds, check_lfp, existing_path

__all__ = ["read_nwb"]

_AXES = ("x", "y", "z")


def _series_times(series) -> np.ndarray:
    n = len(series.data)
    if series.timestamps is not None:
        return np.asarray(series.timestamps[:], dtype=float)
    return float(series.starting_time or 0.0) + np.arange(n) / float(series.rate)


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
    try:
        with h5py.File(path, "r") as f:
            version = f.attrs.get("nwb_version", b"")
            if isinstance(version, bytes):
                version = version.decode()
            version = str(np.asarray(version).ravel()[0]) if np.ndim(version) else str(version)
    except OSError:
        raise ValueError(f"'{path}' is not an HDF5 file, so it is not an NWB 2 file.") from None
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
        Binned interval, seconds on the file's clock. Default: the interval that every
        behaviour series and the LFP cover; with spikes only, 0 to the bin after the last spike.

    Returns
    -------
    Recording
        ``lfp`` in volts (``conversion``, ``offset`` and ``channel_conversion`` applied);
        ``channels`` from the electrodes table (``name`` = its ``label`` column when present,
        ``location``, ``group_name`` and ``x, y, z`` as stored in the file); ``units`` with
        ``name``, ``channel`` and ``location`` of each unit's first electrode.
    """
    from pynwb import NWBHDF5IO

    bin_size = as_seconds(bin_size, "bin_size")
    path = existing_path(path)
    _check_nwb2(path)
    with NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
        nwbfile = io.read()
        session = session or nwbfile.session_id or nwbfile.identifier

        # ---- LFP
        lfp = lfp_rate = lfp_t0 = None
        channels = pd.DataFrame({"name": []})
        candidates = _lfp_candidates(nwbfile) if electrical_series is not False else []
        if electrical_series:
            chosen = [c for c in candidates if c[0] == electrical_series]
            if not chosen:
                raise ValueError(
                    f"{path} has no ElectricalSeries named {electrical_series!r}; it has "
                    f"{[c[0] for c in candidates]}."
                )
        else:
            chosen = [c for c in candidates if c[2]] or candidates
        if len(chosen) > 1:
            raise ValueError(
                f"{path} has several ElectricalSeries {[c[0] for c in chosen]}; pass "
                "electrical_series='<name>' to pick the LFP (or False for none)."
            )
        if chosen:
            series = chosen[0][1]
            lfp = _series_values(series)
            if series.channel_conversion is not None:
                lfp = lfp * np.asarray(series.channel_conversion[:], dtype=float)[None, :]
            times = _series_times(series)
            lfp_rate = float(series.rate) if series.rate else round(float(1.0 / np.median(np.diff(times))), 6)
            lfp_t0 = float(times[0])
            channels = _electrode_table(series.electrodes)
            channels["units"] = "V"

        # ---- behaviour
        available = _behavior_candidates(nwbfile)
        if behavior is None:
            picked = available
        else:
            names = [n for n, _ in available]
            missing = [b for b in behavior if b not in names]
            if missing:
                raise ValueError(f"{path} has no behaviour series {missing}; it has {names}.")
            picked = [c for c in available if c[0] in behavior]
        beh_series = []
        for name, series in picked:
            values, times = _series_values(series), _series_times(series)
            if velocity:
                values = np.gradient(values, times, axis=0)
            axes = _AXES if values.shape[1] <= 3 else [str(i) for i in range(values.shape[1])]
            prefix = "d_" if velocity else ""
            beh_series.append((values, times, [f"{prefix}{name}_{a}" for a in axes[: values.shape[1]]]))

        # ---- units
        unit_times, unit_rows = [], []
        if nwbfile.units is not None and len(nwbfile.units) > 0:
            units_table = nwbfile.units
            ids = np.asarray(units_table.id[:])
            has_electrodes = "electrodes" in units_table.colnames
            for i, uid in enumerate(ids):
                unit_times.append(np.asarray(units_table["spike_times"][i], dtype=float))
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

    # ---- bin grid
    starts = [t[0] for _, t, _ in beh_series] + ([lfp_t0] if lfp is not None else [])
    stops = [t[-1] + np.median(np.diff(t)) if len(t) > 1 else t[-1] for _, t, _ in beh_series]
    if lfp is not None:
        stops.append(lfp_t0 + len(lfp) / lfp_rate)
    if t_start is None:
        t_start = max(starts) if starts else 0.0
    if t_stop is None:
        if stops:
            t_stop = min(stops)
        else:
            last = max((t.max() for t in unit_times if t.size), default=float(t_start))
            t_stop = t_start + bin_size * (_n_bins(t_start, last, bin_size) + 1)
    t_start, t_stop = float(t_start), float(t_stop)
    n_bins = _n_bins(t_start, t_stop, bin_size)
    if n_bins < 1:
        raise ValueError(
            f"{path}: the interval [{t_start:g}, {t_stop:g}) s holds no whole bin of {bin_size:g} s."
        )

    if lfp is not None:
        first = int(round((t_start - lfp_t0) * lfp_rate))
        if first < 0:
            raise ValueError(f"t_start={t_start:g} s is before the LFP starts ({lfp_t0:g} s).")
        last = min(len(lfp), int(np.floor((t_stop - lfp_t0) * lfp_rate + 1e-9)))
        lfp = lfp[first:last]
        check_lfp(lfp, channels, str(path))

    behavior_values, behavior_names = None, []
    if beh_series:
        behavior_values = np.concatenate(
            [signal_to_bins(v, t, t_start, bin_size, n_bins) for v, t, _ in beh_series], axis=1
        )
        behavior_names = [n for _, _, names in beh_series for n in names]

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
        annotations={"source": str(path), "reader": "read_nwb", "lfp_units": "V"},
    )
