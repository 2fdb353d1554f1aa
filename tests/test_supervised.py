"""SupervisedEncoderRegressor: end-to-end fine-tuning with a linear head, and sklearn's checks."""

import numpy as np
import pytest
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdistill.estimators import LFPTransformer, MaskedSpikeTransformer
from skdistill.estimators._distilled import DistilledLFPTransformer
from skdistill.estimators._supervised import SupervisedEncoderRegressor

TINY = dict(segment_length=4, patch_size=2, d_model=8, n_layers=1, n_heads=2, decoder_width=8,
            max_epochs=2, batch_size=8, random_state=0, device="cpu")
SMALL = dict(segment_length=20, patch_size=4, d_model=16, n_layers=1, n_heads=2, decoder_width=8,
             batch_size=16, random_state=0, device="cpu")



_WINDOWED = {
    "check_methods_sample_order_invariance": "rows are time bins; predictions use their window",
    "check_methods_subset_invariance": "rows are time bins; a subset changes the windows",
    "check_estimators_pickle": "the check puts one NaN into a present channel (rejected by design)",
    "check_estimators_pickle(readonly_memmap=True)": "as check_estimators_pickle",
}


@parametrize_with_checks(
    [SupervisedEncoderRegressor(LFPTransformer(**TINY), max_epochs=2, batch_size=8, random_state=0,
                                device="cpu")],
    expected_failed_checks=lambda est: _WINDOWED,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def _planted(n_rows=800, seed=0):
    """LFP = linear mix of a smooth 2-D latent + noise; y = the latent."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    lat = np.cumsum(rng.standard_normal((n_rows, 2)), axis=0) * 0.1
    lat = (lat - lat.mean(0)) / lat.std(0)
    lfp = lat @ rng.standard_normal((2, 12)) + 0.5 * rng.standard_normal((n_rows, 12))
    return lfp, lat


@pytest.fixture(scope="module")
def encoder():
    X, _ = _planted()
    return LFPTransformer(max_epochs=2, **SMALL).fit(X)


def test_beats_shuffled_target_control(encoder):
    X, y = _planted()
    kw = dict(max_epochs=15, lr=3e-3, batch_size=8, random_state=0, device="cpu")
    real = SupervisedEncoderRegressor(FrozenEstimator(encoder), **kw).fit(X[:600], y[:600])
    # circularly shifted targets keep their autocorrelation but lose their link to X
    shuffled = SupervisedEncoderRegressor(FrozenEstimator(encoder), **kw).fit(
        X[:600], np.roll(y[:600], 300, axis=0))
    r2_real = r2_score(y[600:], real.predict(X[600:]))
    r2_ctrl = r2_score(y[600:], shuffled.predict(X[600:]))
    assert r2_real > 0.5, r2_real
    assert r2_ctrl < 0.2, r2_ctrl


def test_frozen_encoder_is_not_modified_and_output_shape(encoder):
    X, y = _planted()
    before = {k: v.clone() for k, v in encoder.module_.state_dict().items()}
    reg = SupervisedEncoderRegressor(FrozenEstimator(encoder), max_epochs=1, random_state=0,
                                     device="cpu").fit(X, y)
    after = encoder.module_.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert reg.encoder_ is encoder
    tuned = reg.net_.module_.encoder.state_dict()
    assert any(not torch.equal(before[k], tuned[k]) for k in before)  # the copy was fine-tuned
    pred = reg.predict(X)
    assert pred.shape == (800, 2) and pred.dtype == np.float64
    assert reg.predict(X[:, :]).shape == (800, 2)
    assert SupervisedEncoderRegressor(FrozenEstimator(encoder), max_epochs=1, device="cpu").fit(
        X, y[:, 0]).predict(X).shape == (800,)


def test_head_only_keeps_the_encoder_and_ssl_weight_enters_the_loss(encoder):
    X, y = _planted()
    reg = SupervisedEncoderRegressor(FrozenEstimator(encoder), finetune="head", max_epochs=1,
                                     device="cpu", random_state=0).fit(X, y)
    for k, v in encoder.module_.state_dict().items():
        assert torch.equal(v, reg.net_.module_.encoder.state_dict()[k])
    module = reg.net_.module_.train()
    x = torch.as_tensor(X[:40].reshape(2, 20, 12), dtype=torch.float32)
    t = torch.zeros(2, 20, 2)
    idx = torch.zeros(2, dtype=torch.long)
    module.ssl_weight = 0.0
    with torch.no_grad():
        mse = float(module(x, idx, t)["loss"])
        assert mse == pytest.approx(float((module.predict(x, idx) ** 2).mean()), rel=1e-5)
        module.ssl_weight = 1.0
        assert float(module(x, idx, t)["loss"]) > mse  # + the (positive) masked MSE


def test_unfitted_encoders_are_fitted_first():
    X, y = _planted(400)
    reg = SupervisedEncoderRegressor(LFPTransformer(max_epochs=1, **SMALL), max_epochs=1,
                                     device="cpu").fit(X, y)
    assert reg.encoder_.n_windows_ == 18  # 400 rows less 40 held out, 20 per window
    rng = np.random.default_rng(0)
    S = rng.poisson(2.0, (400, 8)).astype(float)
    teacher = MaskedSpikeTransformer(max_epochs=1, **{**SMALL, "patch_size": 4})
    student = DistilledLFPTransformer(teacher, max_epochs=1,
                                      **{k: v for k, v in SMALL.items() if k != "decoder_width"})
    reg = SupervisedEncoderRegressor(student, max_epochs=1, device="cpu").fit(X, y, teacher_X=S)
    assert reg.encoder_.teacher_.n_features_in_ == 8
    assert reg.predict(X).shape == (400, 2)


def test_frozen_embedding_pipeline_setting(encoder):
    X, y = _planted()
    pipe = make_pipeline(FrozenEstimator(encoder), LinearRegression()).fit(X[:600], y[:600])
    assert pipe.score(X[600:], y[600:]) > 0.3
