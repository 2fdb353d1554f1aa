"""skdistill.spatial: atlas lookups, lobes, electrode tables, shaft neighbours."""

import numpy as np
import pandas as pd
import pytest

from skdistill.spatial import (
    DK_LOBES,
    ELECTRODE_COLUMNS,
    LOBES,
    atlas_lookup,
    destrieux_lobe_table,
    electrode_table,
    hemisphere_of,
    is_parcel,
    label_contacts,
    load_atlas,
    lobe_of,
    lobe_table,
    parse_contact_name,
    shaft_neighbours,
)

# first Brain Treebank contact (subject 1, T2aA12), MNI152 mm: white matter by point lookup
BTBANK_FIRST = (59.2, -1.1, -23.0)
# left Heschl's gyrus (transverse temporal gyrus)
LEFT_HESCHL = (-45.0, -20.0, 8.0)


@pytest.mark.parametrize("atlas", ["destrieux", "desikan_killiany"])
def test_atlas_files_and_affine(atlas):
    vol = load_atlas(atlas)
    assert vol is load_atlas(atlas)  # cached
    assert vol.data.shape == (143, 155, 181)
    np.testing.assert_allclose(vol.voxel_size, [1.0, 1.0, 1.0])
    # the label table covers every index present in the volume
    assert set(np.unique(vol.data)) <= set(vol.labels)
    assert vol.labels[0] == "Unknown"


@pytest.mark.parametrize("atlas", ["destrieux", "desikan_killiany"])
def test_white_matter_contact_gets_nearest_temporal_parcel(atlas):
    assert list(atlas_lookup([BTBANK_FIRST], atlas)) == ["Right-Cerebral-White-Matter"]
    parcels, dist = label_contacts([BTBANK_FIRST], atlas, radius=5.0, return_distance=True)
    assert 0 < dist[0] <= 5.0
    assert lobe_of(parcels[0]) == "temporal"
    assert hemisphere_of(parcels[0]) == "right"
    # without a search radius the white-matter contact has no parcel
    assert list(label_contacts([BTBANK_FIRST], atlas, radius=0.0)) == ["unknown"]


def test_heschl_gyrus_point():
    assert list(atlas_lookup([LEFT_HESCHL], "destrieux")) == ["ctx_lh_G_temp_sup-G_T_transv"]
    assert list(atlas_lookup([LEFT_HESCHL], "desikan_killiany")) == ["ctx-lh-transversetemporal"]
    parcels, dist = label_contacts([LEFT_HESCHL], return_distance=True)
    assert dist[0] == 0.0
    assert lobe_of(parcels[0]) == "temporal" and hemisphere_of(parcels[0]) == "left"


def test_far_outside_the_brain_is_unknown():
    far = [(200.0, 0.0, 0.0), (0.0, 0.0, 150.0)]
    assert list(atlas_lookup(far)) == ["Unknown", "Unknown"]
    parcels, dist = label_contacts(far, radius=10.0, return_distance=True)
    assert list(parcels) == ["unknown", "unknown"]
    assert np.isnan(dist).all()
    assert lobe_of("unknown") == "unknown"


def test_radius_is_a_distance_bound():
    # a point 1 mm from grey matter: found with radius >= its distance, not below
    parcels, dist = label_contacts([BTBANK_FIRST], radius=5.0, return_distance=True)
    assert label_contacts([BTBANK_FIRST], radius=dist[0])[0] == parcels[0]
    assert label_contacts([BTBANK_FIRST], radius=dist[0] - 0.01)[0] == "unknown"
    with pytest.raises(ValueError, match="radius"):
        label_contacts([BTBANK_FIRST], radius=-1)


def test_nan_coordinates_are_named():
    coords = [[10.0, 0.0, 0.0], [np.nan, 1.0, 2.0]]
    with pytest.raises(ValueError, match="RA2"):
        label_contacts(coords, names=["RA1", "RA2"])
    with pytest.raises(ValueError, match="RA2"):
        electrode_table(["RA1", "RA2"], coords)
    # without an atlas lookup the missing position is allowed
    table = electrode_table(["RA1", "RA2"], coords, atlas=None)
    assert list(table["parcel"]) == ["unknown", "unknown"]
    assert list(table["hemisphere"]) == ["right", "unknown"]
    with pytest.raises(ValueError, match="shape"):
        label_contacts([[1.0, 2.0]])


def test_non_parcel_labels():
    for label in ("Unknown", "Left-Cerebral-White-Matter", "Right-Lateral-Ventricle",
                  "Left-Inf-Lat-Vent", "CSF", "CC_Central", "ctx_lh_Unknown", "ctx-rh-unknown"):
        assert not is_parcel(label), label
        assert lobe_of(label) == "unknown"
    for label in ("Left-Hippocampus", "Right-Amygdala", "ctx-lh-insula", "ctx_rh_G_cuneus"):
        assert is_parcel(label), label


def test_dk_lobes():
    assert lobe_of("ctx-lh-superiortemporal") == "temporal"
    assert lobe_of("ctx-rh-parsopercularis") == "frontal"
    assert lobe_of("ctx-lh-supramarginal") == "parietal"
    assert lobe_of("ctx-rh-pericalcarine") == "occipital"
    assert lobe_of("ctx-lh-isthmuscingulate") == "cingulate"
    assert lobe_of("ctx-rh-insula") == "insula"
    assert lobe_of("Left-Hippocampus") == "hippocampus"
    assert lobe_of("Right-Putamen") == "putamen"
    assert hemisphere_of("Left-Amygdala") == "left"
    assert hemisphere_of("ctx-rh-insula") == "right"
    assert hemisphere_of("Brain-Stem") == "unknown"
    # every cortical DK parcel in the shipped label table has a lobe, and the table has no extra
    names = load_atlas("desikan_killiany").labels.values()
    stems = {n[7:] for n in names if n.startswith("ctx-") and "unknown" not in n}
    assert stems == set(DK_LOBES)
    assert (lobe_table("desikan_killiany")["lobe"] != "unknown").all()


def test_destrieux_lobes_derived_from_dk():
    table = destrieux_lobe_table()
    assert len(table) == 148  # 74 cortical parcels x 2 hemispheres
    assert set(table.values()) <= set(LOBES) - {"unknown"}
    expected = {
        "G_temp_sup-Lateral": "temporal",
        "G_temp_sup-G_T_transv": "temporal",
        "G_front_middle": "frontal",
        "G_precentral": "frontal",
        "G_postcentral": "parietal",
        "G_insular_short": "insula",
        "G_cingul-Post-dorsal": "cingulate",
        "G_cuneus": "occipital",
        "G_oc-temp_med-Parahip": "temporal",
    }
    for stem, lobe in expected.items():
        assert table[f"ctx_lh_{stem}"] == lobe
        assert table[f"ctx_rh_{stem}"] == lobe  # both hemispheres vote together
    full = lobe_table("destrieux")
    assert list(full.columns) == ["parcel", "lobe", "hemisphere", "agreement"]
    unambiguous = full.dropna(subset=["agreement"])
    assert (unambiguous["agreement"] > 0.4).all()
    assert (unambiguous["agreement"] > 0.9).mean() > 0.5


def test_parse_contact_name():
    assert parse_contact_name("LT3") == ("LT", 3)
    assert parse_contact_name("T2aA12") == ("T2aA", 12)
    assert parse_contact_name("F3bIb10") == ("F3bIb", 10)
    assert parse_contact_name("RA_1*") == ("RA", 1)
    assert parse_contact_name("LPI#4") == ("LPI", 4)
    for bad in ("EKG", "12", ""):
        with pytest.raises(ValueError, match="shaft"):
            parse_contact_name(bad)


def test_shaft_neighbours():
    names = ["LT1", "LT2", "LT3", "RA2", "RA3", "LT5", "RA1"]
    table = electrode_table(names, atlas=None)
    expected = np.array(
        [[-1, 1], [0, 2], [1, -1], [6, 4], [3, -1], [-1, -1], [-1, 3]]
    )
    np.testing.assert_array_equal(shaft_neighbours(table), expected)
    # the same from names alone
    np.testing.assert_array_equal(shaft_neighbours(pd.DataFrame({"name": names})), expected)
    with pytest.raises(ValueError, match="twice"):
        shaft_neighbours(electrode_table(["LT1", "LT1"], atlas=None))
    with pytest.raises(ValueError, match="DataFrame"):
        shaft_neighbours(names)


def test_electrode_table_on_real_positions():
    from skdistill.datasets import load_btbank_coordinates

    coords = load_btbank_coordinates(1)
    table = electrode_table(
        coords["electrode_label"], coords[["mni152_x", "mni152_y", "mni152_z"]].to_numpy()
    )
    assert list(table.columns) == ELECTRODE_COLUMNS
    assert len(table) == 154
    # parsed shafts and numbers agree with the CSV's own columns
    assert (table["shaft"] == coords["name"]).all()
    assert (table["contact"] == coords["num"]).all()
    # hemisphere agrees with the CSV's hem column for every contact
    assert (table["hemisphere"].str[0].str.upper() == coords["hem"]).all()
    assert table.loc[0, "parcel"] == label_contacts([BTBANK_FIRST])[0]
    assert (table["parcel"] == "unknown").mean() < 0.1
    assert set(table["lobe"]) <= set(LOBES)
    assert "temporal" in set(table["lobe"])


def test_coordinates_in_metres_are_refused_with_the_fix():
    from skdistill.spatial import check_coordinates, electrode_table, label_contacts

    metres = np.array([[0.03, -0.02, 0.01], [0.04, 0.01, 0.0]])
    for call in (lambda: electrode_table(["A1", "A2"], metres), lambda: label_contacts(metres),
                 lambda: check_coordinates(metres)):
        with pytest.raises(ValueError, match="(?s)look like metres.*Multiply them by 1000"):
            call()
    # the same contacts in mm are labelled, and the origin alone is not mistaken for metres
    assert len(electrode_table(["A1", "A2"], metres * 1000)) == 2
    check_coordinates(np.zeros((1, 3)))
