"""Where our encoder's time goes against ``torch.nn.TransformerEncoder`` at equal FLOPs, and what
``torch.compile`` changes (issue 15, item 1).

``benchmarks/encoder_speed.py`` puts our stack at 0.91-0.96x torch's speed at equal GEMM FLOPs.
This benchmark splits one pre-norm layer into its sub-layers and times forward + backward of each,
ours against torch's counterpart on the same ``(B, L, d)`` tokens:

* **norm**: our ``RMSNorm`` against ``torch.nn.LayerNorm``;
* **attention**: our ``Attention`` (fused qkv, rotary on query and key, SDPA) against
  ``torch.nn.MultiheadAttention`` (SDPA, no positions);
* **feed-forward**: our gated GELU MLP (three ``d x 4d`` matrices) against torch's ``6d`` GELU
  feed-forward: equal GEMM FLOPs, but the gate costs two more elementwise passes over ``N x 4d``
  forward and backward;
* the **GEMMs alone** of each feed-forward (``addmm`` / ``mm`` of its forward and backward
  shapes), so the feed-forward's non-GEMM time is its total minus this;

and the whole stack four ways: ours and torch's in eager mode, and each under ``torch.compile``
(inductor), with the compile time. Compiled, ``skdistill.nn`` takes its plain tensor expressions
instead of its hand-written autograd functions, which the compiler cannot see into.
Last, one full training step (forward, backward, AdamW) of the teacher, the LFP model and the
student at their default sizes, eager against compiled: what ``compile=True`` changes in ``fit``.

Times are CPU seconds of this process (``time.process_time``), interleaved repeat by repeat,
medians: on a machine shared with other jobs, CPU time does not count the time the process waits
for a core, wall time does. Run ``python -m benchmarks.encoder_speed_breakdown [--repeats 9]
[--quick]``; writes ``benchmarks/results/encoder_speed_breakdown.{json,md,png}``.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from torch import nn

from benchmarks._harness import machine, make_parser, parse_args, write_results
from benchmarks.encoder_speed import ENCODERS, MODELS, encoder_stacks, interleaved, train_step_fn
from skdistill.nn._transformer import Attention, GatedMLP, RMSNorm

#: (d, layers, heads, bins, patches, batch): the four stacks of ``encoder_speed.ENCODERS``
SIZES = dict(ENCODERS)


def sublayers(d, heads, bins, patches, batch):
    """Forward + backward closures of each sub-layer, ours and torch's."""
    torch.manual_seed(0)
    x = torch.randn(batch, bins * patches, d, requires_grad=True)
    positions = torch.arange(bins).repeat_interleave(patches).expand(batch, -1)
    ours_norm, torch_norm = RMSNorm(d), nn.LayerNorm(d)
    ours_attn, torch_attn = Attention(d, heads), nn.MultiheadAttention(d, heads, batch_first=True)
    rotary = ours_attn.rotary.half(positions)
    ours_mlp = GatedMLP(d, 4.0)
    torch_mlp = nn.Sequential(nn.Linear(d, 6 * d), nn.GELU(), nn.Linear(6 * d, d))
    n = batch * bins * patches
    flat = x.detach().reshape(n, d)

    def gemms(hidden, fused):
        """The feed-forward's GEMMs: up-projection to ``fused`` columns, down from ``hidden``."""
        w_up, b_up = torch.randn(fused, d), torch.randn(fused)
        w_down, b_down = torch.randn(d, hidden), torch.randn(d)
        g_up, h, g_down = torch.randn(n, fused), torch.randn(n, hidden), torch.randn(n, d)

        def run():
            torch.addmm(b_up, flat, w_up.t())      # forward up
            torch.addmm(b_down, h, w_down.t())     # forward down
            g_down @ w_down, g_down.t() @ h        # backward down: input, weight
            g_up @ w_up, g_up.t() @ flat           # backward up: input, weight
        return run

    return {
        ("norm", "ours"): lambda: ours_norm(x).sum().backward(),
        ("norm", "torch"): lambda: torch_norm(x).sum().backward(),
        ("attention", "ours"): lambda: ours_attn(x, positions, None, rotary).sum().backward(),
        ("attention", "torch"): lambda: torch_attn(x, x, x, need_weights=False)[0].sum().backward(),
        ("feed-forward", "ours"): lambda: ours_mlp(x).sum().backward(),
        ("feed-forward", "torch"): lambda: torch_mlp(x).sum().backward(),
        ("feed-forward GEMMs", "ours"): gemms(4 * d, 8 * d),
        ("feed-forward GEMMs", "torch"): gemms(6 * d, 6 * d),
    }


def stacks(d, layers, heads, bins, patches, batch, compile_=True):
    """Forward + backward closures of the whole stack (eager and compiled) and compile seconds."""
    x, positions, ours, theirs = encoder_stacks(d, layers, heads, bins, patches, batch)
    fns = {"ours eager": lambda: ours(x, positions).sum().backward(),
           "torch eager": lambda: theirs(x).sum().backward()}
    compile_s, gap = {}, None
    torch._dynamo.reset()
    if compile_:
        for name, module, args in (("ours compiled", ours, (x, positions)),
                                   ("torch compiled", theirs, (x,))):
            start = time.perf_counter()
            compiled = torch.compile(module)
            compiled(*args).sum().backward()  # the first call compiles (forward and backward)
            compile_s[name] = time.perf_counter() - start
            fns[name] = (lambda c=compiled, a=args: c(*a).sum().backward())
            if module is ours:
                with torch.no_grad():
                    gap = float((compiled(x, positions) - ours(x, positions)).abs().max())
    return fns, compile_s, gap


def training_steps(repeats, models):
    """One full training step (forward, backward, AdamW) of each model at its default size,
    eager against compiled (``compile=True``), with the compile seconds."""
    out = {}
    for model in models:
        cfg = MODELS[model]["default"]
        torch._dynamo.reset()  # a fresh compile cache, as in a new process (no recompile limit)
        eager, _ = train_step_fn(model, cfg)
        compiled, _ = train_step_fn(model, cfg, compiled=True)
        start = time.perf_counter()
        compiled()
        compiled()  # the second call compiles nothing more (same shapes)
        seconds = time.perf_counter() - start
        times = interleaved({"eager": eager, "compiled": compiled}, repeats, time.process_time)
        e, c = np.array(times["eager"]), np.array(times["compiled"])
        out[model] = {"eager_s": float(np.median(e)), "compiled_s": float(np.median(c)),
                      "speedup": float(np.median(e / c)), "compile_seconds": seconds}
        print(f"  {model}: eager {out[model]['eager_s']:.3f} s, compiled "
              f"{out[model]['compiled_s']:.3f} s per step", flush=True)
    return out


def main(argv=None):
    parser = make_parser(__doc__, seeds=(0,), quick_help="3 repeats, the teacher default only, "
                                                         "no compilation")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--sizes", nargs="+", default=None, metavar="TEXT",
                        help="only the sizes whose name contains one of these (e.g. '5 s'), "
                             "without the training steps; default: all four and the steps")
    args = parse_args(parser, argv)
    repeats = 3 if args.quick else max(5, args.repeats)
    sizes = dict(list(SIZES.items())[:1]) if args.quick else SIZES
    if args.sizes:
        sizes = {k: v for k, v in sizes.items() if any(text in k for text in args.sizes)}
        if not sizes:
            raise SystemExit(f"no size matches {args.sizes}; sizes: {list(SIZES)}")
    report = {"repeats": repeats, "sizes": SIZES, "threads": torch.get_num_threads(),
              "sublayers": {}, "stacks": {}}
    for size, (d, layers, heads, bins, patches, batch) in sizes.items():
        print(f"[{size}] sub-layers ...", flush=True)
        times = interleaved(sublayers(d, heads, bins, patches, batch), repeats, time.process_time)
        report["sublayers"][size] = {f"{part} | {side}": float(np.median(t))
                                     for (part, side), t in times.items()}
        print(f"[{size}] whole stack, eager{'' if args.quick else ' and compiled'} ...", flush=True)
        fns, compile_s, gap = stacks(d, layers, heads, bins, patches, batch, not args.quick)
        times = interleaved(fns, repeats, time.process_time)
        torch_t = np.array(times["torch eager"])
        report["stacks"][size] = {
            "seconds": {k: float(np.median(v)) for k, v in times.items()},
            "speed_vs_torch_eager": {k: float(np.median(torch_t / np.array(v)))
                                     for k, v in times.items()},
            "compile_seconds": compile_s, "compiled_max_abs_difference": gap}
    if not (args.quick or args.sizes):
        print("training steps, eager and compiled ...", flush=True)
        report["training"] = training_steps(repeats, list(MODELS))
    command = " ".join(["python -m benchmarks.encoder_speed_breakdown"] + list(argv or sys.argv[1:]))
    write(report, args.quick, args.out, command)
    return report


def write(report, quick, out, command):
    m = machine()
    lines = ["# Where our encoder's time goes, against torch at equal FLOPs", "",
             f"Machine: {m['platform']}, {m['cores']} cores (shared with other jobs while "
             f"measured), torch {m['torch']}, {report['threads']} thread(s); CPU seconds of this "
             f"process, medians of {report['repeats']} interleaved repeats. Command: `{command}`.",
             "", "## One layer's sub-layers, forward + backward (ms)", "",
             "extra = ours - torch. The feed-forwards do equal GEMM FLOPs (ours: gate and up "
             "d x 4d each, down 4d x d; torch: d x 6d and 6d x d); *GEMMs* times the matrix "
             "products alone, so feed-forward minus GEMMs is the elementwise and bias work.", "",
             "| size | part | ours ms | torch ms | extra ms |", "|---|---|---|---|---|"]
    for size, parts in report["sublayers"].items():
        names = dict.fromkeys(k.split(" | ")[0] for k in parts)
        for part in names:
            o, t = parts[f"{part} | ours"] * 1e3, parts[f"{part} | torch"] * 1e3
            lines.append(f"| {size} | {part} | {o:.1f} | {t:.1f} | {o - t:+.1f} |")
        o = parts["feed-forward | ours"] - parts["feed-forward GEMMs | ours"]
        t = parts["feed-forward | torch"] - parts["feed-forward GEMMs | torch"]
        lines.append(f"| {size} | feed-forward without its GEMMs | {o * 1e3:.1f} | {t * 1e3:.1f} "
                     f"| {(o - t) * 1e3:+.1f} |")
    lines += ["", "## The whole stack, eager and compiled", "",
              "speed = torch eager's time / this one's (median of per-repeat ratios; >= 1: at "
              "least as fast as torch eager).", "",
              "| size | variant | s | speed vs torch eager | compile s |", "|---|---|---|---|---|"]
    for size, r in report["stacks"].items():
        for k, s in r["seconds"].items():
            c = r["compile_seconds"].get(k)
            lines.append(f"| {size} | {k} | {s:.3f} | {r['speed_vs_torch_eager'][k]:.2f}x | "
                         f"{'-' if c is None else f'{c:.0f}'} |")
    if report.get("training"):
        lines += ["", "## Training steps of the estimators' modules, eager and compiled", "",
                  "One optimizer step (forward, backward, AdamW) at the default size, batch 32 "
                  "windows of 50 bins, 96 channels: what `compile=True` changes in `fit`.", "",
                  "| model | eager s | compiled s | speedup | compile s (first two calls) |",
                  "|---|---|---|---|---|"]
        for model, r in report["training"].items():
            lines.append(f"| {model} | {r['eager_s']:.3f} | {r['compiled_s']:.3f} | "
                         f"{r['speedup']:.2f}x | {r['compile_seconds']:.0f} |")
    gaps = [r["compiled_max_abs_difference"] for r in report["stacks"].values()
            if r["compiled_max_abs_difference"] is not None]
    if gaps:
        lines += ["", "Our compiled stack's output equals the eager one's to "
                  + ", ".join(f"{g:.1e}" for g in gaps) + " (max abs difference)."]

    def figure(path):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        sizes = list(report["sublayers"])
        fig, axes = plt.subplots(1, len(sizes), figsize=(5 * len(sizes), 3.5), squeeze=False)
        for ax, size in zip(axes[0], sizes):
            parts = report["sublayers"][size]
            names = list(dict.fromkeys(k.split(" | ")[0] for k in parts))
            pos = np.arange(len(names))
            ax.barh(pos - 0.2, [parts[f"{p} | ours"] * 1e3 for p in names], 0.4, label="ours")
            ax.barh(pos + 0.2, [parts[f"{p} | torch"] * 1e3 for p in names], 0.4, label="torch")
            ax.set_yticks(pos, names)
            ax.set_xlabel("forward + backward, CPU ms")
            ax.set_title(size, fontsize=9)
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    write_results("encoder_speed_breakdown", report, lines, quick=quick, out=out, figure=figure)


if __name__ == "__main__":
    main()
