"""Quality of the distillation encoders on the simulator (issue 3, item 5).

Velocity R² of a linear decoder on

* the spike teacher's embeddings (``MaskedSpikeTransformer``) vs on smoothed spike counts, and
* the LFP model's embeddings (``LFPTransformer``) vs on the preprocessed LFP,

single-session (one model per session) and multi-session (one model for all sessions), with the
reference protocol: per-session 80/10/10 split of 5 s segments, encoders trained self-supervised on
the train segments only, per-session OLS (``LinearRegression``) fitted on train rows and scored on
val+test rows, R² averaged over x/y. Floors: ridge (alpha by contiguous 5-fold CV) on smoothed
spikes (50 ms Gaussian) and on the preprocessed LFP, and OLS on the same features.

Every model is scored with both readouts (mean over patches, the default; concatenated patches),
which are a transform-time choice of the same fitted model. The probe is also evaluated during
the training of the multi-session models (5 points, or every ``--probe-every`` epochs) to give the
probe-R²-vs-steps curve; their ``train_seconds`` include those probe points.

Sessions are 600 s by default: the reference's sessions hold 65-128 five-second segments
(5.4-10.7 min), and on 150 s the teacher ran out of data before it ran out of steps
(``teacher_variants.md``).

Run: ``python -m benchmarks.encoder_quality [--threads 2] [--seeds 0 1 2] [--quick]``.
Writes ``benchmarks/results/encoder_quality.{json,md,png}``; fitted encoders are cached under
``benchmarks/cache/`` (a killed run resumes).
"""

from __future__ import annotations

import time

import numpy as np
from skorch.callbacks import Callback

from benchmarks._harness import ModelCache, literal_dict, make_parser, parse_args, write_results
from skdistill import LFPTransformer, MaskedSpikeTransformer
from skdistill.data import stack_sessions
from skdistill.datasets import make_reaching_sessions
from skdistill.evaluation import lagged, probe_r2, reference_split, ridge_floor, zscore_per_session
from skdistill.preprocessing import SpikeSmoother, preprocess_recording

MODEL = dict(segment_length=50, d_model=64, n_layers=4, n_heads=4, batch_size=32)
#: per-model settings on top of MODEL and the library defaults (overridable from the command line)
EXTRA = {"teacher": {}, "LFP model": {}}


def probe(Z, y, session, train, evaluate, model="ols"):
    """Per-session OLS (or ``model``) fitted on train rows, R² on val+test rows: ``{session: r2}``."""
    scores = probe_r2(Z, y, session, train=train, test=evaluate, model=model)
    return {str(k): float(v) for k, v in scores.items()}


#: decoders applied alike to raw features (spike counts, LFP) and to embeddings: the reference's
#: per-bin OLS, OLS after the floor's 50 ms Gaussian smoothing, and a Wiener-style OLS on the
#: smoothed features at lags -100..100 ms (spikes lead velocity by ``spike_lead`` = 100 ms), as
#: ridge
LAGS = (-10, -5, 0, 5, 10)


def decoders(F, y, session, train, evaluate):
    """``{decoder: {session: R²}}`` for the three linear decoders on features ``F``."""
    F = np.nan_to_num(F)
    smooth = SpikeSmoother(sigma=0.05).fit_transform(F, session=session)
    # the lagged decoder has 5x the features: ridge, penalty by contiguous (unshuffled) 5-fold CV
    return {"per-bin OLS": probe(F, y, session, train, evaluate),
            "OLS on 50 ms-smoothed": probe(smooth, y, session, train, evaluate),
            "lagged ridge on 50 ms-smoothed": probe(lagged(smooth, LAGS, session), y, session,
                                                    train, evaluate, "ridge")}


class ProbeCurve(Callback):
    """Evaluate the linear probe on both readouts every ``every`` epochs."""

    def __init__(self, estimator, X, y, session, train, evaluate, every):
        self.estimator, self.X, self.y, self.session = estimator, X, y, session
        self.train, self.evaluate, self.every = train, evaluate, every
        self.points = []

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if epoch % self.every:
            return
        est = self.estimator
        point = {"epoch": epoch, "steps": int(epoch * np.ceil(est.n_windows_ / est.batch_size)),
                 "loss": float(net.history[-1]["train_loss"])}
        for readout in ("mean", "concat"):
            Z = est.transform(self.X, self.session, readout=readout)
            point[readout] = probe(Z, self.y, self.session, self.train, self.evaluate)
        net.module_.train()
        self.points.append(point)


def simulate(seed, duration, n_sessions):
    """Spikes, preprocessed LFP, per-session z-scored velocity, session labels and the
    train / val+test row masks of the reference's 80/10/10 split of 5 s segments."""
    recs = make_reaching_sessions(n_sessions=n_sessions, duration=duration, random_state=seed)
    S, y, session = stack_sessions(recs, "spikes")
    L, _, _ = stack_sessions([preprocess_recording(r) for r in recs], "lfp")
    train, evaluate = reference_split(session)
    return S, L, zscore_per_session(y, session), session, train, evaluate


def run_seed(seed, epochs, every, duration, n_sessions, cache):
    """``epochs``: ``{"teacher": n, "LFP model": n}``."""
    S, L, y, session, train, evaluate = simulate(seed, duration, n_sessions)
    smoothed = SpikeSmoother(sigma=0.05).fit_transform(S, session=session)
    out = {"floors": {
        "ridge: smoothed spikes": ridge_floor(smoothed, y, session).to_dict(),
        "ridge: LFP": ridge_floor(np.nan_to_num(L), y, session).to_dict(),
        "OLS: smoothed spikes": probe(smoothed, y, session, train, evaluate),
        "OLS: LFP": probe(np.nan_to_num(L), y, session, train, evaluate),
    }, "models": {}, "curves": {}, "decoders": {
        "spike counts": decoders(S, y, session, train, evaluate),
        "LFP": decoders(L, y, session, train, evaluate)}}
    for name, cls, X in (("teacher", MaskedSpikeTransformer, S), ("LFP model", LFPTransformer, L)):
        for scope in ("multi-session", "single-session"):
            groups = [list(dict.fromkeys(session))] if scope == "multi-session" else [[s] for s in dict.fromkeys(session)]
            scores, concat_scores, curves, seconds, Z_all = {}, {}, [], 0.0, None
            for sessions in groups:
                rows = np.isin(session, sessions)
                model = cls(**{**MODEL, **EXTRA[name]}, max_epochs=epochs[name], random_state=seed)
                # the curve (multi-session models only): ``every`` epochs, or 5 points by default
                step = every or max(1, epochs[name] // 5)
                curve = ProbeCurve(model, X[rows], y[rows], session[rows], train[rows], evaluate[rows], step)
                model.set_params(callbacks=[curve] if scope == "multi-session" else None)
                fit = cache.fit(model, X[rows & train], session=session[rows & train],
                                data={"simulator": "make_reaching_sessions", "seed": seed,
                                      "duration": duration, "n_sessions": n_sessions,
                                      "sessions": sessions},
                                record=lambda _, curve=curve: {"curve": curve.points})
                model, seconds = fit.estimator, seconds + fit.seconds
                curve.points = fit.record["curve"]
                Z = model.transform(X[rows], session=session[rows])
                if Z_all is None:
                    Z_all = np.zeros((len(X), Z.shape[1]))
                Z_all[rows] = Z
                scores.update(probe(Z, y[rows], session[rows], train[rows], evaluate[rows]))
                # the other readout of the same fitted model (a transform-time choice)
                readout = model.readout
                Zc = model.set_params(readout="concat").transform(X[rows], session=session[rows])
                model.set_params(readout=readout)
                concat_scores.update(probe(Zc, y[rows], session[rows], train[rows], evaluate[rows]))
                curves.append(curve.points)
            out["models"][f"{name} ({scope})"] = {"r2": scores, "train_seconds": seconds}
            out["models"][f"{name} ({scope}), concat readout"] = {"r2": concat_scores,
                                                                 "train_seconds": seconds}
            out["curves"][f"{name} ({scope})"] = curves
            out["decoders"][f"{name} ({scope})"] = decoders(Z_all, y, session, train, evaluate)
            print(f"  seed {seed} {name} ({scope}): {np.mean(list(scores.values())):.3f} "
                  f"in {seconds:.0f} s", flush=True)
    return out


def summarise(per_seed):
    rows = {}
    for key in ("floors", "models"):
        for name in per_seed[0][key]:
            means = []
            for res in per_seed:
                entry = res[key][name]
                values = entry["r2"] if key == "models" else entry
                means.append(float(np.mean(list(values.values()))))
            rows[name] = {"mean": float(np.mean(means)), "sd": float(np.std(means)),
                          "median": float(np.median(means)), "per_seed": means}
    return rows


def summarise_decoders(per_seed):
    out = {}
    for name, table in per_seed[0]["decoders"].items():
        out[name] = {}
        for decoder in table:
            means = [float(np.mean(list(res["decoders"][name][decoder].values()))) for res in per_seed]
            out[name][decoder] = {"mean": float(np.mean(means)), "sd": float(np.std(means)),
                                  "per_seed": means}
    return out


def write(report, out=None):
    s = report["summary"]
    lines = ["# Encoder quality on the simulator", "",
             f"Velocity R² (val+test, per-session OLS on frozen embeddings; floors as labelled), "
             f"{len(report['seeds'])} seeds x {report['n_sessions']} sessions x {report['duration']:g} s; "
             f"encoders trained self-supervised on train segments (epochs {report['epochs']}; "
             f"base settings {report['model']}, with the per-model overrides {report['extra']}, over "
             f"the library defaults).", "",
             "| features | mean ± sd over seeds | median |", "|---|---|---|"]
    for name, r in s.items():
        lines.append(f"| {name} | {r['mean']:.3f} ± {r['sd']:.3f} | {r['median']:.3f} |")
    lines += ["", "The same three linear decoders on raw features and on embeddings (mean ± sd over "
              "seeds): per-bin OLS (the reference protocol, the rows above), OLS after the floor's "
              "50 ms Gaussian smoothing (on spike counts this *is* the smoothed-spike floor), and "
              f"ridge (penalty by contiguous 5-fold CV) on the smoothed features at lags "
              f"{[10 * k for k in LAGS]} ms:", "",
              "| features | per-bin OLS | OLS on 50 ms-smoothed | lagged ridge on 50 ms-smoothed |",
              "|---|---|---|---|"]
    for name, r in report["decoders"].items():
        lines.append(f"| {name} | " + " | ".join(f"{r[d]['mean']:.3f} ± {r[d]['sd']:.3f}" for d in
                                                 ("per-bin OLS", "OLS on 50 ms-smoothed",
                                                  "lagged ridge on 50 ms-smoothed")) + " |")
    lines += ["", "Probe R² (mean over sessions) during training, seed "
              f"{report['seeds'][0]}, multi-session models:", "",
              "| model | epoch | steps | loss | mean readout | concat readout |", "|---|---|---|---|---|---|"]
    first = report["per_seed"][0]["curves"]
    for name in ("teacher (multi-session)", "LFP model (multi-session)"):
        for p in first[name][0]:
            lines.append(f"| {name} | {p['epoch']} | {p['steps']} | {p['loss']:.4f} | "
                         f"{np.mean(list(p['mean'].values())):.3f} | {np.mean(list(p['concat'].values())):.3f} |")
    lines += ["", f"Total {report['seconds']:.0f} s. Reference (real data): teacher 0.69, LFP models 0.24-0.27."]
    fig = None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        for name, color in (("teacher (multi-session)", "C0"), ("LFP model (multi-session)", "C1")):
            pts = first[name][0]
            ax.plot([p["steps"] for p in pts], [np.mean(list(p["mean"].values())) for p in pts],
                    "-o", color=color, label=f"{name}, mean readout")
            ax.plot([p["steps"] for p in pts], [np.mean(list(p["concat"].values())) for p in pts],
                    "--o", color=color, label=f"{name}, concat readout")
        ax.axhline(s["ridge: smoothed spikes"]["mean"], color="C0", lw=0.8, ls=":", label="ridge: smoothed spikes")
        ax.axhline(s["ridge: LFP"]["mean"], color="C1", lw=0.8, ls=":", label="ridge: LFP")
        ax.set_xlabel("optimizer steps")
        ax.set_ylabel("velocity R² (val+test)")
        ax.legend(fontsize=7, frameon=False)
        fig.tight_layout()
    except ImportError:  # pragma: no cover
        pass
    write_results("encoder_quality", report, lines, quick=report["quick"], out=out, figure=fig)


def main(argv=None):
    parser = make_parser(__doc__, seeds=(0, 1, 2),
                         quick_help="1 seed, 2 x 60 s sessions, 4 epochs (about a minute)")
    parser.add_argument("--epochs", type=int, default=8, help="LFP model epochs (8 x 60 = 480 steps)")
    parser.add_argument("--teacher-epochs", type=int, default=45,
                        help="45 x 60 = 2,700 steps on 2 x 600 s")
    parser.add_argument("--teacher-params", type=literal_dict, default={},
                        help="dict (JSON or Python literal) over the defaults")
    parser.add_argument("--lfp-params", type=literal_dict, default={},
                        help="dict (JSON or Python literal) over the defaults")
    parser.add_argument("--probe-every", type=int, default=None,
                        help="epochs between probe points (default: 5 points per model)")
    parser.add_argument("--duration", type=float, default=600.0,
                        help="seconds per session (the reference's sessions: ~5-11 min)")
    parser.add_argument("--sessions", type=int, default=2)
    args = parse_args(parser, argv)
    if args.quick:
        args.seeds, args.epochs, args.teacher_epochs, args.probe_every, args.duration = [0], 4, 4, 2, 60.0
    EXTRA["teacher"] = args.teacher_params
    EXTRA["LFP model"] = args.lfp_params
    cache = ModelCache(enabled=not (args.quick or args.no_cache))
    epochs = {"teacher": args.teacher_epochs, "LFP model": args.epochs}
    start = time.perf_counter()
    per_seed = []
    for seed in args.seeds:
        print(f"seed {seed}", flush=True)
        per_seed.append(run_seed(seed, epochs, args.probe_every, args.duration, args.sessions, cache))
    report = {"seeds": args.seeds, "epochs": epochs, "extra": EXTRA, "duration": args.duration,
              "n_sessions": args.sessions, "model": MODEL, "per_seed": per_seed,
              "summary": summarise(per_seed), "decoders": summarise_decoders(per_seed),
              "seconds": time.perf_counter() - start, "quick": args.quick}
    write(report, args.out)


if __name__ == "__main__":
    main()
