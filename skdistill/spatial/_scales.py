"""Spatial scales as a registry: what a channel's spatial identity is, at each scale.

A *scale* (channel, parcel, lobe, ...) declares the electrode-table columns it reads and how its
ids are computed from a table. BaRISTA reads scales in two roles: the **spatial encoding** (what
the learned vector added to a channel's tokens is indexed by) and the **masking scale** (which
channels are hidden together in pretraining). Two kinds exist:

* ``"coordinates"`` -- continuous MNI positions (x, y, z in mm), binned per axis by the model;
  every channel is its own masking group.
* ``"regions"`` -- one label per channel (``"unknown"``, any case, marks an unknown region, which
  maps to the never-trained zero row of the encoding and masks as its own singleton group).

Adding a scale is one call, in one place::

    from skdistill.spatial import RegionScale, register_scale
    register_scale(RegionScale("hemisphere", column="hemisphere"))
    BaristaTransformer(spatial_encoding="hemisphere", mask_scale="hemisphere")
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skdistill.spatial._atlas import METRES_THRESHOLD_MM, UNKNOWN

__all__ = [
    "SpatialScale",
    "CoordinateScale",
    "RegionScale",
    "LobeScale",
    "register_scale",
    "get_scale",
    "spatial_scales",
]


def channel_names(table: pd.DataFrame) -> np.ndarray:
    """The ``name`` column, or ``"row i"`` labels when the table has none."""
    if "name" in table.columns:
        return table["name"].astype(str).to_numpy()
    return np.array([f"row {i}" for i in range(len(table))])


class SpatialScale:
    """Base of every scale: a ``name``, the table ``columns`` it reads, its ``kind``.

    Subclasses implement :meth:`labels` (``kind="regions"``) or :meth:`coordinates`
    (``kind="coordinates"``); :meth:`groups` (the masking groups) follows from them.
    """

    kind = "regions"

    def __init__(self, name, columns):
        self.name = str(name)
        self.columns = tuple(columns)

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r}, columns={self.columns})"

    def check(self, table, session):
        missing = [c for c in self.columns if c not in table.columns]
        if missing:
            raise ValueError(
                f"electrodes[{session!r}] has no {missing} column(s), which the {self.name!r} "
                "spatial scale needs; label the contacts with skdistill.spatial.electrode_table("
                f"names, coords_mm) or add the column(s) (use '{UNKNOWN}' where a region is not "
                "known)."
            )

    def labels(self, table, session) -> np.ndarray:
        raise NotImplementedError(f"the {self.name!r} scale has no region labels")

    def coordinates(self, table, session) -> np.ndarray:
        raise NotImplementedError(f"the {self.name!r} scale has no coordinates")

    def groups(self, table, session) -> np.ndarray:
        """Compact masking-group number per channel; unknown regions are singletons."""
        n = len(table)
        if self.kind == "coordinates":
            return np.arange(n)
        groups = np.empty(n, dtype=np.int64)
        index = {}
        for i, label in enumerate(self.labels(table, session)):
            key = ("__channel__", i) if label == UNKNOWN else label
            groups[i] = index.setdefault(key, len(index))
        return groups


class CoordinateScale(SpatialScale):
    """MNI coordinates in mm (columns ``x, y, z``): the reference's channel encoding."""

    kind = "coordinates"

    def __init__(self, name="channel", columns=("x", "y", "z")):
        super().__init__(name, columns)

    def coordinates(self, table, session):
        self.check(table, session)
        coords = table[list(self.columns)].to_numpy(dtype=float)
        finite = coords[np.isfinite(coords).all(axis=1)]
        if len(finite) and 0 < np.abs(finite).max() < METRES_THRESHOLD_MM:
            raise ValueError(
                f"electrodes[{session!r}]: the coordinates look like metres, not millimetres "
                f"(every |x|, |y|, |z| is below {METRES_THRESHOLD_MM}; largest "
                f"{np.abs(finite).max():.3g}). The {self.name!r} spatial scale reads MNI mm: "
                "multiply them by 1000.")
        bad = ~np.isfinite(coords).all(axis=1)
        if bad.any():
            names = channel_names(table)[bad]
            raise ValueError(
                f"electrodes[{session!r}]: {int(bad.sum())} channel(s) have no coordinates: "
                f"{', '.join(map(str, names[:10]))}. The {self.name!r} spatial scale needs MNI x, "
                "y, z (mm) for every channel; drop these channels or use a region scale "
                f"({', '.join(n for n in spatial_scales() if get_scale(n).kind == 'regions')})."
            )
        return coords


class RegionScale(SpatialScale):
    """One region label per channel, read from ``column``."""

    def __init__(self, name, column=None):
        column = name if column is None else column
        super().__init__(name, (column,))
        self.column = column

    def _raw_labels(self, table, session):
        self.check(table, session)
        values = table[self.column]
        missing = values.isna() | (values.astype(str).str.strip() == "")
        if missing.any():
            names = channel_names(table)[missing.to_numpy()]
            raise ValueError(
                f"electrodes[{session!r}]: {int(missing.sum())} channel(s) have no {self.column}: "
                f"{', '.join(map(str, names[:10]))}. Label them with skdistill.spatial."
                f"electrode_table, or set their {self.column} to '{UNKNOWN}' explicitly."
            )
        labels = values.astype(str).str.strip().to_numpy(dtype=object)
        unknown = np.char.lower(labels.astype(str)) == UNKNOWN
        return labels, unknown

    def labels(self, table, session):
        labels, unknown = self._raw_labels(table, session)
        labels[unknown] = UNKNOWN
        return labels


class LobeScale(RegionScale):
    """Lobes, told apart by hemisphere when the table has a ``hemisphere`` column (the
    reference's lobe ids are lobe x hemisphere)."""

    def __init__(self, name="lobe", column="lobe"):
        super().__init__(name, column)

    def labels(self, table, session):
        labels, unknown = self._raw_labels(table, session)
        if "hemisphere" in table.columns:
            hemi = table["hemisphere"].fillna("").astype(str).str.strip().to_numpy(dtype=object)
            labels = np.array(
                [f"{lobe}-{h}" if h and h.lower() != UNKNOWN else lobe
                 for lobe, h in zip(labels, hemi)], dtype=object)
        labels[unknown] = UNKNOWN
        return labels


_REGISTRY: dict = {}


def register_scale(scale, *, replace=False):
    """Make ``scale`` available by its name (to ``spatial_encoding=`` and ``mask_scale=``)."""
    if not isinstance(scale, SpatialScale):
        raise TypeError(f"scale must be a SpatialScale; got {type(scale).__name__}.")
    if scale.kind not in ("coordinates", "regions"):
        raise ValueError(f"scale.kind must be 'coordinates' or 'regions'; got {scale.kind!r}.")
    if scale.name in _REGISTRY and not replace:
        raise ValueError(f"a spatial scale named {scale.name!r} is already registered; pass "
                         "replace=True to replace it.")
    _REGISTRY[scale.name] = scale
    return scale


def get_scale(name, argument="scale") -> SpatialScale:
    """The registered scale called ``name`` (a ``ValueError`` naming ``argument`` and listing the
    known scales if there is none)."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"{argument}={name!r} is not a registered spatial scale; registered: "
            f"{list(_REGISTRY)}. Add one with "
            "skdistill.spatial.register_scale(RegionScale(name, column=...))."
        ) from None


def spatial_scales() -> tuple:
    """Names of the registered scales."""
    return tuple(_REGISTRY)


def scale_columns() -> set:
    """Every table column some registered scale reads."""
    return {c for scale in _REGISTRY.values() for c in scale.columns}


register_scale(CoordinateScale("channel"))
register_scale(RegionScale("parcel"))
register_scale(LobeScale("lobe"))
