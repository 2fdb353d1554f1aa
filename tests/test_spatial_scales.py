"""The spatial-scale registry: a new scale is one register_scale call, nothing else."""

import numpy as np
import pandas as pd
import pytest

from skdistill import BaristaClassifier, BaristaTransformer
from skdistill.spatial import (
    CoordinateScale,
    LobeScale,
    RegionScale,
    get_scale,
    register_scale,
    spatial_scales,
)
from skdistill.spatial import _scales

TINY = dict(patch_size=32, d_model=8, n_layers=1, n_heads=2, predictor_hidden=16, batch_size=16,
            random_state=0, device="cpu")


def _data(n=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4, 64))
    table = pd.DataFrame({"name": [f"c{i}" for i in range(4)], "x": [-40, -30, 30, 40],
                          "y": 0.0, "z": 0.0, "parcel": list("ABCD"),
                          "lobe": ["frontal"] * 4, "hemisphere": ["L", "L", "R", "R"]})
    return X, np.full(n, "s1"), {"s1": table}


@pytest.fixture
def hemisphere():
    scale = register_scale(RegionScale("hemisphere"))
    yield scale
    del _scales._REGISTRY["hemisphere"]


def test_builtin_scales():
    assert spatial_scales()[:3] == ("channel", "parcel", "lobe")
    assert isinstance(get_scale("channel"), CoordinateScale)
    assert isinstance(get_scale("lobe"), LobeScale)
    _, _, tables = _data()
    # lobes are told apart by hemisphere; coordinate channels are each their own masking group
    assert get_scale("lobe").labels(tables["s1"], "s1").tolist() == ["frontal-L"] * 2 + ["frontal-R"] * 2
    assert get_scale("lobe").groups(tables["s1"], "s1").tolist() == [0, 0, 1, 1]
    assert get_scale("channel").groups(tables["s1"], "s1").tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="mask_scale='voxel' is not a registered spatial scale"):
        get_scale("voxel", "mask_scale")
    with pytest.raises(ValueError, match="already registered"):
        register_scale(RegionScale("parcel"))


def test_a_registered_toy_scale_runs_barista(hemisphere):
    X, session, electrodes = _data()
    est = BaristaTransformer(spatial_encoding="hemisphere", mask_scale="hemisphere",
                             mask_ratio=0.5, max_epochs=1, **TINY)
    Z = est.fit_transform(X, session=session, electrodes=electrodes)
    assert Z.shape == (12, 8) and np.isfinite(Z).all()
    assert est.vocabulary_.tolist() == ["L", "R"]
    assert est.module_.encoder.spatial.tables[0].weight.shape == (3, 8)  # L, R + unknown
    # the stored tables keep the new scale's column, so transform without tables works
    assert est.electrodes_["s1"]["hemisphere"] == ["L", "L", "R", "R"]
    np.testing.assert_allclose(est.transform(X, session=session), Z, atol=1e-6)
    y = np.tile([0, 1], 6)
    clf = BaristaClassifier(est, max_epochs=1, random_state=0, device="cpu")
    assert clf.fit(X, y, session=session, electrodes=electrodes).predict_proba(X).shape == (12, 2)
    with pytest.raises(ValueError, match="no \\['hemisphere'\\] column"):
        est.transform(X, session=session,
                      electrodes={"s1": electrodes["s1"].drop(columns="hemisphere")})
