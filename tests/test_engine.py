"""The shared engine: held-out validation, early stopping, skorch's callbacks at their defaults,
the non-finite guard, resumable training, save/load with history, uniform fitted state."""

import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from skorch.callbacks import Checkpoint, EarlyStopping, LoadInitState
from skorch.history import History
from sklearn.frozen import FrozenEstimator

from skdistill import (
    BaristaClassifier,
    BaristaTransformer,
    DistilledLFPTransformer,
    LFPTransformer,
    MaskedSpikeTransformer,
    SupervisedEncoderRegressor,
)
from skdistill.estimators import (
    TRAINING_CONSTRAINTS,
    TrainingCheckpoint,
    TrainingDivergedError,
    Windowing,
)
from skdistill.estimators._windows import holdout_rows

SMALL = dict(segment_length=20, patch_size=4, d_model=16, n_layers=1, n_heads=2, batch_size=16,
             random_state=0, device="cpu")


def _lfp(n_rows=400, n_channels=8, seed=0):
    rng = np.random.default_rng(seed)
    lat = np.cumsum(rng.standard_normal((n_rows, 2)), axis=0) * 0.1
    lat = (lat - lat.mean(0)) / lat.std(0)
    return lat @ rng.standard_normal((2, n_channels)) + 0.5 * rng.standard_normal((n_rows, n_channels)), lat


def _spikes(n_rows=400, n_units=8, seed=0):
    return np.random.default_rng(seed).poisson(1.0, size=(n_rows, n_units)).astype(float)


# ------------------------------------------------------------------------------ one base


ALL = [MaskedSpikeTransformer, LFPTransformer, DistilledLFPTransformer, SupervisedEncoderRegressor,
       BaristaTransformer, BaristaClassifier]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_estimator_shares_the_training_parameters(cls):
    params = cls().get_params()
    for name in ("validation_fraction", "early_stopping", "patience", "callbacks", "lr",
                 "batch_size", "max_epochs", "device", "random_state", "verbose"):
        assert name in params, name
        assert cls._parameter_constraints[name] == TRAINING_CONSTRAINTS[name]
    with pytest.raises(ValueError, match="validation_fraction"):
        est = cls(validation_fraction=1.5)
        est._validate_params()


def test_holdout_is_the_end_of_each_session_run():
    session = np.array(["a"] * 100 + ["b"] * 50 + ["a"] * 15)
    held = holdout_rows(session, 0.1, segment_length=10)
    # a: last 10 rows of its first run; b: last 10 (ceil 5 < one window); a's 15-row run: none
    assert np.flatnonzero(held).tolist() == list(range(90, 100)) + list(range(140, 150))
    train, valid = Windowing(10, sampling="grid").split(
        {"x": np.zeros((165, 2))}, np.zeros(165, int), session, validation_fraction=0.1)
    assert len(valid) == 2 and len(train) == 9 + 4 + 1
    # no training window touches a held-out row
    for i in range(len(train)):
        start = train.window_start(i)
        assert not held[start:start + 10].any()


def test_validation_loss_and_early_stopping_restore_the_best_weights():
    X, y = _lfp()
    encoder = LFPTransformer(max_epochs=1, **SMALL).fit(X)
    assert "valid_loss" in encoder.history_[-1] and np.isfinite(encoder.history_[-1, "valid_loss"])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an early stop is not reported as an interruption
        reg = SupervisedEncoderRegressor(FrozenEstimator(encoder), ssl_weight=0.0, lr=3e-2,
                                         max_epochs=40, early_stopping=True, patience=2,
                                         random_state=0, device="cpu").fit(X, y)
    losses = reg.history_[:, "valid_loss"]
    assert len(losses) < 40  # stopped early
    # the kept weights are the best epoch's: recompute the held-out loss with them
    Xc, session, index = encoder.check_input(X)
    _, valid = encoder.windowing.split({"x": Xc, "y": (y - reg.y_mean_) / reg.y_scale_}, index,
                                       session, validation_fraction=0.1)
    module = reg.module_.eval()
    with torch.no_grad():
        total = sum(float(module(**{k: torch.as_tensor(np.asarray(v))[None]
                                    for k, v in valid[i][0].items()})["loss"])
                    for i in range(len(valid)))
    assert total / len(valid) == pytest.approx(min(losses), rel=1e-4)
    assert total / len(valid) < losses[-1]


def test_skorch_callbacks_work_with_their_defaults(tmp_path):
    X = _spikes()
    cbs = [EarlyStopping(), Checkpoint(dirname=str(tmp_path / "cp")),
           LoadInitState(Checkpoint(dirname=str(tmp_path / "cp")))]
    est = MaskedSpikeTransformer(max_epochs=2, decoder_width=8, callbacks=cbs, **SMALL).fit(X)
    assert (tmp_path / "cp" / "params.pt").exists() and len(est.history_) == 2
    # the estimator's own callbacks list is untouched (each fit gets copies)
    assert not {id(cb) for cb in est.callbacks} & {id(cb) for _, cb in est.net_.callbacks_}
    with pytest.raises(ValueError, match="needs held-out validation"):
        MaskedSpikeTransformer(max_epochs=1, decoder_width=8, validation_fraction=0.0,
                               callbacks=[EarlyStopping()], **SMALL).fit(X)
    with pytest.raises(ValueError, match="early_stopping=True needs held-out validation"):
        MaskedSpikeTransformer(max_epochs=1, decoder_width=8, validation_fraction=0.0,
                               early_stopping=True, **SMALL).fit(X)


def test_distilled_history_has_held_out_alignment():
    X, _ = _lfp()
    S = _spikes()
    teacher = MaskedSpikeTransformer(max_epochs=1, decoder_width=8, **SMALL).fit(S)
    student = DistilledLFPTransformer(FrozenEstimator(teacher), max_epochs=2, **SMALL)
    student.fit(X, teacher_X=S)
    last = student.history_[-1]
    for key in ("train_loss", "valid_loss", "train_cosine", "valid_cosine"):
        assert np.isfinite(last[key]), key
    assert -1 <= last["valid_cosine"] <= 1


# ------------------------------------------------------------------------------ guard


def test_a_diverging_run_stops_with_a_clear_error_and_keeps_finite_weights():
    X, _ = _lfp()
    est = LFPTransformer(max_epochs=5, lr=1e6, decoder_width=8, **SMALL)
    with pytest.raises(TrainingDivergedError, match=r"epoch \d+, batch \d+.*smaller lr"):
        est.fit(X)
    assert all(torch.isfinite(p).all() for p in est.module_.parameters())
    assert np.isfinite(est.transform(X)).all()


# ------------------------------------------------------------------------------ resume

_SCRIPT = textwrap.dedent("""
    import json, os, signal, sys
    import numpy as np, torch
    from skorch.callbacks import Callback
    from skdistill import MaskedSpikeTransformer
    from skdistill.estimators import TrainingCheckpoint
    torch.set_num_threads(1)

    class KillAt(Callback):
        def on_epoch_end(self, net, **kw):
            if len(net.history) == int(sys.argv[2]):
                os.kill(os.getpid(), signal.SIGKILL)

    X = np.random.default_rng(0).poisson(1.0, size=(400, 8)).astype(float)
    cbs = [TrainingCheckpoint(sys.argv[1])]
    if int(sys.argv[2]):
        cbs.append(KillAt())  # after the checkpoint callback has written the epoch
    stop = dict(early_stopping=True, patience=2, lr=float(sys.argv[5])) if len(sys.argv) > 4 else {}
    est = MaskedSpikeTransformer(segment_length=20, patch_size=4, d_model=16, n_layers=1,
                                 n_heads=2, decoder_width=8, batch_size=16,
                                 max_epochs=int(sys.argv[4]) if stop else 5,
                                 random_state=0, device="cpu", callbacks=cbs, **stop).fit(X)
    torch.save({k: v for k, v in est.module_.state_dict().items()}, sys.argv[3])
    with open(sys.argv[3] + ".history.json", "w") as f:
        json.dump([float(h["valid_loss"]) for h in est.history_] if stop else [], f)
""")


def test_a_killed_run_resumes_to_the_same_weights(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(_SCRIPT)
    killed = subprocess.run([sys.executable, str(script), str(tmp_path / "ck"), "3",
                             str(tmp_path / "never.pt")], capture_output=True)
    assert killed.returncode != 0 and not (tmp_path / "never.pt").exists()
    state = torch.load(tmp_path / "ck" / "state.pt", weights_only=True)
    assert len(state["history"]) == 3
    resumed = subprocess.run([sys.executable, str(script), str(tmp_path / "ck"), "0",
                              str(tmp_path / "resumed.pt")], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    straight = subprocess.run([sys.executable, str(script), str(tmp_path / "fresh"), "0",
                               str(tmp_path / "straight.pt")], capture_output=True, text=True)
    assert straight.returncode == 0, straight.stderr
    a = torch.load(tmp_path / "resumed.pt", weights_only=True)
    b = torch.load(tmp_path / "straight.pt", weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_a_checkpoint_of_another_model_is_ignored(tmp_path):
    X = _spikes()
    cb = TrainingCheckpoint(tmp_path / "ck")
    MaskedSpikeTransformer(max_epochs=2, decoder_width=8, callbacks=[cb], **SMALL).fit(X)
    other = MaskedSpikeTransformer(max_epochs=3, decoder_width=8, callbacks=[cb], **SMALL).fit(X)
    assert len(other.history_) == 3  # different max_epochs: trained from scratch


# ------------------------------------------------------------------------------ save / load


def _fitted_all():
    X, y = _lfp()
    S = _spikes()
    teacher = MaskedSpikeTransformer(max_epochs=2, decoder_width=8, **SMALL).fit(S)
    lfp = LFPTransformer(max_epochs=2, decoder_width=8, **SMALL).fit(X)
    student = DistilledLFPTransformer(FrozenEstimator(teacher), max_epochs=2, **SMALL)
    student.fit(X, teacher_X=S)
    reg = SupervisedEncoderRegressor(FrozenEstimator(lfp), max_epochs=2, random_state=0,
                                     device="cpu").fit(X, y)
    return {"teacher": (teacher, S), "lfp": (lfp, X), "student": (student, X), "reg": (reg, X)}


@pytest.fixture(scope="module")
def fitted_all():
    return _fitted_all()


@pytest.mark.parametrize("name", ["teacher", "lfp", "student", "reg"])
def test_save_load_keeps_history_and_outputs(fitted_all, name, tmp_path):
    est, X = fitted_all[name]
    est.save(tmp_path / "m.pt")
    loaded = type(est).load(tmp_path / "m.pt", device="cpu")
    assert isinstance(loaded.history_, History)
    assert loaded.history_.to_list() == est.history_.to_list()
    out = est.predict(X) if hasattr(est, "predict") else est.transform(X)
    again = loaded.predict(X) if hasattr(loaded, "predict") else loaded.transform(X)
    np.testing.assert_allclose(again, out, rtol=1e-6, atol=1e-6)
    assert loaded.n_features_in_ == est.n_features_in_
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).history_[:, "train_loss"],
                                  est.history_[:, "train_loss"])


def test_load_refuses_files_that_are_not_models(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00\x01 not a model")
    with pytest.raises(ValueError, match="not a readable skdistill model file") as err:
        LFPTransformer.load(junk)
    assert "weights_only=False" not in str(err.value)
    torch.save({"a": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not a skdistill model"):
        LFPTransformer.load(tmp_path / "foreign.pt")
    with pytest.raises(FileNotFoundError):
        LFPTransformer.load(tmp_path / "missing.pt")


def test_loaded_student_says_it_needs_its_teacher(fitted_all, tmp_path):
    student, X = fitted_all["student"]
    _, S = fitted_all["teacher"]
    student.save(tmp_path / "s.pt")
    loaded = DistilledLFPTransformer.load(tmp_path / "s.pt", device="cpu")
    with pytest.raises(ValueError, match="student.teacher_ = fitted_teacher"):
        loaded.alignment_score(X, S)
    loaded.teacher_ = student.teacher_
    assert loaded.alignment_score(X, S) == pytest.approx(student.alignment_score(X, S))


# ------------------------------------------------------------------------------ adapt / layers


def test_student_adapt_keeps_the_alignment_term(fitted_all):
    import copy

    student, X = fitted_all["student"]
    _, S = fitted_all["teacher"]
    student = copy.deepcopy(student)
    student.teacher_.set_params(unknown_session=student.teacher_.sessions_[0])
    with pytest.raises(ValueError, match="adapt needs teacher_X"):
        student.adapt(X, session=np.full(len(X), "new"))
    n_before = len(student.history_)
    student.adapt(X, teacher_X=S, session=np.full(len(X), "new"), max_epochs=2)
    assert list(student.sessions_)[-1] == "new" and len(student.history_) == n_before + 2
    assert np.isfinite(student.history_[-1, "train_cosine"])  # the alignment term trained
    assert np.isfinite(student.transform(X, session=np.full(len(X), "new"))).all()


def test_layer_and_readout_are_checked(fitted_all):
    teacher, S = fitted_all["teacher"]
    with pytest.raises(ValueError, match="layer=3 does not name one of the encoder's 1 layer"):
        teacher.transform(S, layer=3)
    with pytest.raises(ValueError, match="readout_layer=5"):
        teacher.set_params(readout_layer=5).transform(S)
    teacher.set_params(readout_layer=-1)
    assert teacher.transform(S, readout="concat").shape == (len(S), 32)
    with pytest.raises(ValueError, match="readout must be"):
        teacher.transform(S, readout="max")


# ------------------------------------------------------------------------------ faults


def test_keyboard_interrupt_mid_epoch_leaves_a_usable_estimator():
    from skorch.callbacks import Callback

    class Interrupt(Callback):
        def on_batch_end(self, net, training=None, **kwargs):
            if training and len(net.history) == 2 and len(net.history[-1, "batches"]) == 1:
                raise KeyboardInterrupt

    X, _ = _lfp()
    est = LFPTransformer(max_epochs=5, decoder_width=8, callbacks=[Interrupt()], **SMALL)
    with pytest.warns(UserWarning, match="interrupted .* in epoch 2.*usable"):
        est.fit(X)
    assert len(est.history_) == 2
    assert np.isfinite(est.transform(X)).all()


def test_out_of_memory_stops_with_a_clear_message_and_keeps_the_weights():
    X, _ = _lfp()
    est = LFPTransformer(max_epochs=3, decoder_width=8, **SMALL).fit(X)
    before = {k: v.clone() for k, v in est.module_.state_dict().items()}
    forward = est.module_.forward

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    est.module_.forward = oom
    from skdistill.estimators import TrainingMemoryError
    with pytest.raises(TrainingMemoryError, match=r"batch of 16 did not fit.*batch_size=8"):
        est.adapt(X, session=np.full(len(X), est.sessions_[0]), finetune="all", max_epochs=1)
    est.module_.forward = forward
    for key, value in est.module_.state_dict().items():
        torch.testing.assert_close(value, before[key])
    assert np.isfinite(est.transform(X)).all()


def test_save_stores_callbacks_as_none(tmp_path):
    from skorch.callbacks import ProgressBar

    X = _spikes()
    est = MaskedSpikeTransformer(max_epochs=1, decoder_width=8, callbacks=[ProgressBar()],
                                 **SMALL).fit(X)
    est.save(tmp_path / "m.pt")
    assert MaskedSpikeTransformer.load(tmp_path / "m.pt").callbacks is None


def test_a_killed_run_with_early_stopping_resumes_its_patience_and_best_weights(tmp_path):
    # killed after epoch 3 of a run whose best epoch came earlier: the resumed run must count
    # the misses before the kill and restore the pre-kill best weights, as the straight run does
    script = tmp_path / "train.py"
    script.write_text(_SCRIPT)
    extra = ["12", "0.03"]  # max_epochs, lr (a noisy validation curve: early stopping acts)
    straight = subprocess.run([sys.executable, str(script), str(tmp_path / "fresh"), "0",
                               str(tmp_path / "straight.pt"), *extra], capture_output=True, text=True)
    assert straight.returncode == 0, straight.stderr
    valid = json.loads(Path(str(tmp_path / "straight.pt") + ".history.json").read_text())
    assert len(valid) < 12  # early stopping ended the straight run
    best = int(np.argmin(valid))
    assert best < 3 <= len(valid)  # the best epoch is before the kill and the run outlives it
    killed = subprocess.run([sys.executable, str(script), str(tmp_path / "ck"), "3",
                             str(tmp_path / "never.pt"), *extra], capture_output=True)
    assert killed.returncode != 0
    state = torch.load(tmp_path / "ck" / "state.pt", weights_only=True)
    assert state["early_stopping"]["early_stopping"]["best_weights"] is not None
    resumed = subprocess.run([sys.executable, str(script), str(tmp_path / "ck"), "0",
                              str(tmp_path / "resumed.pt"), *extra], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(Path(str(tmp_path / "resumed.pt") + ".history.json").read_text()) == valid
    a = torch.load(tmp_path / "resumed.pt", weights_only=True)
    b = torch.load(tmp_path / "straight.pt", weights_only=True)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
