"""Does the conv-history rescaling of masked training help the LFP model? (issue 3 follow-up)

Masked training hides the masked tokens from the causal-conv value embedding and scales the
visible history by 1 / (visible share), so that ``transform`` (no masking) feeds the conv the same
expected input (``CausalConvValueEmbedding(visible_fraction=...)``). The teacher gained from it
(``teacher_variants.md``); for the LFP model the evidence was mixed (one demo seed dropped). This
script trains the same ``LFPTransformer`` side by side with and without the rescaling (the
embedder's ``visible_fraction`` ignored) on the ``encoder_quality`` protocol: 2 x 600 s sessions,
train segments of the 80/10/10 split, per-session OLS on val+test, both readouts.

Run: ``python -m benchmarks.lfp_history_rescaling [--seeds 0 1 2] [--epochs 8] [--threads 2]``.
Writes ``benchmarks/results/lfp_history_rescaling.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback

from benchmarks.encoder_quality import MODEL, probe, simulate
from skdistill import LFPTransformer

RESULTS = Path(__file__).parent / "results"


class WithoutRescaling(Callback):
    """Make the value embedder ignore ``visible_fraction`` (the behaviour before the rescaling)."""

    def on_train_begin(self, net, **kwargs):
        embedder = net.module_.tokenizer.value_embedding
        plain = type(embedder).forward
        embedder.forward = lambda values, valid, visible_fraction=1.0: plain(embedder, values, valid)


def run_seed(seed, epochs, duration):
    _, L, y, session, train, evaluate = simulate(seed, duration, n_sessions=2)
    out = {}
    for variant, callbacks in (("rescaled (library)", None), ("not rescaled", [WithoutRescaling()])):
        model = LFPTransformer(**MODEL, max_epochs=epochs, random_state=seed, callbacks=callbacks)
        start = time.perf_counter()
        model.fit(L[train], session=session[train])
        seconds = time.perf_counter() - start
        out[variant] = {"seconds": seconds, "loss": float(model.history_[-1, "train_loss"])}
        for readout in ("mean", "concat"):
            Z = model.set_params(readout=readout).transform(L, session=session)
            r2 = probe(Z, y, session, train, evaluate)
            out[variant][readout] = float(np.mean(list(r2.values())))
        print(f"seed {seed} {variant}: {out[variant]}", flush=True)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    per_seed = {seed: run_seed(seed, args.epochs, args.duration) for seed in args.seeds}
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
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lfp_history_rescaling.json").write_text(json.dumps(report, indent=2))
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
    (RESULTS / "lfp_history_rescaling.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
