"""DistilledLFPTransformer and its student module: teacher handling, routing, persistence, the guard."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import cross_validate
from sklearn.pipeline import Pipeline

from skdistill.estimators import MaskedSpikeTransformer
from skdistill.estimators._distilled import DistilledLFPTransformer
from skdistill.model_selection import SegmentSplit
from skdistill.nn._distill import DistillationStudent, alignment_loss

TINY = dict(segment_length=20, patch_size=4, d_model=16, n_layers=1, n_heads=2, max_epochs=2,
            batch_size=16, random_state=0, device="cpu")



def _planted(n_rows=600, sessions=("a", "b"), seed=0):
    """A shared 2-D latent drives Poisson spikes (16 units) and a linear LFP (12 channels)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    lat = np.cumsum(rng.standard_normal((n_rows, 2)), axis=0) * 0.1
    lat -= lat.mean(0)
    spikes = rng.poisson(np.exp(0.5 + 0.4 * lat @ rng.standard_normal((2, 16)))).astype(float)
    lfp = lat @ rng.standard_normal((2, 12)) + 0.1 * rng.standard_normal((n_rows, 12))
    session = np.repeat(list(sessions), n_rows // len(sessions))
    return spikes, lfp, lat, session


@pytest.fixture(scope="module")
def data():
    return _planted()


@pytest.fixture(scope="module")
def teacher(data):
    S, _, _, s = data
    return MaskedSpikeTransformer(decoder_width=8, **TINY).fit(S, session=s)


@pytest.fixture(scope="module")
def student(data, teacher):
    S, L, _, s = data
    return DistilledLFPTransformer(teacher=FrozenEstimator(teacher), **TINY).fit(L, teacher_X=S, session=s)


def _weights(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_fit_transform_shapes_and_only_lfp_at_transform(data, student):
    S, L, _, s = data
    Z = student.transform(L, session=s)
    assert Z.shape == (len(L), 16) and Z.dtype == np.float64 and np.isfinite(Z).all()
    assert student.teacher_dim_ == 16 and isinstance(student.module_.projection, torch.nn.Identity)
    # two 300-row sessions, each less its last 30 rows (validation): 2 x 270 // 20
    assert student.n_windows_ == 26
    assert len(student.history_) == 2 and np.isfinite(student.history_[:, "train_loss"]).all()
    # the objective is recon_weight * reconstruction + align_weight * (1 - mean cosine)
    module = student.module_.eval()
    x = torch.as_tensor(L[:40].reshape(2, 20, 12), dtype=torch.float32)
    with torch.no_grad():
        out = module(x, torch.zeros(2, dtype=torch.long), torch.randn(2, 20, 16))
    assert float(out["loss"]) == pytest.approx(float(out["reconstruction"] + 5 * out["alignment"]), rel=1e-5)
    assert 0 <= float(out["alignment"]) <= 2
    # transform has no teacher argument and works once the teacher is gone
    del_teacher = pickle.loads(pickle.dumps(student))
    del_teacher.teacher, del_teacher.teacher_ = None, None
    np.testing.assert_allclose(del_teacher.transform(L, session=s), Z, atol=1e-5)


def test_alignment_score_reads_the_aligned_latent_whatever_the_readout(data, teacher, student):
    S, L, _, s = data
    model = pickle.loads(pickle.dumps(student))
    score = model.alignment_score(L, S, session=s)
    assert -1 <= score <= 1
    model.set_params(readout="concat")
    assert model.transform(L, session=s).shape[1] == model.embedding_dim_ > 16
    assert model.alignment_score(L, S, session=s) == pytest.approx(score, abs=1e-6)
    model.teacher_.set_params(readout="concat")  # its latents no longer match the projection
    with pytest.raises(ValueError, match="aligned to 16-wide"):
        model.alignment_score(L, S, session=s)


def test_frozen_teacher_is_used_as_is(data, teacher):
    S, L, _, s = data
    before = _weights(teacher.module_)
    n_epochs = len(teacher.history_)
    student = DistilledLFPTransformer(teacher=FrozenEstimator(teacher), **TINY).fit(L, teacher_X=S, session=s)
    assert student.teacher_ is teacher
    assert len(teacher.history_) == n_epochs
    after = teacher.module_.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_unfitted_teacher_is_fitted_on_teacher_X(data):
    S, L, _, s = data
    spec = MaskedSpikeTransformer(decoder_width=8, **{**TINY, "d_model": 8})
    student = DistilledLFPTransformer(teacher=spec, **TINY).fit(L, teacher_X=S, session=s)
    assert not hasattr(spec, "net_")  # the parameter itself stays unfitted (it was cloned)
    assert student.teacher_ is not spec and student.teacher_.n_features_in_ == 16
    # widths differ (8 vs 16): a learned projection maps the student to the teacher
    assert isinstance(student.module_.projection, torch.nn.Linear)
    assert student.module_.projection.out_features == 8


def test_teacher_X_missing_or_misaligned(data, teacher):
    S, L, _, s = data
    est = DistilledLFPTransformer(teacher=FrozenEstimator(teacher), **TINY)
    with pytest.raises(ValueError, match="needs teacher_X"):
        est.fit(L, session=s)
    with pytest.raises(ValueError, match="teacher_X has 599 rows but X has 600"):
        est.fit(L, teacher_X=S[:-1], session=s)
    with pytest.raises(ValueError, match="spike counts"):
        est.fit(L, teacher_X=S + 0.5, session=s)


def test_student_sessions_must_be_known_to_the_teacher(data, teacher):
    S, L, _, _ = data
    other = np.repeat(["x", "y"], 300)
    est = DistilledLFPTransformer(teacher=FrozenEstimator(teacher), **TINY)
    with pytest.raises(ValueError, match=r"session\(s\) \['x', 'y'\] were not seen"):
        est.fit(L, teacher_X=S, session=other)


def test_routing_other_sessions_through_the_distilled_session(data, teacher):
    S, L, _, s = data
    a = s == "a"
    student = DistilledLFPTransformer(teacher=FrozenEstimator(teacher), **TINY).fit(
        L[a], teacher_X=S[a], session=s[a])
    with pytest.raises(ValueError, match="not seen in fit"):
        student.transform(L[~a], session=s[~a])
    student.set_params(unknown_session="a")
    routed = student.transform(L[~a], session=s[~a])
    np.testing.assert_allclose(routed, student.transform(L[~a], session=np.full(300, "a")))


def test_save_load_and_pickle_round_trip(tmp_path, data, student):
    S, L, _, s = data
    Z = student.transform(L, session=s)
    path = tmp_path / "student.pt"
    student.save(path)
    assert student.teacher is not None  # save does not touch the fitted estimator
    loaded = DistilledLFPTransformer.load(path, device="cpu")
    assert loaded.teacher is None and loaded.teacher_dim_ == 16
    np.testing.assert_allclose(loaded.transform(L, session=s), Z, atol=1e-6)
    np.testing.assert_allclose(loaded.module_.target_mean.numpy(), student.module_.target_mean.numpy())
    again = pickle.loads(pickle.dumps(student))
    np.testing.assert_allclose(again.transform(L, session=s), Z, atol=1e-6)


def test_pipeline_cross_validate_with_metadata_routing(data, teacher):
    S, L, _, s = data
    with skdistill_routing():
        student = DistilledLFPTransformer(teacher=FrozenEstimator(teacher), **TINY)
        student.set_fit_request(teacher_X=True, session=True).set_transform_request(session=True)
        pipe = Pipeline([("student", student), ("ols", LinearRegression())])
        y = data[2]
        cv = SegmentSplit(segment_length=100)
        res = cross_validate(pipe, L, y, cv=cv, return_estimator=True,
                             params={"teacher_X": S, "session": s, "groups": s})
    assert res["test_score"].shape == (1,) and np.isfinite(res["test_score"]).all()
    fitted = res["estimator"][0].named_steps["student"]
    assert fitted.teacher_ is teacher  # the frozen teacher survives cloning
    # 3 segments of 100 rows per session, 1 val + 1 test: trained on 2 x 100 rows only
    # (each 100-row run less its last 20 rows, held out for validation: 2 x 80 // 20)
    assert fitted.n_windows_ == 8


class skdistill_routing:
    """Enable sklearn metadata routing inside a ``with`` block."""

    def __enter__(self):
        import sklearn

        self._ctx = sklearn.config_context(enable_metadata_routing=True)
        self._ctx.__enter__()

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)


def test_alignment_loss_values():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert float(alignment_loss(a, a)) == pytest.approx(0.0, abs=1e-6)
    assert float(alignment_loss(a, -a)) == pytest.approx(2.0)
    assert float(alignment_loss(a, torch.tensor([[0.0, 1.0], [0.0, 1.0]]))) == pytest.approx(0.5)
    assert float(alignment_loss(a, torch.zeros(2, 2), "mse")) == pytest.approx(5 / 4)


def test_target_statistics_per_mode():
    targets = torch.tensor([[1.0, 10.0], [3.0, 30.0]])
    for mode, mean, scale in [("raw", [0, 0], [1, 1]), ("center", [2, 20], [1, 1]),
                              ("standardize", [2, 20], [np.sqrt(2), np.sqrt(200)])]:
        m = DistillationStudent(4, teacher_dim=2, patch_size=2, d_model=8, n_layers=1, n_heads=2,
                                target_mode=mode)
        m.set_target_statistics(targets)
        np.testing.assert_allclose(m.target_mean.numpy(), mean, rtol=1e-6)
        np.testing.assert_allclose(m.target_scale.numpy(), scale, rtol=1e-5)


def _train_student(mode, x, t, steps=40, seed=1):
    torch.manual_seed(seed)
    m = DistillationStudent(x.shape[-1], teacher_dim=t.shape[-1], patch_size=4, d_model=16,
                            n_layers=1, n_heads=2, target_mode=mode, recon_weight=0.0)
    m.set_target_statistics(t)
    opt = torch.optim.AdamW(m.parameters(), 3e-3)
    zero = torch.zeros(32, dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        i = torch.randint(0, len(x), (32,), generator=gen)
        loss = m(x[i], zero, t[i])["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m


def test_collapse_guard_keeps_across_time_variance():
    # Targets whose energy is ~97 % their global mean (the calibration found ~60 % on a real
    # teacher): under the raw cosine the student emits nearly one vector at every bin, with the
    # centred target it must follow the latent.
    gen = torch.Generator().manual_seed(0)
    lat = torch.cumsum(torch.randn(96, 10, 2, generator=gen), 1) * 0.3
    x = lat @ torch.randn(2, 8, generator=gen) + 0.1 * torch.randn(96, 10, 8, generator=gen)
    mu = 2 * torch.randn(16, generator=gen)
    t = mu + 0.5 * torch.tanh(lat) @ torch.randn(2, 16, generator=gen)
    assert float((mu**2).sum() / (t**2).sum(-1).mean()) > 0.9
    share = {}
    for mode in ("raw", "center"):
        m = _train_student(mode, x, t)
        with torch.no_grad():
            z = m.encode(x, torch.zeros(len(x), dtype=torch.long)).reshape(-1, 16)
        share[mode] = float(((z - z.mean(0)) ** 2).sum(1).mean() / (z**2).sum(1).mean())
    assert share["raw"] < 0.15, share  # collapsed onto the mean direction
    assert share["center"] > 0.5, share


def test_target_smoothing_smooths_teacher_latents_within_sessions(data, teacher):
    from scipy.ndimage import gaussian_filter1d

    S, L, _, s = data
    raw = DistilledLFPTransformer(teacher=FrozenEstimator(teacher), **TINY)
    smooth = DistilledLFPTransformer(teacher=FrozenEstimator(teacher), target_smoothing=3.0, **TINY)
    T = raw._teacher_latents(teacher, S, s)
    Ts = smooth._teacher_latents(teacher, S, s)
    for label in ("a", "b"):  # each session on its own: nothing leaks across the boundary
        rows = s == label
        expected = gaussian_filter1d(T[rows], 3.0, axis=0, mode="reflect", truncate=4.0)
        np.testing.assert_allclose(Ts[rows], expected, rtol=1e-10, atol=1e-12)
    assert np.diff(Ts[s == "a"], axis=0).std() < 0.5 * np.diff(T[s == "a"], axis=0).std()
    fitted = smooth.fit(L, teacher_X=S, session=s)
    assert np.isfinite(fitted.transform(L, session=s)).all()
    with pytest.raises(ValueError, match="target_smoothing"):
        DistilledLFPTransformer(teacher=FrozenEstimator(teacher), target_smoothing=-1.0,
                                **TINY).fit(L, teacher_X=S, session=s)


def test_default_target_is_the_papers_raw_cosine(data, teacher, student):
    # reference Eq. 1: lambda = 5 times (1 - mean cosine) to the raw pooled last-layer latent
    S, L, _, s = data
    assert student.target_mode == "raw" and student.align_weight == 5.0
    assert student.align_loss == "cosine" and student.align_layer == -1
    module = student.module_
    assert torch.count_nonzero(module.target_mean) == 0
    assert torch.all(module.target_scale == 1)
    # the alignment score is the plain cosine between the student's latent and the raw target
    z = student.transform(L, session=s)  # readout "mean", last layer: the aligned latent
    t = teacher.transform(S, session=s)
    cos = (z * t).sum(1) / (np.linalg.norm(z, axis=1) * np.linalg.norm(t, axis=1))
    assert student.alignment_score(L, S, session=s) == pytest.approx(cos.mean(), abs=1e-4)
    # the guards stay available: "center" subtracts the mean of the teacher's training latents
    centred = DistilledLFPTransformer(teacher=FrozenEstimator(teacher), target_mode="center", **TINY)
    centred.fit(L, teacher_X=S, session=s)
    np.testing.assert_allclose(centred.module_.target_mean.numpy(), t.mean(0), rtol=1e-4, atol=1e-5)


def test_weighted_losses_equal_the_losses_on_the_masked_rows():
    from skdistill.nn._distill import variance_hinge

    torch.manual_seed(0)
    a, b = torch.randn(4, 6, 8) * 0.5, torch.randn(4, 6, 8)
    rows = torch.ones(4, 6, dtype=torch.bool)
    rows[1, 3:] = False
    for kind in ("cosine", "mse"):
        assert torch.allclose(alignment_loss(a, b, kind, weights=rows),
                              alignment_loss(a[rows], b[rows], kind), atol=1e-6)
    assert torch.allclose(variance_hinge(a, 1.0, weights=rows), variance_hinge(a[rows], 1.0),
                          atol=1e-6)
    assert torch.allclose(variance_hinge(a, 1.0), variance_hinge(a.reshape(-1, 8), 1.0))
