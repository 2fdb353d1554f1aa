"""The distillation comparison on simulated sessions: teacher, SS-LFP, MS-LFP, distilled student.

:func:`run_comparison` is the core of ``skdistill demo`` and of ``benchmarks/distillation.py``.
Protocol (reference section 12): sessions are split into 5 s segments (80/10/10, seed 42);
every model is trained on the train segments only; embeddings of every row are decoded by a
per-session ordinary least squares fit on the train rows to the session's z-scored 2-D velocity,
scored by R^2 (uniform average over x and y) on the val and test rows pooled
(:func:`skdistill.evaluation.probe_r2`). The supervised column fine-tunes each encoder end to end
with a linear head (:class:`~skdistill.estimators.SupervisedEncoderRegressor`). Floors: linear
readouts of smoothed spikes and of the preprocessed LFP (OLS, and ridge with its penalty chosen by
contiguous blocked folds, ``probe_r2(model="ridge")``).
"""

from __future__ import annotations

import contextlib
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
from skdistill.evaluation import probe_r2, zscore_per_session
from skdistill.model_selection import SegmentSplit
from skdistill.preprocessing import SpikeSmoother, preprocess_recording

__all__ = ["run_comparison", "simulate_paired", "decode_r2", "DEMO_PARAMS", "MODELS"]

MODELS = ("Spike teacher", "SS-LFP", "MS-LFP", "Distilled LFP", "Floor: smoothed spikes", "Floor: LFP")

#: CPU-friendly model size of the demo (the paper's size is ``PAPER_PARAMS``, for a GPU).
DEMO_PARAMS = dict(segment_length=50, d_model=32, n_layers=2, n_heads=4, batch_size=32, lr=2e-3)
DEMO_EPOCHS = dict(teacher=100, lfp=20, student=20, supervised=8)


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


def simulate_paired(n_sessions=3, duration=90.0, lfp_regime="linear", random_state=0):
    """Simulate sessions and return ``S, L, y, session`` (spikes, preprocessed LFP, velocity)."""
    recs = make_reaching_sessions(n_sessions, duration, lfp_regime=lfp_regime,
                                  random_state=random_state)
    recs = [preprocess_recording(r) for r in recs]
    S, y, session = stack_sessions(recs, "spikes")
    L, _, _ = stack_sessions(recs, "lfp")
    return S, L, y, session


def decode_r2(Z, y, session, roles, sessions=None, model="ols"):
    """Per-session R^2 of a linear readout fitted on ``train`` rows, scored on ``val``+``test``.

    ``roles`` is :meth:`SegmentSplit.assign`'s output. Returns ``{session: r2}``; ``model`` as in
    :func:`skdistill.evaluation.probe_r2` (``"ols"``, the reference, or ``"ridge"``).
    """
    scores = probe_r2(Z, y, session, train=roles == "train", test=np.isin(roles, ["val", "test"]),
                      sessions=sessions, model=model)
    return {str(k): float(v) for k, v in scores.items()}


def _supervised_r2(encoder, X, y, session, roles, label, epochs, random_state, teacher_X=None):
    rows = session == label
    train = rows & (roles == "train")
    test = rows & np.isin(roles, ["val", "test"])
    yz = zscore_per_session(y, session)
    reg = SupervisedEncoderRegressor(FrozenEstimator(encoder), max_epochs=epochs, lr=1e-3,
                                     random_state=random_state, device=encoder.device_)
    # train segments only; a random-crop window may straddle the junction of two of them
    reg.fit(X[train], yz[train], session=session[train])
    return float(r2_score(yz[test], reg.predict(X[test], session=session[test])))


def run_comparison(*, n_sessions=3, duration=90.0, lfp_regime="linear", seeds=(0,),
                   distill_session=0, model_params=None, epochs=None, supervised=True,
                   student_params=None, teacher=None, data=None, figure=None, device="auto",
                   n_threads=1, verbose=True):
    """Train teacher, SS-LFP, MS-LFP and the distilled student on simulated sessions; tabulate R^2.

    Parameters
    ----------
    n_sessions : int, default=3
        Simulated sessions (one subject).
    duration : float, default=90.0
        Seconds per session.
    lfp_regime : {"linear", "nonlinear"}, default="linear"
        Whether the LFP carries velocity linearly (slow potential) or only in band power.
    seeds : sequence of int, default=(0,)
        One simulation and one training seed each.
    distill_session : int, default=0
        Index of the session the student and SS-LFP are trained on; the others are the
        generalization sessions.
    model_params : dict, optional
        Encoder size shared by all models (default :data:`DEMO_PARAMS`).
    epochs : dict, optional
        ``teacher``, ``lfp``, ``student``, ``supervised`` epochs (default ``DEMO_EPOCHS``).
    supervised : bool, default=True
        Also run the supervised fine-tuning column.
    student_params : dict, optional
        Extra :class:`DistilledLFPTransformer` parameters (e.g. ``target_mode``, ``align_weight``).
    teacher : callable, optional
        ``teacher(seed, S, session) -> fitted MaskedSpikeTransformer`` (e.g. a cache).
    data : callable, optional
        ``data(seed) -> (S, L, y, session)`` instead of simulating here (e.g. a cache).
    figure : str or path, optional
        Save a bar plot there.
    device : str, default="auto"
    n_threads : int or None, default=1
        torch threads while training (``None`` leaves the setting alone).
    verbose : bool, default=True
        Print progress.

    Returns
    -------
    result : dict
        ``"table"``: DataFrame (model x {unsupervised, supervised} as mean and sd over seeds);
        ``"runs"``: one row per seed x model; ``"generalization"``: one row per seed x held-out
        session x model; ``"seconds"``: wall time.
    """
    params = {**DEMO_PARAMS, **(model_params or {})}
    ep = {**DEMO_EPOCHS, **(epochs or {})}
    start = time.perf_counter()

    def say(msg):
        if verbose:
            print(f"[{time.perf_counter() - start:6.0f} s] {msg}", flush=True)

    runs, gen = [], []
    with _torch_threads(n_threads):
        for seed in seeds:
            say(f"seed {seed}: simulating {n_sessions} x {duration:g} s sessions ({lfp_regime} LFP)")
            S, L, y, session = data(seed) if data is not None else simulate_paired(
                n_sessions, duration, lfp_regime, seed)
            roles = SegmentSplit(segment_length=500).assign(S, session)
            labels = list(pd.unique(session))
            home = labels[distill_session]
            train = roles == "train"
            common = dict(**params, device=device, random_state=seed)

            say("  teacher (masked spike transformer, all sessions)")
            te = teacher(seed, S, session) if teacher is not None else MaskedSpikeTransformer(
                max_epochs=ep["teacher"], decoder_width=params["d_model"], **common
            ).fit(S[train], session=session[train])
            say("  MS-LFP (all sessions)")
            ms = LFPTransformer(max_epochs=ep["lfp"], decoder_width=params["d_model"], **common).fit(
                L[train], session=session[train])
            mine = session == home
            say(f"  SS-LFP ({home})")
            ss = LFPTransformer(max_epochs=ep["lfp"], decoder_width=params["d_model"], **common).fit(
                L[train & mine], session=session[train & mine])
            say(f"  distilled student ({home})")
            st = DistilledLFPTransformer(FrozenEstimator(te), max_epochs=ep["student"], **common,
                                         **(student_params or {})).fit(
                L[train & mine], teacher_X=S[train & mine], session=session[train & mine])

            feats = {
                "Spike teacher": te.transform(S, session=session),
                "MS-LFP": ms.transform(L, session=session),
                "SS-LFP": None,
                "Distilled LFP": None,
                "Floor: smoothed spikes": SpikeSmoother(sigma=0.05).fit_transform(S, session=session),
                "Floor: LFP": L,
            }
            mine_rows = np.flatnonzero(mine)
            for name, enc in (("SS-LFP", ss), ("Distilled LFP", st)):
                Z = np.zeros((len(L), params["d_model"]))
                Z[mine_rows] = enc.transform(L[mine], session=session[mine])
                feats[name] = Z
            encoders = {"Spike teacher": (te, S), "SS-LFP": (ss, L), "MS-LFP": (ms, L),
                        "Distilled LFP": (st, L)}
            for name in MODELS:
                unsup = decode_r2(feats[name], y, session, roles, [home])[home]
                if name.startswith("Floor"):
                    sup = decode_r2(feats[name], y, session, roles, [home], "ridge")[home]
                elif supervised:
                    enc, X = encoders[name]
                    sup = _supervised_r2(enc, X, y, session, roles, home, ep["supervised"], seed)
                else:
                    sup = np.nan
                runs.append(dict(seed=seed, model=name, session=home, unsupervised=unsup,
                                 supervised=sup))
                say(f"  {name:24s} R2 unsupervised {unsup:6.3f}  supervised {sup:6.3f}")

            # generalization: the student routes other sessions through its own session table
            st.set_params(unknown_session=home)
            others = [lab for lab in labels if lab != home]
            for label in others:
                rows = session == label
                Zd = np.zeros((len(L), params["d_model"]))
                Zd[rows] = st.transform(L[rows], session=session[rows])
                r_d = decode_r2(Zd, y, session, roles, [label])[label]
                r_m = decode_r2(feats["MS-LFP"], y, session, roles, [label])[label]
                r_l = decode_r2(L, y, session, roles, [label])[label]
                gen += [dict(seed=seed, session=label, model="MS-LFP", r2=r_m),
                        dict(seed=seed, session=label, model="Distilled LFP", r2=r_d),
                        dict(seed=seed, session=label, model="OLS: LFP", r2=r_l)]
                say(f"  generalization {label}: MS-LFP {r_m:6.3f}  distilled {r_d:6.3f}")

    runs = pd.DataFrame(runs)
    gen = pd.DataFrame(gen)
    table = runs.groupby("model", sort=False)[["unsupervised", "supervised"]].agg(["mean", "std"])
    result = dict(table=table, runs=runs, generalization=gen, seconds=time.perf_counter() - start)
    if figure is not None:
        plot_comparison(result, figure)
        say(f"figure saved to {figure}")
    return result


def format_table(result):
    """Markdown table: mean +- sd over seeds per model and setting."""
    t = result["table"]
    n = result["runs"]["seed"].nunique()
    lines = [f"| model | unsupervised R2 (n={n}) | supervised R2 |", "|---|---|---|"]
    for model in t.index:
        cells = []
        for col in ("unsupervised", "supervised"):
            m, s = t.loc[model, (col, "mean")], t.loc[model, (col, "std")]
            cells.append("n/a" if np.isnan(m) else f"{m:.3f} ± {0.0 if np.isnan(s) else s:.3f}")
        lines.append(f"| {model} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def plot_comparison(result, path, title=None):
    """Bar plot in the style of the paper's figures: models x settings, sd error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = result["table"]
    gen = result["generalization"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 2]})
    x = np.arange(len(t.index))
    for k, (col, color) in enumerate((("unsupervised", "#4C72B0"), ("supervised", "#DD8452"))):
        axes[0].bar(x + (k - 0.5) * 0.38, t[(col, "mean")], 0.38, yerr=t[(col, "std")].fillna(0),
                    label=col, color=color, capsize=3)
    axes[0].set_xticks(x, [m.replace(": ", ":\n") for m in t.index], fontsize=8)
    axes[0].set_ylabel("velocity R² (val+test)")
    axes[0].axhline(0, color="k", lw=0.5)
    axes[0].legend(frameon=False)
    axes[0].set_title(title or "distillation session")
    if len(gen):
        g = gen.groupby(["session", "model"])["r2"].agg(["mean", "std"]).reset_index()
        sessions = list(pd.unique(g["session"]))
        models = [m for m in ("MS-LFP", "Distilled LFP", "OLS: LFP") if m in set(g["model"])]
        xs = np.arange(len(sessions))
        for k, m in enumerate(models):
            sub = g[g["model"] == m].set_index("session").loc[sessions]
            axes[1].bar(xs + (k - (len(models) - 1) / 2) * 0.27, sub["mean"], 0.27,
                        yerr=sub["std"].fillna(0), label=m, capsize=3)
        axes[1].set_xticks(xs, sessions, fontsize=8)
        axes[1].axhline(0, color="k", lw=0.5)
        axes[1].legend(frameon=False, fontsize=8)
        axes[1].set_title("generalization (no further distillation)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
