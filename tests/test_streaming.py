"""StreamingDecoder / StreamingPatchEncoder: streamed outputs equal the causal model's batch ones."""

import numpy as np
import pytest
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skdistill import DistilledLFPTransformer, LFPTransformer, MaskedSpikeTransformer
from skdistill.nn._mae import MaskedAutoencoder
from skdistill.nn._streaming import StreamingPatchEncoder, banded_encode
from skdistill.streaming import StreamingDecoder

L = 12  # segment_length
SMALL = dict(segment_length=L, patch_size=4, d_model=16, n_layers=2, n_heads=2, batch_size=16,
             max_epochs=1, random_state=0, device="cpu", causal=True)
ATOL = 1e-5


@pytest.fixture(scope="module")
def data():
    """Two sessions; session b lacks channel 11 of the spikes and channel 10 of the LFP."""
    rng = np.random.default_rng(0)
    n = 240
    lat = np.cumsum(rng.normal(size=(2 * n, 2)), axis=0) * 0.1
    spikes = rng.poisson(np.exp(0.3 + 0.5 * lat @ rng.normal(size=(2, 12)))).astype(float)
    lfp = lat @ rng.normal(size=(2, 10)) + 0.3 * rng.normal(size=(2 * n, 10))
    spikes[n:, 11] = np.nan
    lfp[n:, 9] = np.nan
    session = np.repeat(["a", "b"], n)
    return spikes, lfp, lat, session


@pytest.fixture(scope="module")
def encoders(data):
    S, F, _, s = data
    teacher = MaskedSpikeTransformer(decoder_width=8, **SMALL).fit(S, session=s)
    lfp = LFPTransformer(decoder_width=8, **SMALL).fit(F, session=s)
    student = DistilledLFPTransformer(FrozenEstimator(teacher), **SMALL).fit(F, teacher_X=S, session=s)
    return {"spikes": (teacher, S), "lfp": (lfp, F), "distilled": (student, F)}


def _run(X, session, label, start, n):
    rows = np.flatnonzero(session == label)[start : start + n]
    return X[rows], session[rows]


@pytest.mark.parametrize("kind", ["spikes", "lfp", "distilled"])
@pytest.mark.parametrize("label", ["a", "b"])
@pytest.mark.parametrize("readout", ["mean", "concat"])
def test_streamed_equals_batch_transform_on_a_window(encoders, data, kind, label, readout):
    # A run of segment_length bins is one window for transform: both see the same history.
    est, X = encoders[kind]
    run, sess = _run(X, data[3], label, 30, L)
    batch = est.transform(run, session=sess, readout=readout)
    online = StreamingDecoder(est, session=label, readout=readout)
    streamed = online.stream(run)
    assert streamed.shape == batch.shape == (L, online.embedding_dim)
    np.testing.assert_allclose(streamed, batch, atol=ATOL)
    # the last bin of a window is what a causal model would emit at that moment
    assert online.n_seen == L


@pytest.mark.parametrize("kind", ["spikes", "lfp", "distilled"])
def test_streamed_beyond_context_equals_sliding_window_attention(encoders, data, kind):
    est, X = encoders[kind]
    run, sess = _run(X, data[3], "b", 0, 5 * L)
    streamed = StreamingDecoder(est, session="b").stream(run)
    module = est.module_.cpu().eval()
    index = torch.tensor([list(est.sessions_).index("b")])
    x = torch.as_tensor(run, dtype=torch.float32)[None]
    reference = banded_encode(module, x, index, L)[0].numpy()
    np.testing.assert_allclose(streamed, reference, atol=ATOL)
    # the context is bounded: unbounded causal attention over the whole run differs after L bins
    unbounded = module.encode(x, index)[0].detach().numpy()
    np.testing.assert_allclose(streamed[:L], unbounded[:L], atol=ATOL)
    assert np.abs(streamed[2 * L:] - unbounded[2 * L:]).max() > 1e-3


@pytest.mark.parametrize("embedding,kwargs", [("conv", {}), ("conv", {"conv_axis": "tokens"}),
                                              ("count", {}), ("mlp", {})])
def test_torch_streamer_every_value_embedding(embedding, kwargs):
    torch.manual_seed(0)
    module = MaskedAutoencoder(10, 2, patch_size=4, d_model=16, n_layers=3, n_heads=2, causal=True,
                               value_embedding=embedding, embedding_kwargs=kwargs).eval()
    x = torch.poisson(torch.rand(1, 40, 10) * 3)
    x[..., 9] = float("nan")  # a half-empty last patch and an absent channel
    session = torch.tensor([1])
    for layer in (-1, 0):
        streamer = StreamingPatchEncoder(module, 1, context=9, layer=layer)
        streamed = torch.stack([streamer.step(row) for row in x[0]])
        reference = banded_encode(module, x, session, 9, layer=layer)[0]
        torch.testing.assert_close(streamed, reference, atol=ATOL, rtol=0)
        torch.testing.assert_close(streamed[:9], module.encode(x[:, :9], session, layer=layer)[0],
                                   atol=ATOL, rtol=0)
    # the rotary angles stay exact far into a stream (hours of 10 ms bins)
    far = StreamingPatchEncoder(module, 1, context=9)
    far.reset(position=10**7)
    torch.testing.assert_close(torch.stack([far.step(row) for row in x[0]]),
                               banded_encode(module, x, session, 9)[0], atol=ATOL, rtol=0)


def test_an_absent_patch_is_left_out_of_the_mean_and_kept_in_concat():
    torch.manual_seed(1)
    module = MaskedAutoencoder(8, 1, patch_size=4, d_model=16, n_layers=2, n_heads=2, causal=True,
                               value_embedding="conv").eval()
    x = torch.randn(1, 20, 8)
    x[..., 4:] = float("nan")  # the whole second patch is absent
    for readout in ("mean", "concat"):
        streamer = StreamingPatchEncoder(module, 0, context=6, readout=readout)
        streamed = torch.stack([streamer.step(row) for row in x[0]])
        torch.testing.assert_close(streamed, banded_encode(module, x, torch.tensor([0]), 6,
                                                           readout=readout)[0], atol=ATOL, rtol=0)


def test_decoder_folded_or_called_and_reset(encoders, data):
    est, X = encoders["lfp"]
    s, y = data[3], data[2]
    run, sess = _run(X, s, "a", 0, L)
    Z = est.transform(X, session=s)
    ridge = Ridge(alpha=1.0).fit(Z, y)
    online = StreamingDecoder(est, ridge, session="a")
    assert online.decoder_is_affine and online.n_outputs == 2
    expected = ridge.predict(est.transform(run, session=sess))
    first = online.stream(run)
    np.testing.assert_allclose(first, expected, atol=ATOL)
    np.testing.assert_allclose(online.reset().stream(run), first, atol=1e-6)  # reset restarts
    # a whole Pipeline (encoder, scaler, ridge) folds to the same affine map
    scaler = StandardScaler().fit(Z)
    ridge2 = Ridge().fit(scaler.transform(Z), y[:, 0])
    pipe = Pipeline([("encoder", FrozenEstimator(est)), ("scale", scaler), ("ridge", ridge2)])
    online = StreamingDecoder(pipe, session="a")
    assert online.decoder_is_affine and online.n_outputs == 1
    np.testing.assert_allclose(online.stream(run)[:, 0],
                               ridge2.predict(scaler.transform(est.transform(run, session=sess))),
                               atol=ATOL)
    # a nonlinear decoder runs through its own predict
    knn = KNeighborsRegressor(3).fit(Z, y)
    online = StreamingDecoder(est, knn, session="a")
    assert not online.decoder_is_affine
    np.testing.assert_allclose(online.stream(run), knn.predict(est.transform(run, session=sess)),
                               atol=1e-4)


def test_unknown_session_routing(encoders, data):
    est, X = encoders["spikes"]
    run, _ = _run(X, data[3], "a", 0, L)
    with pytest.raises(ValueError, match=r"session\(s\) \['c'\] were not seen in fit; known sessions: \['a', 'b'\]"):
        StreamingDecoder(est, session="c")
    with pytest.raises(ValueError, match="session is required"):
        StreamingDecoder(est)
    routed = StreamingDecoder(est.set_params(unknown_session="a"), session="c")
    try:
        np.testing.assert_array_equal(routed.stream(run), StreamingDecoder(est, session="a").stream(run))
    finally:
        est.set_params(unknown_session="error")


def test_errors(encoders, data):
    S, F, y, s = data
    est, X = encoders["spikes"]
    bidirectional = MaskedSpikeTransformer(decoder_width=8, **{**SMALL, "causal": False})
    bidirectional.fit(S[:120], session=s[:120])
    with pytest.raises(ValueError, match="needs a causal encoder.*causal=True"):
        StreamingDecoder(bidirectional)
    with pytest.raises(Exception, match="not fitted"):
        StreamingDecoder(MaskedSpikeTransformer(causal=True))
    with pytest.raises(TypeError, match="encoder must be a fitted"):
        StreamingDecoder(Ridge())
    online = StreamingDecoder(est, session="a")
    with pytest.raises(ValueError, match="x_bin has 11 values but the encoder was fitted on 12 channels"):
        online.step(S[0, :11])
    with pytest.raises(ValueError, match=r"step takes one bin: x_bin must have shape \(12,\)"):
        online.step(S[:3])
    with pytest.raises(ValueError, match="non-negative integer spike counts"):
        online.step(S[0] + 0.5)
    online.step(S[0])
    bad = S[1].copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="channel 3 is NaN in this bin but was present"):
        online.step(bad)
    with pytest.raises(ValueError, match="context must be a positive integer"):
        StreamingDecoder(est, session="a", context=0)
    ridge = Ridge().fit(np.zeros((5, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="decoder was fitted on 3 features but the encoder gives 16"):
        StreamingDecoder(est, ridge, session="a")
    with pytest.raises(ValueError, match="encoder is a Pipeline"):
        StreamingDecoder(Pipeline([("e", est), ("r", ridge)]), ridge, session="a")
