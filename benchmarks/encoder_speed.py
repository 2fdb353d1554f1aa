"""Speed of the distillation encoders on CPU: throughput, PyTorch at equal FLOPs, share of peak.

Measured in one run, the sides of every comparison interleaved repeat by repeat so that the
noise of a shared machine hits them alike; every number is a median over ``--repeats``:

* **training** throughput (tokens/s) of one full training step (forward, backward, AdamW) of the
  three models: the spike teacher (``MaskedSpikeTransformer``'s masked autoencoder), the LFP
  model (``LFPTransformer``'s) and the distilled student (``DistilledLFPTransformer``'s
  reconstruction + alignment objective), at the library defaults and at the reference width and
  depth (``PAPER_PARAMS``: 10 x 256) on 0.5 s windows;
* **transform** throughput (bins/s) of each fitted estimator;
* the **encoder stack** alone (forward + backward of the same ``(B, L, d)`` tokens) against
  ``torch.nn.TransformerEncoder`` at **equal FLOPs**: our gated MLP has three ``d x 4d`` matrices,
  so torch's feed-forward is widened to ``6d`` (pre-norm, batch-first, GELU, no dropout); both
  then do ``32 N d^2`` GEMM FLOPs per layer forward plus ``4 B L^2 d`` in attention. "speed" is
  torch's time / ours (>= 1 means ours is at least as fast);
* the machine's **matmul peak**, measured in the same loop: a plain ``torch.matmul`` of each
  GEMM shape of the model (``(B*L, d) @ (d, k)`` for k in 3d, d, 4d and ``(B*L, 4d) @ (4d, d)``),
  the best GFLOP/s of them; the encoders' achieved GFLOP/s (forward + backward counted as 3x the
  forward FLOPs) is stated as a share of it. The reference size is also timed on its real 5 s
  windows (500 bins x 2 patches = 1,000 tokens, batch 2).

Run: ``python -m benchmarks.encoder_speed [--repeats 7] [--threads 1] [--quick]``. Writes
``benchmarks/results/encoder_speed.{json,md}`` (``--quick``: ``encoder_speed_quick.*``).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from benchmarks._harness import machine, make_parser, parse_args, write_results
from skdistill.estimators import PAPER_PARAMS
from skdistill.nn import MaskedAutoencoder, Transformer
from skdistill.nn._distill import DistillationStudent

N_CHANNELS = 96
TEACHER_DIM = 128  # the default teacher's width: the student's alignment target

#: model -> size -> module size and batch shape (training and transform)
MODELS = {
    "teacher": {
        "default": dict(d_model=128, n_layers=2, n_heads=4, decoder_width=48, decoder_layers=1,
                        patch_size=32, segment_length=50, batch_size=32),
        "reference": dict(d_model=256, n_layers=10, n_heads=8, decoder_width=192,
                          decoder_layers=4, patch_size=PAPER_PARAMS["spikes"]["patch_size"],
                          segment_length=50, batch_size=32),
    },
    "LFP model": {
        "default": dict(d_model=64, n_layers=4, n_heads=4, decoder_width=48, decoder_layers=1,
                        patch_size=32, segment_length=50, batch_size=32),
        "reference": dict(d_model=256, n_layers=10, n_heads=8, decoder_width=192,
                          decoder_layers=4, patch_size=PAPER_PARAMS["lfp"]["patch_size"],
                          segment_length=50, batch_size=32),
    },
    "student": {
        "default": dict(d_model=64, n_layers=4, n_heads=4, patch_size=32, segment_length=50,
                        batch_size=32),
        "reference": dict(d_model=256, n_layers=10, n_heads=8,
                          patch_size=PAPER_PARAMS["lfp"]["patch_size"], segment_length=50,
                          batch_size=32),
    },
}

#: encoder stacks compared with torch: (d, layers, heads, bins, patches, batch)
ENCODERS = {
    "teacher default (128 x 2)": (128, 2, 4, 50, 3, 32),
    "LFP / student default (64 x 4)": (64, 4, 4, 50, 3, 32),
    "reference (256 x 10), 0.5 s windows": (256, 10, 8, 50, 2, 32),
    "reference (256 x 10), 5 s windows": (256, 10, 8, 500, 2, 2),
}


def interleaved(fns, repeats, clock=time.perf_counter):
    """Warm every function up once, then time them in turn ``repeats`` times with ``clock``
    (wall time by default; ``time.process_time`` counts only this process's CPU time)."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = clock()
            fn()
            times[name].append(clock() - start)
    return times


# --------------------------------------------------------------------------- training steps


def _module(model, cfg):
    torch.manual_seed(0)
    common = dict(patch_size=cfg["patch_size"], d_model=cfg["d_model"], n_layers=cfg["n_layers"],
                  n_heads=cfg["n_heads"], value_embedding="conv")
    if model == "student":
        return DistillationStudent(N_CHANNELS, 1, teacher_dim=TEACHER_DIM, **common)
    return MaskedAutoencoder(N_CHANNELS, 1, decoder_width=cfg["decoder_width"],
                             decoder_layers=cfg["decoder_layers"], mask_ratio=0.6,
                             reconstruction="poisson" if model == "teacher" else "mse", **common)


def _data(model, cfg, rows=None):
    gen = torch.Generator().manual_seed(0)
    shape = (cfg["batch_size"], cfg["segment_length"], N_CHANNELS) if rows is None else (rows, N_CHANNELS)
    if model == "teacher":
        return torch.poisson(torch.full(shape, 0.5), generator=gen)
    return torch.randn(shape, generator=gen)


def train_step_fn(model, cfg, compiled=False):
    """One optimizer step of ``model`` at ``cfg`` and the tokens it processes; ``compiled``: the
    forward through ``torch.compile(module)`` (as ``compile=True`` estimators train)."""
    module = _module(model, cfg)
    forward = torch.compile(module) if compiled else module
    opt = torch.optim.AdamW(module.parameters(), 1e-3)
    x = _data(model, cfg)
    session = torch.zeros(cfg["batch_size"], dtype=torch.long)
    kwargs = {}
    if model == "student":
        kwargs["target"] = torch.randn(cfg["batch_size"], cfg["segment_length"], TEACHER_DIM,
                                       generator=torch.Generator().manual_seed(1))
    n_tokens = cfg["batch_size"] * cfg["segment_length"] * module.tokenizer.n_patches

    def step():
        loss = forward(x, session, **kwargs)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step, n_tokens


def fitted_estimator(model, cfg):
    """A fitted estimator of ``model`` (one short epoch: only its transform is timed)."""
    from sklearn.frozen import FrozenEstimator

    from skdistill import DistilledLFPTransformer, LFPTransformer, MaskedSpikeTransformer

    params = {k: v for k, v in cfg.items() if k not in ("batch_size", "decoder_width",
                                                         "decoder_layers")}
    fit_rows = 2 * cfg["segment_length"] * 8
    X = _data(model, cfg, rows=fit_rows).numpy().astype(float)
    kw = dict(max_epochs=1, random_state=0, validation_fraction=0.0)
    if model == "teacher":
        return MaskedSpikeTransformer(**params, decoder_width=cfg["decoder_width"],
                                      decoder_layers=cfg["decoder_layers"], **kw).fit(X)
    if model == "LFP model":
        return LFPTransformer(**params, decoder_width=cfg["decoder_width"],
                              decoder_layers=cfg["decoder_layers"], **kw).fit(X)
    spikes = _data("teacher", cfg, rows=fit_rows).numpy().astype(float)
    teacher = MaskedSpikeTransformer(max_epochs=1, random_state=0,
                                     validation_fraction=0.0).fit(spikes)
    return DistilledLFPTransformer(FrozenEstimator(teacher), **params, **kw).fit(X, teacher_X=spikes)


def measure_training(repeats, sizes):
    out = {}
    for size in sizes:
        fns, tokens = {}, {}
        for model in MODELS:
            fns[model], tokens[model] = train_step_fn(model, MODELS[model][size])
        print(f"[train, {size}] {', '.join(fns)} (interleaved) ...", flush=True)
        times = interleaved(fns, repeats)
        out[size] = {model: {"tokens_per_s": tokens[model] / float(np.median(t)),
                             "step_s": float(np.median(t)), "tokens_per_step": tokens[model],
                             "times": t} for model, t in times.items()}
    return out


def measure_transform(repeats, sizes, rows):
    out = {}
    for size in sizes:
        fns = {}
        for model in MODELS:
            est = fitted_estimator(model, MODELS[model][size])
            X = _data(model, MODELS[model][size], rows=rows[size]).numpy().astype(float)
            fns[model] = (lambda est=est, X=X: est.transform(X))
        print(f"[transform, {size}] (interleaved) ...", flush=True)
        times = interleaved(fns, repeats)
        out[size] = {model: {"bins_per_s": rows[size] / float(np.median(t)),
                             "seconds": float(np.median(t)), "rows": rows[size], "times": t}
                     for model, t in times.items()}
    return out


# --------------------------------------------------------------------------- encoder vs torch


def encoder_flops(d, layers, batch, length):
    """Forward FLOPs of one stack (ours or torch's at 6d): GEMMs 32 N d^2 + attention 4 B L^2 d
    per layer (N = B * L tokens)."""
    n = batch * length
    return layers * (32 * n * d * d + 4 * batch * length * length * d)


def encoder_stacks(d, layers, heads, bins, patches, batch):
    """Tokens ``x`` (B, L, d), their positions, our Transformer and torch's at equal FLOPs
    (pre-norm, batch-first, GELU, a 6d feed-forward, no dropout)."""
    torch.manual_seed(0)
    x = torch.randn(batch, bins * patches, d)
    positions = torch.arange(bins).repeat_interleave(patches).expand(batch, -1)
    ours = Transformer(d, layers, heads, 4.0, 0.0)
    layer = torch.nn.TransformerEncoderLayer(d, heads, dim_feedforward=6 * d, dropout=0.0,
                                             activation="gelu", batch_first=True, norm_first=True)
    theirs = torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
    return x, positions, ours, theirs


def encoder_pair(d, layers, heads, bins, patches, batch):
    """Forward+backward closures of our Transformer and torch's (6d feed-forward), and the
    matmul-peak closures of the model's GEMM shapes."""
    x, positions, ours, theirs = encoder_stacks(d, layers, heads, bins, patches, batch)
    length = bins * patches

    def ours_step():
        ours(x, positions).sum().backward()

    def theirs_step():
        theirs(x).sum().backward()

    n = batch * length
    shapes = [(n, d, 3 * d), (n, d, d), (n, d, 4 * d), (n, 4 * d, d)]
    mats = [(torch.randn(m, k), torch.randn(k, p)) for m, k, p in shapes]

    def matmuls():
        # each shape timed on its own: the peak is the best GFLOP/s of any of them
        rates = []
        for a, b in mats:
            start = time.perf_counter()
            torch.matmul(a, b)
            rates.append(2 * a.shape[0] * a.shape[1] * b.shape[1] / (time.perf_counter() - start))
        matmuls.rates.append(rates)

    matmuls.rates = []
    return ours_step, theirs_step, matmuls, shapes


def measure_encoders(repeats, names):
    out = {}
    for name in names:
        d, layers, heads, bins, patches, batch = ENCODERS[name]
        print(f"[encoder, {name}] ours vs torch.nn.TransformerEncoder (6d) vs matmul (interleaved) ...",
              flush=True)
        ours, theirs, matmuls, shapes = encoder_pair(d, layers, heads, bins, patches, batch)
        times = interleaved({"ours": ours, "torch": theirs, "matmul": matmuls}, repeats)
        t_ours, t_torch = np.array(times["ours"]), np.array(times["torch"])
        rates = np.array(matmuls.rates[1:])  # (repeats, shapes); the first call was the warm-up
        peak = float(np.max(np.median(rates, axis=0)))
        flops = 3 * encoder_flops(d, layers, batch, bins * patches)
        tokens = batch * bins * patches
        ours_gflops = flops / float(np.median(t_ours)) / 1e9
        torch_gflops = flops / float(np.median(t_torch)) / 1e9
        out[name] = {
            "d_model": d, "n_layers": layers, "n_heads": heads, "tokens": tokens,
            "batch": batch, "length": bins * patches,
            "ours_s": float(np.median(t_ours)), "torch_s": float(np.median(t_torch)),
            "time_ratio_median": float(np.median(t_ours / t_torch)),
            "speed_median": float(np.median(t_torch / t_ours)),
            "ours_tokens_per_s": tokens / float(np.median(t_ours)),
            "torch_tokens_per_s": tokens / float(np.median(t_torch)),
            "flops_fwd_bwd": flops, "ours_gflops": ours_gflops, "torch_gflops": torch_gflops,
            "matmul_peak_gflops": peak / 1e9,
            "matmul_gflops_per_shape": {f"{m}x{k}@{k}x{p}": float(r) / 1e9 for (m, k, p), r
                                        in zip(shapes, np.median(rates, axis=0))},
            "ours_share_of_peak": ours_gflops / (peak / 1e9),
            "torch_share_of_peak": torch_gflops / (peak / 1e9),
            "ours_times": times["ours"], "torch_times": times["torch"],
        }
    return out


# --------------------------------------------------------------------------- main


def main(argv=None):
    parser = make_parser(__doc__, seeds=(0,),
                         quick_help="2 repeats, default sizes and the 0.5 s reference encoder only")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--parts", nargs="+", default=["encoders", "train", "transform"],
                        choices=["encoders", "train", "transform"],
                        help="what to measure (default: all); a partial run writes "
                             "encoder_speed_partial.* and never the real results")
    args = parse_args(parser, argv)
    repeats = 2 if args.quick else max(5, args.repeats)
    sizes = ["default"] if args.quick else ["default", "reference"]
    names = list(ENCODERS)[:3] if args.quick else list(ENCODERS)
    report = {"repeats": repeats, "models": MODELS, "encoders": ENCODERS,
              "paper_params": PAPER_PARAMS, "threads": torch.get_num_threads()}
    parts = set(args.parts)
    report["encoder_vs_torch"] = measure_encoders(repeats, names) if "encoders" in parts else {}
    report["train"] = measure_training(repeats, sizes) if "train" in parts else {}
    rows = {"default": 5_000 if args.quick else 20_000, "reference": 5_000}
    report["transform"] = measure_transform(repeats, sizes, rows) if "transform" in parts else {}
    partial = parts != {"encoders", "train", "transform"}
    write(report, quick=args.quick, out=args.out, name="encoder_speed_partial" if partial else None,
          command=" ".join(["python -m benchmarks.encoder_speed"] + list(argv or sys.argv[1:])))
    return report


def write(report, quick=False, out=None, name=None, command=None):
    m = machine()
    command = command or (f"python -m benchmarks.encoder_speed{' --quick' if quick else ''} "
                          f"--threads {report['threads']}")
    lines = ["# Encoder speed on CPU", "",
             f"Machine: {m['platform']}, {m['cores']} cores (shared with other jobs while "
             f"measured), torch {m['torch']}, {report['threads']} thread(s); medians of "
             f"{report['repeats']} interleaved repeats. Command: `{command}`.", "",
             "## Encoder stack against `torch.nn.TransformerEncoder` at equal FLOPs", "",
             "Forward + backward of the same `(B, L, d)` tokens; torch's feed-forward is 6d so that "
             "both do the same GEMM FLOPs (our gated MLP: three d x 4d matrices). speed = torch's "
             "time / ours (>= 1: ours at least as fast), median of per-repeat ratios. Peak = the "
             "best GFLOP/s of a plain `torch.matmul` of the model's GEMM shapes, timed in the same "
             "loop.", "",
             "| stack | tokens (B x L) | ours s | torch (6d) s | speed ours vs torch | ours GFLOP/s "
             "| torch GFLOP/s | matmul peak GFLOP/s | ours % of peak | torch % of peak |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for stack, r in report["encoder_vs_torch"].items():
        lines.append(f"| {stack} | {r['batch']} x {r['length']} | {r['ours_s']:.3f} | "
                     f"{r['torch_s']:.3f} | **{r['speed_median']:.2f}x** | {r['ours_gflops']:.1f} | "
                     f"{r['torch_gflops']:.1f} | {r['matmul_peak_gflops']:.1f} | "
                     f"{100 * r['ours_share_of_peak']:.0f} % | {100 * r['torch_share_of_peak']:.0f} % |")
    lines += ["", "## Training and transform throughput", "",
              "One full training step (forward, backward, AdamW; the masked autoencoders encode "
              "the 40 % visible tokens and decode all), batch 32 windows of 50 bins, 96 channels; "
              "transform of 20,000 rows (reference size: 5,000) by the fitted estimator "
              "(half-overlapping windows, so every row is encoded twice).", "",
              "| model | size | train tokens/s | train step s | transform bins/s |",
              "|---|---|---|---|---|"]
    labels = {"teacher": "teacher (`MaskedSpikeTransformer`)", "LFP model": "LFP model (`LFPTransformer`)",
              "student": "student (`DistilledLFPTransformer`)"}
    for size in dict.fromkeys([*report["train"], *report["transform"]]):
        for model in MODELS:
            tr = report["train"].get(size, {}).get(model)
            tf = report["transform"].get(size, {}).get(model)
            cfg = report["models"][model][size]
            train_tps = f"{tr['tokens_per_s']:,.0f}" if tr else "-"
            train_s = f"{tr['step_s']:.3f}" if tr else "-"
            bins = f"{tf['bins_per_s']:,.0f}" if tf else "-"
            lines.append(f"| {labels[model]} | {size} ({cfg['d_model']} x {cfg['n_layers']}, "
                         f"patch {cfg['patch_size']}) | {train_tps} | {train_s} | {bins} |")
    lines += ["", "FLOPs are counted, not measured: per layer forward `32 N d^2` (GEMMs) + "
              "`4 B L^2 d` (attention), backward twice the forward. Memory of long recordings: "
              "`benchmarks/results/long_recording.md`."]
    write_results(name or "encoder_speed", report, lines, quick=quick, out=out)


if __name__ == "__main__":
    main()
