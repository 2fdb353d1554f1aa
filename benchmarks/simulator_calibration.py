"""Calibration of the reaching simulator against real-data facts, for both LFP models.

Run as ``python -m benchmarks.simulator_calibration [--quick]``. For each LFP model
(``lfp_model="population"``, the default, and ``"mrp"``, the earlier one) and each of 3 seeds,
``make_reaching_sessions(2, 600.0, lfp_model=..., random_state=seed)`` simulates a random-target
session (96 LFP channels) and a centre-out session (95), 10 minutes each (the reference's sessions
are 5-11 min). Per session, on the reference split (consecutive 5 s segments shuffled with seed
42, 80/10/10; fit on train, scored on val+test pooled):

**Calibration targets** (model-free statistics with a real-data counterpart; the simulator's
amplitudes were set against these and nothing else):

* smoothed-spike ridge floor: velocity R² (mean over vx, vy) of a ridge on spikes smoothed with a
  50 ms Gaussian, one bin at a time -- real data 0.6-0.7;
* same-bin linear LFP ridge floor: the same from the LFP after the reference chain
  (``skdistill.preprocessing.preprocess_lfp``: notch, 0.05-50 Hz, CAR, 100 Hz, z-score) --
  real data 0.25-0.35;
* the LFP power spectrum (raw 1 kHz LFP after common-average referencing, Welch, mean over
  channels): the exponent alpha of a 1/f^alpha fit over 2-40 Hz (beta band 13-30 Hz left out)
  -- real data alpha in [1, 2] -- and the beta peak at rest: PSD at 16-28 Hz over the power-law
  line through its flanks (6-12 and 32-40 Hz), in 0.25 s windows at rest (mean speed
  < 0.03 m/s) and during movement (> 0.1 m/s).

**Reported, never tuned on**: lagged ridges (features smoothed with the 50 ms Gaussian, lags
-100, -50, 0, 50, 100 ms) from the LFP and from the spikes to the velocity, to each true
non-behavioural latent (``annotations["latents"]``) and to the top 8 principal components of the
(z-scored) smoothed spikes (PCA fitted on the train rows); one ridge per target.

Every ridge is plain ``sklearn.linear_model.Ridge`` on standardised features (scaler fitted on
the train rows) with alpha chosen from ``logspace(-2, 5, 15)`` by 5 contiguous
(``KFold(5, shuffle=False)``) folds of the train rows, scored by R² as ``RidgeCV(cv=KFold(5))``
does (the same choice; the fold fits are computed from per-fold Gram matrices so that the 480
lagged features stay cheap). No transformer, teacher, student or baseline model score enters.

Writes ``benchmarks/results/simulator_calibration.{json,md,png}`` (``--quick``: one seed, 2 x 120 s,
``simulator_calibration_quick.*``).

``--sweep`` instead records how ``synaptic_amplitude`` (the population model's one calibrated
amplitude) was set: the same-bin LFP ridge floor over a grid of amplitudes, 3 seeds x 2 x 600 s.
The LFP is linear in the amplitude and so is the reference chain before its z-score, so each
session is simulated twice (amplitude 0 and 1) and every grid point is their linear combination
(``simulator_calibration_sweep.{json,md}``).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from scipy import signal as sps
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold
from sklearn.preprocessing import StandardScaler

from skdistill.datasets import make_reaching_sessions
from skdistill.model_selection import SegmentSplit
from skdistill.preprocessing import SpikeSmoother, preprocess_lfp

RESULTS = Path(__file__).resolve().parent / "results"
LFP_MODELS = ("population", "mrp")
ALPHAS = np.logspace(-2, 5, 15)
LAGS = (-10, -5, 0, 5, 10)  # bins of 10 ms
N_PCS = 8
TARGETS = {  # real-data facts the calibration aims at
    "spike_floor": (0.6, 0.7),
    "lfp_floor": (0.25, 0.35),
    "alpha": (1.0, 2.0),
}
BETA_BAND, FLANKS = (16.0, 28.0), ((6.0, 12.0), (32.0, 40.0))


# --------------------------------------------------------------------------- ridge


def blocked_ridge(X, Y, train, evaluate, *, per_target=False, alphas=ALPHAS, n_folds=5):
    """R² per target column of a ridge fit on ``train`` rows and scored on ``evaluate`` rows.

    Features are standardised with a scaler fitted on the train rows. Alpha is the one with the
    best mean R² over ``KFold(n_folds, shuffle=False)`` folds of the train rows -- jointly for all
    columns (``RidgeCV(alphas, cv=KFold(n_folds))``, whose score averages R² over the columns)
    or, with ``per_target``, for each column on its own. Returns ``(r2, alpha)`` arrays.
    """
    Y = np.asarray(Y, dtype=float).reshape(len(Y), -1)
    scaler = StandardScaler().fit(X[train])
    Xt, Yt = scaler.transform(X[train]), Y[train]
    folds = list(KFold(n_folds, shuffle=False).split(Xt))
    gram, xsum = Xt.T @ Xt, Xt.sum(0)
    cross, ysum = Xt.T @ Yt, Yt.sum(0)
    scores = np.zeros((len(alphas), Y.shape[1]))
    for _, va in folds:
        Xv, Yv = Xt[va], Yt[va]
        n = len(Xt) - len(va)
        sx, sy = xsum - Xv.sum(0), ysum - Yv.sum(0)
        G = gram - Xv.T @ Xv - np.outer(sx, sx) / n  # centred Gram of the fold's train rows
        C = cross - Xv.T @ Yv - np.outer(sx, sy) / n
        lam, V = np.linalg.eigh(G)
        VC = V.T @ C
        mx, my = sx / n, sy / n
        sst = ((Yv - Yv.mean(0)) ** 2).sum(0)
        for k, alpha in enumerate(alphas):
            beta = V @ (VC / (np.maximum(lam, 0.0) + alpha)[:, None])
            pred = (Xv - mx) @ beta + my
            scores[k] += 1.0 - ((Yv - pred) ** 2).sum(0) / np.where(sst > 0, sst, 1.0)
    if per_target:
        best = np.asarray(alphas)[np.argmax(scores, axis=0)]
        model = Ridge(alpha=best).fit(Xt, Yt)
    else:
        best = np.full(Y.shape[1], alphas[int(np.argmax(scores.mean(axis=1)))])
        model = Ridge(alpha=float(best[0])).fit(Xt, Yt)
    pred = model.predict(scaler.transform(X[evaluate])).reshape(len(evaluate), -1)
    return r2_score(Y[evaluate], pred, multioutput="raw_values"), best


def _lagged(F, bin_size):
    """50 ms-smoothed features at lags -100..100 ms (edge values held)."""
    F = SpikeSmoother(sigma=0.05, bin_size=bin_size).fit_transform(np.asarray(F, dtype=float))
    n = len(F)
    cols = []
    for lag in LAGS:
        idx = np.clip(np.arange(n) + lag, 0, n - 1)
        cols.append(F[idx])
    return np.hstack(cols)


# --------------------------------------------------------------------------- spectrum


def _psd_exponent(f, p, lo=2.0, hi=40.0, skip=(13.0, 30.0)):
    band = (f >= lo) & (f <= hi) & ~((f >= skip[0]) & (f <= skip[1]))
    slope = np.polyfit(np.log(f[band]), np.log(p[band]), 1)[0]
    return float(-slope)


def _beta_peak(f, p):
    """PSD in the beta band over the power-law line through its flanks (1 = no peak)."""
    flank = np.zeros_like(f, dtype=bool)
    for lo, hi in FLANKS:
        flank |= (f >= lo) & (f <= hi)
    coef = np.polyfit(np.log(f[flank]), np.log(p[flank]), 1)
    band = (f >= BETA_BAND[0]) & (f <= BETA_BAND[1])
    return float(np.mean(p[band] / np.exp(np.polyval(coef, np.log(f[band])))))


def spectrum_stats(rec, window=0.25):
    """1/f exponent over 2-40 Hz and the beta peak at rest / in movement."""
    fs = float(rec.lfp_rate)
    x = rec.lfp.astype(float)
    x -= x.mean(axis=1, keepdims=True)  # common average reference
    f, p = sps.welch(x, fs=fs, nperseg=int(fs), axis=0)
    p = p.mean(axis=1)
    # short windows classified by the hand speed
    n_win = int(round(window * fs))
    per_bin = int(round(fs / rec.bin_rate))
    n = len(x) // n_win
    speed = np.linalg.norm(rec.behavior, axis=1)
    bins_per_win = n_win // per_bin
    wspeed = speed[:n * bins_per_win].reshape(n, bins_per_win).mean(axis=1)
    seg = x[:n * n_win].reshape(n, n_win, x.shape[1])
    seg = seg - seg.mean(axis=1, keepdims=True)
    taper = np.hanning(n_win)[None, :, None]
    spec = (np.abs(np.fft.rfft(seg * taper, axis=1)) ** 2).mean(axis=2)
    fw = np.fft.rfftfreq(n_win, 1.0 / fs)
    out = dict(alpha=_psd_exponent(f, p), f=f, psd=p)
    for name, sel in (("rest", wspeed < 0.03), ("move", wspeed > 0.1)):
        ps = spec[sel].mean(axis=0) if sel.any() else np.full(len(fw), np.nan)
        out[f"beta_peak_{name}"] = _beta_peak(fw[1:], ps[1:]) if sel.any() else float("nan")
        out[f"n_windows_{name}"] = int(sel.sum())
        out[f"psd_{name}"] = ps
    out["f_window"] = fw
    out["beta_rest_over_move"] = float(
        np.mean(out["psd_rest"][(fw >= 16) & (fw <= 28)])
        / np.mean(out["psd_move"][(fw >= 16) & (fw <= 28)]))
    return out


# --------------------------------------------------------------------------- one session


def session_stats(rec):
    """All calibration statistics of one recording (a dict of floats and short lists)."""
    bin_size = 1.0 / rec.bin_rate
    roles = SegmentSplit(segment_length=500, random_state=42).assign(
        rec.spikes, np.zeros(rec.n_bins))
    train = np.flatnonzero(roles == "train")
    evaluate = np.flatnonzero(np.isin(roles, ["val", "test"]))
    y = rec.behavior
    y = (y - y.mean(axis=0)) / y.std(axis=0)  # the reference z-scores over the whole session
    latents = rec.annotations["latents"]
    smoothed = SpikeSmoother(sigma=0.05, bin_size=bin_size).fit_transform(rec.spikes)
    lfp = preprocess_lfp(rec)
    spk_z = StandardScaler().fit(smoothed[train]).transform(smoothed)
    pcs = PCA(N_PCS, random_state=0).fit(spk_z[train]).transform(spk_z)

    out = {}
    out["spike_floor"] = float(blocked_ridge(smoothed, y, train, evaluate)[0].mean())
    out["lfp_floor"] = float(blocked_ridge(lfp, y, train, evaluate)[0].mean())
    for name, F in (("lfp", _lagged(lfp, bin_size)), ("spikes", _lagged(rec.spikes, bin_size))):
        vel = blocked_ridge(F, y, train, evaluate)[0]
        lat = blocked_ridge(F, latents, train, evaluate, per_target=True)[0]
        pc = blocked_ridge(F, pcs, train, evaluate, per_target=True)[0]
        out[f"lagged_{name}_velocity"] = float(vel.mean())
        out[f"lagged_{name}_latents"] = [float(v) for v in lat]
        out[f"lagged_{name}_latents_mean"] = float(lat.mean())
        out[f"lagged_{name}_pcs"] = [float(v) for v in pc]
        out[f"lagged_{name}_pcs_mean"] = float(pc.mean())
    spec = spectrum_stats(rec)
    for k in ("alpha", "beta_peak_rest", "beta_peak_move", "beta_rest_over_move",
              "n_windows_rest", "n_windows_move"):
        out[k] = spec[k]
    return out, spec


# --------------------------------------------------------------------------- driver


SCALARS = ("spike_floor", "lfp_floor", "alpha", "beta_peak_rest", "beta_peak_move",
           "beta_rest_over_move", "lagged_lfp_velocity", "lagged_lfp_latents_mean",
           "lagged_lfp_pcs_mean", "lagged_spikes_velocity", "lagged_spikes_latents_mean",
           "lagged_spikes_pcs_mean")
LABELS = {
    "spike_floor": "smoothed-spike ridge floor (velocity) [target 0.6-0.7]",
    "lfp_floor": "same-bin LFP ridge floor (velocity) [target 0.25-0.35]",
    "alpha": "1/f exponent alpha, 2-40 Hz [target 1-2]",
    "beta_peak_rest": "beta peak at rest (PSD / power-law flanks) [target > 1]",
    "beta_peak_move": "beta peak in movement",
    "beta_rest_over_move": "beta power rest / movement",
    "lagged_lfp_velocity": "lagged LFP ridge -> velocity (reported)",
    "lagged_lfp_latents_mean": "lagged LFP ridge -> true latents, mean (reported)",
    "lagged_lfp_pcs_mean": "lagged LFP ridge -> top 8 spike PCs, mean (reported)",
    "lagged_spikes_velocity": "lagged spike ridge -> velocity (reported)",
    "lagged_spikes_latents_mean": "lagged spike ridge -> true latents, mean (reported)",
    "lagged_spikes_pcs_mean": "lagged spike ridge -> top 8 spike PCs, mean (reported)",
}


def _summary(values):
    values = np.asarray(values, dtype=float)
    return {"mean": float(values.mean()), "sd": float(values.std(ddof=1)) if len(values) > 1
            else 0.0, "min": float(values.min()), "max": float(values.max()), "n": len(values)}


def run(seeds, duration, models, n_sessions=2):
    rows, sim_times, spectra = [], {}, {}
    start = time.perf_counter()
    for model in models:
        for seed in seeds:
            t0 = time.perf_counter()
            recs = make_reaching_sessions(n_sessions, duration, lfp_model=model,
                                          random_state=seed)
            sim_times.setdefault(model, []).append(time.perf_counter() - t0)
            for rec in recs:
                stats, spec = session_stats(rec)
                rows.append(dict(model=model, seed=seed, session=rec.session,
                                 task=rec.annotations["task"],
                                 n_channels=int(rec.lfp.shape[1]), **stats))
                if seed == seeds[0]:
                    spectra[(model, rec.session)] = spec
                print(f"{model:<10} seed {seed} {rec.session} {rows[-1]['task']:<13} "
                      + "  ".join(f"{k} {rows[-1][k]:.3f}" for k in SCALARS[:7]), flush=True)
    return rows, sim_times, spectra, time.perf_counter() - start


def _over_seeds(rows, model, key, seeds):
    """Per-seed mean over sessions, then mean +/- sd over seeds."""
    return _summary([np.mean([r[key] for r in rows if r["model"] == model and r["seed"] == s])
                     for s in seeds])


def write(rows, sim_times, spectra, elapsed, args, suffix=""):
    seeds, models = args.seeds, args.models
    summary = {m: {k: _over_seeds(rows, m, k, seeds) for k in SCALARS} for m in models}
    n_lat = len(rows[0]["lagged_lfp_latents"])
    per_latent = {m: {f"{src}": [_summary([r[f"lagged_{src}_latents"][j] for r in rows
                                           if r["model"] == m]) for j in range(n_lat)]
                      for src in ("lfp", "spikes")} for m in models}
    result = dict(
        description=__doc__.strip(), seeds=list(seeds), duration_s=args.duration,
        n_sessions=2, models=list(models), targets=TARGETS, rows=rows, summary=summary,
        per_latent=per_latent,
        simulation_time_s={m: _summary(v) for m, v in sim_times.items()}, elapsed_s=elapsed,
        command="python -m benchmarks.simulator_calibration" + (" --quick" if args.quick else ""),
        machine=f"{platform.processor() or platform.machine()}, python {platform.python_version()}",
    )
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"simulator_calibration{suffix}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1))

    def cell(s):
        return f"{s['mean']:.3f} ± {s['sd']:.3f}" if s["n"] > 1 else f"{s['mean']:.3f}"

    lines = [
        "# Simulator calibration",
        "",
        f"`{result['command']}`: {len(seeds)} seed(s) x 2 sessions x {args.duration:g} s "
        "(random-target / 96 ch, centre-out / 95 ch) per LFP model; per-seed mean over the two "
        "sessions, then mean ± sd over seeds. Ridge: blocked 5-fold CV alpha on the train rows "
        "of the reference split (5 s segments, seed 42, 80/10/10), scored on val+test. Targets "
        "are real-data facts; the rows marked *reported* were never used to set a parameter.",
        "",
        "| statistic | " + " | ".join(f"`{m}`" for m in models) + " |",
        "|---|" + "---|" * len(models),
    ]
    for k in SCALARS:
        lines.append(f"| {LABELS[k]} | " + " | ".join(cell(summary[m][k]) for m in models) + " |")
    lines += ["", "Lagged ridge to each true non-behavioural latent (mean ± sd over all "
              "sessions; latent time constants 0.1-1 s, log-spaced):", "",
              "| model | source | " + " | ".join(f"u{j + 1}" for j in range(n_lat)) + " |",
              "|---|---|" + "---|" * n_lat]
    for m in models:
        for src in ("lfp", "spikes"):
            lines.append(f"| `{m}` | {src} | " + " | ".join(
                cell(s) for s in per_latent[m][src]) + " |")
    lines += ["", "Per session:", "",
              "| model | seed | task | spikes | LFP | alpha | beta rest | lagged LFP: vel / "
              "latents / PCs | lagged spikes: vel / latents / PCs |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| `{r['model']}` | {r['seed']} | {r['task']} | {r['spike_floor']:.3f} | "
            f"{r['lfp_floor']:.3f} | {r['alpha']:.2f} | {r['beta_peak_rest']:.2f} | "
            f"{r['lagged_lfp_velocity']:.3f} / {r['lagged_lfp_latents_mean']:.3f} / "
            f"{r['lagged_lfp_pcs_mean']:.3f} | {r['lagged_spikes_velocity']:.3f} / "
            f"{r['lagged_spikes_latents_mean']:.3f} / {r['lagged_spikes_pcs_mean']:.3f} |")
    times = ", ".join(f"`{m}` {s['mean']:.1f} ± {s['sd']:.1f} s" for m, s in
                      result["simulation_time_s"].items())
    lines += ["", f"Simulating 2 x {args.duration:g} s per seed: {times}. Whole run "
              f"{elapsed / 60:.1f} min on {result['machine']}."]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    _figure(rows, spectra, summary, models, stem.with_suffix(".png"))
    print("\n".join(lines[:6 + len(SCALARS)]))
    return result


def _figure(rows, spectra, summary, models, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    colors = {"population": "C0", "mrp": "C1"}
    ax = axes[0]
    for (model, session), spec in spectra.items():
        if session != "reach-00":
            continue
        f, p = spec["f"], spec["psd"]
        sel = (f >= 1) & (f <= 100)
        ax.loglog(f[sel], p[sel] / p[sel][0], color=colors.get(model), label=f"{model}: session")
        fw, pr = spec["f_window"], spec["psd_rest"]
        selw = (fw >= 2) & (fw <= 100)
        scale = np.interp(fw[selw][0], f, p) / p[sel][0]
        ax.loglog(fw[selw], pr[selw] / pr[selw][0] * scale, "--", color=colors.get(model),
                  label=f"{model}: rest windows")
    ff = np.array([2.0, 40.0])
    for a in (1, 2):
        ax.loglog(ff, 0.5 * (ff / 2.0) ** -a, ":", color="grey")
    ax.set(xlabel="frequency (Hz)", ylabel="PSD (normalised at 1 Hz)",
           title="LFP spectrum (CAR, random-target, seed 0)\ndotted: 1/f and 1/f²")
    ax.legend(fontsize=7)

    ax = axes[1]
    keys = ("spike_floor", "lfp_floor", "lagged_lfp_velocity")
    names = ("spike floor", "LFP floor", "lagged LFP")
    x = np.arange(len(keys))
    w = 0.8 / len(models)
    for i, m in enumerate(models):
        ax.bar(x + i * w, [summary[m][k]["mean"] for k in keys], w,
               yerr=[summary[m][k]["sd"] for k in keys], color=colors.get(m), label=m)
    for j, k in enumerate(("spike_floor", "lfp_floor")):
        lo, hi = TARGETS[k]
        ax.fill_between([j - 0.2, j + 0.8], lo, hi, color="grey", alpha=0.25, lw=0)
    ax.set_xticks(x + w * (len(models) - 1) / 2, names)
    ax.set(ylabel="velocity R² (val+test)", title="Velocity floors (grey: real-data range)")
    ax.legend(fontsize=8)

    ax = axes[2]
    n_lat = len(rows[0]["lagged_lfp_latents"])
    labels = [f"u{j + 1}" for j in range(n_lat)] + ["8 PCs"]
    x = np.arange(len(labels))
    for i, m in enumerate(models):
        vals = [np.mean([r["lagged_lfp_latents"][j] for r in rows if r["model"] == m])
                for j in range(n_lat)]
        vals.append(np.mean([r["lagged_lfp_pcs_mean"] for r in rows if r["model"] == m]))
        ax.bar(x + i * w, vals, w, color=colors.get(m), label=f"LFP, {m}")
    spk = [np.mean([r["lagged_spikes_latents"][j] for r in rows]) for j in range(n_lat)]
    spk.append(np.mean([r["lagged_spikes_pcs_mean"] for r in rows]))
    ax.plot(x + w * (len(models) - 1) / 2, spk, "k_", ms=20, mew=2, label="spikes")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xticks(x + w * (len(models) - 1) / 2, labels)
    ax.set(ylabel="lagged-ridge R² (val+test)",
           title="What the LFP carries of the latent state (reported)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


SWEEP_GRID = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)


def sweep(seeds, duration, grid=SWEEP_GRID):
    """Same-bin LFP ridge floor against ``synaptic_amplitude`` (population model)."""
    rows, start = [], time.perf_counter()
    for seed in seeds:
        zero = make_reaching_sessions(2, duration, random_state=seed, synaptic_amplitude=0.0)
        one = make_reaching_sessions(2, duration, random_state=seed, synaptic_amplitude=1.0)
        for a, b in zip(zero, one):
            assert np.array_equal(a.spikes, b.spikes)
            p0, p1 = preprocess_lfp(a, zscore=False), preprocess_lfp(b, zscore=False)
            roles = SegmentSplit(segment_length=500, random_state=42).assign(p0, np.zeros(len(p0)))
            train = np.flatnonzero(roles == "train")
            evaluate = np.flatnonzero(np.isin(roles, ["val", "test"]))
            y = (a.behavior - a.behavior.mean(axis=0)) / a.behavior.std(axis=0)
            floors = []
            for amp in grid:
                x = p0 + amp * (p1 - p0)
                x = (x - x.mean(axis=0)) / x.std(axis=0)
                floors.append(float(blocked_ridge(x, y, train, evaluate)[0].mean()))
            rows.append(dict(seed=seed, session=a.session, task=a.annotations["task"],
                             lfp_floor=floors))
            print(seed, a.annotations["task"], dict(zip(grid, np.round(floors, 3))), flush=True)
    return rows, time.perf_counter() - start


def write_sweep(rows, elapsed, args, grid=SWEEP_GRID):
    per_seed = np.array([np.mean([r["lfp_floor"] for r in rows if r["seed"] == s], axis=0)
                         for s in args.seeds])
    mean, sd = per_seed.mean(axis=0), per_seed.std(axis=0, ddof=1) if len(per_seed) > 1 else 0 * per_seed[0]
    result = dict(grid=list(grid), seeds=list(args.seeds), duration_s=args.duration, rows=rows,
                  mean_over_seeds=mean.tolist(), sd_over_seeds=np.asarray(sd).tolist(),
                  target=TARGETS["lfp_floor"], elapsed_s=elapsed,
                  command="python -m benchmarks.simulator_calibration --sweep")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "simulator_calibration_sweep.json").write_text(json.dumps(result, indent=1))
    lines = ["# Calibrating `synaptic_amplitude` against the linear LFP floor", "",
             f"`{result['command']}`: population model, {len(args.seeds)} seeds x 2 sessions x "
             f"{args.duration:g} s. Same-bin LFP ridge floor (velocity R², val+test); real-data "
             "target 0.25-0.35. Per-seed mean over the random-target and centre-out sessions, "
             "then mean ± sd over seeds.", "",
             "| `synaptic_amplitude` | " + " | ".join(f"{g:g}" for g in grid) + " |",
             "|---|" + "---|" * len(grid),
             "| LFP floor | " + " | ".join(f"{m:.3f} ± {s:.3f}" for m, s in zip(mean, np.atleast_1d(sd)))
             + " |"]
    for r in rows:
        lines.append(f"| seed {r['seed']} {r['task']} | " + " | ".join(
            f"{v:.3f}" for v in r["lfp_floor"]) + " |")
    lines += ["", f"Run time {elapsed / 60:.1f} min."]
    (RESULTS / "simulator_calibration_sweep.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="one seed, 2 x 120 s; writes simulator_calibration_quick.*")
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--duration", type=float, default=None, help="session length in s")
    parser.add_argument("--models", nargs="+", default=list(LFP_MODELS), choices=LFP_MODELS)
    parser.add_argument("--sweep", action="store_true",
                        help="record the synaptic_amplitude sweep instead (population model)")
    args = parser.parse_args(argv)
    if args.seeds is None:
        args.seeds = [0] if args.quick else [0, 1, 2]
    if args.duration is None:
        args.duration = 120.0 if args.quick else 600.0
    if args.sweep:
        rows, elapsed = sweep(args.seeds, args.duration)
        return write_sweep(rows, elapsed, args)
    rows, sim_times, spectra, elapsed = run(args.seeds, args.duration, args.models)
    return write(rows, sim_times, spectra, elapsed, args, suffix="_quick" if args.quick else "")


if __name__ == "__main__":
    main()
