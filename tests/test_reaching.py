"""Tests of the multi-session reaching simulator (skdistill.datasets.make_reaching_sessions)."""

import numpy as np
import pytest
from scipy import signal as sps
from scipy.ndimage import gaussian_filter1d
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdistill.data import stack_sessions
from skdistill.datasets._reaching import make_reaching_sessions
from skdistill.preprocessing import preprocess_lfp, preprocess_recording


@pytest.fixture(scope="module")
def sessions():
    return make_reaching_sessions(n_sessions=2, duration=60.0, random_state=0)


def _floor(X, y):
    """Ridge R² (alpha by contiguous 5-fold CV) trained on the first 80 %, scored on the rest."""
    y = (y - y.mean(0)) / y.std(0)
    cut = int(0.8 * len(X))
    model = make_pipeline(StandardScaler(),
                          RidgeCV(alphas=np.logspace(-2, 5, 15), cv=KFold(5, shuffle=False)))
    model.fit(X[:cut], y[:cut])
    return r2_score(y[cut:], model.predict(X[cut:]))


def test_shapes_types_and_tables(sessions):
    a, b = sessions
    assert a.n_bins == b.n_bins == 6000 and a.bin_rate == 100.0
    assert a.lfp.shape == (60000, 96) and b.lfp.shape == (60000, 95)
    assert a.lfp_rate == 1000.0 and a.lfp.dtype == np.float32
    assert a.spikes.shape == (6000, 96) and a.spikes.dtype == np.int64
    assert a.spikes.min() >= 0
    assert a.behavior_names == ["vx", "vy"]
    assert [a.annotations["task"], b.annotations["task"]] == ["random-target", "center-out"]
    assert {"name", "array_x", "array_y"} <= set(a.channels.columns)
    assert a.channels["array_x"].between(0, 3.6).all()
    # the 95 channels of session b are the 96 of session a minus one, same names
    assert set(b.channels["name"]) < set(a.channels["name"])
    # LFP amplitude of order 100 µV and plausible firing rates
    assert 20e-6 < a.lfp.std() < 500e-6
    assert 3.0 < a.spikes.mean() * a.bin_rate < 30.0
    # velocity is the derivative of the stored position
    pos = a.annotations["position"]
    np.testing.assert_allclose(np.gradient(pos[:, 0], 0.01)[1:-1], a.behavior[1:-1, 0], atol=0.01)
    assert 0.1 < np.abs(a.behavior).max() < 1.0  # m/s


def test_center_out_reaches_go_to_eight_targets_at_7_cm(sessions):
    pos = sessions[1].annotations["position"]
    radius = np.linalg.norm(pos, axis=1)
    far = pos[radius > 0.065]
    angles = np.round(np.degrees(np.arctan2(far[:, 1], far[:, 0])) / 45.0) % 8
    assert len(np.unique(angles)) == 8
    assert radius.max() < 0.08


def test_reproducible_and_seed_dependent():
    a = make_reaching_sessions(1, 10.0, random_state=3)[0]
    b = make_reaching_sessions(1, 10.0, random_state=3)[0]
    c = make_reaching_sessions(1, 10.0, random_state=4)[0]
    np.testing.assert_array_equal(a.spikes, b.spikes)
    np.testing.assert_array_equal(a.lfp, b.lfp)
    assert not np.array_equal(a.spikes, c.spikes)


def test_chunking_does_not_change_the_lfp():
    a = make_reaching_sessions(1, 12.0, random_state=1, chunk_duration=10.0)[0]
    b = make_reaching_sessions(1, 12.0, random_state=1, chunk_duration=2.5)[0]
    np.testing.assert_allclose(a.lfp, b.lfp, rtol=1e-5, atol=1e-10)


def test_components_have_their_own_random_streams():
    base = make_reaching_sessions(2, 10.0, random_state=5)
    gain = make_reaching_sessions(2, 10.0, random_state=5, velocity_gain=(0.05, 0.1))
    mrp = make_reaching_sessions(2, 10.0, random_state=5, mrp_amplitude=0.8)
    for r0, rg, rm in zip(base, gain, mrp):
        # a spike-gain change leaves the LFP and behaviour untouched ...
        np.testing.assert_array_equal(r0.lfp, rg.lfp)
        np.testing.assert_array_equal(r0.behavior, rg.behavior)
        # ... and an LFP change leaves the spikes untouched
        np.testing.assert_array_equal(r0.spikes, rm.spikes)
        assert not np.array_equal(r0.lfp, rm.lfp)
    # adding a session does not redraw the earlier ones
    more = make_reaching_sessions(3, 10.0, random_state=5)
    np.testing.assert_array_equal(more[1].lfp, base[1].lfp)


def test_unit_turnover_and_drift():
    recs = make_reaching_sessions(3, 10.0, n_units=50, unit_turnover=0.2, random_state=2)
    names = [set(r.units["name"]) for r in recs]
    assert all(len(n) == 50 for n in names)
    assert len(names[0] & names[1]) == 40 and len(names[1] & names[2]) == 40
    u0 = recs[0].units.set_index("name")
    u1 = recs[1].units.set_index("name")
    shared = sorted(names[0] & names[1])
    drift = np.degrees(u1.loc[shared, "preferred_direction"] - u0.loc[shared, "preferred_direction"])
    assert 2.0 < np.std(drift) < 25.0  # 10 degree drift per session
    assert (u1.loc[shared, "electrode"] == u0.loc[shared, "electrode"]).all()
    frozen = make_reaching_sessions(2, 10.0, n_units=20, unit_turnover=0.0, random_state=2)
    assert list(frozen[0].units["name"]) == list(frozen[1].units["name"])


def test_lfp_spectrum_line_noise_beta_and_one_over_f():
    rec = make_reaching_sessions(1, 40.0, random_state=7, n_channels=8, mrp_amplitude=0.0,
                                 beta_amplitude=1.0, beta_depth=0.0)[0]
    f, p = sps.welch(rec.lfp.astype(float), fs=1000.0, nperseg=4000, axis=0)
    p = p.mean(axis=1)
    at = lambda hz: p[np.argmin(np.abs(f - hz))]  # noqa: E731
    assert at(60.0) > 100 * at(57.0)  # line noise
    assert at(120.0) > 10 * at(117.0)  # its harmonic
    assert np.mean(p[(f > 18) & (f < 26)]) > 2 * np.mean(p[(f > 35) & (f < 45)])  # beta bump
    # the 1/f background: slope about -1 on log-log between 1 and 10 Hz
    band = (f >= 1) & (f <= 10)
    slope = np.polyfit(np.log(f[band]), np.log(p[band]), 1)[0]
    assert -1.6 < slope < -0.6
    # the reference chain removes the line noise
    clean = preprocess_lfp(rec, zscore=False)
    assert clean.shape == (rec.n_bins, 8)


def test_beta_desynchronises_during_movement():
    rec = make_reaching_sessions(1, 40.0, random_state=8, n_channels=4, beta_depth=0.8,
                                 mrp_amplitude=0.0, line_noise_amplitude=0.0)[0]
    x = rec.lfp.astype(float).mean(axis=1)
    sos = sps.butter(4, [16, 28], "band", fs=1000.0, output="sos")
    power = sps.sosfiltfilt(sos, x) ** 2
    power_bins = power.reshape(-1, 10).mean(axis=1)
    speed = np.linalg.norm(rec.behavior, axis=1)
    moving, still = speed > 0.15, speed < 0.01
    # amplitude drops by up to 80 % during movement: power ratio well below 1
    assert power_bins[moving].mean() < 0.6 * power_bins[still].mean()


def test_decoding_floors_spikes_above_lfp_and_regimes(sessions):
    for rec in sessions:
        spikes = gaussian_filter1d(rec.spikes.astype(float), 5.0, axis=0)
        r2_spk = _floor(spikes, rec.behavior)
        r2_lfp = _floor(preprocess_lfp(rec), rec.behavior)
        assert 0.45 < r2_spk < 0.9
        assert 0.1 < r2_lfp < 0.55
        assert r2_spk > r2_lfp + 0.15
    # nonlinear regime: velocity only in band-power envelopes, so the linear LFP floor is ~0
    rec = make_reaching_sessions(1, 60.0, random_state=0, lfp_regime="nonlinear")[0]
    assert rec.annotations["mrp_amplitude"] == 0.0
    assert _floor(preprocess_lfp(rec), rec.behavior) < 0.08


def test_stacking_preprocessed_sessions_with_different_channel_counts(sessions):
    X, y, session = stack_sessions([preprocess_recording(r) for r in sessions], modality="lfp")
    assert X.shape == (12000, 96) and y.shape == (12000, 2)
    assert np.isnan(X[session == "reach-01", 95]).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_channels=97), "96 electrodes"),
        (dict(lfp_regime="quadratic"), "lfp_regime"),
        (dict(lfp_regime="nonlinear", mrp_amplitude=0.3), "nonlinear"),
        (dict(task="figure-eight"), "task"),
        (dict(bin_size=0.0015), "whole number"),
        (dict(unit_turnover=1.5), "unit_turnover"),
        (dict(random_state=-1), "random_state"),
    ],
)
def test_bad_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_reaching_sessions(1, 5.0, **kwargs)
