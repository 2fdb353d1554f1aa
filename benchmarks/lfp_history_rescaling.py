"""Does the conv-history rescaling of masked training help the LFP model? (issue 3 follow-up)

Masked training hides the masked tokens from the causal-conv value embedding and scales the
visible history by 1 / (visible share), so that ``transform`` (no masking) feeds the conv the same
expected input (``CausalConvValueEmbedding(visible_fraction=...)``). The teacher gained from it
(``teacher_variants.md``); for the LFP model the evidence was mixed (one demo seed dropped). This
script trains the same ``LFPTransformer`` side by side with and without the rescaling (the
embedder's ``visible_fraction`` ignored) on the ``encoder_quality`` protocol: 2 x 600 s sessions,
train segments of the 80/10/10 split, per-session OLS on val+test, both readouts.

Run: ``python -m benchmarks.lfp_history_rescaling [--seeds 0 1 2] [--epochs 8] [--threads 2]
[--quick]``. Writes ``benchmarks/results/lfp_history_rescaling.{json,md}``.
"""

from __future__ import annotations

import time

import numpy as np
from skorch.callbacks import Callback

from benchmarks._harness import ModelCache, make_parser, parse_args, write_results
from benchmarks.encoder_quality import MODEL, simulate
from skdistill import LFPTransformer
from skdistill.evaluation import probe_r2


class WithoutRescaling(Callback):
    """Make the value embedder ignore ``visible_fraction`` (the behaviour before the rescaling)."""

    def on_train_begin(self, net, **kwargs):
        embedder = net.module_.tokenizer.value_embedding
        plain = type(embedder).forward
        embedder.forward = lambda values, valid, visible_fraction=1.0: plain(embedder, values, valid)


def run_seed(seed, epochs, duration, cache):
    _, L, y, session, train, evaluate = simulate(seed, duration, n_sessions=2)
    out = {}
    for variant, callbacks in (("rescaled (library)", None), ("not rescaled", [WithoutRescaling()])):
        model = LFPTransformer(**MODEL, max_epochs=epochs, random_state=seed, callbacks=callbacks)
        fit = cache.fit(model, L[train], session=session[train],
                        data={"simulator": "make_reaching_sessions", "seed": seed,
                              "duration": duration, "n_sessions": 2},
                        record=lambda m: {"loss": float(m.history_[-1, "train_loss"])})
        model = fit.estimator
        out[variant] = {"seconds": fit.seconds, "loss": fit.record["loss"]}
        for readout in ("mean", "concat"):
            Z = model.transform(L, session=session, readout=readout)
            r2 = probe_r2(Z, y, session, train=train, test=evaluate)
            out[variant][readout] = float(r2.mean())
        print(f"seed {seed} {variant}: {out[variant]}", flush=True)
    return out


def main(argv=None):
    parser = make_parser(__doc__, seeds=(0, 1, 2),
                         quick_help="1 seed, 2 x 60 s sessions, 1 epoch (about 15 s)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--duration", type=float, default=600.0)
    args = parse_args(parser, argv)
    if args.quick:
        args.seeds, args.epochs, args.duration = [0], 1, 60.0
    # the callbacks change training here (WithoutRescaling), so they are part of the cache key
    cache = ModelCache(enabled=not (args.quick or args.no_cache), ignore=())
    start = time.perf_counter()
    per_seed = {seed: run_seed(seed, args.epochs, args.duration, cache) for seed in args.seeds}
    variants = list(next(iter(per_seed.values())))
    summary = {v: {k: {"mean": float(np.mean([r[v][k] for r in per_seed.values()])),
                       "sd": float(np.std([r[v][k] for r in per_seed.values()])),
                       "per_seed": [r[v][k] for r in per_seed.values()]}
                   for k in ("mean", "concat", "loss")} for v in variants}
    diff = {k: [r[variants[0]][k] - r[variants[1]][k] for r in per_seed.values()]
            for k in ("mean", "concat")}
    report = {"seeds": args.seeds, "epochs": args.epochs, "duration": args.duration,
              "model": MODEL, "per_seed": per_seed, "summary": summary, "difference": diff,
              "seconds": time.perf_counter() - start}
    lines = ["# LFP model: conv-history rescaling in masked training, on and off", "",
             f"`LFPTransformer` ({MODEL}, {args.epochs} epochs), {len(args.seeds)} seeds x 2 "
             f"sessions x {args.duration:g} s; velocity R² of per-session OLS on val+test "
             "(mean over sessions), both readouts of the same fitted model.", "",
             "| variant | mean readout | concat readout | final training loss | per seed (mean readout) |",
             "|---|---|---|---|---|"]
    for v, r in summary.items():
        lines.append(f"| {v} | {r['mean']['mean']:.3f} ± {r['mean']['sd']:.3f} | "
                     f"{r['concat']['mean']:.3f} ± {r['concat']['sd']:.3f} | {r['loss']['mean']:.4f} | "
                     + " / ".join(f"{x:.3f}" for x in r["mean"]["per_seed"]) + " |")
    lines += ["", "Rescaled minus not rescaled, per seed: mean readout "
              + " / ".join(f"{x:+.3f}" for x in diff["mean"]) + "; concat readout "
              + " / ".join(f"{x:+.3f}" for x in diff["concat"]) + ".", "",
              f"Total {report['seconds']:.0f} s."]
    write_results("lfp_history_rescaling", report, lines, quick=args.quick, out=args.out)


if __name__ == "__main__":
    main()
