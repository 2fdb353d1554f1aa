"""BaRISTA modules and estimators: analytic module checks, the estimator contract, metadata
routing through GridSearchCV, the simulated cohort and the real grip-force recording."""

from __future__ import annotations

import copy
import glob
import os
import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from skdistill.estimators._barista import (
    BARISTA_PAPER_PARAMS,
    BaristaClassifier,
    BaristaTransformer,
)
from skdistill.nn._barista import (
    BaristaEncoder,
    BaristaPretrainer,
    DilatedConvEncoder,
    SpatialEncoding,
    TemporalTokenizer,
    ema_update,
    masked_latent_loss,
    sample_group_mask,
)

TINY = dict(patch_size=32, d_model=8, n_layers=1, n_heads=2, predictor_hidden=16, batch_size=16)
GRIPFORCE = os.path.join(os.path.dirname(__file__), "data", "gripforce_ecog_stn")


def _table(n, seed, parcels=("A", "B", "C"), lobes=("frontal", "temporal")):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "name": [f"c{i}" for i in range(n)],
            "x": rng.uniform(-60, 60, n),
            "y": rng.uniform(-80, 60, n),
            "z": rng.uniform(-40, 60, n),
            "parcel": [parcels[i % len(parcels)] for i in range(n)],
            "lobe": [lobes[i % len(lobes)] for i in range(n)],
        }
    )


def _epochs(n_per_session=20, n_times=128, seed=0):
    """Two sessions (5 and 3 channels, NaN-padded); class 1 oscillates 4x faster than class 0."""
    rng = np.random.default_rng(seed)
    n = 2 * n_per_session
    y = np.tile([0, 1], n_per_session)
    t = np.arange(n_times)
    freq = np.where(y == 1, 0.25, 0.0625)
    X = np.sin(2 * np.pi * freq[:, None, None] * t + rng.uniform(0, 6, (n, 5, 1)))
    X = X + 0.3 * rng.standard_normal((n, 5, n_times))
    session = np.repeat(["s1", "s2"], n_per_session)
    X[session == "s2", 3:] = np.nan
    electrodes = {"s1": _table(5, 1), "s2": _table(3, 2)}
    return X, y, session, electrodes



@pytest.fixture(scope="module")
def data():
    return _epochs()


@pytest.fixture(scope="module")
def fitted(data):
    X, _, session, electrodes = data
    return BaristaTransformer(max_epochs=2, random_state=0, **TINY).fit(
        X, session=session, electrodes=electrodes
    )


# --------------------------------------------------------------------------- modules


def test_reference_parameter_counts():
    # Reference: CNN 616, pooler 512*64, backbone 798,016, parcel table 121 x 64.
    assert sum(p.numel() for p in DilatedConvEncoder().parameters()) == 616
    enc = BaristaEncoder(512, 64, "parcel", 121, 12, 4)
    assert sum(p.numel() for p in enc.tokenizer.pooler.parameters()) == 32768
    assert sum(p.numel() for p in enc.backbone.parameters()) == 798016
    assert sum(p.numel() for p in enc.parameters()) == 616 + 32768 + 798016 + 121 * 64
    chans = BaristaEncoder(512, 64, "channel", 200, 12, 4)
    assert sum(p.numel() for p in chans.spatial.parameters()) == 3 * 200 * 64


def test_tokenizer_is_per_channel_and_time_major():
    torch.manual_seed(0)
    tok = TemporalTokenizer(16, 4)
    x = torch.randn(2, 3, 50)  # 3 patches, 2 trailing samples unused
    out = tok(x)
    assert out.shape == (2, 3, 3, 4)
    x2 = x.clone()
    x2[:, 1] += 5 * torch.randn(50)
    x2[:, :, 48:] = 100.0
    out2 = tok(x2)
    torch.testing.assert_close(out2[:, :, [0, 2]], out[:, :, [0, 2]])
    # one token = one channel x one patch, computed on that patch alone
    torch.testing.assert_close(out[:, 1, 2], tok(x[:, 2:3, 16:32])[:, 0, 0])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    masked = tok(x, mask)
    assert torch.all(masked[0, :, 2] == 0) and torch.all(masked[1, :, 1:] == 0)
    torch.testing.assert_close(masked[0, :, :2], out[0, :, :2])


def test_spatial_encoding_unknown_row_is_zero_and_untrained():
    torch.manual_seed(0)
    enc = SpatialEncoding("parcel", 4, 3)
    ids = torch.tensor([[[0], [2], [0]]])
    out = enc(ids)
    assert torch.all(out[0, 0] == 0) and torch.all(out[0, 2] == 0)
    out.sum().backward()
    grad = enc.tables[0].weight.grad
    assert torch.all(grad[0] == 0) and torch.all(grad[2] == 1) and torch.all(grad[[1, 3]] == 0)
    chan = SpatialEncoding("channel", 10, 3)
    ids = torch.tensor([[[1, 2, 3]]])
    expected = sum(chan.tables[i].weight[v] for i, v in enumerate((1, 2, 3)))
    torch.testing.assert_close(chan(ids)[0, 0], expected)


def test_group_mask_counts_and_whole_groups():
    # sample 0: groups {0,1,2,3,4,5,6,7,8,9} one channel each; sample 1: 4 groups of 2 channels
    # plus padding; sample 2: a single group (masked whole, as at least one group is).
    g0 = torch.arange(10)
    g1 = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, -1, -1])
    g2 = torch.tensor([0, 0, 0, -1, -1, -1, -1, -1, -1, -1])
    groups = torch.stack([g0, g1, g2])
    gen = torch.Generator().manual_seed(0)
    counts = torch.zeros(10)
    for _ in range(400):
        m = sample_group_mask(groups, 0.3, generator=gen)
        assert m[0].sum() == 3  # round(0.3 * 10)
        assert m[1].sum() == 2 and torch.equal(m[1, 0::2][:4], m[1, 1::2][:4])  # round(1.2) = 1
        assert not m[1, 8:].any() and not m[2, 3:].any() and m[2, :3].all()
        counts += m[0].float()
    # every channel group equally likely: expected 400 * 0.3 = 120 each
    assert torch.all((counts - 120).abs() < 40)
    # ratio 1 keeps one group as context
    assert sample_group_mask(groups, 1.0)[0].sum() == 9


def test_loss_and_ema_are_exact():
    target = torch.zeros(2, 3, 4)
    pred = torch.ones(2, 3, 4)
    pred[0, 0] = 10.0  # not masked: must not count
    mask = torch.tensor([[False, True, True], [True, False, False]])
    assert masked_latent_loss(pred, target, mask).item() == pytest.approx(1.0)
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    wa, wb = a.weight.detach().clone(), b.weight.detach().clone()
    ema_update(a, b, 0.75)
    torch.testing.assert_close(a.weight, 0.75 * wa + 0.25 * wb)


def test_pretrainer_masked_inputs_do_not_reach_the_encoder():
    torch.manual_seed(0)
    enc = BaristaEncoder(8, 8, "parcel", 4, 1, 2, dropout=0.0)
    model = BaristaPretrainer(enc, mask_ratio=0.5)
    x = torch.randn(1, 4, 32)
    ids = torch.tensor([[[1], [2], [3], [0]]])
    groups = torch.tensor([[0, 1, 2, 3]])
    mask = torch.ones(1, 4, dtype=torch.bool)
    torch.manual_seed(1)
    out1 = model(x, ids, groups, mask)
    masked = out1["masked"][0]
    assert masked.sum() == 2
    x2 = x.clone()
    x2[0, masked] = 50 * torch.randn(int(masked.sum()), 32)
    # the prediction is blind to masked channels, so only the target (EMA tokens) changes
    captured = []
    hook = model.predictor.register_forward_hook(lambda m, i, o: captured.append(o))
    torch.manual_seed(1)
    model(x, ids, groups, mask)
    torch.manual_seed(1)
    model(x2, ids, groups, mask)
    hook.remove()
    torch.testing.assert_close(captured[0], captured[1])


# --------------------------------------------------------------------------- estimator


def test_fit_transform_shapes_and_tokens(data, fitted):
    X, _, session, electrodes = data
    Z = fitted.transform(X, session=session, electrodes=electrodes)
    assert Z.shape == (len(X), 8) and Z.dtype == np.float64 and np.isfinite(Z).all()
    tokens = fitted.transform_tokens(X, session=session, electrodes=electrodes)
    assert tokens.shape == (len(X), 4, 5, 8)
    assert np.isnan(tokens[session == "s2"][:, :, 3:]).all()
    assert np.isfinite(tokens[session == "s1"]).all()
    # transform is the mean of the real tokens
    np.testing.assert_allclose(np.nanmean(tokens, axis=(1, 2)), Z, rtol=1e-5, atol=1e-6)
    assert list(fitted.vocabulary_) == ["A", "B", "C"] and fitted.n_patches_ == 4
    assert len(fitted.history_) == 2 and np.isfinite(fitted.history_[-1]["train_loss"])


def test_same_seed_same_embeddings_and_ema_target(data):
    X, _, session, electrodes = data
    kw = dict(max_epochs=1, **TINY)
    a = BaristaTransformer(random_state=3, **kw).fit(X, session=session, electrodes=electrodes)
    b = BaristaTransformer(random_state=3, **kw).fit(X, session=session, electrodes=electrodes)
    c = BaristaTransformer(random_state=4, **kw).fit(X, session=session, electrodes=electrodes)
    za, zb, zc = (m.transform(X, session=session, electrodes=electrodes) for m in (a, b, c))
    np.testing.assert_array_equal(za, zb)
    assert not np.allclose(za, zc)
    # momentum 1: the target tokenizer never moves; momentum 0: it follows the online one
    frozen = BaristaTransformer(random_state=3, ema_momentum=1.0, **kw)
    frozen.fit(X, session=session, electrodes=electrodes)
    init = BaristaTransformer(random_state=3, max_epochs=0, **TINY)
    init.fit(X, session=session, electrodes=electrodes)
    for p, q in zip(frozen.module_.target_tokenizer.parameters(), init.module_.target_tokenizer.parameters()):
        torch.testing.assert_close(p, q)
    follow = BaristaTransformer(random_state=3, ema_momentum=0.0, **kw)
    follow.fit(X, session=session, electrodes=electrodes)
    for p, q in zip(follow.module_.target_tokenizer.parameters(), follow.module_.encoder.tokenizer.parameters()):
        torch.testing.assert_close(p, q)
    assert not torch.allclose(
        follow.module_.encoder.tokenizer.pooler.weight, init.module_.encoder.tokenizer.pooler.weight
    )


@pytest.mark.parametrize("encoding", ["channel", "lobe"])
def test_other_encodings_and_unseen_regions(data, encoding):
    X, _, session, electrodes = data
    est = BaristaTransformer(encoding, "parcel", max_epochs=1, random_state=0, **TINY)
    est.fit(X, session=session, electrodes=electrodes)
    # a new session whose regions were never seen maps them to the zero 'unknown' row
    new = {"s3": _table(5, 9, parcels=("Z",), lobes=("occipital",))}
    Z = est.transform(X[:4], session=["s3"] * 4, electrodes=new)
    assert Z.shape == (4, 8) and np.isfinite(Z).all()


def test_transform_infers_missing_metadata(data, fitted):
    X, _, session, electrodes = data
    Z = fitted.transform(X, session=session, electrodes=electrodes)
    # sessions differ in channel count (5 vs 3), so they are recovered from the NaN padding
    np.testing.assert_array_equal(fitted.transform(X), Z)
    np.testing.assert_array_equal(fitted.transform(X[:3], electrodes={"s1": electrodes["s1"]}), Z[:3])
    same = {"a": electrodes["s1"], "b": electrodes["s1"]}
    with pytest.raises(ValueError, match=r"sessions \['a', 'b'\] all have 5 channels"):
        fitted.transform(X[session == "s1"], electrodes=same)


def test_lobe_vocabulary_splits_hemispheres(data):
    X, _, session, electrodes = data
    tables = {k: v.assign(hemisphere=[("left", "right")[(i // 2) % 2] for i in range(len(v))])
              for k, v in electrodes.items()}
    est = BaristaTransformer("lobe", max_epochs=0, random_state=0, **TINY)
    est.fit(X, session=session, electrodes=tables)
    assert set(est.vocabulary_) == {"frontal-left", "frontal-right", "temporal-left", "temporal-right"}


def test_input_errors(data, fitted):
    X, _, session, electrodes = data
    est = BaristaTransformer(max_epochs=1, **TINY)
    with pytest.raises(ValueError, match="3-D"):
        est.fit(X[:, 0], session=session, electrodes=electrodes)
    bad = X.copy()
    bad[0, 1, 5] = np.nan
    with pytest.raises(ValueError, match=r"NaN inside channel 'c1'.*session 's1'"):
        est.fit(bad, session=session, electrodes=electrodes)
    bad = X.copy()
    bad[-1, 4, :] = 0.0
    with pytest.raises(ValueError, match="padding and must be all-NaN"):
        est.fit(bad, session=session, electrodes=electrodes)
    with pytest.raises(ValueError, match="electrodes is required"):
        est.fit(X, session=session)
    with pytest.raises(ValueError, match=r"no table for session\(s\) \['s2'\]"):
        est.fit(X, session=session, electrodes={"s1": electrodes["s1"]})
    with pytest.raises(ValueError, match=r"no table for session\(s\) \['s9'\]"):
        fitted.transform(X[:2], session=["s9", "s9"], electrodes=electrodes)
    no_xyz = {k: v.assign(x=np.nan) if k == "s1" else v for k, v in electrodes.items()}
    with pytest.raises(ValueError, match=r"have no coordinates: c0, c1"):
        BaristaTransformer("channel", **TINY).fit(X, session=session, electrodes=no_xyz)
    no_parcel = {k: v.assign(parcel=[None, "A", "B"]) if k == "s2" else v for k, v in electrodes.items()}
    with pytest.raises(ValueError, match=r"'s2'.*1 channel\(s\) have no parcel: c0.*'unknown'"):
        BaristaTransformer("parcel", **TINY).fit(X, session=session, electrodes=no_parcel)
    with pytest.raises(ValueError, match="mask_scale"):
        BaristaTransformer(mask_scale="voxel", **TINY).fit(X, session=session, electrodes=electrodes)
    # an explicit 'unknown' is fine: it is the zero row
    explicit = {k: v.assign(parcel="Unknown") if k == "s2" else v for k, v in electrodes.items()}
    BaristaTransformer("parcel", max_epochs=0, **TINY).fit(X, session=session, electrodes=explicit)


def test_sklearn_citizenship(data, fitted, tmp_path):
    from sklearn.base import clone

    X, _, session, electrodes = data
    est = BaristaTransformer("lobe", "parcel", 0.5, random_state=1, **TINY)
    assert clone(est).get_params() == est.get_params()
    est.set_params(mask_ratio=0.2, d_model=12)
    assert est.get_params()["mask_ratio"] == 0.2 and est.d_model == 12
    refit = clone(fitted)
    assert not hasattr(refit, "module_") and refit.get_params() == fitted.get_params()
    Z = fitted.transform(X, session=session, electrodes=electrodes)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.transform(X, session=session, electrodes=electrodes), Z)
    path = tmp_path / "barista.pt"
    fitted.save(path)
    loaded = BaristaTransformer.load(path)
    np.testing.assert_array_equal(loaded.transform(X, session=session, electrodes=electrodes), Z)
    assert loaded.get_params() == fitted.get_params()
    assert list(loaded.vocabulary_) == list(fitted.vocabulary_)
    with pytest.raises(Exception, match="not fitted"):
        BaristaTransformer().transform(X, session=session, electrodes=electrodes)
    # fit and transform take the metadata by name, so routing requests exist
    import sklearn

    with sklearn.config_context(enable_metadata_routing=True):
        routed = BaristaTransformer().set_fit_request(session=True, electrodes=True)
        routed.set_transform_request(session=True, electrodes=True)
        requests = routed.get_metadata_routing()
    assert requests.fit.requests == {"session": True, "electrodes": True}
    assert requests.transform.requests == {"session": True, "electrodes": True}


def test_paper_params_build():
    est = BaristaTransformer(**BARISTA_PAPER_PARAMS)
    est.vocabulary_ = np.array(["p%d" % i for i in range(120)], dtype=object)
    module = est._build_module()
    assert len(module.encoder.backbone.blocks) == 12 and module.encoder.tokenizer.patch_size == 512
    assert module.encoder.spatial.tables[0].weight.shape == (121, 64)


# --------------------------------------------------------------------------- classifier


def test_classifier_finetunes_from_frozen_pretrained(data, fitted, tmp_path):
    from sklearn.frozen import FrozenEstimator

    X, y, session, electrodes = data
    labels = np.where(y == 1, "speech", "silence")
    before = {k: v.clone() for k, v in fitted.module_.state_dict().items()}
    clf = BaristaClassifier(FrozenEstimator(fitted), max_epochs=3, random_state=0, batch_size=16)
    clf.fit(X, labels, session=session, electrodes=electrodes)
    for k, v in fitted.module_.state_dict().items():  # the pretrained model is left untouched
        torch.testing.assert_close(v, before[k])
    proba = clf.predict_proba(X, session=session, electrodes=electrodes)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(clf.predict(X, session=session, electrodes=electrodes)) <= {"silence", "speech"}
    assert list(clf.classes_) == ["silence", "speech"] and clf.pretrained_
    # tokenizer + spatial table frozen (copied from the EMA tokenizer), backbone and head trained
    enc = clf.module_.encoder
    torch.testing.assert_close(
        enc.tokenizer.pooler.weight, fitted.module_.target_tokenizer.pooler.weight
    )
    torch.testing.assert_close(enc.spatial.tables[0].weight, fitted.module_.encoder.spatial.tables[0].weight)
    assert not torch.allclose(
        enc.backbone.blocks[0].attn.qkv.weight, fitted.module_.encoder.backbone.blocks[0].attn.qkv.weight
    )
    assert clf.module_.token_weights.shape == (2, 4, 5)
    # token weights start at the mean over real tokens; padding tokens keep weight 0
    assert torch.all(clf.module_.token_weights[1, :, 3:] == 0)
    assert not torch.allclose(clf.module_.token_weights[1, :, :3], torch.tensor(1.0 / 12))
    # pickle and save/load give identical probabilities
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X, session=session, electrodes=electrodes), proba)
    clf.save(tmp_path / "clf.pt")
    loaded = BaristaClassifier.load(tmp_path / "clf.pt")
    np.testing.assert_array_equal(loaded.predict_proba(X, session=session, electrodes=electrodes), proba)
    with pytest.raises(ValueError, match="not seen at fit.*readout='mean'"):
        clf.predict(X[:2], session=["s3", "s3"], electrodes={"s3": electrodes["s1"]})


def test_classifier_random_init_learns_and_mean_readout(data):
    from sklearn.base import clone
    from sklearn.metrics import roc_auc_score

    X, y, session, electrodes = data
    clf = BaristaClassifier(
        None, init_params=dict(TINY), readout="mean", lr=3e-3, head_lr=1e-2,
        warmup_epochs=0, max_epochs=15, random_state=0, batch_size=8,
    )
    clf.fit(X, y, session=session, electrodes=electrodes)
    assert not clf.pretrained_ and clf.module_.token_weights is None
    # random init trains everything, tokenizer included
    assert all(p.requires_grad for p in clf.module_.parameters())
    auc = roc_auc_score(y, clf.predict_proba(X, session=session, electrodes=electrodes)[:, 1])
    assert auc > 0.9  # frequency-coded classes are separable on the training set
    # mean readout predicts any session
    Xn = X[:3]
    assert clf.predict(Xn, session=["new"] * 3, electrodes={"new": electrodes["s1"]}).shape == (3,)
    assert clone(clf).get_params()["init_params"] == dict(TINY)


def test_attention_readout_starts_at_the_mean_and_learns_which_tokens_to_weight():
    """``readout="attention"``: a zero query is exactly the mean readout; trained, the query
    weights a token by its content; any session predicts."""
    from sklearn.metrics import roc_auc_score

    from skdistill.nn._barista import BaristaClassifierModule

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n, n_ch, t = 96, 6, 128
    y = np.arange(n) % 2
    X = rng.normal(size=(n, n_ch, t))
    X[:, 0] += np.where(y, 3.0, 0.0)[:, None] * np.sin(np.arange(t) * 2 * np.pi * 12 / 128)
    session = np.array(["s1"] * n)
    electrodes = {"s1": _table(n_ch, 0)}
    kw = dict(init_params=dict(TINY), lr=3e-3, head_lr=3e-2, warmup_epochs=0, max_epochs=12,
              random_state=0, batch_size=16, head_norm=True, validation_fraction=0.0)
    att = BaristaClassifier(None, readout="attention", **kw).fit(
        X, y, session=session, electrodes=electrodes)
    mod = att.module_
    assert mod.query is not None and mod.token_weights is None
    assert float(mod.query.detach().abs().sum()) > 0  # the query learned
    # with the query at zero the module is the mean readout of the same encoder
    mean = BaristaClassifierModule(mod.encoder, 2, 1, 4, n_ch, readout="mean")
    mean.classifier.load_state_dict(mod.classifier.state_dict())
    zeroed = copy.deepcopy(mod)
    with torch.no_grad():
        zeroed.query.zero_()
        zeroed.norm = None
    inputs = dict(x=torch.randn(3, n_ch, t), spatial_ids=torch.zeros(3, n_ch, 3, dtype=torch.long),
                  channel_mask=torch.ones(3, n_ch, dtype=torch.bool),
                  session_index=torch.zeros(3, dtype=torch.long))
    zeroed.eval(), mean.eval()
    torch.testing.assert_close(zeroed(**inputs), mean(**inputs))
    # any session predicts (no per-session table), and the training set is learned
    assert att.predict(X[:3], session=["new"] * 3, electrodes={"new": electrodes["s1"]}).shape == (3,)
    proba = att.predict_proba(X, session=session, electrodes=electrodes)[:, 1]
    assert roc_auc_score(y, proba) > 0.9


def test_classifier_pretrains_an_unfitted_encoder_and_checks_input(data):
    from sklearn.linear_model import LogisticRegression

    X, y, session, electrodes = data
    encoder = BaristaTransformer(max_epochs=1, random_state=0, **TINY)
    clf = BaristaClassifier(encoder, max_epochs=1, random_state=0)
    clf.fit(X, y, session=session, electrodes=electrodes)
    assert clf.pretrained_ and not hasattr(encoder, "module_")  # a copy was pretrained
    assert clf.module_.encoder.tokenizer.pooler.weight.shape == (8, 32)
    with pytest.raises(ValueError, match="single class"):
        BaristaClassifier(encoder).fit(X, np.zeros(len(X)), session=session, electrodes=electrodes)
    with pytest.raises(ValueError, match="must be a BaristaTransformer"):
        BaristaClassifier(LogisticRegression()).fit(X, y, session=session, electrodes=electrodes)


# --------------------------------------------------------------------------- model selection


def test_grid_search_over_spatial_scales_with_routing():
    """3x3 grid over encoding x masking scale, chronological folds, ROC-AUC, routed metadata.

    ``electrodes`` is a dict, so sklearn's CV indexing passes it through unchanged (it slices
    only array-likes whose length equals n_samples), while ``session`` is sliced per fold.
    """
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    from skdistill.model_selection import ChronologicalFolds

    X, y, session, electrodes = _epochs(n_per_session=24, n_times=64)
    with sklearn.config_context(enable_metadata_routing=True):
        enc = BaristaTransformer(max_epochs=1, random_state=0, **{**TINY, "patch_size": 16})
        enc.set_fit_request(session=True, electrodes=True)
        enc.set_transform_request(session=True, electrodes=True)
        pipe = Pipeline([("barista", enc), ("probe", LogisticRegression())])
        grid = {
            "barista__spatial_encoding": ["channel", "parcel", "lobe"],
            "barista__mask_scale": ["channel", "parcel", "lobe"],
        }
        cv = ChronologicalFolds(n_splits=2, test_fraction=0.25)
        search = GridSearchCV(pipe, grid, cv=cv, scoring="roc_auc")
        search.fit(X, y, session=session, electrodes=electrodes, groups=session)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 9 and np.all(np.isfinite(scores))
    # frequency-coded classes: every scale combination probes well above chance
    assert scores.min() > 0.7, scores
    assert search.best_estimator_.named_steps["barista"].electrodes_.keys() == {"s1", "s2"}


# --------------------------------------------------------------------------- data


def test_simulated_cohort_runs():
    from skdistill.datasets import make_ieeg_cohort

    cohort = make_ieeg_cohort(
        n_subjects=2, n_segments=6, segment_duration=1.0, max_channels=6, random_state=0
    )
    est = BaristaTransformer("parcel", "lobe", max_epochs=1, random_state=0, **TINY)
    Z = est.fit_transform(cohort.X, session=cohort.session, electrodes=cohort.electrodes)
    assert Z.shape == (12, 8) and np.isfinite(Z).all()
    assert len(est.vocabulary_) >= 2


def _gripforce():
    """The vendored recording as BIDS gives it: 1 s segments (1000 samples at 1 kHz), the
    channel table of ``read_bids_ieeg`` (names, MNI x, y, z from the sidecars, no regions) and
    a label per segment (grip force above its median)."""
    from skdistill.io import read_bids_ieeg

    vhdr = glob.glob(os.path.join(GRIPFORCE, "**", "*.vhdr"), recursive=True)[0]
    rec = read_bids_ieeg(vhdr)
    n_seg = rec.lfp.shape[0] // 1000
    X = rec.lfp[: n_seg * 1000].T.reshape(rec.lfp.shape[1], n_seg, 1000).transpose(1, 0, 2)
    return rec, X, n_seg


@pytest.mark.skipif(not os.path.isdir(GRIPFORCE), reason="grip-force recording not vendored")
def test_real_gripforce_ecog_stn():
    from skdistill.io import read_recording
    from skdistill.spatial import electrode_table

    vhdr = glob.glob(os.path.join(GRIPFORCE, "**", "*.vhdr"), recursive=True)[0]
    rec = read_recording(vhdr)
    assert rec.lfp_rate == 1000.0 and rec.lfp.shape[1] == 9
    table = electrode_table(rec.channels["name"], rec.channels[["x", "y", "z"]].to_numpy())
    ecog = table["name"].str.startswith("ECOG")
    # ECoG strip over right sensorimotor cortex; STN contacts subcortical (ventral diencephalon)
    assert set(table.loc[ecog, "lobe"]) <= {"frontal", "parietal"}
    assert table.loc[ecog, "parcel"].str.contains("precentral|postcentral").sum() >= 3
    assert set(table.loc[~ecog, "lobe"]) <= {"ventral_diencephalon", "thalamus", "unknown"}
    # 1 s segments (1000 samples, 8 patches of 125), one session
    n_seg = rec.lfp.shape[0] // 1000
    X = rec.lfp[: n_seg * 1000].T.reshape(9, n_seg, 1000).transpose(1, 0, 2)
    est = BaristaTransformer("lobe", "parcel", max_epochs=1, random_state=0, **{**TINY, "patch_size": 125})
    Z = est.fit_transform(X, session=["grip"] * n_seg, electrodes={"grip": table})
    assert Z.shape == (n_seg, 8) and np.isfinite(Z).all()
    assert {"frontal-right", "parietal-right", "ventral_diencephalon-right"} <= set(est.vocabulary_)
    tokens = est.transform_tokens(X, session=["grip"] * n_seg, electrodes={"grip": table})
    assert tokens.shape == (n_seg, 8, 9, 8) and np.isfinite(tokens).all()


@pytest.mark.skipif(not os.path.isdir(GRIPFORCE), reason="grip-force recording not vendored")
def test_real_gripforce_bids_channels_feed_barista_without_hand_made_tables():
    """``read_bids_ieeg``'s channel table (MNI x, y, z from the sidecars, no parcel or lobe) is
    the electrode table: the regions are looked up from the coordinates, as electrode_table
    would, and the result is the same as with the hand-labelled table."""
    from skdistill.spatial import electrode_table

    rec, X, n_seg = _gripforce()
    channels = rec.channels
    assert "parcel" not in channels and np.isfinite(channels[["x", "y", "z"]].to_numpy()).all()
    session = ["grip"] * n_seg
    params = dict(max_epochs=1, random_state=0, **{**TINY, "patch_size": 125})
    est = BaristaTransformer("parcel", "lobe", **params)
    Z = est.fit_transform(X, session=session, electrodes={"grip": channels})
    table = electrode_table(channels["name"], channels[["x", "y", "z"]].to_numpy())
    ref = BaristaTransformer("parcel", "lobe", **params)
    Z_ref = ref.fit_transform(X, session=session, electrodes={"grip": table})
    np.testing.assert_array_equal(est.vocabulary_, ref.vocabulary_)
    np.testing.assert_allclose(Z, Z_ref, rtol=1e-6, atol=1e-6)
    assert any("precentral" in v or "postcentral" in v for v in est.vocabulary_)
    # the stored tables carry the looked-up regions: transform needs no electrodes
    np.testing.assert_allclose(est.transform(X), Z, rtol=1e-6, atol=1e-6)
    # a table without coordinates or regions still gets the scale's own message
    with pytest.raises(ValueError, match="no \\['parcel'\\] column"):
        BaristaTransformer("parcel", **params).fit(
            X, session=session, electrodes={"grip": channels.drop(columns=["x"])})


@pytest.mark.skipif(not os.path.isdir(GRIPFORCE), reason="grip-force recording not vendored")
def test_real_gripforce_classifier_finetunes():
    """The grip-force ECoG/STN recording through the whole reference protocol: pretrain, then
    fine-tune BaristaClassifier (frozen tokenizer, token-weight head, best held-out AUROC) to
    tell high from low grip force, straight from the BIDS channel table."""
    from sklearn.frozen import FrozenEstimator

    rec, X, n_seg = _gripforce()
    force = rec.behavior[:, 0]
    per_seg = force[: n_seg * 100].reshape(n_seg, -1).mean(axis=1)  # 10 ms bins -> 1 s
    y = (per_seg > np.median(per_seg)).astype(int)
    assert 0 < y.sum() < n_seg
    session = ["grip"] * n_seg
    electrodes = {"grip": rec.channels}
    enc = BaristaTransformer("lobe", "channel", max_epochs=2, random_state=0,
                             **{**TINY, "patch_size": 125, "batch_size": 8})
    enc.fit(X, session=session, electrodes=electrodes)
    clf = BaristaClassifier(FrozenEstimator(enc), max_epochs=4, batch_size=8,
                            validation_fraction=0.3, random_state=0)
    clf.fit(X, y, session=session, electrodes=electrodes)
    assert clf.pretrained_ and clf.module_.token_weights.shape == (1, 8, 9)
    hist = clf.history_
    assert len(hist) == 4 and all(np.isfinite(h["train_loss"]) for h in hist)
    assert "valid_auroc" in hist[-1] and 1 <= clf.best_epoch_ <= 4
    proba = clf.predict_proba(X, session=session, electrodes=electrodes)
    assert proba.shape == (n_seg, 2) and np.isfinite(proba).all()
    # the backbone moved, the frozen tokenizer did not
    torch.testing.assert_close(clf.module_.encoder.tokenizer.pooler.weight,
                               enc.module_.target_tokenizer.pooler.weight)


def test_classifier_refuses_continuous_or_nan_targets(data):
    X, y, session, electrodes = data
    clf = BaristaClassifier(None, init_params=dict(TINY), max_epochs=0, random_state=0)
    with pytest.raises(ValueError, match="continuous values"):
        clf.fit(X, np.linspace(0, 1, len(X)), session=session, electrodes=electrodes)
    bad = y.astype(float)
    bad[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(X, bad, session=session, electrodes=electrodes)


# --------------------------------------------------------------------------- engine features


def test_cached_tokens_train_like_recomputed_tokens(data, fitted):
    """With a frozen tokenizer, fit trains on tokens computed once; the weights end where
    recomputing the tokenizer every step takes them."""
    from sklearn.frozen import FrozenEstimator

    X, y, session, electrodes = data
    kw = dict(max_epochs=3, random_state=0, batch_size=16)
    cached = BaristaClassifier(FrozenEstimator(fitted), **kw).fit(
        X, y, session=session, electrodes=electrodes)
    plain = BaristaClassifier(FrozenEstimator(fitted), **kw)
    plain._cache_tokens = False
    plain.fit(X, y, session=session, electrodes=electrodes)
    for (k, a), b in zip(cached.module_.state_dict().items(), plain.module_.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=k)
    np.testing.assert_allclose(cached.history_[:, "valid_auroc"], plain.history_[:, "valid_auroc"])


def test_progress_bar_and_history_survive_save_load(data, tmp_path, capsys):
    from skorch.callbacks import ProgressBar
    from sklearn.frozen import FrozenEstimator

    X, y, session, electrodes = data
    enc = BaristaTransformer(max_epochs=2, random_state=0, callbacks=[ProgressBar()], **TINY)
    enc.fit(X, session=session, electrodes=electrodes)
    clf = BaristaClassifier(FrozenEstimator(enc), max_epochs=2, random_state=0, batch_size=16,
                            callbacks=[ProgressBar()])
    clf.fit(X, y, session=session, electrodes=electrodes)
    # skorch's ProgressBar ran (tqdm writes its bars to stderr) and left the fit intact
    err = capsys.readouterr().err
    # tqdm bars (cleared at the end of each epoch): one per epoch of each fit
    assert err.count("it/s]") >= 4, err[-300:]
    for est, cls, keys in ((enc, BaristaTransformer, ("train_loss", "valid_loss")),
                           (clf, BaristaClassifier, ("train_loss", "valid_loss", "valid_auroc"))):
        path = tmp_path / f"{cls.__name__}.pt"
        est.save(path)
        loaded = cls.load(path)
        assert len(loaded.history_) == 2
        for key in keys:
            np.testing.assert_allclose(loaded.history_[:, key], est.history_[:, key])
        if cls is BaristaTransformer:
            np.testing.assert_allclose(loaded.transform(X, session=session, electrodes=electrodes),
                                       est.transform(X, session=session, electrodes=electrodes))
        else:
            assert loaded.best_epoch_ == est.best_epoch_
            np.testing.assert_allclose(
                loaded.predict_proba(X, session=session, electrodes=electrodes),
                est.predict_proba(X, session=session, electrodes=electrodes))


def test_cosine_ema_schedule_rises_to_one(data):
    from skdistill.estimators._barista import _EMATarget

    X, _, session, electrodes = data
    est = BaristaTransformer(max_epochs=3, ema_momentum=0.9, ema_schedule="cosine", random_state=0,
                             **TINY).fit(X, session=session, electrodes=electrodes)
    ema = dict(est.net_.callbacks_)["ema_target"]
    assert ema.total_ == 3 * ema.per_epoch_ and ema.step_ == ema.total_
    cb = _EMATarget(0.9, "cosine")
    cb.total_, cb.step_ = 10, 0
    assert cb.current() == pytest.approx(0.9)
    cb.step_ = 5
    assert cb.current() == pytest.approx(0.95)
    cb.step_ = 10
    assert cb.current() == pytest.approx(1.0)
    assert _EMATarget(0.9).current() == 0.9
    with pytest.raises(ValueError, match="ema_schedule"):
        BaristaTransformer(ema_schedule="linear", **TINY).fit(X, session=session,
                                                              electrodes=electrodes)


def test_probe_head_init_is_the_logistic_regression_on_the_pooled_embedding(data, fitted):
    """``head_init="probe"`` starts the classifier at sklearn's logistic regression on the
    standardised mean-pooled embedding (``BaristaTransformer.transform``) of the training
    segments: with no fine-tuning epochs the classifier predicts exactly that probe."""
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, session, electrodes = data
    emb = fitted.transform(X, session=session, electrodes=electrodes)
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000)).fit(emb, y)
    expected = probe.predict_proba(emb)
    for head_norm in (False, True):
        clf = BaristaClassifier(FrozenEstimator(fitted), head_init="probe", probe_C=0.5,
                                readout="mean", head_norm=head_norm, max_epochs=0,
                                validation_fraction=0.0, random_state=0).fit(
            X, y, session=session, electrodes=electrodes)
        got = clf.predict_proba(X, session=session, electrodes=electrodes)
        np.testing.assert_allclose(got, expected, atol=2e-4)
    # fine-tuning from it trains on, from the probe's solution
    tuned = BaristaClassifier(FrozenEstimator(fitted), head_init="probe", readout="mean",
                              head_norm=True, max_epochs=2, random_state=0, batch_size=16).fit(
        X, y, session=session, electrodes=electrodes)
    assert len(tuned.history_) == 2
    with pytest.raises(ValueError, match="head_init"):
        BaristaClassifier(FrozenEstimator(fitted), head_init="lda").fit(
            X, y, session=session, electrodes=electrodes)
