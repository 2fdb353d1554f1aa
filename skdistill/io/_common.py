"""Helpers shared by the readers: argument checks, channel-name parsing, LFP validation."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import quantities as pq

from ..data import check_continuous

_CONTACT = re.compile(r"^(?P<stem>.*?)(?P<num>\d+)$")


def as_seconds(value, name: str = "bin_size") -> float:
    """A positive duration in seconds from a float (seconds) or a ``quantities`` time."""
    if isinstance(value, pq.Quantity):
        try:
            value = value.rescale(pq.s).magnitude
        except ValueError:
            raise ValueError(
                f"{name} must be a time; got a quantity in {value.dimensionality}. Pass seconds "
                "as a float (0.01) or a quantities time (10 * pq.ms)."
            ) from None
    try:
        seconds = float(np.asarray(value).item())
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a positive number of seconds; got {value!r}. Pass e.g. 0.01 for 10 ms."
        ) from None
    if not np.isfinite(seconds) or seconds <= 0:
        raise ValueError(
            f"{name} must be a positive, finite number of seconds; got {seconds!r}. "
            "Pass e.g. 0.01 for 10 ms bins."
        )
    return seconds


#: the most memory (bytes) a reader may allocate for its bin grid (spikes + behaviour). A
#: ``bin_size`` that needs more raises a ValueError with the size; raise this limit (e.g.
#: ``skdistill.io.MAX_BIN_BYTES = 64 * 2**30``) to read a genuinely huge grid.
MAX_BIN_BYTES = 4 * 2**30


def existing_path(path, what: str = "file", *, kind: str | None = None) -> Path:
    """``Path(path)``, raising ``FileNotFoundError`` naming the path when it does not exist.

    ``kind="file"`` refuses a folder and ``kind="dir"`` a file, with a ``ValueError``.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"expected a path to a {what} (str or os.PathLike); got {type(path).__name__}.")
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"No such {what}: '{path}'.")
    if kind == "file" and path.is_dir():
        raise ValueError(f"'{path}' is a folder; expected a {what}.")
    if kind == "dir" and not path.is_dir():
        raise ValueError(f"'{path}' is a file; expected a folder ({what}).")
    return path


def read_json(path: Path):
    """Parse a JSON file; a corrupt or truncated one raises a ValueError naming it and the spot."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"'{path}' is not UTF-8 text, so it is not a valid JSON file ({exc}).") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"'{path}' is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} "
            "(a truncated or hand-edited file?). Fix or re-download it."
        ) from None


def read_tsv(path: Path) -> pd.DataFrame:
    """A BIDS TSV (``n/a`` = missing, optional byte-order mark); a broken one names the file."""
    try:
        return pd.read_csv(path, sep="\t", na_values=["n/a"], encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"'{path}' is not a readable tab-separated table ({exc}).") from None


def open_hdf5(path: Path, what: str = "HDF5 file"):
    """``h5py.File(path, "r")``; a truncated, corrupt or non-HDF5 file raises a ValueError naming it."""
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as exc:
        reason = str(exc).split("(", 1)[-1].rstrip(")") if "(" in str(exc) else str(exc)
        if h5py.is_hdf5(path):
            raise ValueError(
                f"'{path}' is a truncated or corrupt HDF5 file ({reason}); it cannot be read as a "
                f"{what}. Copy or download it again (a half-written file is often the cause)."
            ) from None
        raise ValueError(f"'{path}' is not an HDF5 file, so it is not a {what} ({reason}).") from None


def check_grid_bytes(n_bins: int, n_columns: int, bin_size: float, what: str) -> None:
    """Refuse a bin grid that would allocate more than :data:`MAX_BIN_BYTES`."""
    import skdistill.io as io_package

    limit = getattr(io_package, "MAX_BIN_BYTES", MAX_BIN_BYTES)
    n_bytes = 8 * float(n_bins) * max(int(n_columns), 1)
    if n_bytes > limit:
        raise ValueError(
            f"bin_size={bin_size:g} s gives {n_bins:.4g} bins for {what}: {n_bytes / 2**30:.3g} GiB, "
            f"above the limit of {limit / 2**30:.3g} GiB (skdistill.io.MAX_BIN_BYTES). Is bin_size in "
            "seconds? Pass e.g. bin_size=0.01 for 10 ms bins, or read a shorter t_start/t_stop."
        )


def shaft_and_contact(name: str) -> tuple[str, float]:
    """Split a contact name such as ``"LT3bHa12"`` or ``"ECOG_RIGHT_3"`` into (shaft, number).

    The shaft is the name without its trailing digits (and a trailing ``_``); the contact
    number is NaN when the name does not end in digits.
    """
    match = _CONTACT.match(str(name))
    if match is None:
        return str(name), np.nan
    return match.group("stem").rstrip("_"), float(match.group("num"))


def check_lfp(lfp: np.ndarray, channels: pd.DataFrame, source: str) -> np.ndarray:
    """Reject an LFP with a NaN inside a channel (an all-NaN channel is allowed: absent)."""
    names = list(channels["name"]) if "name" in channels else None
    check_continuous(lfp, name=f"LFP read from {source}", channel_names=names)
    return lfp


def as_hz(value, name: str = "sampling_rate") -> float:
    """A positive, finite rate in Hz from a float or a ``quantities`` frequency."""
    if isinstance(value, pq.Quantity):
        value = value.rescale(pq.Hz).magnitude
    try:
        rate = float(np.asarray(value).item())
    except (TypeError, ValueError):
        rate = np.nan
    if not np.isfinite(rate) or rate <= 0:
        raise ValueError(f"{name} must be a positive rate in Hz (e.g. 2000.0); got {value!r}.")
    return rate


_SAMPLE_BYTES = {"INT_16": 2, "UINT_16": 2, "INT_32": 4, "IEEE_FLOAT_32": 4}


def check_brainvision_files(vhdr: Path) -> None:
    """Check that the data file a ``.vhdr`` names exists and holds whole sample frames.

    Raises a ``ValueError`` naming the missing or truncated file (neo would report either as
    a file it has no reader for, or fail deep inside its parser).
    """
    try:
        text = vhdr.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ValueError(f"'{vhdr}' cannot be read ({exc}).") from None
    if "Brain Vision Data Exchange Header File" not in text.splitlines()[0] if text else True:
        raise ValueError(
            f"'{vhdr}' does not start with 'Brain Vision Data Exchange Header File'; it is not a "
            "BrainVision header (or it is truncated)."
        )
    fields = dict(
        (k.strip(), v.strip()) for k, _, v in
        (line.partition("=") for line in text.splitlines() if "=" in line and not line.startswith(";"))
    )
    data_name = fields.get("DataFile")
    if not data_name:
        raise ValueError(f"'{vhdr}' names no DataFile=; the header is truncated or corrupt.")
    data_file = vhdr.with_name(data_name)
    if not data_file.exists():
        raise ValueError(
            f"'{vhdr}' names the data file '{data_name}', which is missing from '{vhdr.parent}'. "
            "A BrainVision recording needs its .vhdr, .eeg and .vmrk files side by side."
        )
    marker = fields.get("MarkerFile")
    if marker and not vhdr.with_name(marker).exists():
        raise ValueError(
            f"'{vhdr}' names the marker file '{marker}', which is missing from '{vhdr.parent}'."
        )
    try:
        n_channels = int(fields.get("NumberOfChannels", "0"))
    except ValueError:
        raise ValueError(f"'{vhdr}': NumberOfChannels={fields.get('NumberOfChannels')!r} is not a number.") from None
    item = _SAMPLE_BYTES.get(fields.get("BinaryFormat", "").upper())
    if n_channels > 0 and item and fields.get("DataFormat", "BINARY").upper() == "BINARY":
        size = data_file.stat().st_size
        frame = n_channels * item
        if size == 0 or size % frame:
            raise ValueError(
                f"'{data_file}' holds {size} bytes, not a whole number of samples of {n_channels} "
                f"channels x {item} bytes ({frame} bytes each): the file is truncated or corrupt."
            )
