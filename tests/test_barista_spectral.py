"""The log-spectrum tokenizer (``tokenizer="spectral"``): exact spectra, band power the CNN
tokens do not carry, and the estimator contract (pretraining, fine-tuning, save/load)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

from skdistill import BaristaClassifier, BaristaTransformer
from skdistill.nn import BaristaEncoder, SpectralTokenizer, log_spaced_bands

TINY = dict(patch_size=64, d_model=8, n_layers=1, n_heads=2, predictor_hidden=16, batch_size=16)
FS = 512.0


def _table(n):
    rng = np.random.default_rng(n)
    return pd.DataFrame({"name": [f"c{i}" for i in range(n)], "x": rng.uniform(-60, 60, n),
                         "y": rng.uniform(-80, 60, n), "z": rng.uniform(-40, 60, n),
                         "parcel": ["A", "B", "C", "A"][:n], "lobe": ["frontal"] * n})


def _brown_segments(n, n_channels=4, n_times=768, hg_share=0.01, ratio=2.5, seed=0):
    """1/f^2 (integrated white) noise plus 70-150 Hz noise of ``hg_share`` of its variance,
    ``ratio`` times more in class-1 segments: the label lives in high-gamma power only, a small
    share of the variance, as in the simulated cohort (1.0 % vs 1.5 % there)."""
    from scipy.signal import butter, sosfiltfilt

    rng = np.random.default_rng(seed)
    y = np.tile([0, 1], n // 2)
    brown = np.cumsum(rng.standard_normal((n, n_channels, n_times)), axis=-1)
    brown -= brown.mean(axis=-1, keepdims=True)
    brown /= brown.std(axis=-1, keepdims=True)
    sos = butter(4, [70, 150], btype="band", fs=FS, output="sos")
    hg = sosfiltfilt(sos, rng.standard_normal((n, n_channels, n_times)), axis=-1)
    hg /= hg.std(axis=-1, keepdims=True)
    share = np.where(y == 1, hg_share * ratio, hg_share)[:, None, None]
    return brown + np.sqrt(share) * hg, y


def test_log_spectrum_is_the_hann_periodogram():
    tok = SpectralTokenizer(64, 8)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 64))
    window = np.hanning(64)
    expected = np.log(np.abs(np.fft.rfft(x * window)) ** 2 / (window ** 2).sum() + 1e-6)
    got = tok.log_spectrum(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    # a 96 Hz sine (bin 12 of a 64-sample patch at 512 Hz) peaks in its own bin
    sine = torch.sin(2 * torch.pi * 96.0 / FS * torch.arange(64.0))[None]
    assert int(tok.log_spectrum(sine).argmax()) == 12
    assert tok.encode(torch.as_tensor(x, dtype=torch.float32)).shape == (5, 8)


def test_log_spaced_bands_tile_the_bins_single_bins_low_wider_high():
    for n_bins, n_bands in [(65, 16), (65, 2), (33, 33), (257, 24), (65, 40)]:
        edges = log_spaced_bands(n_bins, n_bands)
        widths = np.diff(edges)
        assert edges[0] == 0 and edges[-1] == n_bins and len(widths) == n_bands
        assert widths.min() >= 1 and widths[0] == 1  # DC alone
        assert np.all(np.diff(widths) >= 0) or n_bands == n_bins  # never narrower upwards
    # 0.25 s patches at 512 Hz, 16 bands: 4 Hz bins up to 36 Hz, high gamma in 3 bands
    assert log_spaced_bands(65, 16) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 21, 28, 37, 49, 65]
    for bad in (1, 66):
        with pytest.raises(ValueError, match="n_bands must be in"):
            log_spaced_bands(65, bad)


def test_band_spectrum_is_the_log_of_the_band_mean_power_and_less_noisy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 128))
    window = np.hanning(128)
    power = np.abs(np.fft.rfft(x * window)) ** 2 / (window ** 2).sum()
    edges = log_spaced_bands(65, 16)
    expected = np.log(np.stack([power[:, a:b].mean(axis=1) for a, b in zip(edges, edges[1:])],
                               axis=1) + 1e-6)
    tok = SpectralTokenizer(128, 32, n_bands=16)
    got = tok.log_spectrum(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)  # float32 window, weights
    assert tok.pooler.weight.shape == (32, 16)
    # white noise: one bin's log power has the chi-squared(2) spread (~5.6 dB); the widest
    # band (16 bins, 196-260 Hz) averages it down by about sqrt(16)
    single = np.log(power[:, 50]).std()
    widest = got[:, -1].std()
    assert 1.1 < single < 1.4, single  # sd of log(Exp(1)) = pi / sqrt(6) = 1.28
    assert widest < single / 2.5, (single, widest)
    # n_bands = every bin is the unbanded tokenizer
    plain = SpectralTokenizer(128, 32).log_spectrum(torch.as_tensor(x))
    torch.testing.assert_close(SpectralTokenizer(128, 32, 65).log_spectrum(torch.as_tensor(x)),
                               plain, rtol=1e-5, atol=1e-5)


def test_estimator_spectral_bands_builds_banded_tokens_and_survives_save_load(tmp_path):
    X, _ = _brown_segments(32, seed=3)
    session, electrodes = np.array(["s"] * len(X)), {"s": _table(4)}
    est = BaristaTransformer(tokenizer="spectral", spectral_bands=8, max_epochs=1,
                             random_state=0, **TINY).fit(X, session=session, electrodes=electrodes)
    assert est.module_.encoder.tokenizer.pooler.in_features == 8
    assert est.module_.target_tokenizer.n_bands == 8
    est.save(tmp_path / "bands.pt")
    loaded = BaristaTransformer.load(tmp_path / "bands.pt")
    assert loaded.spectral_bands == 8
    np.testing.assert_array_equal(loaded.transform(X, session=session, electrodes=electrodes),
                                  est.transform(X, session=session, electrodes=electrodes))
    # more bands than the patch has bins: a clear error at fit
    with pytest.raises(ValueError, match="n_bands must be in"):
        BaristaTransformer(tokenizer="spectral", spectral_bands=40, max_epochs=0, **TINY).fit(
            X, session=session, electrodes=electrodes)
    # the CNN tokenizer ignores it
    cnn = BaristaTransformer(spectral_bands=8, max_epochs=0, **TINY).fit(
        X, session=session, electrodes=electrodes)
    assert not isinstance(cnn.module_.encoder.tokenizer, SpectralTokenizer)


def test_encoder_builds_either_tokenizer_and_refuses_others():
    spec = BaristaEncoder(64, 8, "parcel", 4, 1, 2, tokenizer="spectral")
    assert isinstance(spec.tokenizer, SpectralTokenizer)
    assert spec.tokenizer.pooler.weight.shape == (8, 33)
    cnn = BaristaEncoder(64, 8, "parcel", 4, 1, 2)
    assert not isinstance(cnn.tokenizer, SpectralTokenizer)
    with pytest.raises(ValueError, match="tokenizer must be one of"):
        BaristaEncoder(64, 8, "parcel", 4, 1, 2, tokenizer="wavelet")
    with pytest.raises(ValueError, match="tokenizer"):
        BaristaTransformer(tokenizer="wavelet").fit(
            np.zeros((4, 2, 128)), session=["s"] * 4, electrodes={"s": _table(2)})


def test_spectral_tokens_carry_high_gamma_power_the_cnn_tokens_hide():
    """High gamma is 1 % of the variance, 2.5 % in class 1. A linear probe on the untrained
    spectral tokens separates the classes; on the untrained CNN tokens it does much worse
    (measured over data seeds 0-2: spectral 0.94-1.00, CNN 0.66-0.75)."""
    X, y = _brown_segments(120, seed=2)
    session = np.array(["s"] * len(X))
    electrodes = {"s": _table(4)}
    aurocs = {}
    for tokenizer in ("spectral", "cnn"):
        est = BaristaTransformer(tokenizer=tokenizer, max_epochs=0, random_state=2, **TINY)
        est.fit(X, session=session, electrodes=electrodes)
        tokens = est.transform_tokens(X, session=session, electrodes=electrodes)
        features = tokens.mean(axis=1).reshape(len(X), -1)  # per channel, mean over patches
        proba = cross_val_predict(LogisticRegression(max_iter=2000), features, y, cv=5,
                                  method="predict_proba")[:, 1]
        aurocs[tokenizer] = roc_auc_score(y, proba)
    assert aurocs["spectral"] > 0.9, aurocs
    assert aurocs["spectral"] - aurocs["cnn"] > 0.15, aurocs


def test_spectral_pretraining_fine_tuning_and_save_load(tmp_path):
    from sklearn.frozen import FrozenEstimator

    X, y = _brown_segments(48, seed=1)
    session = np.array(["s"] * len(X))
    electrodes = {"s": _table(4)}
    est = BaristaTransformer(tokenizer="spectral", max_epochs=3, random_state=0, **TINY)
    est.fit(X, session=session, electrodes=electrodes)
    assert len(est.history_) == 3 and np.isfinite(est.history_[-1]["train_loss"])
    # the EMA target tokenizer moved towards the online one, and is a spectral tokenizer
    target = est.module_.target_tokenizer
    assert isinstance(target, SpectralTokenizer)
    assert not torch.equal(target.pooler.weight, est.module_.encoder.tokenizer.pooler.weight)
    path = tmp_path / "spectral.pt"
    est.save(path)
    loaded = BaristaTransformer.load(path)
    assert loaded.tokenizer == "spectral"
    np.testing.assert_array_equal(loaded.transform(X, session=session, electrodes=electrodes),
                                  est.transform(X, session=session, electrodes=electrodes))
    clf = BaristaClassifier(FrozenEstimator(est), max_epochs=2, random_state=0, batch_size=16)
    clf.fit(X, y, session=session, electrodes=electrodes)
    assert isinstance(clf.module_.encoder.tokenizer, SpectralTokenizer)
    # frozen: the fine-tuned tokenizer is the pretrained EMA tokenizer
    torch.testing.assert_close(clf.module_.encoder.tokenizer.pooler.weight, target.pooler.weight)
    clf.save(tmp_path / "clf.pt")
    again = BaristaClassifier.load(tmp_path / "clf.pt")
    np.testing.assert_array_equal(
        again.predict_proba(X, session=session, electrodes=electrodes),
        clf.predict_proba(X, session=session, electrodes=electrodes))


def _fit_head(head_norm, seed):
    X, y = _brown_segments(96, seed=seed, ratio=3.0)
    session, electrodes = np.array(["s"] * len(X)), {"s": _table(4)}
    arch = {k: v for k, v in TINY.items() if k != "batch_size"}
    clf = BaristaClassifier(None, init_params=dict(tokenizer="spectral", **arch), readout="mean",
                            head_norm=head_norm, max_epochs=8, batch_size=16, random_state=0,
                            validation_fraction=0.2)
    return clf.fit(X, y, session=session, electrodes=electrodes), session, electrodes


def test_head_norm_lets_the_classifier_read_a_mean_pooled_embedding_in_few_steps():
    """The mean over tokens varies little between segments; standardising it (BatchNorm without
    affine) before the classifier makes 8 epochs enough (measured: held-out AUROC 0.82 / 0.91
    with it, 0.68 / 0.74 without, data seeds 0 / 1)."""
    for seed in (0, 1):
        X_test, y_test = _brown_segments(96, seed=seed + 10, ratio=3.0)
        scores = {}
        for head_norm in (False, True):
            clf, session, electrodes = _fit_head(head_norm, seed)
            proba = clf.predict_proba(X_test, session=session, electrodes=electrodes)[:, 1]
            scores[head_norm] = roc_auc_score(y_test, proba)
        assert scores[True] > 0.8 and scores[True] - scores[False] > 0.1, scores


def test_head_norm_predicts_with_running_statistics_and_survives_save_load(tmp_path):
    clf, session, electrodes = _fit_head(True, 0)
    assert isinstance(clf.module_.norm, torch.nn.BatchNorm1d) and clf.module_.norm.affine is False
    X, _ = _brown_segments(8, seed=3)
    meta = dict(session=session[:8], electrodes=electrodes)
    together = clf.predict_proba(X, **meta)
    one = np.vstack([clf.predict_proba(X[i:i + 1], session=session[:1], electrodes=electrodes)
                     for i in range(len(X))])  # a batch of one: running statistics, not batch's
    np.testing.assert_allclose(one, together, rtol=1e-5, atol=1e-6)
    clf.save(tmp_path / "clf.pt")
    loaded = BaristaClassifier.load(tmp_path / "clf.pt")
    assert loaded.head_norm is True
    np.testing.assert_array_equal(loaded.predict_proba(X, **meta), together)
    with pytest.raises(ValueError, match="head_norm"):
        BaristaClassifier(head_norm="yes").fit(X, [0, 1] * 4, **meta)
