"""``skdistill demo``, the comparison's tables and figure, and the ridge floors of simulated sessions.

``run_demo`` runs the distillation comparison (teacher, SS-LFP, MS-LFP, distilled student, ridge
floors, null controls) at a CPU-friendly size. ``format_table``, ``format_generalization`` and
``plot_comparison`` present a :func:`skdistill._comparison.run_comparison` result (the benchmark
uses them too). ``session_floors`` gives the linear-decoding floors that the floors benchmark
reports.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from skdistill.evaluation import RIDGE_ALPHAS, ridge_floor  # noqa: F401 - RIDGE_ALPHAS re-exported
from skdistill.preprocessing import SpikeSmoother, preprocess_lfp

SIMULATED = ("All numbers are from the simulator (skdistill.datasets.make_reaching_sessions), "
             "not from real recordings.")

#: the reference's real-data numbers (reference note section 14)
REFERENCE_LINE = ("Reference (real data, Erturk et al. 2025): teacher 0.69, distilled 0.71, "
                  "MS-LFP 0.27, SS-LFP 0.24; unseen sessions 0.54-0.59 (distilled) vs 0.34 (MS-LFP).")


def _ridge_floor(X, y, *, segment_length=500, random_state=42):
    """Velocity R² of a ridge decoder on one session (the "floor" of a linear readout).

    :func:`skdistill.evaluation.ridge_floor` on one session: the reference split (consecutive
    5 s segments shuffled with seed 42, 80/10/10), standardized ridge fitted on the train
    segments with alpha chosen by 5 contiguous folds, R² on val and test pooled, averaged over
    the velocity axes.
    """
    scores = ridge_floor(X, y, segment_length=segment_length, split_seed=random_state)
    return float(scores.iloc[0])


def session_floors(recording, *, spike_sigma=0.05):
    """Ridge floors of one recording: smoothed spikes (Gaussian, ``spike_sigma`` s) and LFP."""
    smoothed = SpikeSmoother(sigma=spike_sigma, bin_size=1.0 / recording.bin_rate).fit_transform(
        recording.spikes)
    return {
        "spikes": _ridge_floor(smoothed, recording.behavior),
        "lfp": _ridge_floor(preprocess_lfp(recording), recording.behavior),
    }


# --------------------------------------------------------------------------- presentation


def _cell(mean, sd, n):
    """``mean ± sd`` with n >= 2 values, the bare mean with one, ``–`` with none."""
    if n == 0 or np.isnan(mean):
        return "–"
    if n >= 2:
        return f"{mean:.3f} ± {sd:.3f}"
    return f"{mean:.3f}"


def _ordered(table):
    """Rows in reading order: the models (and student variants), the floors, the nulls."""
    rows = list(table.index)
    key = {r: (1 if r.startswith("Floor") else 2 if r.startswith("Null") else 0) for r in rows}
    return table.loc[sorted(rows, key=lambda r: (key[r], rows.index(r)))]


#: short axis labels of the figure
_SHORT = {"Floor: smoothed-spike ridge": "floor:\nsmoothed\nspikes",
          "Floor: same-bin LFP ridge": "floor:\nsame-bin\nLFP",
          "Floor: lagged LFP ridge": "floor:\nlagged\nLFP",
          "Null: Distilled LFP, shifted velocity": "null:\nDistilled,\nshifted",
          "Null: lagged LFP ridge, shifted velocity": "null:\nlagged LFP,\nshifted",
          "Distilled LFP (centred target)": "Distilled\n(centred\ntarget)",
          "Spike teacher": "Spike\nteacher"}


def format_table(result):
    """Markdown table of the comparison: mean ± sd over seeds (± only with >= 2 seeds)."""
    t = _ordered(result["table"])
    n = result["runs"]["seed"].nunique()
    lines = [f"| row | unsupervised R² ({n} seed{'s' if n > 1 else ''}) | supervised R² |",
             "|---|---|---|"]
    for row in t.index:
        cells = [_cell(t.loc[row, (col, "mean")], t.loc[row, (col, "std")],
                       int(t.loc[row, (col, "count")])) for col in ("unsupervised", "supervised")]
        lines.append(f"| {row} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def generalization_table(result):
    """DataFrame: per other session, the mean R² (and sd, n over seeds) per model."""
    gen = result["generalization"]
    if not len(gen):
        return pd.DataFrame()
    return gen.groupby(["session", "model"], sort=False)["r2"].agg(["mean", "std", "count"])


def format_generalization(result):
    """Markdown table of the generalization sessions (± only with >= 2 seeds)."""
    g = generalization_table(result)
    if not len(g):
        return ""
    models = list(dict.fromkeys(g.index.get_level_values("model")))
    sessions = list(dict.fromkeys(g.index.get_level_values("session")))
    saw = result["generalization"].groupby("session")["teacher_saw"].first()
    lines = ["| session | teacher trained on it | " + " | ".join(models) + " |",
             "|---|---|" + "---|" * len(models)]
    for s in sessions:
        cells = [_cell(*g.loc[(s, m)].to_numpy()) if (s, m) in g.index else "–" for m in models]
        lines.append(f"| {s} | {'yes' if saw[s] else 'no'} | " + " | ".join(cells) + " |")
    gen = result["generalization"]
    wide = gen.pivot_table(index=["seed", "session"], columns="model", values="r2")
    if {"MS-LFP", "Distilled LFP"} <= set(wide.columns):
        wins = int((wide["Distilled LFP"] > wide["MS-LFP"]).sum())
        lines += ["", f"Distilled LFP > MS-LFP on {wins} of {len(wide)} (seed, session) pairs."]
    return "\n".join(lines)


def _label_bars(ax, bars, values):
    for bar, v in zip(bars, values):
        if np.isfinite(v):
            ax.annotate(f"{v:.2f}", (bar.get_x() + bar.get_width() / 2, max(v, 0)),
                        xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                        fontsize=7)


def plot_comparison(result, path, title=None):
    """Bar plot: rows x settings (sd error bars with >= 2 seeds), and the generalization panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = _ordered(result["table"])
    n = result["runs"]["seed"].nunique()
    g = generalization_table(result)
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.2), gridspec_kw={"width_ratios": [3, 2]})
    ax = axes[0]
    x = np.arange(len(t.index))
    kinds = ["floor" if r.startswith("Floor") else "null" if r.startswith("Null") else "model"
             for r in t.index]
    styles = {("model", "unsupervised"): dict(color="#4C72B0"),
              ("model", "supervised"): dict(color="#DD8452"),
              ("floor", "unsupervised"): dict(color="0.55"),
              ("null", "unsupervised"): dict(color="0.85", hatch="//", edgecolor="0.5")}
    for k, col in enumerate(("unsupervised", "supervised")):
        mean = t[(col, "mean")].to_numpy(dtype=float)
        sd = t[(col, "std")].fillna(0).to_numpy(dtype=float)
        for kind in ("model", "floor", "null"):
            if (kind, col) not in styles:
                continue
            idx = np.array([i for i, kd in enumerate(kinds) if kd == kind and np.isfinite(mean[i])])
            if not len(idx):
                continue
            offset = (k - 0.5) * 0.38 if kind == "model" else 0.0
            width = 0.38 if kind == "model" else 0.6
            label = {"model": col, "floor": "ridge floor", "null": "null control"}[kind]
            bars = ax.bar(x[idx] + offset, mean[idx], width, yerr=sd[idx] if n >= 2 else None,
                          label=label, capsize=3, **styles[(kind, col)])
            _label_bars(ax, bars, mean[idx])
    ax.set_xticks(x, [_SHORT.get(r, r) for r in t.index], fontsize=8)
    ax.set_ylabel("velocity R² (val+test, distillation session)")
    ax.axhline(0, color="k", lw=0.5)
    ax.legend(frameon=False, fontsize=8, loc="upper right", ncol=2)
    seeds = f"{n} seed{'s' if n > 1 else ''}" + (", mean ± sd" if n >= 2 else "")
    ax.set_title(title or f"Decoding velocity from each representation ({seeds})", fontsize=10)
    if len(g):
        sessions = list(dict.fromkeys(g.index.get_level_values("session")))
        models = [m for m in ("MS-LFP", "Distilled LFP", "Floor: lagged LFP ridge")
                  if m in set(g.index.get_level_values("model"))]
        colors = {"MS-LFP": "#55A868", "Distilled LFP": "#4C72B0", "Floor: lagged LFP ridge": "0.55"}
        xs = np.arange(len(sessions))
        width = 0.8 / len(models)
        for k, m in enumerate(models):
            sub = g.xs(m, level="model").reindex(sessions)
            bars = axes[1].bar(xs + (k - (len(models) - 1) / 2) * width, sub["mean"], width,
                               yerr=sub["std"].fillna(0) if n >= 2 else None, label=m,
                               capsize=3, color=colors[m])
            _label_bars(axes[1], bars, sub["mean"].to_numpy(dtype=float))
        axes[1].set_xticks(xs, sessions, fontsize=8)
        axes[1].axhline(0, color="k", lw=0.5)
        axes[1].legend(frameon=False, fontsize=8)
        axes[1].set_ylabel("velocity R² (val+test)")
        axes[1].set_title("Other sessions: the student through its own session's parameters\n"
                          "(never trained on them) vs MS-LFP (trained on them)", fontsize=10)
    fig.text(0.5, 0.005, SIMULATED, ha="center", fontsize=8, style="italic")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- the demo

#: the demo's sizes: full (default) and ``quick``
DEMO_SIZES = {
    "full": dict(n_sessions=3, duration=120.0, epochs=dict(teacher=45, lfp=24, supervised=6)),
    "quick": dict(n_sessions=2, duration=40.0, epochs=dict(teacher=4, lfp=3, supervised=1)),
}


def run_demo(output_dir="demo_output", random_state=0, *, seeds=None, quick=False,
             lfp_model="population", n_threads=1, verbose=True):
    """``skdistill demo``: the distillation comparison on simulated sessions, at a CPU size.

    Trains the spike teacher, SS-LFP, MS-LFP and the distilled student on simulated reaching
    sessions (``run_comparison`` in ``skdistill._comparison``), prints the velocity R² table
    (unsupervised: frozen embeddings + per-session linear decoder; supervised: fine-tuned) with
    the ridge floors (smoothed spikes, same-bin and lagged LFP) and null controls, and the
    generalization table, and saves the figure and the tables under ``output_dir``.

    Parameters
    ----------
    output_dir : str or path, default="demo_output"
    random_state : int, default=0
        The seed (simulation and training) when ``seeds`` is not given.
    seeds : sequence of int, optional
        Several seeds: the tables show mean ± sd.
    quick : bool, default=False
        A seconds-long smoke run (tiny sessions, a few epochs; the numbers mean nothing).
    lfp_model : {"population", "mrp"}, default="population"
    n_threads : int, default=1
        torch threads while training.

    Returns
    -------
    dict
        :func:`~skdistill._comparison.run_comparison`'s result.
    """
    from pathlib import Path

    from skdistill._comparison import DEMO_PARAMS, run_comparison

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    seeds = [random_state] if seeds is None else list(seeds)
    size = DEMO_SIZES["quick" if quick else "full"]
    start = time.perf_counter()
    say = print if verbose else (lambda *a, **k: None)
    say("skdistill demo: spike -> LFP cross-modal distillation on simulated reaching sessions")
    say(f"{SIMULATED}\n{size['n_sessions']} sessions x {size['duration']:g} s ({lfp_model} LFP model), "
        f"seeds {seeds}; models d_model {DEMO_PARAMS['d_model']} x {DEMO_PARAMS['n_layers']} layers"
        f"{' (quick: the numbers mean nothing)' if quick else ''}.")
    with warnings.catch_warnings():
        # skorch's EarlyStopping stops by raising KeyboardInterrupt, which the engine reports
        # as "training was interrupted"; in the demo that is an early stop, not an interruption
        warnings.filterwarnings("ignore", message="training was interrupted")
        result = run_comparison(n_sessions=size["n_sessions"], duration=size["duration"],
                                lfp_model=lfp_model, seeds=seeds, epochs=size["epochs"],
                                n_threads=n_threads, verbose=verbose)
    plot_comparison(result, out / "comparison.png")
    table = format_table(result)
    gen = format_generalization(result)
    text = ["Velocity R², distillation session, val+test segments (per-session 80/10/10 split "
            "of 5 s segments). Unsupervised: frozen embedding + per-session OLS; supervised: "
            "fine-tuned with a linear head. Floors: ridge on raw features. Null: the same "
            "decoder on velocity circularly shifted in time.", "", table, "",
            "Generalization: sessions the student never saw, routed through the distilled "
            "session's parameters, against MS-LFP, which trained on them:", "", gen, "",
            SIMULATED, REFERENCE_LINE]
    say("")
    say("\n".join(text))
    (out / "comparison.md").write_text("\n".join(text) + "\n")
    result["runs"].to_csv(out / "runs.csv", index=False)
    result["generalization"].to_csv(out / "generalization.csv", index=False)
    say(f"\nFigure and tables in {out}/ (comparison.png, comparison.md, runs.csv, "
        f"generalization.csv); {time.perf_counter() - start:.0f} s.")
    return result
