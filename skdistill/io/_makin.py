"""The Makin / O'Doherty "Indy" reaching data: MAT v7.3 kinematics + spikes, NWB 1 broadband.

Layout (MATLAB v7.3, i.e. HDF5 behind a 512-byte header; MATLAB stores arrays transposed):

* ``t`` (1, T): kinematic sample times, seconds;
* ``cursor_pos`` and ``target_pos`` (2, T): positions (mm) at ``t``;
* ``spikes`` (n_units, n_channels): object references to spike-time vectors (seconds), one
  cell per channel x unit, the first unit of each channel being the unsorted one; empty
  cells are marked with the ``MATLAB_empty`` attribute;
* ``chan_names`` (1, n_channels): references to MATLAB char arrays (uint16).

The broadband NWB (NWB 1.x, which pynwb cannot read) holds a group with ``data``
(n_samples, n_channels, attribute ``conversion`` to volts), ``timestamps`` (seconds) and
``electrode_names``; it is found by those three names (``/acquisition/timeseries/broadband``
in the published files).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from ..data import Recording
from ._binning import _n_bins, bin_spikes, signal_to_bins
from ._common import as_seconds, check_lfp, existing_path, open_hdf5

__all__ = ["load_indy"]


def _vector(ds) -> np.ndarray:
    if ds.attrs.get("MATLAB_empty", 0):
        return np.zeros(0)
    return np.asarray(ds[()], dtype=float).ravel()


def _matlab_string(ds) -> str:
    if ds.attrs.get("MATLAB_empty", 0):
        return ""
    return "".join(chr(c) for c in np.asarray(ds[()]).ravel())


def _time_major(array: np.ndarray, n_times: int, name: str) -> np.ndarray:
    array = np.asarray(array, dtype=float)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array; got shape {array.shape}.")
    if array.shape[1] == n_times and array.shape[0] != n_times:
        array = array.T
    if array.shape[0] != n_times:
        raise ValueError(
            f"{name} has shape {array.shape} but t has {n_times} samples; the file does not "
            "follow the Indy layout."
        )
    return array


def _read_indy_mat(path: Path, include_unsorted: bool):
    if not h5py.is_hdf5(path):
        raise ValueError(
            f"'{path}' is not a MATLAB v7.3 (HDF5) file; the Indy kinematics files are. "
            "Flint 2012 files (MAT v5) are read with load_flint."
        )
    f = open_hdf5(path, "MATLAB v7.3 (Indy) file")
    with f:
        missing = [k for k in ("t", "cursor_pos") if k not in f]
        if missing:
            raise ValueError(
                f"'{path}' lacks {missing}; an Indy file holds t, cursor_pos, target_pos "
                f"(and spikes, chan_names). It holds {sorted(f.keys())}."
            )
        t = np.asarray(f["t"][()], dtype=float).ravel()
        cursor = _time_major(f["cursor_pos"][()], len(t), "cursor_pos")
        target = _time_major(f["target_pos"][()], len(t), "target_pos") if "target_pos" in f else None
        names = None
        if "chan_names" in f:
            names = [_matlab_string(f[ref]) for ref in np.asarray(f["chan_names"][()]).ravel()]
        trains, unit_rows = [], []
        if "spikes" in f:
            refs = np.asarray(f["spikes"][()])
            if names is not None and refs.shape[1] != len(names) and refs.shape[0] == len(names):
                refs = refs.T
            # refs: (n_units, n_channels) as MATLAB's (channels x units) cell is stored transposed
            for ch in range(refs.shape[1]):
                chan = names[ch] if names is not None else f"chan{ch + 1}"
                for unit in range(refs.shape[0]):
                    if unit == 0 and not include_unsorted:
                        continue
                    times = _vector(f[refs[unit, ch]])
                    if times.size == 0:
                        continue
                    trains.append(times)
                    unit_rows.append(
                        {"name": f"{chan}_u{unit}", "channel": chan, "unit": unit, "sorted": unit > 0}
                    )
    return t, cursor, target, trains, unit_rows


def _find_broadband(f: h5py.File):
    preferred = "acquisition/timeseries/broadband"
    if preferred in f and {"data", "timestamps"} <= set(f[preferred].keys()):
        return f[preferred]
    hits = []

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and {"data", "timestamps", "electrode_names"} <= set(obj.keys()):
            hits.append(obj)

    f.visititems(visit)
    return hits[0] if hits else None


def read_indy_broadband(nwb_path, t_start=None, t_stop=None):
    """(lfp float32 volts, rate Hz, t0 s, channel names) from an Indy broadband NWB 1 file."""
    nwb_path = existing_path(nwb_path, kind="file")
    with open_hdf5(nwb_path, "NWB 1 broadband file") as f:
        group = _find_broadband(f)
        if group is None:
            raise ValueError(
                f"'{nwb_path}' holds no broadband series (a group with data, timestamps and "
                "electrode_names, e.g. /acquisition/timeseries/broadband)."
            )
        timestamps = np.asarray(group["timestamps"][()], dtype=float).ravel()
        # timestamps carry float noise; a rate from their spacing is rounded to a micro-hertz
        rate = round(float(1.0 / np.median(np.diff(timestamps))), 6)
        first = 0 if t_start is None else int(np.searchsorted(timestamps, t_start - 0.5 / rate))
        last = len(timestamps) if t_stop is None else int(np.searchsorted(timestamps, t_stop - 0.5 / rate))
        data = group["data"]
        conversion = float(data.attrs.get("conversion", 1.0))
        lfp = np.asarray(data[first:last], dtype=np.float32) * np.float32(conversion)
        if "electrode_names" in group:
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in group["electrode_names"][()]]
        else:
            names = [f"ch{i:03d}" for i in range(lfp.shape[1])]
    if lfp.ndim != 2 or lfp.shape[1] != len(names):
        raise ValueError(
            f"'{nwb_path}': broadband data has shape {lfp.shape} but there are {len(names)} "
            "electrode_names; expected (n_samples, n_channels)."
        )
    return lfp, rate, float(timestamps[first]), names


def load_indy(mat_path, nwb_path=None, bin_size=0.01, *, session=None, include_unsorted=True) -> Recording:
    """Load one Makin/O'Doherty "Indy" session: cursor velocity, binned spikes, broadband LFP.

    Parameters
    ----------
    mat_path : str or path-like
        The session's MATLAB v7.3 file (``t``, ``cursor_pos``, ``target_pos``, ``spikes``,
        ``chan_names``), e.g. ``indy_20160622_01.mat``.
    nwb_path : str or path-like, optional
        The session's broadband NWB file. Without it the Recording has no LFP.
    bin_size : float, default=0.01
        Bin width, seconds.
    session : str, optional
        Defaults to the MAT file stem.
    include_unsorted : bool, default=True
        Keep the first (unsorted, "hash") unit of each channel.

    Returns
    -------
    Recording
        ``behavior`` = cursor velocity ``(vx, vy)`` in position units per second (mm/s), the
        gradient of ``cursor_pos`` against ``t`` averaged in each bin; ``spikes`` binned from
        the MAT spike times; ``lfp`` the broadband in volts (float32, its own rate of about
        24.4 kHz, cut to the binned interval and starting at ``t_start``). The bins cover the
        kinematic samples, shortened to the broadband's span when it is given.
    """
    bin_size = as_seconds(bin_size, "bin_size")
    mat_path = existing_path(mat_path, kind="file")
    try:
        t, cursor, target, trains, unit_rows = _read_indy_mat(mat_path, include_unsorted)
    except (OSError, KeyError, RuntimeError) as exc:
        raise ValueError(
            f"'{mat_path}' cannot be read ({type(exc).__name__}: {exc}); the file is truncated or "
            "corrupt."
        ) from None
    if len(t) < 2 or not np.all(np.diff(t) > 0):
        raise ValueError(f"'{mat_path}': t must hold at least two increasing sample times.")
    dt = float(np.median(np.diff(t)))
    t_start, t_stop = float(t[0]), float(t[-1] + dt)

    lfp = lfp_rate = None
    channels = pd.DataFrame({"name": []})
    if nwb_path is not None:
        lfp, lfp_rate, lfp_t0, names = read_indy_broadband(nwb_path, t_start, t_stop)
        # bins start on an LFP sample so that LFP row 0 is at t_start
        t_start = lfp_t0
        t_stop = min(t_stop, lfp_t0 + len(lfp) / lfp_rate)
        channels = pd.DataFrame({"name": names, "units": "V"})
    n_bins = _n_bins(t_start, t_stop, bin_size)
    if n_bins < 1:
        raise ValueError(f"'{mat_path}': the session is shorter than one bin of {bin_size:g} s.")
    if lfp is not None:
        lfp = lfp[: int(np.floor(n_bins * bin_size * lfp_rate + 1e-6))]
        check_lfp(lfp, channels, str(nwb_path))

    velocity = np.gradient(cursor, t, axis=0)
    behavior = signal_to_bins(velocity, t, t_start, bin_size, n_bins)
    spikes, units = None, pd.DataFrame({"name": []})
    if trains:
        spikes = bin_spikes(trains, bin_size, t_start=t_start, t_stop=t_start + n_bins * bin_size)
        units = pd.DataFrame(unit_rows)
    annotations = {"source": str(mat_path), "reader": "load_indy", "behavior_units": "mm/s"}
    if target is not None:
        annotations["target_pos"] = signal_to_bins(target, t, t_start, bin_size, n_bins)
    if nwb_path is not None:
        annotations.update(nwb=str(nwb_path), lfp_units="V")
    return Recording(
        session=session or mat_path.stem,
        spikes=spikes,
        behavior=behavior,
        bin_rate=1.0 / bin_size,
        lfp=lfp,
        lfp_rate=lfp_rate,
        channels=channels,
        units=units,
        behavior_names=["vx", "vy"],
        t_start=t_start,
        annotations=annotations,
    )
