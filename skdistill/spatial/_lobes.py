"""Parcel -> lobe and hemisphere.

Desikan-Killiany cortical parcels are grouped into lobes as on FreeSurfer's
``CorticalParcellation`` wiki page ("lobe mapping"), with the cingulate kept apart as in
``mri_annotation2label --lobesStrict``; subcortical FreeSurfer ``aseg`` structures are their own
"lobe" (hippocampus, amygdala, putamen, ...), as BaRISTA's lobe scale does. Destrieux parcels
are not typed by hand: both volumes are FreeSurfer segmentations of the same template brain
(``cvs_avg35_inMNI152``) on the same voxel grid, so each Destrieux parcel takes the lobe that
most of its voxels (both hemispheres pooled) have in
Desikan-Killiany (:func:`destrieux_lobe_table`).
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd

from skdistill.spatial._atlas import UNKNOWN, is_parcel, load_atlas

__all__ = [
    "DK_LOBES",
    "SUBCORTICAL_LOBES",
    "LOBES",
    "lobe_of",
    "hemisphere_of",
    "lobe_table",
    "destrieux_lobe_table",
]

#: Desikan-Killiany cortical parcel (without hemisphere prefix) -> lobe.
#: Source: FreeSurfer wiki, CorticalParcellation, lobe mapping; cingulate separate as in
#: ``mri_annotation2label --lobesStrict``.
DK_LOBES = {
    # frontal
    "superiorfrontal": "frontal",
    "rostralmiddlefrontal": "frontal",
    "caudalmiddlefrontal": "frontal",
    "parsopercularis": "frontal",
    "parstriangularis": "frontal",
    "parsorbitalis": "frontal",
    "lateralorbitofrontal": "frontal",
    "medialorbitofrontal": "frontal",
    "precentral": "frontal",
    "paracentral": "frontal",
    "frontalpole": "frontal",
    # parietal
    "superiorparietal": "parietal",
    "inferiorparietal": "parietal",
    "supramarginal": "parietal",
    "postcentral": "parietal",
    "precuneus": "parietal",
    # temporal
    "superiortemporal": "temporal",
    "middletemporal": "temporal",
    "inferiortemporal": "temporal",
    "bankssts": "temporal",
    "fusiform": "temporal",
    "transversetemporal": "temporal",
    "entorhinal": "temporal",
    "temporalpole": "temporal",
    "parahippocampal": "temporal",
    # occipital
    "lateraloccipital": "occipital",
    "lingual": "occipital",
    "cuneus": "occipital",
    "pericalcarine": "occipital",
    # cingulate
    "rostralanteriorcingulate": "cingulate",
    "caudalanteriorcingulate": "cingulate",
    "posteriorcingulate": "cingulate",
    "isthmuscingulate": "cingulate",
    # insula
    "insula": "insula",
}

#: FreeSurfer aseg structure (without ``Left-``/``Right-``) -> lobe-scale group.
SUBCORTICAL_LOBES = {
    "Hippocampus": "hippocampus",
    "Amygdala": "amygdala",
    "Putamen": "putamen",
    "Caudate": "caudate",
    "Pallidum": "pallidum",
    "Thalamus-Proper": "thalamus",
    "Thalamus": "thalamus",
    "Accumbens-area": "accumbens",
    "VentralDC": "ventral_diencephalon",
    "Cerebellum-Cortex": "cerebellum",
    "Brain-Stem": "brainstem",
}

#: every lobe-scale group this module can return, ``"unknown"`` first
LOBES = (UNKNOWN,) + tuple(dict.fromkeys([*DK_LOBES.values(), *SUBCORTICAL_LOBES.values()]))

_DK_CTX = re.compile(r"^ctx-(lh|rh)-(.+)$")
_DESTRIEUX_CTX = re.compile(r"^ctx_(lh|rh)_(.+)$")
_ASEG = re.compile(r"^(Left|Right)-(.+)$")


def hemisphere_of(parcel: str) -> str:
    """``"left"``, ``"right"`` or ``"unknown"`` from a FreeSurfer label name."""
    parcel = str(parcel)
    for pattern in (_DK_CTX, _DESTRIEUX_CTX, _ASEG):
        match = pattern.match(parcel)
        if match:
            side = match.group(1)
            return "left" if side in ("lh", "Left") else "right"
    return UNKNOWN


def _dk_lobe(parcel: str) -> str:
    match = _DK_CTX.match(parcel)
    if match:
        return DK_LOBES.get(match.group(2), UNKNOWN)
    match = _ASEG.match(parcel)
    structure = match.group(2) if match else parcel
    return SUBCORTICAL_LOBES.get(structure, UNKNOWN)


def lobe_of(parcel: str) -> str:
    """Lobe-scale group of a Desikan-Killiany or Destrieux label.

    Non-parcel labels (white matter, ventricles, ``Unknown``) and ``"unknown"`` map to
    ``"unknown"``.
    """
    parcel = str(parcel)
    if parcel == UNKNOWN or not is_parcel(parcel):
        return UNKNOWN
    if _DESTRIEUX_CTX.match(parcel):
        return destrieux_lobe_table().get(parcel, UNKNOWN)
    return _dk_lobe(parcel)


@functools.lru_cache(maxsize=None)
def _destrieux_overlap() -> pd.DataFrame:
    destrieux = load_atlas("destrieux")
    dk = load_atlas("desikan_killiany")
    if destrieux.data.shape != dk.data.shape or not np.allclose(destrieux.affine, dk.affine):
        raise ValueError(
            "The Destrieux and Desikan-Killiany volumes are not on one voxel grid; the "
            "Destrieux -> lobe table cannot be derived from them."
        )
    cortex = destrieux.data >= 11100  # Destrieux cortical labels are 11100-12175
    # count voxels per (Destrieux label, DK label) pair first; names are mapped per pair
    key = destrieux.data[cortex].astype(np.int64) * 100_000 + dk.data[cortex]
    key, n_voxels = np.unique(key, return_counts=True)
    pairs = np.stack([key // 100_000, key % 100_000], axis=1)
    # both hemispheres vote together so that the table is left-right symmetric
    counts = pd.DataFrame(
        {
            "structure": [_DESTRIEUX_CTX.sub(r"\2", n) for n in destrieux.names(pairs[:, 0])],
            "lobe": [_dk_lobe(n) for n in dk.names(pairs[:, 1])],
            "n_voxels": n_voxels,
        }
    )
    counts = counts[counts["lobe"] != UNKNOWN]
    counts = counts.groupby(["structure", "lobe"], as_index=False)["n_voxels"].sum()
    return counts


@functools.lru_cache(maxsize=None)
def destrieux_lobe_table() -> dict:
    """Destrieux cortical parcel -> lobe, by majority of its voxels' Desikan-Killiany lobe.

    Voxels where Desikan-Killiany has no cortical label (white matter, unknown) do not vote;
    the left and right copies of a parcel vote together, so the table is symmetric.

    Returns
    -------
    dict of str -> str
    """
    counts = _destrieux_overlap()
    best = counts.sort_values(["structure", "n_voxels"], ascending=[True, False])
    best = dict(zip(*best.drop_duplicates("structure")[["structure", "lobe"]].T.to_numpy()))
    names = load_atlas("destrieux").labels.values()
    return {
        n: best[m.group(2)]
        for n in names
        if (m := _DESTRIEUX_CTX.match(n)) and m.group(2) in best and is_parcel(n)
    }


def lobe_table(atlas: str = "destrieux") -> pd.DataFrame:
    """The full parcel -> lobe, hemisphere table of an atlas (grey-matter parcels only).

    For Destrieux it adds ``agreement``: the share of the parcel's voxels (both hemispheres,
    among those that Desikan-Killiany labels as cortex) that lie in the chosen lobe.

    Returns
    -------
    pandas.DataFrame
        Columns ``parcel, lobe, hemisphere`` (+ ``agreement`` for Destrieux).
    """
    vol = load_atlas(atlas)
    parcels = [n for n in vol.labels.values() if is_parcel(n)]
    table = pd.DataFrame(
        {
            "parcel": parcels,
            "lobe": [lobe_of(p) for p in parcels],
            "hemisphere": [hemisphere_of(p) for p in parcels],
        }
    )
    if atlas == "destrieux":
        counts = _destrieux_overlap()
        total = counts.groupby("structure")["n_voxels"].sum()
        top = counts.groupby("structure")["n_voxels"].max()
        share = (top / total).to_dict()
        table["agreement"] = [
            share.get(_DESTRIEUX_CTX.sub(r"\2", p), np.nan) for p in parcels
        ]
    return table
