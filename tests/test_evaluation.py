"""skdistill.evaluation: probes, lagged features, floors and null controls."""

import subprocess
import sys

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d
from sklearn.linear_model import LinearRegression, RidgeCV

from skdistill.evaluation import (
    RIDGE_ALPHAS,
    blocked_ridge,
    circular_shift,
    lagged,
    probe_auc,
    probe_r2,
    reference_split,
    ridge_floor,
    zscore_per_session,
)
from skdistill.model_selection import SegmentSplit


def _linear_sessions(seed=0, n=3000, noise=0.0):
    rng = np.random.default_rng(seed)
    # smooth features so that the behaviour is autocorrelated, as velocity is
    Z = gaussian_filter1d(rng.normal(size=(n, 6)), 5, axis=0)
    y = Z @ rng.normal(size=(6, 2)) + noise * rng.normal(size=(n, 2))
    session = np.repeat(["a", "b"], n // 2)
    return Z, y, session


def test_probe_on_linear_map_is_one_and_its_null_is_zero():
    Z, y, session = _linear_sessions()
    r2 = probe_r2(Z, y, session, segment_length=100)
    assert list(r2.index) == ["a", "b"]
    np.testing.assert_allclose(r2.values, 1.0, atol=1e-9)
    null = probe_r2(Z, y, session, segment_length=100, null=True)
    assert null.max() < 0.05  # a linear map to shifted behaviour explains nothing
    ridge = probe_r2(Z, y, session, segment_length=100, model="ridge")
    assert ridge.min() > 0.99


def test_probe_matches_a_hand_fit_of_the_reference_protocol():
    Z, y, session = _linear_sessions(noise=2.0)
    roles = SegmentSplit(100).assign(Z, session)
    yz = zscore_per_session(y, session)
    expected = []
    for s in ("a", "b"):
        tr, ev = (session == s) & (roles == "train"), (session == s) & np.isin(roles, ["val", "test"])
        expected.append(LinearRegression().fit(Z[tr], yz[tr]).score(Z[ev], yz[ev]))
    got = probe_r2(Z, y, session, segment_length=100)
    np.testing.assert_allclose(got.values, expected)
    assert 0.05 < got.mean() < 0.95
    train, test = reference_split(session, segment_length=100)
    np.testing.assert_allclose(probe_r2(Z, y, session, train=train, test=test).values, expected)
    only_b = probe_r2(Z, y, session, segment_length=100, sessions=["b"])
    assert list(only_b.index) == ["b"] and only_b["b"] == pytest.approx(expected[1])


def test_reference_split_is_80_10_10_of_five_second_segments():
    session = np.repeat(["a", "b"], 10_000)
    train, test = reference_split(session)
    assert train.sum() == 16_000 and test.sum() == 4_000 and not (train & test).any()
    # whole 500-row segments
    assert np.all(train.reshape(-1, 500).all(1) | ~train.reshape(-1, 500).any(1))


def test_probe_input_errors():
    Z, y, session = _linear_sessions()
    with pytest.raises(ValueError, match="both train and test"):
        probe_r2(Z, y, session, train=np.ones(len(Z), bool))
    with pytest.raises(ValueError, match="rows"):
        probe_r2(Z, y[:10], session)
    with pytest.raises(ValueError, match="model must be"):
        probe_r2(Z, y, session, model="lasso", segment_length=100)
    with pytest.raises(ValueError, match="entirely NaN"):
        probe_r2(np.full_like(Z, np.nan), y, session, segment_length=100)
    with pytest.raises(ValueError, match="not in session"):
        probe_r2(Z, y, session, sessions=["zzz"], segment_length=100)


def test_lagged_never_crosses_a_session_boundary():
    X = np.concatenate([np.full(50, 1.0), np.full(50, 100.0)])[:, None]
    session = np.repeat(["a", "b"], 50)
    F = lagged(X, (-10, -3, 0, 3, 10), session)
    assert F.shape == (100, 5)
    assert np.all(F[:50] == 1.0) and np.all(F[50:] == 100.0)
    F = lagged(X, (-10, 0, 10), session, fill="nan")
    assert np.isnan(F[:10, 2]).all() and np.isnan(F[50:60, 2]).all()  # past of the first rows
    assert np.isnan(F[40:50, 0]).all() and np.isnan(F[90:, 0]).all()  # future of the last rows
    assert np.nanmax(F[:50]) == 1.0 and np.nanmin(F[50:]) == 100.0


def test_lagged_sign_and_edge_padding():
    x = np.arange(6.0)
    F = lagged(x, (2, 0, -1))
    np.testing.assert_array_equal(F[:, 0], [0, 0, 0, 1, 2, 3])  # past: row t gets t - 2
    np.testing.assert_array_equal(F[:, 1], x)
    np.testing.assert_array_equal(F[:, 2], [1, 2, 3, 4, 5, 5])  # future
    with pytest.raises(TypeError, match="lags"):
        lagged(x, (0.5,))
    with pytest.raises(ValueError, match="fill"):
        lagged(x, (1,), fill="wrap")


def test_lagged_floor_recovers_a_delayed_behaviour():
    rng = np.random.default_rng(1)
    n = 4000
    X = gaussian_filter1d(rng.normal(size=(n, 3)), 3, axis=0)
    session = np.repeat(["a", "b"], n // 2)
    y = lagged(X, (8,), session)[:, :2]  # behaviour = features 80 ms earlier
    same_bin = ridge_floor(X, y, session, segment_length=200).mean()
    with_lags = ridge_floor(X, y, session, lags=(0, 4, 8), segment_length=200).mean()
    assert with_lags > 0.99 and same_bin < 0.9


def test_circular_shift_stays_within_each_session():
    y = np.concatenate([np.arange(100), 1000 + np.arange(200)])
    session = np.repeat(["a", "b"], [100, 200])
    out = circular_shift(y, session, rng=0)
    assert sorted(out[:100]) == list(range(100)) and sorted(out[100:]) == list(1000 + np.arange(200))
    shift = (out[0] - 0) % 100
    assert 10 <= (100 - shift) % 100 <= 90  # at least min_shift of the session
    np.testing.assert_array_equal(out, circular_shift(y, session, rng=0))


def test_blocked_alpha_is_larger_than_leave_one_out_on_autocorrelated_bins():
    rng = np.random.default_rng(0)
    X = gaussian_filter1d(rng.normal(size=(2000, 40)), 10, axis=0)
    y = gaussian_filter1d(rng.normal(size=(2000, 2)), 10, axis=0) + 0.2 * X[:, :2]
    blocked = blocked_ridge().fit(X, y).alpha_
    loo = RidgeCV(alphas=RIDGE_ALPHAS).fit(X, y).alpha_
    assert blocked >= 100 * loo


def _segments(seed, separable):
    rng = np.random.default_rng(seed)
    n = 200
    y = np.repeat(rng.permutation(np.tile([0, 1], n // 10)), 5)  # random blocks of 5 segments
    Z = rng.normal(size=(n, 8))
    if separable:
        Z[:, 0] += 3.0 * y
    session = np.repeat(["s1", "s2"], n // 2)
    return Z, y, session


def test_auc_probe_separable_vs_shuffled_labels():
    Z, y, session = _segments(0, separable=True)
    auc, folds = probe_auc(Z, y, session, return_folds=True)
    assert auc > 0.95 and len(folds) == 5
    null = probe_auc(Z, y, session, null=True, random_state=3)
    assert abs(null - 0.5) < 0.2
    rng = np.random.default_rng(1)
    shuffled = probe_auc(Z, rng.permutation(y), session)
    assert abs(shuffled - 0.5) < 0.2
    Zn, yn, sn = _segments(0, separable=False)
    assert abs(probe_auc(Zn, yn, sn) - 0.5) < 0.2
    # trailing axes (e.g. one embedding per channel) are flattened
    assert probe_auc(Z.reshape(len(Z), 2, 4), y, session) == pytest.approx(auc)
    with pytest.raises(ValueError, match="binary"):
        probe_auc(Z, np.arange(len(Z)) % 3, session)


def test_evaluation_imports_neither_torch_nor_estimators():
    code = ("import sys, skdistill.evaluation; "
            "print('torch' in sys.modules, 'skdistill.estimators' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
