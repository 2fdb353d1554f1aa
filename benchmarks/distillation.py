"""Cross-modal distillation benchmark on the reaching simulator (the paper's Fig. 3 / Fig. 5 layout).

For each LFP regime ("linear": a slow movement potential carries velocity linearly; "nonlinear":
only band-power envelopes do) and each seed, :func:`skdistill._comparison.run_comparison` trains
the spike teacher (all sessions), MS-LFP (all sessions), SS-LFP and the distilled student (session
0) on the train segments, and decodes velocity per session (OLS on train segments, R^2 on
val+test, mean over x/y) -- unsupervised (frozen embeddings) and supervised (end-to-end
fine-tuning with a linear head). Floors: smoothed spikes and preprocessed LFP (OLS / blocked-CV
ridge). Generalization: the student decodes the other sessions through session 0's parameters.
Then an ablation on seed 0 asks what limits the transfer: collapse guard (target_mode), loss
weight, teacher layer, and how well the student matches its teacher on held-out rows.

Run ``python -m benchmarks.distillation`` (about 25 min on 2 shared CPU cores; the simulated data
and the teachers are cached under ``benchmarks/cache/``); ``--quick`` is a 2-minute smoke run.
``--seeds 0 1 2`` lists the seeds.
Writes ``benchmarks/results/distillation.{json,md,png}``.
"""

from __future__ import annotations

import os
import time

import numpy as np

from benchmarks._harness import ModelCache, literal_dict, make_parser, parse_args, stem, write_results
from benchmarks._harness import RESULTS  # noqa: F401 - the default output directory

#: Reference numbers (reference note section 14): main table paper-secondhand, generalization
#: from the released notebook (mean over 27 real sessions).
REFERENCE = {
    "main": {"SS-LFP": 0.24, "MS-LFP": 0.27, "Spike teacher": 0.69, "Distilled LFP": 0.71},
    "generalization": {"MS-LFP": 0.343, "Distilled LFP (range of subject means)": "0.54-0.59"},
}


def simulated_data(cache, n_sessions, duration, regime):
    """``data(seed) -> (S, L, y, session)``: simulated, preprocessed sessions, cached (the key
    holds the code version, so a recalibrated simulator never reuses old data)."""
    from skdistill._comparison import simulate_paired

    def load(seed):
        config = {"n_sessions": n_sessions, "duration": duration, "regime": regime, "seed": seed}
        return cache.memo("reach", config,
                          lambda: simulate_paired(n_sessions, duration, regime, seed))

    return load


def cached_teacher(cache, params, epochs):
    """``teacher(seed, S, session) -> fitted MaskedSpikeTransformer`` on the train segments.

    Teachers depend on the spikes only, which the simulator draws independently of the LFP
    regime, so one cached teacher per seed serves both regimes."""
    from skdistill._comparison import DEMO_PARAMS
    from skdistill.estimators import MaskedSpikeTransformer
    from skdistill.evaluation import reference_split

    def fit(seed, S, session):
        train, _ = reference_split(session)
        p = {**DEMO_PARAMS, **params}
        te = MaskedSpikeTransformer(max_epochs=epochs, decoder_width=p["d_model"], random_state=seed,
                                    **p)
        return cache.fit(te, S[train], session=session[train], data={"seed": seed}).estimator

    return fit


def ablation(data, teacher, regime, seed, epochs, params, verbose=True):
    """Student variants on one seed: unsupervised R^2 and held-out teacher alignment."""
    import pandas as pd
    import torch
    from sklearn.frozen import FrozenEstimator

    from skdistill._comparison import DEMO_PARAMS
    from skdistill.estimators import DistilledLFPTransformer
    from skdistill.evaluation import probe_r2, reference_split

    S, L, y, session = data(seed)
    train, evaluate = reference_split(session)
    home = list(pd.unique(session))[0]
    mine = session == home
    fit_rows = mine & train
    test_rows = mine & evaluate

    def decode(Z, sessions):
        return probe_r2(Z, y, session, train=train, test=evaluate, sessions=sessions)
    te = teacher(seed, S, session)
    p = {**DEMO_PARAMS, **params}
    variants = {
        "default (center, lambda=5, last layer)": {},
        "raw cosine target (paper form, no guard)": {"target_mode": "raw"},
        "standardized target": {"target_mode": "standardize"},
        "MSE alignment, standardized": {"align_loss": "mse", "target_mode": "standardize"},
        "lambda=0 (reconstruction only)": {"align_weight": 0.0},
        "lambda=20": {"align_weight": 20.0},
        "teacher layer 0 (first block)": {"teacher_layer": 0},
        "targets smoothed (sd 5 bins)": {"target_smoothing": 5.0},
        "targets smoothed (sd 10 bins)": {"target_smoothing": 10.0},
        "2x epochs": {"max_epochs": 2 * epochs},
        "larger student (d 64, 4 layers)": {"d_model": 64, "n_layers": 4},
    }
    rows = []
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        teacher_r2 = float(decode(te.transform(S, session=session), [home])[home])
        for name, extra in variants.items():
            t0 = time.perf_counter()
            kw = {**p, "max_epochs": epochs, "random_state": seed, **extra}
            st = DistilledLFPTransformer(FrozenEstimator(te), **kw).fit(
                L[fit_rows], teacher_X=S[fit_rows], session=session[fit_rows])
            Z = np.zeros((len(L), st.embedding_dim_))
            Z[mine] = st.transform(L[mine], session=session[mine])
            r2 = float(decode(Z, [home])[home])
            # generalization: the other sessions through the distilled session's parameters
            st.set_params(unknown_session=home)
            others = [label for label in pd.unique(session) if label != home]
            gen = decode(st.transform(L, session=session), others).to_dict()
            zc = Z[mine] - Z[mine].mean(0)
            rows.append(dict(
                regime=regime, seed=seed, variant=name, r2=r2,
                generalization_r2=float(np.mean(list(gen.values()))),
                heldout_alignment=st.alignment_score(L[test_rows], S[test_rows],
                                                     session=session[test_rows]),
                train_alignment=st.alignment_score(L[fit_rows], S[fit_rows], session=session[fit_rows]),
                variance_share=float((zc**2).sum(1).mean() / (Z[mine] ** 2).sum(1).mean()),
                teacher_r2=teacher_r2, seconds=time.perf_counter() - t0,
            ))
            if verbose:
                r = rows[-1]
                print(f"  ablation {regime} {name:42s} R2 {r2:6.3f}  align held-out "
                      f"{r['heldout_alignment']:.3f} train {r['train_alignment']:.3f}  "
                      f"var share {r['variance_share']:.2f}", flush=True)
    finally:
        torch.set_num_threads(old)
    return rows


def ablation_only(args, teacher_params, epochs):
    """``--ablation-only``: the ablation on several seeds, to distillation_ablation.{json,md}."""
    import pandas as pd

    cache = ModelCache(enabled=not args.no_cache)
    teacher = cached_teacher(cache, teacher_params, epochs["teacher"])
    data = simulated_data(cache, 3, 90.0, "linear")
    rows = []
    for seed in args.seeds:
        rows += ablation(data, teacher, "linear", seed, epochs["student"], {})
    df = pd.DataFrame(rows)
    cols = ["r2", "generalization_r2", "heldout_alignment", "train_alignment"]
    table = df.groupby("variant", sort=False)[cols].agg(["mean", "std"])
    md = ["# Distillation ablation across seeds (linear LFP regime)", "",
          f"Seeds {sorted(set(df.seed))}; teacher {teacher_params or 'defaults'}, epochs {epochs}; "
          "student of session 0. R2: unsupervised velocity R2 on session 0 (val+test); "
          "generalization: mean over the other sessions routed through session 0's parameters; "
          "alignment: mean cosine to the (centred) teacher target. Mean ± sd over seeds. "
          "Generated by `python -m benchmarks.distillation --ablation-only`.", "",
          f"Teacher R2 on session 0: {df.groupby('seed').teacher_r2.first().mean():.3f}.", "",
          "| variant | R2 | generalization R2 | alignment held-out | alignment train |",
          "|---|---|---|---|---|"]
    for name, row in table.iterrows():
        md.append(f"| {name} | " + " | ".join(
            f"{row[(c, 'mean')]:.3f} ± {np.nan_to_num(row[(c, 'std')]):.3f}" for c in cols) + " |")
    write_results("distillation_ablation", {"epochs": epochs, "teacher_params": teacher_params,
                                            "rows": rows}, md, out=args.out)


def _stack_figures(paths, target):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = [plt.imread(p) for p in paths]
    width = max(im.shape[1] for im in images)
    padded = [np.pad(im, ((0, 0), (0, width - im.shape[1]), (0, 0)), constant_values=1.0)
              for im in images]
    plt.imsave(target, np.concatenate(padded, axis=0))


def main(argv=None):
    parser = make_parser(__doc__, seeds=(0, 1, 2),
                         quick_help="1 seed, 2 x 30 s sessions, 1 epoch each (seconds)")
    parser.add_argument("--regimes", default="linear,nonlinear")
    parser.add_argument("--no-ablation", action="store_true")
    parser.add_argument("--student", type=literal_dict, default={},
                        help="extra DistilledLFPTransformer parameters (JSON or a Python dict literal)")
    parser.add_argument("--teacher", type=literal_dict, default={},
                        help="extra MaskedSpikeTransformer parameters (JSON or a Python dict literal)")
    parser.add_argument("--teacher-epochs", type=int, default=None,
                        help="teacher epochs (default: DEMO_EPOCHS['teacher'])")
    parser.add_argument("--student-epochs", type=int, default=None,
                        help="student epochs (default: DEMO_EPOCHS['student'])")
    parser.add_argument("--lfp-epochs", type=int, default=None,
                        help="SS-/MS-LFP epochs (default: DEMO_EPOCHS['lfp'])")
    parser.add_argument("--tag", default="", help="write distillation_<tag>.* instead")
    parser.add_argument("--ablation-only", action="store_true",
                        help="only the ablation, on every seed (distillation_ablation.*)")
    args = parse_args(parser, argv)
    student_params = args.student
    teacher_params = args.teacher
    name = f"distillation_{args.tag}" if args.tag else "distillation"

    from skdistill._comparison import DEMO_EPOCHS, DEMO_PARAMS, format_table, plot_comparison, run_comparison

    if args.quick:
        n_sessions, duration, seeds = 2, 30.0, [0]
        epochs = dict(teacher=1, lfp=1, student=1, supervised=1)
    else:
        n_sessions, duration, seeds = 3, 90.0, list(args.seeds)
        epochs = dict(DEMO_EPOCHS)
        if args.teacher_epochs:
            epochs["teacher"] = args.teacher_epochs
        if args.student_epochs:
            epochs["student"] = args.student_epochs
        if args.lfp_epochs:
            epochs["lfp"] = args.lfp_epochs
    regimes = args.regimes.split(",")
    if args.ablation_only:
        ablation_only(args, teacher_params, epochs)
        return
    start = time.perf_counter()
    out = dict(settings=dict(n_sessions=n_sessions, duration_s=duration, seeds=seeds, epochs=epochs,
                             model=DEMO_PARAMS, split="SegmentSplit(500 rows, 80/10/10, seed 42)",
                             decoder="per-session OLS on train segments, R2 on val+test, mean x/y",
                             ),
               reference=REFERENCE, regimes={})
    md = ["# Cross-modal distillation on the reaching simulator", "",
          f"{n_sessions} sessions x {duration:g} s per seed, seeds {seeds}; model {DEMO_PARAMS}; "
          f"epochs {epochs}. Distillation / SS-LFP session: session 0; generalization: the others.",
          "Unsupervised = frozen embedding + per-session OLS; supervised = end-to-end fine-tuning "
          "with a linear head (floors: blocked-CV ridge). R2 on val+test segments, mean ± sd over seeds.",
          ""]
    os.makedirs(args.out, exist_ok=True)
    cache = ModelCache(enabled=not (args.quick or args.no_cache))
    teacher = cached_teacher(cache, teacher_params, epochs["teacher"])
    for regime in regimes:
        print(f"== {regime} LFP regime ==", flush=True)
        data = simulated_data(cache, n_sessions, duration, regime)
        fig = os.path.join(args.out, f"{name}_{regime}.png") if not args.quick else None
        res = run_comparison(n_sessions=n_sessions, duration=duration, lfp_regime=regime,
                             seeds=seeds, epochs=epochs, data=data, teacher=teacher,
                             student_params=student_params)
        gen = res["generalization"]
        gen_table = gen.groupby(["session", "model"])["r2"].agg(["mean", "std"]).unstack("model")
        entry = dict(runs=res["runs"].to_dict("records"), generalization=gen.to_dict("records"),
                     seconds=res["seconds"])
        md += [f"## {regime} LFP regime", "", format_table(res), "",
               "Generalization (student of session 0, no further distillation; MS-LFP saw these "
               "sessions in pretraining), R2 mean ± sd over seeds:", "",
               "| session | " + " | ".join(gen_table.columns.get_level_values(1).unique()) + " |",
               "|---|" + "---|" * gen_table.columns.get_level_values(1).nunique()]
        for session, row in gen_table.iterrows():
            cells = [f"{row[('mean', m)]:.3f} ± {np.nan_to_num(row[('std', m)]):.3f}"
                     for m in gen_table.columns.get_level_values(1).unique()]
            md.append(f"| {session} | " + " | ".join(cells) + " |")
        md.append("")
        # one regime is enough to see what limits the transfer (and keeps the run under 30 min)
        if not args.no_ablation and not args.quick and regime == regimes[0]:
            entry["ablation"] = ablation(data, teacher, regime, seeds[0], epochs["student"], {})
            md += [f"Ablation ({regime}, seed {seeds[0]}): unsupervised R2 of the student, its mean "
                   "cosine to the teacher target on held-out / train rows, and the share of its "
                   "embedding energy that varies over time.", "",
                   "| variant | R2 | alignment held-out | alignment train | variance share |",
                   "|---|---|---|---|---|"]
            for r in entry["ablation"]:
                md.append(f"| {r['variant']} | {r['r2']:.3f} | {r['heldout_alignment']:.3f} | "
                          f"{r['train_alignment']:.3f} | {r['variance_share']:.2f} |")
            md += ["", f"Teacher R2 on this session: {entry['ablation'][0]['teacher_r2']:.3f}.", ""]
        out["regimes"][regime] = entry
        if fig:
            plot_comparison(res, fig, title=f"{regime} LFP: session 0")
    figs = [os.path.join(args.out, f"{name}_{r}.png") for r in regimes]
    if not args.quick and all(os.path.exists(f) for f in figs):
        _stack_figures(figs, os.path.join(args.out, f"{stem(name)}.png"))
    out["seconds"] = time.perf_counter() - start
    md += ["Reference (real data, section 14 of the reference note): main table (paper-secondhand) "
           "SS-LFP 0.24, MS-LFP 0.27, teacher 0.69, distilled 0.71; generalization MS-LFP 0.34 vs "
           "distilled 0.54-0.59 (27 sessions).", "", f"Total time: {out['seconds'] / 60:.1f} min."]
    out["student_params"] = student_params
    out["teacher_params"] = teacher_params
    if student_params:
        md.insert(4, f"Student parameters: {student_params}.")
    if teacher_params:
        md.insert(4, f"Teacher parameters: {teacher_params}.")
    write_results(name, out, md, quick=args.quick, out=args.out)


if __name__ == "__main__":
    main()
