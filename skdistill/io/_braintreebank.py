"""Brain Treebank sEEG (Wang et al. 2024): per-trial HDF5, electrode labels, localization CSV.

Layout under ``root`` (as distributed; ``all_subject_data/`` may be absent, the h5 files then sit
in ``root`` itself)::

    all_subject_data/sub_{k}_trial{nnn}.h5      group "data", one dataset per electrode,
                                                "electrode_{i}" for the i-th label
    electrode_labels/sub_{k}/electrode_labels.json   list of electrode names
    localization/sub_{k}/depth-wm.csv           columns Electrode, Destrieux, DesikanKilliany,
                                                L, I, P (subject-space coordinates), ...

Signals are sampled at 2048 Hz. Electrode names are cleaned of ``*``, ``#`` and ``_`` (as
advised by the dataset authors) before they are matched against the localization table.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import Recording
from ._common import as_hz, check_lfp, existing_path, open_hdf5, read_json, shaft_and_contact

__all__ = ["load_brain_treebank", "BRAIN_TREEBANK_RATE"]

#: sampling rate of the Brain Treebank recordings, Hz
BRAIN_TREEBANK_RATE = 2048.0
_TRIAL_FILE = re.compile(r"^sub_(?P<subject>\d+)_trial(?P<trial>\d+)\.h5$")


def clean_electrode_name(name: str) -> str:
    """Brain Treebank names carry ``*``, ``#`` and ``_`` marks that the other tables lack."""
    return re.sub(r"[*#_]", "", str(name)).strip()


def trial_file(root: Path, subject: int, trial: int) -> Path:
    name = f"sub_{subject}_trial{trial:03d}.h5"
    for candidate in (root / "all_subject_data" / name, root / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"No Brain Treebank trial file {name} under '{root}' (looked in all_subject_data/ and the "
        "root itself)."
    )


def _read_mni(mni_coords, subject: int) -> pd.DataFrame:
    table = mni_coords if isinstance(mni_coords, pd.DataFrame) else pd.read_csv(existing_path(mni_coords))
    needed = {"electrode_label", "mni152_x", "mni152_y", "mni152_z"}
    if not needed <= set(table.columns):
        raise ValueError(
            f"mni_coords needs columns {sorted(needed)} (the neuroprobe btbank MNI table); got "
            f"{list(table.columns)}."
        )
    if "btbank_id" in table.columns:
        table = table[table["btbank_id"] == subject]
    return table.assign(key=table["electrode_label"].map(clean_electrode_name)).set_index("key")


def load_brain_treebank(
    root,
    subject,
    trial,
    electrodes=None,
    *,
    mni_coords=None,
    t_start=None,
    t_stop=None,
    sampling_rate=BRAIN_TREEBANK_RATE,
    session=None,
) -> Recording:
    """Load one Brain Treebank trial (one movie session of one subject) as sEEG "LFP".

    Parameters
    ----------
    root : str or path-like
        The Brain Treebank folder (see the module docstring for its layout).
    subject : int
        Subject number ``k`` of ``sub_{k}``.
    trial : int
        Trial (session) number ``nnn`` of ``sub_{k}_trial{nnn}.h5``.
    electrodes : list of str or int, optional
        Electrodes to read, by (cleaned or raw) name or by position in ``electrode_labels.json``.
        Default: all.
    mni_coords : str, path-like or pandas.DataFrame, optional
        MNI table with columns ``electrode_label, mni152_x, mni152_y, mni152_z`` (and optionally
        ``btbank_id``), e.g. neuroprobe's ``btbank{k}_mni_coords.csv``. Gives ``x, y, z`` in MNI152
        mm; without it ``x, y, z`` are NaN (``depth-wm.csv`` holds subject-space ``L, I, P``
        only, which are kept as columns of their own).
    t_start, t_stop : float, optional
        Part of the trial to read, seconds from its first sample (these files are long).
    sampling_rate : float, default=2048.0
        Rate of the stored signals in Hz.
    session : str, optional
        Defaults to ``"sub_{k}_trial{nnn}"``.

    Returns
    -------
    Recording
        ``lfp`` (n_samples, n_electrodes) float64 at ``sampling_rate``, values as stored;
        ``channels`` with ``name``, ``raw_name``, ``shaft``, ``contact``, ``x, y, z``,
        ``parcel`` (Destrieux), ``parcel_dk`` (Desikan-Killiany), ``L, I, P``.
    """
    sampling_rate = as_hz(sampling_rate, "sampling_rate")
    root = existing_path(root, "folder")
    subject, trial = int(subject), int(trial)
    h5_path = trial_file(root, subject, trial)
    labels_path = root / "electrode_labels" / f"sub_{subject}" / "electrode_labels.json"
    raw_names = read_json(existing_path(labels_path))
    if not isinstance(raw_names, list):
        raise ValueError(f"'{labels_path}' must hold a JSON list of electrode names.")
    names = [clean_electrode_name(n) for n in raw_names]

    if electrodes is None:
        picks = list(range(len(names)))
    else:
        picks = []
        for e in electrodes:
            if isinstance(e, (int, np.integer)):
                if not 0 <= e < len(names):
                    raise ValueError(f"electrode index {e} is out of range 0..{len(names) - 1}.")
                picks.append(int(e))
            elif clean_electrode_name(e) in names:
                picks.append(names.index(clean_electrode_name(e)))
            else:
                raise ValueError(
                    f"electrode {e!r} is not in {labels_path}; its electrodes are {names}."
                )

    with open_hdf5(h5_path, "Brain Treebank trial file") as f:
        if "data" not in f:
            raise ValueError(f"'{h5_path}' has no 'data' group; not a Brain Treebank trial file.")
        group = f["data"]
        missing = [f"electrode_{i}" for i in picks if f"electrode_{i}" not in group]
        if missing:
            raise ValueError(
                f"'{h5_path}' lacks datasets {missing[:5]} for electrodes listed in {labels_path}."
            )
        n_samples = min(group[f"electrode_{i}"].shape[0] for i in picks)
        first = 0 if t_start is None else int(round(float(t_start) * sampling_rate))
        last = n_samples if t_stop is None else min(n_samples, int(round(float(t_stop) * sampling_rate)))
        if not 0 <= first < last:
            raise ValueError(
                f"[t_start, t_stop) = [{t_start}, {t_stop}) s selects no sample of a "
                f"{n_samples / sampling_rate:g} s trial."
            )
        lfp = np.stack([np.asarray(group[f"electrode_{i}"][first:last], dtype=float) for i in picks], axis=1)

    channels = pd.DataFrame({"name": [names[i] for i in picks], "raw_name": [raw_names[i] for i in picks]})
    parts = [shaft_and_contact(n) for n in channels["name"]]
    channels["shaft"] = [p[0] for p in parts]
    channels["contact"] = [p[1] for p in parts]
    for col in ("x", "y", "z"):
        channels[col] = np.nan
    loc_path = root / "localization" / f"sub_{subject}" / "depth-wm.csv"
    if loc_path.exists():
        loc = pd.read_csv(loc_path)
        if "Electrode" not in loc.columns:
            raise ValueError(f"'{loc_path}' has no 'Electrode' column; its columns are {list(loc.columns)}.")
        loc = loc.assign(key=loc["Electrode"].map(clean_electrode_name)).drop_duplicates("key").set_index("key")
        for src, dst in (("Destrieux", "parcel"), ("DesikanKilliany", "parcel_dk"), ("L", "L"), ("I", "I"), ("P", "P")):
            if src in loc.columns:
                channels[dst] = [loc[src].get(n, np.nan) for n in channels["name"]]
    space = "none"
    if mni_coords is not None:
        mni = _read_mni(mni_coords, subject)
        for axis in ("x", "y", "z"):
            channels[axis] = [float(mni[f"mni152_{axis}"].get(n, np.nan)) for n in channels["name"]]
        space = "MNI152"

    source = str(h5_path)
    check_lfp(lfp, channels, source)
    return Recording(
        session=session or f"sub_{subject}_trial{trial:03d}",
        lfp=lfp,
        lfp_rate=sampling_rate,
        channels=channels,
        t_start=first / sampling_rate,
        annotations={
            "source": source,
            "reader": "load_brain_treebank",
            "subject": subject,
            "trial": trial,
            "coordinate_space": space,
            "localization": str(loc_path) if loc_path.exists() else None,
        },
    )
