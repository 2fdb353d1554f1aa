"""BrainVision recordings with their iEEG-BIDS sidecars (channel types, MNI positions)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import Recording
from ._common import (
    as_seconds,
    check_brainvision_files,
    existing_path,
    read_json,
    read_tsv,
    shaft_and_contact,
)
from ._neo import read_neo

__all__ = ["read_bids_ieeg"]

#: BIDS channel types that carry brain signals (everything else is never LFP by default)
NEURAL_TYPES = ("ECOG", "SEEG", "DBS", "EEG")
#: BIDS channel types that ``behavior_channels="auto"`` treats as behaviour
BEHAVIOR_TYPES = ("MISC",)
_TO_MM = {"m": 1000.0, "cm": 10.0, "mm": 1.0}


def _read_tsv(path: Path) -> pd.DataFrame:
    # BIDS writes "n/a" for missing values; some tools add a UTF-8 byte-order mark
    return read_tsv(path)


def _sidecars(vhdr: Path) -> dict:
    stem = re.sub(r"_ieeg$", "", vhdr.stem)
    found = {"stem": stem}
    channels = vhdr.with_name(f"{stem}_channels.tsv")
    if channels.exists():
        found["channels"] = channels
    sidecar = vhdr.with_name(f"{stem}_ieeg.json")
    if sidecar.exists():
        found["ieeg_json"] = sidecar
    # electrodes.tsv is named by subject/session (and space), not by task/run
    prefix = "_".join(p for p in stem.split("_") if p.startswith(("sub-", "ses-")))
    electrodes = sorted(vhdr.parent.glob(f"{prefix}*_electrodes.tsv")) if prefix else []
    if electrodes:
        found["electrodes"] = electrodes[0]
        coordsystem = Path(str(electrodes[0]).replace("_electrodes.tsv", "_coordsystem.json"))
        if coordsystem.exists():
            found["coordsystem"] = coordsystem
    return found


def read_bids_ieeg(
    vhdr_path,
    bin_size=0.01,
    *,
    session=None,
    behavior_channels="auto",
    lfp_channels=None,
    include_bad=True,
) -> Recording:
    """Read a BrainVision ``.vhdr`` recording with the iEEG-BIDS files beside it.

    The signals are read with neo's ``BrainVisionIO`` (see :func:`read_neo`). From the BIDS
    sidecars in the same folder come the channel types (``*_channels.tsv``), the electrode
    positions (``*_electrodes.tsv``, converted to millimetres with the units of
    ``*_coordsystem.json``) and the recording metadata (``*_ieeg.json``). Each sidecar is
    optional: without them this is :func:`read_neo` with plain channel names.

    Parameters
    ----------
    vhdr_path : str or path-like
        The BrainVision header file.
    bin_size : float, default=0.01
        Width of the behaviour bins, seconds.
    session : str, optional
        Defaults to the BIDS file stem (``sub-..._ses-..._task-..._run-...``).
    behavior_channels : "auto" or list of str, default="auto"
        Channels put onto the bin grid as behaviour. ``"auto"``: channels whose BIDS type is
        ``MISC`` (e.g. the grip-force channel ``MOV_RIGHT``).
    lfp_channels : list of str, optional
        Default: channels whose BIDS type is ECOG, SEEG, DBS or EEG (all non-behaviour channels
        when there is no ``channels.tsv``).
    include_bad : bool, default=True
        Keep channels marked ``status=bad`` in ``channels.tsv`` (the ``status`` column says so).

    Returns
    -------
    Recording
        ``channels`` has ``name, type, units, x, y, z`` (mm, in the space named by
        ``annotations["coordinate_space"]``), ``shaft``, ``contact`` and ``status`` where known.
    """
    bin_size = as_seconds(bin_size, "bin_size")
    vhdr = existing_path(vhdr_path)
    if vhdr.suffix.lower() != ".vhdr":
        raise ValueError(
            f"read_bids_ieeg reads BrainVision header files (.vhdr); got '{vhdr}'. Pass the .vhdr "
            "file that sits beside the .eeg and .vmrk files."
        )
    check_brainvision_files(vhdr)
    sidecars = _sidecars(vhdr)
    table = _read_tsv(sidecars["channels"]) if "channels" in sidecars else None
    if table is not None:
        table["type"] = table["type"].astype(str).str.upper()
        keep = table if include_bad or "status" not in table else table[table["status"] != "bad"]
    if isinstance(behavior_channels, str) and behavior_channels != "auto":
        raise ValueError(
            f"behavior_channels must be 'auto' or a list of channel names, e.g. "
            f"[{behavior_channels!r}]; got {behavior_channels!r}."
        )
    if behavior_channels == "auto":
        behavior_channels = (
            list(keep.loc[keep["type"].isin(BEHAVIOR_TYPES), "name"]) if table is not None else []
        )
    if lfp_channels is None and table is not None:
        lfp_channels = [
            n for n in keep.loc[keep["type"].isin(NEURAL_TYPES), "name"] if n not in behavior_channels
        ]
    rec = read_neo(
        vhdr,
        bin_size,
        session=session or sidecars["stem"],
        behavior_channels=behavior_channels,
        lfp_channels=lfp_channels,
    )

    channels = rec.channels.copy()
    annotations = dict(rec.annotations, reader="read_bids_ieeg")
    if table is not None:
        info = table.set_index("name")
        channels["type"] = [info["type"].get(n, np.nan) for n in channels["name"]]
        if "status" in info:
            channels["status"] = [info["status"].get(n, np.nan) for n in channels["name"]]
    if "electrodes" in sidecars:
        units = "m"
        if "coordsystem" in sidecars:
            meta = read_json(sidecars["coordsystem"])
            if not isinstance(meta, dict):
                raise ValueError(f"'{sidecars['coordsystem']}' must hold a JSON object.")
            units = meta.get("iEEGCoordinateUnits", "m")
            annotations["coordinate_system"] = meta.get("iEEGCoordinateSystem", "n/a")
        if units not in _TO_MM:
            raise ValueError(
                f"{sidecars.get('coordsystem')} gives iEEGCoordinateUnits={units!r}; expected one of "
                f"{sorted(_TO_MM)}."
            )
        space = re.search(r"space-([A-Za-z0-9]+)", sidecars["electrodes"].name)
        annotations["coordinate_space"] = space.group(1).upper() if space else "unknown"
        positions = _read_tsv(sidecars["electrodes"]).set_index("name")
        for axis in ("x", "y", "z"):
            channels[axis] = [
                float(positions[axis].get(n, np.nan)) * _TO_MM[units] for n in channels["name"]
            ]
    parts = [shaft_and_contact(n) for n in channels["name"]]
    channels["shaft"] = [p[0] for p in parts]
    channels["contact"] = [p[1] for p in parts]
    if "ieeg_json" in sidecars:
        meta = read_json(sidecars["ieeg_json"])
        if not isinstance(meta, dict):
            raise ValueError(f"'{sidecars['ieeg_json']}' must hold a JSON object.")
        for key in ("TaskName", "PowerLineFrequency", "RecordingDuration", "Manufacturer"):
            if key in meta:
                annotations[key] = meta[key]
    annotations["sidecars"] = {k: str(v) for k, v in sidecars.items() if k != "stem"}
    return rec.replace(channels=channels, annotations=annotations)
