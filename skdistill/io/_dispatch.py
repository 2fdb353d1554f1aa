"""``read_recording``: pick the reader from the file (extension, then content)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.io

from ..data import Recording
from ._braintreebank import _TRIAL_FILE, load_brain_treebank
from ._brainvision import read_bids_ieeg
from ._common import as_seconds, check_lfp, existing_path, open_hdf5
from ._flint import load_flint
from ._makin import _find_broadband, load_indy, read_indy_broadband
from ._neo import read_neo
from ._nwb import read_nwb

__all__ = ["read_recording", "SUPPORTED_LAYOUTS"]

SUPPORTED_LAYOUTS = (
    "NWB 2 (.nwb, read with pynwb: units, ElectricalSeries, behaviour series)",
    "Makin/O'Doherty Indy broadband NWB 1 (.nwb with acquisition/timeseries/broadband)",
    "BrainVision with optional iEEG-BIDS sidecars (.vhdr)",
    "Makin/O'Doherty Indy kinematics (MAT v7.3 .mat with t and cursor_pos)",
    "Flint 2012 (MAT v5 .mat with a Subject struct)",
    "Brain Treebank (root folder, or sub_{k}_trial{nnn}.h5 inside it)",
    "any other format neo.io.get_io recognises",
)


def _unknown(path: Path, detail: str) -> ValueError:
    layouts = "\n  - ".join(SUPPORTED_LAYOUTS)
    return ValueError(f"Unknown file layout for '{path}': {detail}. Supported layouts:\n  - {layouts}")


def _corrupt(path: Path, exc: BaseException) -> ValueError:
    return ValueError(
        f"'{path}' is a corrupt HDF5 file ({type(exc).__name__}: {exc}); copy or download it again."
    )


def _nwb_version(path: Path) -> str:
    with open_hdf5(path, "NWB file") as f:
        version = f.attrs.get("nwb_version", "")
        if isinstance(version, np.ndarray):
            version = version.ravel()[0] if version.size else ""
        if isinstance(version, bytes):
            version = version.decode()
        if not version and "nwb_version" in f:
            version = f["nwb_version"][()]
            version = version.decode() if isinstance(version, bytes) else str(version)
        return str(version)


def _indy_broadband_recording(path: Path, bin_size: float, session=None) -> Recording:
    lfp, rate, t0, names = read_indy_broadband(path)
    channels = pd.DataFrame({"name": names, "units": "V"})
    check_lfp(lfp, channels, str(path))
    return Recording(
        session=session or path.stem, lfp=lfp, lfp_rate=rate, bin_rate=1.0 / bin_size,
        channels=channels, t_start=t0,
        annotations={"source": str(path), "reader": "load_indy (broadband only)", "lfp_units": "V"},
    )


def _brain_treebank_root(path: Path):
    if path.is_dir() and (path / "electrode_labels").is_dir():
        return path
    return None


def read_recording(path, bin_size=0.01, **kwargs) -> Recording:
    """Read any supported file into a :class:`~skdistill.data.Recording`.

    The reader is chosen from the path:

    * ``.nwb``: NWB 2 -> :func:`read_nwb`; NWB 1 with a broadband series (the Indy files) ->
      LFP-only Recording (use :func:`load_indy` to join it with the kinematics);
    * ``.vhdr`` -> :func:`read_bids_ieeg` (BrainVision + BIDS sidecars when present);
    * ``.mat``: HDF5 (v7.3) with ``t`` and ``cursor_pos`` -> :func:`load_indy`; v5 with a
      ``Subject`` struct -> :func:`load_flint`;
    * a Brain Treebank folder (with ``electrode_labels/``; pass ``subject=`` and ``trial=``) or a
      ``sub_{k}_trial{nnn}.h5`` file in it -> :func:`load_brain_treebank`;
    * anything else that ``neo.io.get_io`` recognises -> :func:`read_neo`.

    Parameters
    ----------
    path : str or path-like
    bin_size : float, default=0.01
        Bin width, seconds (ignored by the Brain Treebank loader, which has no bins).
    **kwargs
        Passed on to the chosen reader.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When the layout is not one of the supported ones (the message lists them).
    """
    bin_size = as_seconds(bin_size, "bin_size")
    path = existing_path(path, "file or folder")
    suffix = path.suffix.lower()

    root = _brain_treebank_root(path)
    if root is not None:
        if "subject" not in kwargs or "trial" not in kwargs:
            raise ValueError(
                f"'{path}' is a Brain Treebank folder; pass subject=<k> and trial=<nnn> to say which "
                "sub_{k}_trial{nnn}.h5 to read."
            )
        return load_brain_treebank(root, **kwargs)
    match = _TRIAL_FILE.match(path.name)
    if match is not None:
        parent = path.parent
        root = parent.parent if parent.name == "all_subject_data" else parent
        return load_brain_treebank(
            root, int(match.group("subject")), int(match.group("trial")), **kwargs
        )
    if path.is_dir():
        raise _unknown(path, "a folder that is not a Brain Treebank root (no electrode_labels/)")

    if suffix == ".nwb":
        if not h5py.is_hdf5(path):
            raise _unknown(path, "an .nwb file that is not HDF5")
        version = _nwb_version(path)
        if version.lstrip("NWB-").startswith("1") or not version:
            try:
                with open_hdf5(path, "NWB 1 file") as f:
                    has_broadband = _find_broadband(f) is not None
            except (OSError, RuntimeError, KeyError) as exc:
                raise _corrupt(path, exc) from None
            if has_broadband:
                return _indy_broadband_recording(path, bin_size, kwargs.get("session"))
            raise _unknown(path, f"an NWB 1 file (nwb_version {version or 'missing'}) without a broadband series")
        return read_nwb(path, bin_size, **kwargs)
    if suffix == ".vhdr":
        return read_bids_ieeg(path, bin_size, **kwargs)
    if suffix == ".mat":
        if h5py.is_hdf5(path):
            try:
                with open_hdf5(path, "MATLAB v7.3 file") as f:
                    keys = sorted(f.keys())
            except (OSError, RuntimeError, KeyError) as exc:
                raise _corrupt(path, exc) from None
            if {"t", "cursor_pos"} <= set(keys):
                return load_indy(path, bin_size=bin_size, **kwargs)
            raise _unknown(path, f"a MAT v7.3 file holding {[k for k in keys if not k.startswith('#')]}, "
                                 "not the Indy variables t and cursor_pos")
        try:
            names = [v[0] for v in scipy.io.whosmat(str(path), appendmat=False)]
        except (ValueError, NotImplementedError, TypeError, OSError, EOFError, KeyError,
                IndexError, OverflowError, MemoryError) as exc:
            raise ValueError(
                f"'{path}' cannot be read as a MATLAB file ({type(exc).__name__}: {exc}); it is "
                "truncated, corrupt or not a .mat file."
            ) from None
        if "Subject" in names:
            return load_flint(path, bin_size=bin_size, **kwargs)
        raise _unknown(path, f"a MAT v5 file holding {names}, not the Flint 2012 Subject struct")
    try:
        import neo

        neo.io.get_io(str(path))
    except (IOError, OSError, ValueError):
        raise _unknown(path, f"no reader for the extension {suffix or '(none)'!r}") from None
    return read_neo(path, bin_size, **kwargs)
