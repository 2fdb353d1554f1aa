"""Tests of the multi-session reaching simulator (skdistill.datasets.make_reaching_sessions)."""

import hashlib

import numpy as np
import pytest
from scipy import signal as sps
from scipy.ndimage import gaussian_filter1d
from sklearn.linear_model import Ridge, RidgeCV
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


@pytest.mark.parametrize("model, lfp_change", [("population", dict(synaptic_amplitude=2.0)),
                                               ("mrp", dict(mrp_amplitude=0.8))])
def test_components_have_their_own_random_streams(model, lfp_change):
    base = make_reaching_sessions(2, 10.0, random_state=5, lfp_model=model)
    gain = make_reaching_sessions(2, 10.0, random_state=5, lfp_model=model,
                                  velocity_gain=(0.05, 0.1))
    lfp = make_reaching_sessions(2, 10.0, random_state=5, lfp_model=model, **lfp_change)
    for r0, rg, rm in zip(base, gain, lfp):
        # a spike-gain change leaves behaviour (and, under "mrp", the LFP) untouched; the
        # population model's neurons draw their gains from velocity_gain as the units do
        if model == "mrp":
            np.testing.assert_array_equal(r0.lfp, rg.lfp)
        np.testing.assert_array_equal(r0.behavior, rg.behavior)
        # ... and an LFP change leaves the spikes untouched
        np.testing.assert_array_equal(r0.spikes, rm.spikes)
        assert not np.array_equal(r0.lfp, rm.lfp)
    # adding a session does not redraw the earlier ones
    more = make_reaching_sessions(3, 10.0, random_state=5, lfp_model=model)
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
                                 beta_amplitude=1.0, beta_depth=0.0, lfp_model="mrp")[0]
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
        (dict(lfp_regime="nonlinear", mrp_amplitude=0.3, lfp_model="mrp"), "nonlinear"),
        (dict(lfp_model="kernel"), r"lfp_model must be one of \('population', 'mrp'\)"),
        (dict(lfp_model=None), "lfp_model"),
        (dict(mrp_amplitude=0.3), "mrp_amplitude .*lfp_model='mrp'"),
        (dict(lfp_model="mrp", synaptic_amplitude=1.0), "synaptic_amplitude"),
        (dict(synaptic_amplitude=-1.0), "synaptic_amplitude"),
        (dict(population_size=1), "population_size"),
        (dict(latent_coherence=1.5), "latent_coherence"),
        (dict(background_exponent=0.0), "background_exponent"),
        (dict(task="figure-eight"), "task"),
        (dict(bin_size=0.0015), "whole number"),
        (dict(unit_turnover=1.5), "unit_turnover"),
        (dict(random_state=-1), "random_state"),
    ],
)
def test_bad_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_reaching_sessions(1, 5.0, **kwargs)


# --------------------------------------------------------------------------- LFP models

# sha256 of the arrays of make_reaching_sessions(2, 12.0, **kwargs), recorded from the code before
# lfp_model existed (commit 3f0e958): lfp_model="mrp" must reproduce them bit for bit
_MRP_SHA256 = {
    "linear": (dict(random_state=0), [
        ("7a9c769c5ce9e370a79ce939e915926e59c1e35cbe98d26e1a0250476be8e3a3",
         "ea7457fcf82ff9206ffeabdf6dcee80e84754bd7d70cb993b0cd8d44aebe5924"),
        ("281ec7931e15efa42a69c2cf28b6d79b2c15cc4de4f3f91ba67a7490651471a9",
         "bfdc8e51781823eb00430a62fffbdd9ae3078bf93dd216ed958b1b0b503b1c61")]),
    "nonlinear": (dict(random_state=1, lfp_regime="nonlinear"), [
        ("ea1d6d735df57cb9f87d32f86a218302ec55d94df5275ee2ca489a4316ed8a9a",
         "9bd19ef2c7ef28e66c1365c4083df555fdf869276fd1a49fdf47eb7d926681a6"),
        ("50d2ee8960c4b8a71b6515128602f38beecf6dd96c06080541e0f5408729483a",
         "a57fc3f5aece1f09fbb76849ffc6a161df4c45425698bc1483bb8cf2b87bae97")]),
}
# a few raw values of the first linear session (volts), for a readable failure
_MRP_VALUES = [9.117696026805788e-05, 0.0001152089680545032, -9.587464774085674e-06]


def _sha(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


@pytest.mark.parametrize("name", sorted(_MRP_SHA256))
def test_mrp_model_reproduces_the_earlier_release_bit_for_bit(name):
    kwargs, expected = _MRP_SHA256[name]
    recs = make_reaching_sessions(2, 12.0, lfp_model="mrp", **kwargs)
    if name == "linear":
        np.testing.assert_array_equal(recs[0].lfp[[0, 1234, 11999], [0, 5, 7]],
                                      np.float32(_MRP_VALUES))
    assert [(_sha(r.lfp), _sha(r.spikes)) for r in recs] == expected
    assert recs[0].annotations["lfp_model"] == "mrp"


def test_spikes_behaviour_and_latents_do_not_depend_on_the_lfp_model():
    pop = make_reaching_sessions(2, 10.0, random_state=4)
    mrp = make_reaching_sessions(2, 10.0, random_state=4, lfp_model="mrp")
    nonlin = make_reaching_sessions(2, 10.0, random_state=4, lfp_regime="nonlinear")
    for a, b, c in zip(pop, mrp, nonlin):
        assert a.annotations["lfp_model"] == "population"
        for r in (b, c):
            np.testing.assert_array_equal(a.spikes, r.spikes)
            np.testing.assert_array_equal(a.behavior, r.behavior)
            np.testing.assert_array_equal(a.annotations["latents"], r.annotations["latents"])
            assert a.lfp.shape == r.lfp.shape and not np.array_equal(a.lfp, r.lfp)


def _lagged_r2(X, targets, lags=(-10, -5, 0, 5, 10)):
    """Cross-validated R² per target of a ridge on 50 ms-smoothed features at lags ±100 ms.

    Predictions of 5 contiguous folds (each predicted by a ridge fit on the other four; a fixed,
    moderate alpha keeps the test fast), R² over the whole session: steadier than one tail.
    """
    X = gaussian_filter1d(X, 5.0, axis=0)
    n = len(X)
    X = np.hstack([X[np.clip(np.arange(n) + lag, 0, n - 1)] for lag in lags])
    model = make_pipeline(StandardScaler(), Ridge(alpha=300.0))
    pred = np.empty(targets.shape)
    for train, test in KFold(5, shuffle=False).split(X):
        pred[test] = model.fit(X[train], targets[train]).predict(X[test])
    return r2_score(targets, pred, multioutput="raw_values")


@pytest.fixture(scope="module")
def short_pair():
    """The same 120 s random-target session (32 channels) under both LFP models."""
    kw = dict(n_channels=32, task="random-target", random_state=11)
    return (make_reaching_sessions(1, 120.0, **kw)[0],
            make_reaching_sessions(1, 120.0, lfp_model="mrp", **kw)[0])


def test_population_lfp_carries_the_non_behavioural_latents(short_pair):
    pop, mrp = short_pair
    latents = pop.annotations["latents"]
    r2_pop = _lagged_r2(preprocess_lfp(pop), latents)
    r2_mrp = _lagged_r2(preprocess_lfp(mrp), latents)
    # the population's synaptic currents follow the latents; the old model's LFP does not
    assert r2_pop.mean() > 0.25 and (r2_pop > 0.1).all()
    assert r2_mrp.mean() < 0.05
    # and the LFP still carries velocity linearly
    velocity = (pop.behavior - pop.behavior.mean(0)) / pop.behavior.std(0)
    assert _lagged_r2(preprocess_lfp(pop), velocity).mean() > 0.2


def test_population_spectrum_is_one_over_f_alpha_with_a_beta_peak_at_rest(short_pair):
    rec = short_pair[0]
    x = rec.lfp.astype(float)
    x -= x.mean(axis=1, keepdims=True)  # CAR
    f, p = sps.welch(x, fs=1000.0, nperseg=1000, axis=0)
    p = p.mean(axis=1)
    fit = (f >= 2) & (f <= 40) & ~((f >= 13) & (f <= 30))
    alpha = -np.polyfit(np.log(f[fit]), np.log(p[fit]), 1)[0]
    assert 1.0 < alpha < 2.0
    # beta bump above the power law through its flanks, stronger at rest than in movement
    beta = (f >= 16) & (f <= 28)
    line = np.exp(np.polyval(np.polyfit(np.log(f[fit]), np.log(p[fit]), 1), np.log(f[beta])))
    assert np.mean(p[beta] / line) > 1.5
    # the 1/f background alone has the requested exponent
    bg = make_reaching_sessions(1, 40.0, n_channels=8, random_state=3, synaptic_amplitude=0.0,
                                beta_amplitude=0.0, broadband_amplitude=0.0, sensor_noise=0.0,
                                line_noise_amplitude=0.0, common_amplitude=0.0)[0]
    f, p = sps.welch(bg.lfp.astype(float), fs=1000.0, nperseg=2000, axis=0)
    band = (f >= 2) & (f <= 40)
    slope = np.polyfit(np.log(f[band]), np.log(p.mean(axis=1)[band]), 1)[0]
    assert -1.7 < slope < -1.3


def test_population_nonlinear_regime_removes_linear_velocity_but_keeps_latents(short_pair):
    rec = make_reaching_sessions(1, 120.0, n_channels=32, task="random-target", random_state=11,
                                 lfp_regime="nonlinear")[0]
    np.testing.assert_array_equal(rec.spikes, short_pair[0].spikes)
    lfp = preprocess_lfp(rec)
    velocity = (rec.behavior - rec.behavior.mean(0)) / rec.behavior.std(0)
    assert _lagged_r2(lfp, velocity).mean() < 0.08
    assert _lagged_r2(lfp, rec.annotations["latents"]).mean() > 0.25
