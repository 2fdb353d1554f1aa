"""What the distillation target contains: how much of the teacher's latent each modality predicts.

The student sees only LFP, so it can match no more of the teacher's latent than the LFP
predicts. For each LFP model and seed of ``benchmarks/distillation.py`` (same cached data and
teachers, found through that benchmark's index; run it first -- a unit whose teacher is not
cached yet is skipped), on the distillation session (session 0): ridge regressions from lagged,
50 ms-smoothed features (lags -100..100 ms; penalty by contiguous 5-fold CV) fitted on the train
segments, scored on val+test as the share of the teacher latent's time-varying variance they
explain (variance-weighted R² over dimensions, which is what a centred alignment loss sees), for

* the preprocessed LFP (what the student sees),
* the 2-D velocity (the behaviour the benchmark decodes),
* the smoothed spike counts (the teacher's own input, a sanity check),

with the per-bin latent and its 50 ms-smoothed version as targets; and the share of the raw
latent's energy that is its mean over time (what the paper's raw cosine target rewards a
constant student for).

Part 2, **where the velocity is lost** (needs the unit's cached student): how much velocity the
LFP holds for a linear decoder that may look further back and ahead (ridge floors with lags up
to +-100, +-250 and +-500 ms, beside the same for the smoothed spikes); a *linear student*
(a ridge from the lagged LFP to the teacher latent, then the benchmark's per-bin OLS probe:
what distillation through a linear map keeps); and the transformer student itself: the share of
the teacher latent's time-varying variance its latent explains on held-out rows (as it is, and
after the best linear map fitted on train rows), the correlation of the teacher's own velocity
readout applied to both, and its velocity probe.

Run ``python -m benchmarks.distillation_targets`` (minutes once the caches exist);
``--quick``: the ``--quick`` caches do not exist, so it fits a 1-epoch teacher on 2 x 40 s.
Writes ``benchmarks/results/distillation_targets.{json,md}``.
"""

from __future__ import annotations

import numpy as np

from benchmarks._harness import make_parser, parse_args, write_results
from benchmarks.distillation import load_indexed, make_cache, simulated_data
from skdistill.evaluation import blocked_ridge, lagged, reference_split

LAGS = (-10, -5, 0, 5, 10)
#: look-back/ahead windows of the ceiling ridges, in 10 ms bins (spaced lags on 50 ms-smoothed
#: features)
WINDOWS = {"same bin": None, "+-100 ms": LAGS, "+-250 ms": tuple(range(-25, 26, 5)),
           "+-500 ms": tuple(range(-50, 51, 10))}
PREDICTORS = ("LFP", "velocity", "smoothed spikes")
TARGETS = ("per-bin latent", "50 ms-smoothed latent")


def _lagged(F, session):
    from skdistill.preprocessing import SpikeSmoother

    F = SpikeSmoother(sigma=0.05).fit_transform(np.nan_to_num(F), session=session)
    return lagged(F, LAGS, session)  # edge-padded inside the session (no wrap-around)


def _explained(F, target, train, evaluate):
    ridge = blocked_ridge().fit(F[train], target[train])
    residual = ((ridge.predict(F[evaluate]) - target[evaluate]) ** 2).sum()
    total = ((target[evaluate] - target[train].mean(0)) ** 2).sum()
    return float(1.0 - residual / total)


def _quick_teacher(S, session):
    from skdistill.estimators import MaskedSpikeTransformer

    train, _ = reference_split(session)
    return MaskedSpikeTransformer(d_model=16, n_layers=1, n_heads=2, decoder_width=16,
                                  max_epochs=1, random_state=0).fit(S[train], session=session[train])


def run(seeds, lfp_models, cache, quick=False):
    import pandas as pd

    from skdistill._comparison import REFERENCE_SCALE, simulate_paired
    from skdistill.preprocessing import SpikeSmoother

    n, duration = REFERENCE_SCALE["n_sessions"], REFERENCE_SCALE["duration"]
    rows, ceiling = [], []
    for lfp_model in lfp_models:
        for seed in seeds:
            if quick:
                S, L, y, session = simulate_paired(2, 40.0, "linear", seed, lfp_model)
                teacher = _quick_teacher(S, session)
            else:
                teacher = load_indexed(cache, lfp_model, seed, "teacher")
                if teacher is None:
                    print(f"{lfp_model} seed {seed}: no cached teacher yet; skipped", flush=True)
                    continue
                S, L, y, session = simulated_data(cache, n, duration, lfp_model)(seed)
            train_all, evaluate_all = reference_split(session)
            home = session == pd.unique(session)[0]
            s = session[home]
            train, evaluate = train_all[home], evaluate_all[home]
            latent = teacher.transform(S[home], session=s)
            targets = {"per-bin latent": latent,
                       "50 ms-smoothed latent": SpikeSmoother(sigma=0.05).fit_transform(latent, session=s)}
            features = {"LFP": _lagged(L[home], s), "velocity": _lagged(y[home], s),
                        "smoothed spikes": _lagged(S[home], s)}
            mean_share = float((latent.mean(0) ** 2).sum() / (latent ** 2).mean(0).sum())
            for p, F in features.items():
                for t, target in targets.items():
                    rows.append(dict(lfp_model=lfp_model, seed=seed, predictor=p, target=t,
                                     explained=_explained(F, target, train, evaluate),
                                     mean_energy_share=mean_share))
            print(lfp_model, seed, {f"{r['predictor']} -> {r['target']}": round(r["explained"], 3)
                                    for r in rows[-6:]}, flush=True)
            student = (_quick_student(teacher, S, L, session) if quick else
                       load_indexed(cache, lfp_model, seed, "Distilled LFP"))
            if student is None:
                print(f"{lfp_model} seed {seed}: no cached student yet; part 2 skipped", flush=True)
                continue
            ceiling.append(dict(lfp_model=lfp_model, seed=seed,
                                **_where_lost(S[home], L[home], y[home], s, train, evaluate,
                                              latent, features["LFP"], student)))
            print(lfp_model, seed, {k: round(v, 3) for k, v in ceiling[-1].items()
                                    if isinstance(v, float)}, flush=True)
    return rows, ceiling


def _quick_student(teacher, S, L, session):
    from sklearn.frozen import FrozenEstimator

    from skdistill.estimators import DistilledLFPTransformer

    train, _ = reference_split(session)
    return DistilledLFPTransformer(FrozenEstimator(teacher), d_model=16, n_layers=1, n_heads=2,
                                   max_epochs=1, random_state=0).fit(
        L[train], teacher_X=S[train], session=session[train])


def _where_lost(S, L, y, s, train, evaluate, latent, lagged_lfp, student):
    """Part 2 for one session: ceilings, the linear student, the transformer student."""
    from sklearn.linear_model import LinearRegression

    from skdistill.evaluation import probe_r2, ridge_floor

    out = {}
    kw = dict(train=train, test=evaluate)
    for name, lags in WINDOWS.items():
        for modality, X in (("LFP", L), ("spikes", S)):
            smooth = 0.05 if (lags is not None or modality == "spikes") else None
            out[f"{modality} ridge, {name}"] = float(
                ridge_floor(X, y, s, lags=lags, smooth=smooth, **kw).iloc[0])

    def probe(Z):
        return float(probe_r2(Z, y, s, **kw).iloc[0])

    def explained(Z):
        return float(1.0 - ((Z[evaluate] - latent[evaluate]) ** 2).sum()
                     / ((latent[evaluate] - latent[train].mean(0)) ** 2).sum())

    linear = blocked_ridge().fit(lagged_lfp[train], latent[train]).predict(lagged_lfp)
    out["linear student: latent explained"] = explained(linear)
    out["linear student: velocity probe"] = probe(linear)
    Z = student.transform(L, session=s)
    mapped = LinearRegression().fit(Z[train], latent[train]).predict(Z)
    out["student: latent explained (as is)"] = explained(Z)
    out["student: latent explained (linear map)"] = explained(mapped)
    readout = LinearRegression().fit(latent[train], y[train])
    teacher_v, student_v = readout.predict(latent), readout.predict(mapped)
    out["student: teacher's velocity readout, corr"] = float(np.mean(
        [np.corrcoef(teacher_v[evaluate, k], student_v[evaluate, k])[0, 1] for k in range(2)]))
    out["student: velocity probe"] = probe(Z)
    out["teacher: velocity probe"] = probe(latent)
    return out


def write(result, args):
    import pandas as pd

    rows, ceiling = result
    df = pd.DataFrame(rows)
    if not len(df):
        print("no cached teacher yet: run python -m benchmarks.distillation first", flush=True)
        return
    lines = ["# What the distillation target contains", "",
             "Share of the teacher latent's time-varying variance (session 0, val+test rows) that a "
             "ridge on lagged (-100..100 ms), 50 ms-smoothed features explains; mean ± sd over seeds "
             f"{sorted(set(df.seed))}. Generated by `python -m benchmarks.distillation_targets` from "
             "the caches of `benchmarks/distillation.py`.", ""]
    for lfp_model, part in df.groupby("lfp_model", sort=False):
        lines += [f"## LFP model `{lfp_model}` (seeds {sorted(set(part.seed))})", "", "| predictor | " + " | ".join(TARGETS) + " |",
                  "|---|" + "---|" * len(TARGETS)]
        for p in PREDICTORS:
            cells = []
            for t in TARGETS:
                v = part[(part.predictor == p) & (part.target == t)].explained
                cells.append(f"{v.mean():.3f} ± {v.std():.3f}" if len(v) > 1 else f"{v.mean():.3f}")
            lines.append(f"| {p} | " + " | ".join(cells) + " |")
        lines.append("")
    share = df.groupby("seed").mean_energy_share.first()
    lines += [f"Share of the raw latent's energy in its mean over time: {share.mean():.2f} "
              f"(per seed {np.round(share.values, 2).tolist()}).", ""]
    if ceiling:
        cf = pd.DataFrame(ceiling)
        lines += ["## Where the velocity is lost (session 0, val+test rows)", "",
                  "Velocity R² (mean of x, y) unless marked; ridges with blocked-CV penalty on "
                  "50 ms-smoothed features (the same-bin LFP ridge unsmoothed, as in the main "
                  "table); *linear student*: ridge from the +-100 ms lagged LFP to the teacher "
                  "latent, then the per-bin OLS probe; *latent explained*: share of the teacher "
                  "latent's time-varying variance; *teacher's velocity readout, corr*: the OLS "
                  "map from teacher latent to velocity applied to the student's linearly mapped "
                  "latent, correlated with the same map on the teacher (mean over x, y).", ""]
        for lfp_model, part in cf.groupby("lfp_model", sort=False):
            lines += [f"### LFP model `{lfp_model}` (seeds {sorted(set(part.seed))})", "",
                      "| quantity | value |", "|---|---|"]
            for col in [c for c in cf.columns if c not in ("lfp_model", "seed")]:
                v = part[col]
                lines.append(f"| {col} | " + (f"{v.mean():.3f} ± {v.std():.3f}" if len(v) > 1
                                               else f"{v.mean():.3f}") + " |")
            lines.append("")
    write_results("distillation_targets", {"config": vars(args), "rows": rows,
                                           "ceiling": ceiling}, lines,
                  quick=args.quick, out=args.out)


def main(argv=None):
    parser = make_parser(__doc__, seeds=(0, 1, 2),
                         quick_help="seed 0, population model, a 1-epoch teacher on 2 x 40 s")
    parser.add_argument("--lfp-models", default="population,mrp")
    args = parse_args(parser, argv)
    if args.quick:
        args.seeds, args.lfp_models = [0], "population"
    cache = make_cache(enabled=not (args.quick or args.no_cache))
    write(run(list(args.seeds), args.lfp_models.split(","), cache, quick=args.quick), args)


if __name__ == "__main__":
    main()
