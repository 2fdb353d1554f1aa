"""The distillation comparison on simulated sessions: teacher, SS-LFP, MS-LFP, distilled student.

:func:`run_comparison` is the core of ``skdistill demo`` and of ``benchmarks/distillation.py``.
Protocol (reference sections 12-13):

* sessions are split into 5 s segments (80/10/10, seed 42); every model trains on train segments
  only, and every neural model holds out the end of each session run of its training rows
  (``validation_fraction``) for ``valid_loss`` and early stopping;
* the spike teacher (``MaskedSpikeTransformer``) trains on the first ``teacher_sessions``
  sessions (the reference leaves generalization sessions out of teacher training), MS-LFP on the
  LFP of every session, SS-LFP and the distilled student on the distillation session only;
  SS-LFP, MS-LFP and the student get the same number of optimizer steps (``lfp_epochs`` epochs
  over one session; MS-LFP ``ceil(lfp_epochs / n_sessions)`` epochs over all of them);
* unsupervised: embeddings of every row, per-session ordinary least squares fitted on the train
  rows to the z-scored 2-D velocity, R² (mean over x and y) on val+test
  (:func:`skdistill.evaluation.probe_r2`); supervised: each encoder fine-tuned end to end with a
  linear head on the train rows (:class:`~skdistill.estimators.SupervisedEncoderRegressor`);
* floors (ridge, penalty by contiguous blocked folds): smoothed spikes (50 ms Gaussian), the
  same-bin LFP, the lagged LFP (50 ms-smoothed, lags -100..100 ms); null controls: the same
  probes on velocity circularly shifted inside each session;
* generalization: the student routes each other session's LFP through the distillation
  session's parameters (``unknown_session``, no further training: the reference's Fig. 5), beside
  MS-LFP, which saw those sessions in pretraining.

Every fit goes through ``fit(estimator, X, y, name=..., **fit_params) -> (fitted, seconds)``
(default: ``estimator.fit``), so a benchmark can cache and resume the models.
"""

from __future__ import annotations

import contextlib
import math
import time

import numpy as np
import pandas as pd
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import r2_score

from skdistill.data import stack_sessions
from skdistill.datasets import make_reaching_sessions
from skdistill.estimators import (
    DistilledLFPTransformer,
    LFPTransformer,
    MaskedSpikeTransformer,
    SupervisedEncoderRegressor,
)
from skdistill.evaluation import probe_r2, ridge_floor, zscore_per_session
from skdistill.model_selection import SegmentSplit
from skdistill.preprocessing import SpikeSmoother, preprocess_recording

__all__ = ["run_comparison", "simulate_paired", "decode_r2", "DEMO_PARAMS", "DEMO_EPOCHS",
           "REFERENCE_SCALE", "MODELS", "FLOORS", "LAGS"]

MODELS = ("Spike teacher", "SS-LFP", "MS-LFP", "Distilled LFP")
FLOORS = ("Floor: smoothed-spike ridge", "Floor: same-bin LFP ridge", "Floor: lagged LFP ridge")
NULLS = ("Null: Distilled LFP, shifted velocity", "Null: lagged LFP ridge, shifted velocity")
#: lags of the lagged ridge floor, in 10 ms bins (-100..100 ms), on 50 ms-smoothed features
LAGS = (-10, -5, 0, 5, 10)

#: CPU-friendly model size of the demo.
DEMO_PARAMS = dict(segment_length=50, d_model=32, n_layers=2, n_heads=4, batch_size=32, lr=2e-3)
DEMO_EPOCHS = dict(teacher=100, lfp=20, supervised=8)

#: The reference-scale comparison of ``benchmarks/distillation.py``: 4 x 600 s sessions, a
#: 128 x 2 teacher on the first three (45 epochs beat the smoothed-spike floor on 2 x 600 s,
#: ``encoder_quality.md``), students and LFP models of the teacher's width (the paper's setting:
#: no projection), 1,080 steps each at most (40 epochs over one session) with early stopping.
REFERENCE_SCALE = dict(
    n_sessions=4, duration=600.0, teacher_sessions=3,
    model_params=dict(segment_length=50, d_model=128, n_layers=2, n_heads=4, batch_size=32,
                      lr=1e-3),
    epochs=dict(teacher=33, lfp=40, supervised=8),
)


@contextlib.contextmanager
def _torch_threads(n):
    # Two torch threads on a shared 2-core machine spin against other processes and can run
    # 20x slower than one; the demo defaults to one.
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def simulate_paired(n_sessions=3, duration=90.0, lfp_regime="linear", random_state=0,
                    lfp_model="population"):
    """Simulate sessions and return ``S, L, y, session`` (spikes, preprocessed LFP, velocity).

    ``lfp_model`` is :func:`~skdistill.datasets.make_reaching_sessions`'s LFP model
    (``"population"``, the default, or the earlier ``"mrp"``); the spikes do not depend on it.
    """
    recs = make_reaching_sessions(n_sessions, duration, lfp_regime=lfp_regime,
                                  lfp_model=lfp_model, random_state=random_state)
    recs = [preprocess_recording(r) for r in recs]
    S, y, session = stack_sessions(recs, "spikes")
    L, _, _ = stack_sessions(recs, "lfp")
    return S, L, y, session


def decode_r2(Z, y, session, roles, sessions=None, model="ols", null=False, random_state=0):
    """Per-session R^2 of a linear readout fitted on ``train`` rows, scored on ``val``+``test``.

    ``roles`` is :meth:`SegmentSplit.assign`'s output. Returns ``{session: r2}``; ``model`` as in
    :func:`skdistill.evaluation.probe_r2` (``"ols"``, the reference, or ``"ridge"``).
    """
    scores = probe_r2(Z, y, session, train=roles == "train", test=np.isin(roles, ["val", "test"]),
                      sessions=sessions, model=model, null=null, random_state=random_state)
    return {str(k): float(v) for k, v in scores.items()}


def _plain_fit(estimator, X, y=None, *, name=None, **fit_params):
    start = time.perf_counter()
    fitted = estimator.fit(X, y, **fit_params) if y is not None else estimator.fit(X, **fit_params)
    return fitted, time.perf_counter() - start


def _floors(S, L, y, session, roles, labels, random_state):
    """``{floor or null name: {session: r2}}`` on ``labels``."""
    train, test = roles == "train", np.isin(roles, ["val", "test"])
    kw = dict(train=train, test=test, sessions=labels)
    out = {
        "Floor: smoothed-spike ridge": ridge_floor(S, y, session, smooth=0.05, **kw),
        "Floor: same-bin LFP ridge": ridge_floor(L, y, session, **kw),
        "Floor: lagged LFP ridge": ridge_floor(L, y, session, smooth=0.05, lags=LAGS, **kw),
        "Null: lagged LFP ridge, shifted velocity": ridge_floor(
            L, y, session, smooth=0.05, lags=LAGS, null=True, random_state=random_state, **kw),
    }
    return {k: {str(s): float(v) for s, v in scores.items()} for k, scores in out.items()}


def _history_summary(est):
    """Epochs run, best epoch (lowest valid_loss) and its train/valid cosine when recorded."""
    hist = est.history_
    valid = [h.get("valid_loss", np.nan) for h in hist]
    best = int(np.nanargmin(valid)) if np.isfinite(valid).any() else len(hist) - 1
    out = dict(epochs_run=len(hist), best_epoch=best + 1,
               best_valid_loss=float(valid[best]) if np.isfinite(valid[best]) else None,
               final_train_loss=float(hist[-1]["train_loss"]))
    for key in ("train_cosine", "valid_cosine"):
        if key in hist[best]:
            out[key] = float(hist[best][key])
    return out


def run_comparison(*, n_sessions=3, duration=90.0, lfp_model="population", lfp_regime="linear",
                   seeds=(0,), distill_session=0, teacher_sessions=None, model_params=None,
                   epochs=None, supervised=True, student_params=None, variants=None,
                   early_stopping=True, patience=5, fit=None, data=None, figure=None,
                   device="auto", n_threads=1, verbose=True, on_progress=None):
    """Train teacher, SS-LFP, MS-LFP and the distilled student on simulated sessions; tabulate R^2.

    Parameters
    ----------
    n_sessions : int, default=3
        Simulated sessions (one subject).
    duration : float, default=90.0
        Seconds per session.
    lfp_model : {"population", "mrp"}, default="population"
        The simulator's LFP model (:func:`~skdistill.datasets.make_reaching_sessions`).
    lfp_regime : {"linear", "nonlinear"}, default="linear"
    seeds : sequence of int, default=(0,)
        One simulation and one training seed each.
    distill_session : int, default=0
        Index of the session the student and SS-LFP are trained on; the others are the
        generalization sessions.
    teacher_sessions : int, optional
        The teacher trains on the first ``teacher_sessions`` sessions (default: all).
    model_params : dict, optional
        Encoder size and optimizer settings shared by all models (default :data:`DEMO_PARAMS`).
    epochs : dict, optional
        ``teacher`` (epochs over its sessions), ``lfp`` (epochs over one session: SS-LFP and the
        student; MS-LFP gets the same steps), ``supervised`` (default :data:`DEMO_EPOCHS`).
    supervised : bool, default=True
        Also run the supervised fine-tuning column.
    student_params : dict, optional
        Extra :class:`DistilledLFPTransformer` parameters of the main student.
    variants : dict, optional
        ``{row name: extra student parameters}``: more students, scored like the main one
        (unsupervised, held-out alignment, generalization; not fine-tuned).
    early_stopping, patience :
        For SS-LFP, MS-LFP, the students and the fine-tuning (the teacher trains for its fixed
        budget with held-out validation recorded).
    fit : callable, optional
        ``fit(estimator, X, y=None, *, name, **fit_params) -> (fitted, seconds)``, e.g. a cache.
    data : callable, optional
        ``data(seed) -> (S, L, y, session)`` instead of simulating here (e.g. a cache).
    figure : str or path, optional
        Save the bar plot there.
    device : str, default="auto"
    n_threads : int or None, default=1
        torch threads while training (``None`` leaves the setting alone).
    verbose : bool, default=True
        Print progress.
    on_progress : callable, optional
        ``on_progress(partial_result)`` after each seed.

    Returns
    -------
    result : dict
        ``"table"``: DataFrame (row x {unsupervised, supervised} as mean, sd and n over seeds);
        ``"runs"``: one row per seed x row; ``"generalization"``: one row per seed x other
        session x model; ``"diagnostics"``: per seed x model training summaries (epochs, held-out
        alignment, fit seconds); ``"seconds"``: wall time.
    """
    params = {**DEMO_PARAMS, **(model_params or {})}
    ep = {**DEMO_EPOCHS, **(epochs or {})}
    fit = fit or _plain_fit
    variants = dict(variants or {})
    start = time.perf_counter()

    def say(msg):
        if verbose:
            print(f"[{time.perf_counter() - start:6.0f} s] {msg}", flush=True)

    runs, gen, diag = [], [], []
    result = None
    with _torch_threads(n_threads):
        for seed in seeds:
            say(f"seed {seed}: {n_sessions} x {duration:g} s sessions ({lfp_model} LFP model)")
            S, L, y, session = data(seed) if data is not None else simulate_paired(
                n_sessions, duration, lfp_regime, seed, lfp_model)
            roles = SegmentSplit(segment_length=500).assign(S, session)
            labels = [str(lab) for lab in pd.unique(session)]
            home = labels[distill_session]
            train = roles == "train"
            mine = session == home
            n_teacher = len(labels) if teacher_sessions is None else int(teacher_sessions)
            seen = np.isin(session, labels[:n_teacher])
            common = dict(**params, device=device, random_state=seed)
            stop = dict(early_stopping=early_stopping, patience=patience)
            seconds = {}

            say(f"  teacher (masked spike transformer, sessions {labels[:n_teacher]})")
            te, seconds["Spike teacher"] = fit(
                MaskedSpikeTransformer(max_epochs=ep["teacher"], decoder_width=params["d_model"],
                                       **common),
                S[train & seen], name="teacher", session=session[train & seen])
            say("  MS-LFP (all sessions)")
            ms_epochs = max(1, math.ceil(ep["lfp"] / len(labels)))
            ms, seconds["MS-LFP"] = fit(
                LFPTransformer(max_epochs=ms_epochs, decoder_width=params["d_model"], **common,
                               **stop),
                L[train], name="MS-LFP", session=session[train])
            say(f"  SS-LFP ({home})")
            ss, seconds["SS-LFP"] = fit(
                LFPTransformer(max_epochs=ep["lfp"], decoder_width=params["d_model"], **common,
                               **stop),
                L[train & mine], name="SS-LFP", session=session[train & mine])
            students = {}
            for row, extra in {"Distilled LFP": dict(student_params or {}), **variants}.items():
                say(f"  {row} ({home})")
                st, seconds[row] = fit(
                    DistilledLFPTransformer(FrozenEstimator(te), max_epochs=ep["lfp"], **common,
                                            **{**stop, **extra}),
                    L[train & mine], name=row, teacher_X=S[train & mine],
                    session=session[train & mine])
                # a cached student comes back without its teacher; a fresh one holds it as a
                # parameter. Either way: teacher_ for the diagnostics, no teacher parameter, so
                # the fine-tuning that wraps it sees the same estimator (and cache key) both ways
                st.teacher_ = te
                st.set_params(teacher=None)
                students[row] = st

            width = params["d_model"]
            Zt = np.zeros((len(S), te.embedding_dim_))
            Zt[seen] = te.transform(S[seen], session=session[seen])  # its own sessions only
            feats = {"Spike teacher": Zt, "MS-LFP": ms.transform(L, session=session)}
            for row, enc in {"SS-LFP": ss, **students}.items():
                Z = np.zeros((len(L), enc.embedding_dim_ if hasattr(enc, "embedding_dim_") else width))
                Z[mine] = enc.transform(L[mine], session=session[mine])
                feats[row] = Z
            say("  floors")
            floors = _floors(S, L, y, session, roles, labels, seed)
            encoders = {"Spike teacher": (te, S), "SS-LFP": (ss, L), "MS-LFP": (ms, L),
                        "Distilled LFP": (students["Distilled LFP"], L)}
            yz = zscore_per_session(y, session)
            for row in (*MODELS, *variants):
                unsup = decode_r2(feats[row], y, session, roles, [home])[home]
                sup = np.nan
                if supervised and row in encoders:
                    enc, X = encoders[row]
                    rows_fit = mine & train
                    test = mine & np.isin(roles, ["val", "test"])
                    reg, seconds[f"{row} (fine-tuned)"] = fit(
                        SupervisedEncoderRegressor(FrozenEstimator(enc), max_epochs=ep["supervised"],
                                                   lr=1e-3, random_state=seed, device=device, **stop),
                        X[rows_fit], yz[rows_fit], name=f"{row} fine-tuned",
                        session=session[rows_fit])
                    sup = float(r2_score(yz[test], reg.predict(X[test], session=session[test])))
                runs.append(dict(seed=seed, row=row, session=home, unsupervised=unsup,
                                 supervised=sup))
                say(f"  {row:40s} R2 unsupervised {unsup:6.3f}  supervised {sup:6.3f}")
            null = decode_r2(feats["Distilled LFP"], y, session, roles, [home], null=True,
                             random_state=seed)[home]
            runs.append(dict(seed=seed, row=NULLS[0], session=home, unsupervised=null,
                             supervised=np.nan))
            for row in (*FLOORS, NULLS[1]):
                runs.append(dict(seed=seed, row=row, session=home, unsupervised=floors[row][home],
                                 supervised=np.nan))
                say(f"  {row:40s} R2 {floors[row][home]:6.3f}")

            # the teacher against its own floor on every session it trained on
            teacher_labels = labels[:n_teacher]
            t_r2 = decode_r2(feats["Spike teacher"], y, session, roles, teacher_labels)
            test_rows = mine & np.isin(roles, ["val", "test"])
            fit_rows = mine & train
            for row, enc in {"Spike teacher": te, "SS-LFP": ss, "MS-LFP": ms, **students}.items():
                d = dict(seed=seed, model=row, fit_seconds=float(seconds[row]),
                         **_history_summary(enc))
                if row in students:
                    d["heldout_alignment"] = enc.alignment_score(L[test_rows], S[test_rows],
                                                                 session=session[test_rows])
                    d["train_alignment"] = enc.alignment_score(L[fit_rows], S[fit_rows],
                                                               session=session[fit_rows])
                    Zm = feats[row][mine]
                    zc = Zm - Zm.mean(0)
                    d["variance_share"] = float((zc**2).sum(1).mean() / (Zm**2).sum(1).mean())
                if row == "Spike teacher":
                    d["teacher_r2_by_session"] = t_r2
                    d["spike_floor_by_session"] = {k: floors[FLOORS[0]][k] for k in teacher_labels}
                diag.append(d)
            for row in list(seconds):
                if row.endswith("(fine-tuned)"):
                    diag.append(dict(seed=seed, model=row, fit_seconds=float(seconds[row])))

            # generalization: the students route other sessions through their own session table
            for label in labels:
                if label == home:
                    continue
                rows = session == label
                entries = {"MS-LFP": decode_r2(feats["MS-LFP"], y, session, roles, [label])[label]}
                for row, st in students.items():
                    st.set_params(unknown_session=home)
                    Zd = np.zeros((len(L), st.embedding_dim_))
                    Zd[rows] = st.transform(L[rows], session=session[rows])
                    entries[row] = decode_r2(Zd, y, session, roles, [label])[label]
                for row in FLOORS[1:]:
                    entries[row] = floors[row][label]
                for row, r2 in entries.items():
                    gen.append(dict(seed=seed, session=label, model=row, r2=r2,
                                    teacher_saw=label in teacher_labels))
                say(f"  generalization {label}: MS-LFP {entries['MS-LFP']:6.3f}  "
                    f"distilled {entries['Distilled LFP']:6.3f}")
            result = _assemble(runs, gen, diag, start)
            if on_progress is not None:
                on_progress(result)
    result = _assemble(runs, gen, diag, start)
    if figure is not None:
        from skdistill._demo import plot_comparison

        plot_comparison(result, figure)
        say(f"figure saved to {figure}")
    return result


def _assemble(runs, gen, diag, start):
    runs = pd.DataFrame(runs)
    table = runs.groupby("row", sort=False)[["unsupervised", "supervised"]].agg(
        ["mean", "std", "count"])
    return dict(table=table, runs=runs, generalization=pd.DataFrame(gen),
                diagnostics=pd.DataFrame(diag), seconds=time.perf_counter() - start)
