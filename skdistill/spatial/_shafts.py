"""Depth-electrode shafts: contact names, electrode tables and shaft neighbours."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from skdistill.spatial._atlas import UNKNOWN, check_coordinates, label_contacts
from skdistill.spatial._lobes import hemisphere_of, lobe_of

__all__ = ["parse_contact_name", "electrode_table", "shaft_neighbours", "ELECTRODE_COLUMNS"]

#: columns of every electrode table, in order
ELECTRODE_COLUMNS = ["name", "x", "y", "z", "parcel", "lobe", "hemisphere", "shaft", "contact"]

# sEEG names are a shaft stem followed by the contact number ("LT3", "T2aA12"); the stem may
# itself contain digits, so only the trailing run of digits is the contact number.
_CONTACT = re.compile(r"^(.*?\D)(\d+)$")
# marks that Brain Treebank (and BaRISTA) strip from electrode names
_STRIP = str.maketrans("", "", "*#_")


def parse_contact_name(name: str) -> tuple[str, int]:
    """Split an sEEG contact name into shaft and contact number.

    ``*``, ``#`` and ``_`` are removed first, as the Brain Treebank loaders do.

    Parameters
    ----------
    name : str
        E.g. ``"LT3"`` or ``"T2aA12"``.

    Returns
    -------
    shaft : str
    contact : int

    Examples
    --------
    >>> parse_contact_name("LT3")
    ('LT', 3)
    >>> parse_contact_name("T2aA12")
    ('T2aA', 12)
    """
    clean = str(name).strip().translate(_STRIP)
    match = _CONTACT.match(clean)
    if match is None:
        raise ValueError(
            f"Cannot split the contact name {name!r} into a shaft stem and a contact number: "
            "expected letters (optionally with digits) followed by a trailing number, e.g. "
            "'LT3'. Pass shafts= and contacts= explicitly for other naming schemes."
        )
    return match.group(1), int(match.group(2))


def electrode_table(
    names,
    coords_mm=None,
    *,
    atlas: str | None = "destrieux",
    radius: float = 5.0,
    shafts=None,
    contacts=None,
) -> pd.DataFrame:
    """One row per contact: name, MNI position, parcel, lobe, hemisphere, shaft, contact.

    Parameters
    ----------
    names : sequence of str
        Contact names; shaft and contact number are parsed from them
        (:func:`parse_contact_name`) unless ``shafts`` and ``contacts`` are given.
    coords_mm : (n_contacts, 3) array-like or None
        MNI152 coordinates in mm. Required (and NaN-free) when ``atlas`` is not None.
    atlas : {"destrieux", "desikan_killiany"} or None, default="destrieux"
        Atlas for ``parcel``; ``None`` skips the lookup (``parcel`` and ``lobe`` are
        ``"unknown"``, ``hemisphere`` comes from the sign of MNI x).
    radius : float, default=5.0
        Nearest-parcel search radius in mm for contacts outside grey matter
        (:func:`label_contacts`).
    shafts, contacts : sequence, optional
        Shaft name and contact number per contact, overriding name parsing.

    Returns
    -------
    pandas.DataFrame
        Columns ``name, x, y, z, parcel, lobe, hemisphere, shaft, contact``.
    """
    names = [str(n) for n in names]
    n = len(names)
    if coords_mm is None:
        if atlas is not None:
            raise ValueError(
                "electrode_table needs coords_mm (MNI x, y, z in mm) for an atlas lookup; "
                "pass coordinates or atlas=None."
            )
        coords = np.full((n, 3), np.nan)
    else:
        coords = np.asarray(coords_mm, dtype=float)
        if coords.shape != (n, 3):
            raise ValueError(
                f"coords_mm must have shape (n_contacts, 3) = ({n}, 3) to match names; got "
                f"{coords.shape}."
            )
    if (shafts is None) != (contacts is None):
        raise ValueError("Pass both shafts and contacts, or neither (they are then parsed).")
    if shafts is None:
        parsed = [parse_contact_name(name) for name in names]
        shafts = [p[0] for p in parsed]
        contacts = [p[1] for p in parsed]
    if len(shafts) != n or len(contacts) != n:
        raise ValueError(
            f"shafts and contacts need one entry per name ({n}); got {len(shafts)} and "
            f"{len(contacts)}."
        )
    if atlas is not None:
        check_coordinates(coords, names)
        parcels = label_contacts(coords, atlas, radius=radius, names=names)
        lobes = [lobe_of(p) for p in parcels]
        hemispheres = [hemisphere_of(p) for p in parcels]
    else:
        parcels = [UNKNOWN] * n
        lobes = [UNKNOWN] * n
        hemispheres = [UNKNOWN] * n
    # a contact without a lateralised parcel still has a side: MNI x < 0 is left
    hemispheres = [
        h if h != UNKNOWN else ("left" if x < 0 else "right" if x > 0 else UNKNOWN)
        for h, x in zip(hemispheres, coords[:, 0])
    ]
    return pd.DataFrame(
        {
            "name": names,
            "x": coords[:, 0],
            "y": coords[:, 1],
            "z": coords[:, 2],
            "parcel": pd.Series(parcels, dtype=object),
            "lobe": lobes,
            "hemisphere": hemispheres,
            "shaft": [str(s) for s in shafts],
            "contact": np.asarray(contacts, dtype=int),
        },
        columns=ELECTRODE_COLUMNS,
    )


def shaft_neighbours(table) -> np.ndarray:
    """Positions of each contact's neighbours on its shaft (contact number - 1 and + 1).

    This is the neighbour rule of the shaft Laplacian re-reference used for Brain Treebank
    (subtract the mean of the two neighbours, which must both exist).

    Parameters
    ----------
    table : pandas.DataFrame
        With columns ``shaft`` and ``contact`` (an :func:`electrode_table`), or ``name`` only
        (then parsed).

    Returns
    -------
    neighbours : (n_contacts, 2) int ndarray
        Row positions (0-based, in ``table`` order) of contact ``k - 1`` (column 0) and
        ``k + 1`` (column 1) on the same shaft; ``-1`` where that contact is absent.
    """
    if not isinstance(table, pd.DataFrame):
        raise ValueError(
            f"shaft_neighbours takes an electrode table (pandas DataFrame); got "
            f"{type(table).__name__}. Build one with skdistill.spatial.electrode_table."
        )
    if {"shaft", "contact"} <= set(table.columns):
        shafts = table["shaft"].astype(str).to_numpy()
        contacts = table["contact"].astype(int).to_numpy()
    elif "name" in table.columns:
        parsed = [parse_contact_name(n) for n in table["name"]]
        shafts = np.array([p[0] for p in parsed], dtype=object)
        contacts = np.array([p[1] for p in parsed])
    else:
        raise ValueError(
            "The electrode table needs columns 'shaft' and 'contact' (or 'name' to parse); got "
            f"columns {list(table.columns)}."
        )
    position = {}
    for i, key in enumerate(zip(shafts, contacts)):
        if key in position:
            raise ValueError(
                f"Contact {key[1]} of shaft {key[0]!r} appears twice (rows {position[key]} and "
                f"{i}); each shaft contact must be unique."
            )
        position[key] = i
    out = np.full((len(shafts), 2), -1, dtype=int)
    for i, (shaft, contact) in enumerate(zip(shafts, contacts)):
        out[i, 0] = position.get((shaft, contact - 1), -1)
        out[i, 1] = position.get((shaft, contact + 1), -1)
    return out
