"""Linear decoding floors of the reaching simulator, over seeds and both LFP regimes.

Run as ``python -m benchmarks.simulator_floors [--lfp-model population|mrp]``. For each of 3
seeds, 4 sessions of 150 s (random-target with 96 LFP channels, centre-out with 95, alternating)
are simulated with the default parameters of the chosen LFP model; per session, a ridge decoder of 2-D velocity is fit on the train segments
of the reference split (consecutive 5 s segments, shuffled with seed 42, 80/10/10) and scored
on val+test pooled (R² averaged over vx, vy). Alpha is chosen by 5 contiguous (unshuffled)
folds of the train rows -- RidgeCV's default leave-one-out GCV picks far too small alphas on
autocorrelated time bins. Features: spikes smoothed with a 50 ms Gaussian, and the LFP after
the reference chain (notch, 0.05-50 Hz, CAR, 100 Hz, z-score), each bin on its own (no lags).

Writes ``benchmarks/results/simulator_floors.json`` and ``.md`` for the population model (the
default) and ``simulator_floors_mrp.*`` for ``--lfp-model mrp``. The calibration at the
reference scale (2 x 600 s, both models, spectra and latent content) is
``benchmarks/simulator_calibration.py``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from skdistill._demo import _ridge_floor, session_floors
from skdistill.datasets import make_reaching_sessions
from skdistill.preprocessing import preprocess_lfp

SEEDS = (0, 1, 2)
N_SESSIONS = 4
DURATION = 150.0
RESULTS = Path(__file__).resolve().parent / "results"


def _summary(values):
    values = np.asarray(values, dtype=float)
    return {"median": float(np.median(values)), "mean": float(values.mean()),
            "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "min": float(values.min()), "max": float(values.max()), "n": int(len(values))}


def run(lfp_model="population"):
    start = time.perf_counter()
    rows = []
    for seed in SEEDS:
        linear = make_reaching_sessions(N_SESSIONS, DURATION, random_state=seed,
                                        lfp_model=lfp_model)
        # same seed, so spikes and behaviour are identical; only linear velocity leaves the LFP
        nonlinear = make_reaching_sessions(N_SESSIONS, DURATION, random_state=seed,
                                           lfp_model=lfp_model, lfp_regime="nonlinear")
        for rec, rec_nl in zip(linear, nonlinear):
            assert np.array_equal(rec.spikes, rec_nl.spikes)
            floors = session_floors(rec)
            rows.append(dict(
                seed=seed, session=rec.session, task=rec.annotations["task"],
                n_channels=int(rec.lfp.shape[1]), spikes=floors["spikes"],
                lfp_linear=floors["lfp"],
                lfp_nonlinear=_ridge_floor(preprocess_lfp(rec_nl), rec_nl.behavior),
            ))
            print(f"seed {seed} {rec.session} {rows[-1]['task']:<14} spikes "
                  f"{rows[-1]['spikes']:.3f}  LFP linear {rows[-1]['lfp_linear']:.3f}  "
                  f"LFP nonlinear {rows[-1]['lfp_nonlinear']:.3f}", flush=True)
    elapsed = time.perf_counter() - start
    keys = ("spikes", "lfp_linear", "lfp_nonlinear")
    # over seeds: the per-seed mean over sessions, then median and mean ± sd of those
    per_seed = {k: [np.mean([r[k] for r in rows if r["seed"] == s]) for s in SEEDS] for k in keys}
    summary = {
        "over_seeds": {k: _summary(v) for k, v in per_seed.items()},
        "over_sessions": {k: _summary([r[k] for r in rows]) for k in keys},
        "by_task": {task: {k: _summary([r[k] for r in rows if r["task"] == task]) for k in keys}
                    for task in dict.fromkeys(r["task"] for r in rows)},
    }
    result = dict(
        description=__doc__.strip(), lfp_model=lfp_model, seeds=list(SEEDS), n_sessions=N_SESSIONS,
        duration_s=DURATION, alpha_selection="RidgeCV(alphas=logspace(-2, 5, 15), "
        "cv=KFold(5, shuffle=False)) on the train rows (contiguous blocked folds)",
        rows=rows, summary=summary, elapsed_s=elapsed,
        machine=f"{platform.processor() or platform.machine()}, python {platform.python_version()}",
    )
    RESULTS.mkdir(exist_ok=True)
    stem = "simulator_floors" + ("" if lfp_model == "population" else f"_{lfp_model}")
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2))
    names = {"spikes": "smoothed spikes", "lfp_linear": "LFP, linear regime (default)",
             "lfp_nonlinear": "LFP, nonlinear regime"}
    lines = [
        f"# Simulator decoding floors (`lfp_model=\"{lfp_model}\"`)",
        "",
        f"Ridge velocity R² (val+test of the per-session 80/10/10 split of 5 s segments), "
        f"{len(SEEDS)} seeds x {N_SESSIONS} sessions x {DURATION:g} s. Alpha chosen by "
        "contiguous (blocked, unshuffled) 5-fold CV on the train rows, never by leave-one-out "
        "GCV. Reference data: ~0.6-0.7 (spikes), ~0.25-0.35 (linear LFP decoders).",
        "",
        "| features | median over seeds | mean ± sd over seeds | range over sessions |",
        "|---|---|---|---|",
    ]
    for k in keys:
        s, o = summary["over_seeds"][k], summary["over_sessions"][k]
        lines.append(f"| {names[k]} | {s['median']:.3f} | {s['mean']:.3f} ± {s['sd']:.3f} | "
                     f"{o['min']:.3f}–{o['max']:.3f} |")
    lines += ["", "| task | spikes | LFP linear | LFP nonlinear |", "|---|---|---|---|"]
    for task, stats in summary["by_task"].items():
        lines.append(f"| {task} | " + " | ".join(
            f"{stats[k]['mean']:.3f} ± {stats[k]['sd']:.3f}" for k in keys) + " |")
    lines += ["", "| seed | session | task | LFP ch | spikes | LFP linear | LFP nonlinear |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['session']} | {r['task']} | {r['n_channels']} | "
                     f"{r['spikes']:.3f} | {r['lfp_linear']:.3f} | {r['lfp_nonlinear']:.3f} |")
    lines += ["", f"Run time {elapsed:.0f} s on {result['machine']}."]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[4:7 + len(keys)]))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfp-model", default="population", choices=("population", "mrp"))
    return run(parser.parse_args(argv).lfp_model)


if __name__ == "__main__":
    main()
