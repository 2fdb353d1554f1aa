"""MaskedSpikeTransformer / LFPTransformer: sklearn integration, sessions, persistence, errors."""

import pickle

import joblib
import numpy as np
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import Pipeline

from skdistill import LFPTransformer, MaskedSpikeTransformer
from skdistill.model_selection import SegmentSplit

SMALL = dict(segment_length=10, patch_size=4, d_model=16, n_layers=1, n_heads=2, decoder_width=8,
             batch_size=16, max_epochs=2, random_state=0)


@pytest.fixture(scope="module")
def spikes():
    """Two sessions of Poisson counts driven by a 2-D latent (the 'behaviour')."""
    rng = np.random.default_rng(0)
    n = 400
    latent = np.cumsum(rng.normal(size=(2 * n, 2)), axis=0) * 0.1
    latent -= latent.mean(0)
    weights = rng.normal(size=(2, 12))
    counts = rng.poisson(np.exp(0.3 + latent @ weights * 0.5)).astype(float)
    counts[n:, 11] = np.nan  # session b lacks one channel
    session = np.repeat(["a", "b"], n)
    return counts, latent, session


@pytest.fixture(scope="module")
def fitted(spikes):
    X, _, session = spikes
    return MaskedSpikeTransformer(**SMALL).fit(X, session=session)


def test_transform_shape_dtype_and_sessions(fitted, spikes):
    X, _, session = spikes
    Z = fitted.transform(X, session=session)
    assert Z.shape == (len(X), 16) and Z.dtype == np.float64 and np.isfinite(Z).all()
    assert list(fitted.sessions_) == ["a", "b"]
    # 400 rows / 10 per window, per session, less the last 10 % held out for validation
    assert fitted.n_windows_ == 72
    assert len(fitted.history_) == 2
    # a run that is not a multiple of segment_length is covered exactly once
    Z_part = fitted.transform(X[:23], session=session[:23])
    assert Z_part.shape == (23, 16)
    np.testing.assert_allclose(Z_part[:20], Z[:20], atol=1e-5)


def test_readout_is_a_transform_time_choice(fitted, spikes, tmp_path):
    X, _, session = spikes
    model = pickle.loads(pickle.dumps(fitted))
    mean = model.transform(X, session=session)
    concat = model.set_params(readout="concat").transform(X, session=session)  # no refit
    assert concat.shape == (len(X), 3 * 16) and model.embedding_dim_ == 48  # 12 channels / 4
    assert len(model.get_feature_names_out()) == 48
    # every patch has a valid channel in both sessions, so the mean is the mean of the blocks
    np.testing.assert_allclose(concat.reshape(len(X), 3, 16).mean(1), mean, atol=1e-5)
    # files written when embedding_dim_ was a stored attribute still load
    model.save(tmp_path / "model.pt")
    payload = torch.load(tmp_path / "model.pt", weights_only=True)
    payload["attributes"]["embedding_dim_"] = 16
    torch.save(payload, tmp_path / "old.pt")
    loaded = MaskedSpikeTransformer.load(tmp_path / "old.pt")
    assert loaded.embedding_dim_ == 48
    np.testing.assert_array_equal(loaded.transform(X, session=session), concat)


def test_random_state_reproducible_and_seed_matters(spikes):
    X, _, session = spikes
    a = MaskedSpikeTransformer(**SMALL).fit_transform(X, session=session)
    b = MaskedSpikeTransformer(**SMALL).fit_transform(X, session=session)
    c = MaskedSpikeTransformer(**{**SMALL, "random_state": 1}).fit_transform(X, session=session)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_clone_pickle_save_load_roundtrip(fitted, spikes, tmp_path):
    X, _, session = spikes
    Z = fitted.transform(X, session=session)
    assert clone(fitted).get_params() == fitted.get_params()
    assert not hasattr(clone(fitted), "net_")
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).transform(X, session=session), Z)
    joblib.dump(fitted, tmp_path / "model.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "model.joblib").transform(X, session=session), Z)
    fitted.save(tmp_path / "model.pt")
    loaded = MaskedSpikeTransformer.load(tmp_path / "model.pt")
    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.transform(X, session=session), Z)
    with pytest.raises(ValueError, match="holds a 'MaskedSpikeTransformer'"):
        LFPTransformer.load(tmp_path / "model.pt")


def test_unknown_session_policy_and_adapt(fitted, spikes):
    X, _, session = spikes
    with pytest.raises(ValueError, match=r"session\(s\) \['c'\] were not seen in fit"):
        fitted.transform(X[:50], session=np.repeat("c", 50))
    routed = clone(fitted).set_params(unknown_session="a")
    routed.__dict__.update({k: v for k, v in fitted.__dict__.items() if k.endswith("_")})
    np.testing.assert_array_equal(
        routed.transform(X[:50], session=np.repeat("c", 50)),
        fitted.transform(X[:50], session=np.repeat("a", 50)),
    )
    model = pickle.loads(pickle.dumps(fitted))
    before = model.transform(X, session=session)
    frozen = {k: v.clone() for k, v in model.module_.state_dict().items()}
    model.adapt(X[:200], session=np.repeat("c", 200), max_epochs=2)
    assert list(model.sessions_) == ["a", "b", "c"]
    np.testing.assert_array_equal(model.transform(X, session=session), before)  # old sessions kept
    changed = [k for k, v in model.module_.state_dict().items() if k in frozen and not v.equal(frozen[k])]
    assert changed == []  # only the new session table was trained
    assert "tokenizer.session_embeddings.2" in model.module_.state_dict()
    assert model.transform(X[:50], session=np.repeat("c", 50)).shape == (50, 16)
    model.adapt(X[:200], session=np.repeat("c", 200), finetune="all", max_epochs=1)
    assert not np.allclose(model.transform(X, session=session), before)


def test_bad_input_errors(spikes):
    X, _, session = spikes
    model = MaskedSpikeTransformer(**SMALL)
    with pytest.raises(ValueError, match="integer spike counts"):
        model.fit(X + 0.5, session=session)
    with pytest.raises(ValueError, match="Negative"):
        model.fit(-X, session=session)
    with pytest.raises(ValueError, match="inside channel column 11 of session 'session-0'"):
        model.fit(X)  # without session labels, channel 11 is half NaN
    bad = X.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="session 'a'"):
        model.fit(bad, session=session)
    # runs shorter than segment_length are padded (attention-masked), not refused
    short = MaskedSpikeTransformer(**model.get_params()).fit(
        X[:25], session=np.repeat(["a", "b", "c", "d", "e"], 5))
    assert short.n_windows_ == 5 and np.isfinite(short.history_[:, "train_loss"]).all()
    with pytest.raises(ValueError, match="one session label per row"):
        model.fit(X, session=session[:10])
    with pytest.raises(ValueError, match="Expected 2D array"):
        model.fit(X[:, 0])
    with pytest.raises(ValueError, match="divisible by n_heads"):
        MaskedSpikeTransformer(**{**SMALL, "n_heads": 3}).fit(X, session=session)
    with pytest.raises(ValueError, match="mask_ratio"):
        MaskedSpikeTransformer(**{**SMALL, "mask_ratio": 1.5}).fit(X, session=session)
    with pytest.raises(ValueError, match="features"):
        MaskedSpikeTransformer(**SMALL).fit(X[:, :5], session=session).transform(X, session=session)


def test_pipeline_cross_validate_and_grid_search_with_routing(spikes):
    X, latent, session = spikes
    with sklearn.config_context(enable_metadata_routing=True):
        encoder = MaskedSpikeTransformer(**SMALL).set_fit_request(session=True).set_transform_request(session=True)
        pipe = Pipeline([("encoder", encoder), ("ridge", Ridge(1.0))])
        cv = SegmentSplit(segment_length=40)
        scores = cross_validate(pipe, X, latent, cv=cv, params={"session": session, "groups": session})
        assert scores["test_score"].shape == (1,) and np.isfinite(scores["test_score"]).all()
        search = GridSearchCV(pipe, {"encoder__mask_ratio": [0.3, 0.6]}, cv=cv)
        search.fit(X, latent, session=session, groups=session)
        assert search.best_params_["encoder__mask_ratio"] in (0.3, 0.6)
        assert len(search.cv_results_["mean_test_score"]) == 2


def test_embeddings_carry_the_latent(spikes):
    """Planted ground truth: a linear probe on the embedding recovers the driving latent far
    better than on a shuffled latent."""
    X, latent, session = spikes
    model = MaskedSpikeTransformer(**{**SMALL, "max_epochs": 6, "d_model": 32}).fit(X, session=session)
    Z = model.transform(X, session=session)
    train, test = next(SegmentSplit(40).split(X, groups=session))
    score = Ridge(1.0).fit(Z[train], latent[train]).score(Z[test], latent[test])
    shuffled = np.random.default_rng(1).permutation(latent)
    control = Ridge(1.0).fit(Z[train], shuffled[train]).score(Z[test], shuffled[test])
    assert score > 0.5 and control < 0.1


def test_lfp_transformer_conv_and_mlp():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 7))
    for embedding in ("conv", "mlp"):
        Z = LFPTransformer(**{**SMALL, "value_embedding": embedding}).fit_transform(X)
        assert Z.shape == (300, 16) and np.isfinite(Z).all()
    concat = LFPTransformer(**{**SMALL, "readout": "concat"}).fit(X)
    assert concat.transform(X).shape == (300, 16 * 2)  # 7 channels -> 2 patches of 4


def test_verbose_prints_progress(spikes, capsys):
    X, _, session = spikes
    MaskedSpikeTransformer(**{**SMALL, "max_epochs": 1, "verbose": 1}).fit(X, session=session)
    out = capsys.readouterr().out
    assert "epoch" in out and "train_loss" in out


def test_reconstruction_offsets_start_at_each_sessions_mean_rate(spikes):
    X, _, session = spikes
    model = MaskedSpikeTransformer(**{**SMALL, "max_epochs": 0}).fit(X, session=session)
    offsets = model.module_.offsets["1"].detach().flatten()[:12].numpy()
    expected = np.log(np.maximum(X[session == "b"][:, :11].mean(axis=0), 1e-3))
    np.testing.assert_allclose(offsets[:11], expected[:11], rtol=1e-5)
    assert offsets[11] == 0.0  # channel 11 is absent from session b


def test_spike_conv_embedding_and_bin_masking(spikes):
    X, _, session = spikes
    model = MaskedSpikeTransformer(**{**SMALL, "value_embedding": "conv", "mask_unit": "bin"})
    Z = model.fit_transform(X, session=session)
    assert Z.shape == (len(X), 16) and np.isfinite(Z).all()
    with pytest.raises(ValueError, match="value_embedding"):
        MaskedSpikeTransformer(**{**SMALL, "value_embedding": "mlp"}).fit(X, session=session)


def test_session_index_routes_labels_as_transform_does():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 8))
    s = np.array(["a"] * 60 + ["b"] * 60, dtype=object)
    enc = LFPTransformer(d_model=8, n_layers=1, n_heads=2, patch_size=4, segment_length=20,
                         decoder_width=8, max_epochs=1, random_state=0).fit(X, session=s)
    assert enc.session_index("b").tolist() == [1]
    assert enc.session_index(np.array(["b", "a", "b"], dtype=object)).tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="not seen in fit"):
        enc.session_index("c")
    enc.set_params(unknown_session="a")
    assert enc.session_index(["c", "b"]).tolist() == [0, 1]


def test_compile_trains_the_same_model_and_keeps_the_plain_module(spikes, tmp_path, monkeypatch):
    """``compile=True`` trains through ``torch.compile`` (skorch's ``compile``): the same losses
    and embeddings as eager training, and the fitted estimator keeps the plain module (clean
    state-dict keys, pickles, saves). The compiler backend here is ``aot_eager``: it traces
    forward and backward as inductor does, without a C++ compiler or inductor's compile time."""
    X, _, session = spikes
    compiled = []
    real_compile = torch.compile

    def recording_compile(model, **kwargs):
        compiled.append((type(model).__name__, kwargs))
        return real_compile(model, **{**kwargs, "backend": "aot_eager"})

    monkeypatch.setattr(torch, "compile", recording_compile)
    torch._dynamo.reset()
    est = MaskedSpikeTransformer(**SMALL, compile=True).fit(X, session=session)
    # a dict is torch.compile's keyword arguments
    MaskedSpikeTransformer(**{**SMALL, "max_epochs": 1}, compile={"dynamic": False}).fit(
        X, session=session)
    monkeypatch.setattr(torch, "compile", real_compile)
    torch._dynamo.reset()
    eager = MaskedSpikeTransformer(**SMALL).fit(X, session=session)
    assert ("MaskedAutoencoder", {}) in compiled
    assert ("MaskedAutoencoder", {"dynamic": False}) in compiled
    assert type(est.net_.module_) is type(eager.net_.module_)  # the plain module, not a wrapper
    assert list(est.module_.state_dict()) == list(eager.module_.state_dict())
    np.testing.assert_allclose([h["train_loss"] for h in est.history_],
                               [h["train_loss"] for h in eager.history_], rtol=1e-4)
    Z = est.transform(X, session=session)
    np.testing.assert_allclose(Z, eager.transform(X, session=session), atol=1e-4)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).transform(X, session=session), Z)
    est.save(tmp_path / "compiled.pt")
    loaded = MaskedSpikeTransformer.load(tmp_path / "compiled.pt")
    assert loaded.compile is True
    np.testing.assert_array_equal(loaded.transform(X, session=session), Z)
    with pytest.raises(Exception, match="compile"):
        MaskedSpikeTransformer(**SMALL, compile="yes").fit(X, session=session)
