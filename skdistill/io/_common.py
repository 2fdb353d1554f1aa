"""Helpers shared by the readers: argument checks, channel-name parsing, LFP validation."""

from __future__ import annotations

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


def existing_path(path, what: str = "file") -> Path:
    """``Path(path)``, raising ``FileNotFoundError`` naming the path when it does not exist."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"expected a path to a {what} (str or os.PathLike); got {type(path).__name__}.")
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"No such {what}: '{path}'.")
    return path


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
