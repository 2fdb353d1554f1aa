"""Tests of skdistill.preprocessing: the LFP chain, transformers, binning, shaft Laplacian."""

import neo
import numpy as np
import pandas as pd
import pytest
import quantities as pq
import sklearn
from scipy import signal as sps
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline

from skdistill.data import Recording, stack_sessions
from skdistill.preprocessing import (
    CommonAverageReference,
    LFPFilter,
    SessionStandardScaler,
    SpikeSmoother,
    bin_spikes,
    butter_filter,
    common_average_reference,
    notch_filter,
    preprocess_lfp,
    preprocess_recording,
    resample,
    shaft_laplacian,
    zscore,
)

FS = 1000.0


def _sine(freq, duration=4.0, fs=FS, phase=0.0):
    t = np.arange(int(duration * fs)) / fs
    return np.sin(2 * np.pi * freq * t + phase)


def _gain(x_in, x_out, trim=500):
    """Amplitude ratio in the middle of the signal (away from filter edges)."""
    return np.std(x_out[trim:-trim]) / np.std(x_in[trim:-trim])


# --------------------------------------------------------------------------- functions


def test_notch_removes_line_and_harmonics_and_keeps_other_frequencies():
    for f in (60.0, 120.0, 180.0):
        assert _gain(_sine(f), notch_filter(_sine(f), FS)) < 0.01  # > 40 dB
    assert _gain(_sine(120.0), notch_filter(_sine(120.0), FS, harmonics=False)) > 0.99
    # Q = 30 at 60 Hz: -3 dB half-width 1 Hz, so 10 Hz and 90 Hz pass untouched
    for f in (10.0, 90.0):
        assert _gain(_sine(f), notch_filter(_sine(f), FS)) == pytest.approx(1.0, abs=0.01)
    with pytest.raises(ValueError, match="Nyquist"):
        notch_filter(_sine(10.0), 100.0, freqs=60.0)


def test_butter_filter_matches_scipy_sos_design_and_corners():
    x = np.random.default_rng(0).standard_normal((3000, 3))
    got = butter_filter(x, FS, highpass=1.0, lowpass=50.0, order=2)
    want = sps.sosfiltfilt(sps.butter(2, 50.0, "low", fs=FS, output="sos"),
                           sps.sosfiltfilt(sps.butter(2, 1.0, "high", fs=FS, output="sos"), x,
                                           axis=0), axis=0)
    np.testing.assert_allclose(got, want, atol=1e-10)
    # zero-phase 2nd-order Butterworth: |H|^2 at the corner -> amplitude 0.5
    assert _gain(_sine(50.0), butter_filter(_sine(50.0), FS, lowpass=50.0)) == pytest.approx(
        0.5, abs=0.02)
    assert _gain(_sine(200.0), butter_filter(_sine(200.0), FS, lowpass=50.0)) < 0.005
    # a DC offset is removed by the 0.05 Hz high-pass
    y = butter_filter(_sine(5.0, duration=60.0) + 3.0, FS, highpass=0.05)
    assert abs(y[20000:40000].mean()) < 0.01
    # neo.AnalogSignal input works (time along axis 0)
    sig = neo.AnalogSignal(x, units="uV", sampling_rate=FS * pq.Hz)
    np.testing.assert_allclose(butter_filter(sig, FS, lowpass=50.0),
                               butter_filter(x, FS, lowpass=50.0))
    with pytest.raises(ValueError, match="highpass and/or lowpass"):
        butter_filter(x, FS)
    with pytest.raises(ValueError, match="Nyquist"):
        butter_filter(x, FS, lowpass=600.0)


def test_common_average_reference_removes_shared_signal_exactly():
    rng = np.random.default_rng(1)
    local = rng.standard_normal((500, 6))
    local -= local.mean(axis=1, keepdims=True)
    shared = rng.standard_normal((500, 1))
    np.testing.assert_allclose(common_average_reference(local + shared), local, atol=1e-12)
    # an absent (all-NaN) channel is ignored and stays NaN
    x = np.column_stack([local + shared, np.full(500, np.nan)])
    out = common_average_reference(x)
    assert np.isnan(out[:, -1]).all()
    np.testing.assert_allclose(out[:, :-1], local, atol=1e-12)


def test_resample_sine_analytic_and_lengths():
    x = np.column_stack([_sine(5.0, 10.0), _sine(3.0, 10.0, phase=1.0)])
    y = resample(x, 1000.0, 100.0)
    assert y.shape == (1000, 2)
    t = np.arange(1000) / 100.0
    want = np.column_stack([np.sin(2 * np.pi * 5.0 * t), np.sin(2 * np.pi * 3.0 * t + 1.0)])
    # reflection padding keeps even the edges close to the analytic sine
    np.testing.assert_allclose(y[5:-5], want[5:-5], atol=2e-3)
    assert resample(x, 1000.0, 100.0, n_out=999).shape == (999, 2)
    # content above the new Nyquist (80 Hz at 100 Hz) is removed, not aliased to 20 Hz
    assert np.std(resample(_sine(80.0, 10.0), 1000.0, 100.0)[10:-10]) < 0.02


def test_zscore_per_channel_and_constant_channel():
    x = np.column_stack([np.arange(10.0), np.full(10, 3.0)])
    z = zscore(x)
    np.testing.assert_allclose(z[:, 0].mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(z[:, 0].std(), 1.0)
    np.testing.assert_allclose(z[:, 1], 0.0)


def _toy_recording(duration=20.0, n_ch=5, seed=0):
    rng = np.random.default_rng(seed)
    n = int(duration * FS)
    t = np.arange(n) / FS
    slow = np.sin(2 * np.pi * 2.0 * t)
    lfp = (np.outer(slow, np.arange(1, n_ch + 1)) + 2.0 * np.sin(2 * np.pi * 60 * t)[:, None]
           + 5.0 * rng.standard_normal((n, 1)) + 0.1 * rng.standard_normal((n, n_ch)))
    n_bins = int(duration * 100)
    return Recording("toy", spikes=rng.poisson(1.0, (n_bins, 3)),
                     behavior=rng.standard_normal((n_bins, 2)), bin_rate=100.0,
                     lfp=lfp, lfp_rate=FS)


def test_preprocess_lfp_equals_the_reference_order_of_steps():
    rec = _toy_recording(n_ch=20)  # more channels than one block of 16
    got = preprocess_lfp(rec)
    assert got.shape == (rec.n_bins, 20)
    # the reference order: notch -> HP -> LP -> CAR at 1 kHz -> resample -> z-score
    x = notch_filter(rec.lfp, FS)
    x = butter_filter(x, FS, highpass=0.05, lowpass=50.0)
    x = common_average_reference(x)
    want = zscore(resample(x, FS, 100.0))
    np.testing.assert_allclose(got, want, atol=1e-8)
    np.testing.assert_allclose(got.mean(axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(got.std(axis=0), 1.0)


def test_preprocess_lfp_interpolates_onto_the_bin_grid_when_lengths_differ():
    rec = _toy_recording()
    short = rec.replace(lfp=rec.lfp[:-37])  # not a whole number of bins
    out = preprocess_lfp(short)
    assert out.shape == (rec.n_bins, rec.lfp.shape[1])
    assert np.isfinite(out).all()


def test_preprocess_recording_is_row_aligned_and_stackable():
    a = _toy_recording(n_ch=5, seed=0)
    b = _toy_recording(n_ch=4, seed=1).replace(session="toy2")
    pa, pb = preprocess_recording(a), preprocess_recording(b, notch=None)
    assert pa.lfp_rate == pa.bin_rate == 100.0
    assert pb.annotations["lfp_preprocessing"]["notch"] is None
    X, y, session = stack_sessions([pa, pb], modality="lfp")
    assert X.shape == (a.n_bins + b.n_bins, 5)
    assert np.isnan(X[session == "toy2", 4]).all()
    assert not np.isnan(X[session == "toy", 4]).any()
    with pytest.raises(ValueError, match="Recording"):
        preprocess_lfp(a.lfp)


# --------------------------------------------------------------------------- transformers


def test_session_standard_scaler_per_session_stats_and_nan_columns():
    rng = np.random.default_rng(0)
    Xa = rng.normal(5.0, 2.0, (300, 3))
    Xb = rng.normal(-1.0, 0.5, (200, 3))
    Xb[:, 2] = np.nan  # channel absent from session b
    X = np.vstack([Xa, Xb])
    session = np.array(["a"] * 300 + ["b"] * 200)
    scaler = SessionStandardScaler().fit(X, session=session)
    np.testing.assert_allclose(scaler.mean_["a"], Xa.mean(axis=0))
    np.testing.assert_allclose(scaler.scale_["b"][:2], Xb[:, :2].std(axis=0))
    assert np.isnan(scaler.mean_["b"][2])
    Z = scaler.transform(X, session=session)
    np.testing.assert_allclose(Z[:300].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z[300:, :2].std(axis=0), 1.0)
    assert np.isnan(Z[300:, 2]).all()
    with pytest.raises(ValueError, match="not seen in fit"):
        scaler.transform(Xa, session="c")
    own = SessionStandardScaler(unknown_session="own").fit(X, session=session)
    np.testing.assert_allclose(own.transform(Xa * 3, session="c").std(axis=0), 1.0)
    bad = X.copy()
    bad[5, 0] = np.nan
    with pytest.raises(ValueError, match="inside channel"):
        SessionStandardScaler().fit(bad, session=session)


def test_session_metadata_is_routed_through_a_pipeline():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (100, 2)), rng.normal(50, 10, (100, 2))])
    y = X[:, 0].copy()
    session = np.repeat(["a", "b"], 100)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(
            SessionStandardScaler().set_fit_request(session=True).set_transform_request(
                session=True),
            Ridge().set_fit_request(sample_weight=False),
        )
        pipe.fit(X, y, session=session)
        Z = pipe[0].transform(X, session=session)
        pred = pipe.predict(X, session=session)
    np.testing.assert_allclose(Z[100:].mean(axis=0), 0.0, atol=1e-10)
    assert pred.shape == (200,)


def test_spike_smoother_is_a_normalised_gaussian_within_sessions():
    X = np.zeros((200, 2))
    X[100, 0] = 1.0
    smoother = SpikeSmoother(sigma=0.05, bin_size=0.01)
    out = smoother.fit_transform(X)
    k = np.arange(-20, 21)
    want = np.exp(-(k**2) / (2 * 5.0**2))
    want /= want.sum()
    np.testing.assert_allclose(out[80:121, 0], want, atol=1e-12)
    assert out[:, 0].sum() == pytest.approx(1.0)
    # an impulse at the last row of session a never leaks into session b
    X = np.zeros((200, 1))
    X[99] = 1.0
    session = np.repeat(["a", "b"], 100)
    out = smoother.fit(X).transform(X, session=session)
    assert np.all(out[100:] == 0.0)
    assert out[:100].sum() == pytest.approx(1.0)  # reflected edge keeps the mass
    # without session labels the kernel does cross the boundary
    assert SpikeSmoother().fit_transform(X)[100:].sum() > 0.3


def test_lfp_filter_and_car_transformers_match_functions():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 3)) + np.sin(np.arange(600) / 3.0)[:, None]
    session = np.repeat(["a", "b"], 300)
    flt = LFPFilter(sampling_rate=100.0, highpass=None, lowpass=10.0).fit(X)
    out = flt.transform(X, session=session)
    np.testing.assert_allclose(out[:300], butter_filter(X[:300], 100.0, lowpass=10.0))
    np.testing.assert_allclose(out[300:], butter_filter(X[300:], 100.0, lowpass=10.0))
    car = CommonAverageReference().fit_transform(X)
    np.testing.assert_allclose(car.mean(axis=1), 0.0, atol=1e-12)


# --------------------------------------------------------------------------- binning, Laplacian


def test_bin_spikes_counts_known_times():
    trains = [np.array([0.001, 0.005, 0.011, 0.035]), np.array([0.02])]
    counts = bin_spikes(trains, 0.01, t_start=0.0, t_stop=0.04)
    np.testing.assert_array_equal(counts, [[2, 0], [1, 0], [0, 1], [1, 0]])
    st = neo.SpikeTrain([1.0, 5.0, 11.0] * pq.ms, t_start=0 * pq.ms, t_stop=20 * pq.ms)
    np.testing.assert_array_equal(bin_spikes([st], 10 * pq.ms), [[2], [1]])


def test_shaft_laplacian_on_a_linear_gradient_and_edges():
    names = ["LT1", "LT2", "LT3", "LT4", "RA1", "RA2", "RA3"]
    t = np.linspace(0, 1, 50)[:, None]
    # potential linear in contact number plus a shared signal: the Laplacian of it is zero
    contact = np.array([1, 2, 3, 4, 1, 2, 3])
    x = t * contact[None, :] + np.sin(10 * t)
    out, kept = shaft_laplacian(x, names)
    assert list(kept["name"]) == ["LT2", "LT3", "RA2"]
    np.testing.assert_allclose(out, 0.0, atol=1e-12)
    out, kept = shaft_laplacian(x, pd.DataFrame({"name": names}), edge="one-sided")
    assert len(kept) == 7 and list(kept["n_neighbours"]) == [1, 2, 2, 1, 1, 2, 1]
    # LT1 - LT2 = -t
    np.testing.assert_allclose(out[:, 0], -t[:, 0])
    with pytest.raises(ValueError, match="rows"):
        shaft_laplacian(x, names[:3])


def test_preprocess_lfp_on_a_short_recording_says_how_many_samples_it_needs():
    from skdistill.preprocessing import preprocess_lfp

    rec = Recording(session="short", lfp=np.zeros((10, 2)), lfp_rate=1000.0,
                    spikes=np.zeros((1, 1), int), bin_rate=100.0)
    with pytest.raises(ValueError, match="(?s)recording 'short'.*has 10 samples .* notch cascade .* needs more than"):
        preprocess_lfp(rec)
    with pytest.raises(ValueError, match="8 samples .* Butterworth filter of order 2 needs more than 9"):
        preprocess_lfp(rec.replace(lfp=np.zeros((8, 2))), notch=None)
    with pytest.raises(ValueError, match="notch must be a line frequency in Hz below the Nyquist"):
        preprocess_lfp(rec, notch=-5.0)
