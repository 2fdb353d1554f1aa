"""Real-time decoding: per-bin latency of ``StreamingDecoder`` on one CPU core, and its R² (issue 15, item 2).

Latency. One process pinned to one core (``os.sched_setaffinity``), one torch thread. For each
model size, ``--repeats`` streams of ``--steps`` bins (after a warm-up that fills the key/value
cache) are timed bin by bin with ``time.perf_counter``: the full ``StreamingDecoder.step`` (input
checks, incremental encoder, folded ridge decoder) and the bare torch streamer. The baseline is what
a streaming system would do without a cache: ``module.encode`` of the last ``segment_length`` bins
at every new bin. Sizes: the LFP model's and the teacher's defaults (96 channels, 50-bin context),
and the paper's size (d 256 x 10 layers, 500-bin context) for scale. Latency does not depend on
the weights; the models are initialised, not trained.

R². The simulator (``make_reaching_sessions``, 2 sessions, the reference's 80/10/10 split of 5 s
segments, the preprocessed LFP of ``benchmarks.encoder_quality.simulate``): an ``LFPTransformer``
with the default size is trained self-supervised, bidirectional and ``causal=True``, on the
training segments with the same budget; a per-session OLS decoder (fitted on training rows)
scores velocity on val+test rows. For the causal model: its batch ``transform`` (centred
half-overlapping windows, as every benchmark reads embeddings), and the streamed embeddings (each
session streamed bin by bin from its first bin through its last, ``StreamingDecoder``), decoded
by the OLS fitted on the batch embeddings (what a user deploys) and by an OLS fitted on the
streamed training rows. The LFP preprocessing is the offline reference chain (zero-phase
filters), so this measures the model's causality, not that of a full online pipeline.

Run: ``python -m benchmarks.streaming_latency [--seeds 0 1 2] [--quick]``.
Writes ``benchmarks/results/streaming_latency.{json,md}`` (``--quick``: ``streaming_latency_quick.*``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LinearRegression

from skdistill import LFPTransformer, MaskedSpikeTransformer
from skdistill.estimators import PAPER_PARAMS
from skdistill.streaming import StreamingDecoder

RESULTS = Path(__file__).parent / "results"
N_CHANNELS = 96
#: the LFP model as encoder_quality trains it (library defaults; batch 32)
MODEL = dict(segment_length=50, d_model=64, n_layers=4, n_heads=4, batch_size=32)


def machine():
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover
        pass
    return {"platform": platform.platform(), "cpu": model, "logical_cores": os.cpu_count(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "load_average_at_start": list(os.getloadavg())}


def _initialised(cls, params, n_rows, rng):
    """An estimator with initialised (untrained) weights: fit with max_epochs=0."""
    if cls is MaskedSpikeTransformer:
        X = rng.poisson(0.5, size=(n_rows, N_CHANNELS)).astype(float)
    else:
        X = rng.standard_normal((n_rows, N_CHANNELS))
    est = cls(**params, causal=True, max_epochs=0, device="cpu", random_state=0).fit(X)
    return est, X


def _percentiles(ms):
    ms = np.asarray(ms)
    return {"median": float(np.median(ms)), "p90": float(np.percentile(ms, 90)),
            "p99": float(np.percentile(ms, 99)), "max": float(ms.max()), "mean": float(ms.mean())}


def time_size(name, cls, params, steps, repeats, baseline_steps, rng):
    context = params.get("segment_length", 50)
    est, X = _initialised(cls, params, max(4 * context, context + steps + 200), rng)
    Z = est.transform(X[: 4 * context])
    ridge = LinearRegression().fit(Z, rng.standard_normal((len(Z), 2)))
    online = StreamingDecoder(est, ridge)
    assert online.decoder_is_affine
    warm = context + 20
    keys = ("StreamingDecoder.step", "torch streamer step", "no cache: encode last window")
    runs = {key: {"wall": [], "cpu": []} for key in keys}

    def timed(key, fn, items):
        wall, cpu = [], []
        for item in items:
            w0, c0 = time.perf_counter(), time.thread_time()
            fn(item)
            cpu.append(time.thread_time() - c0)
            wall.append(time.perf_counter() - w0)
        runs[key]["wall"].append(1e3 * np.asarray(wall))
        runs[key]["cpu"].append(1e3 * np.asarray(cpu))

    rows = torch.as_tensor(X[: warm + steps], dtype=torch.float32)
    module = est.module_.eval()
    index = torch.zeros(1, dtype=torch.long)
    streamer = online._stream  # the same torch object, without the input checks / decoder
    for _ in range(repeats):
        online.reset()
        for row in X[:warm]:
            online.step(row)
        timed(keys[0], online.step, X[warm : warm + steps])
        streamer.reset()
        for row in rows[:warm]:
            streamer.step(row)
        timed(keys[1], streamer.step, rows[warm:])
        with torch.inference_mode():
            timed(keys[2], lambda t: module.encode(rows[None, t - context + 1 : t + 1], index),
                  range(warm, warm + baseline_steps))
    out = {"params": {k: v for k, v in params.items() if isinstance(v, (int, float, str))},
           "context": context, "n_patches": est.module_.tokenizer.n_patches, "timings": {}}
    for key, clocks in runs.items():
        entry = {"bins_per_repeat": len(clocks["wall"][0])}
        for clock, per_repeat in clocks.items():
            stats = [_percentiles(r) for r in per_repeat]
            entry[clock] = {
                "median_ms": float(np.median([s["median"] for s in stats])),
                "p90_ms": float(np.median([s["p90"] for s in stats])),
                "p99_ms": float(np.median([s["p99"] for s in stats])),
                "max_ms": float(max(s["max"] for s in stats)),
                "share_over_1ms": float(np.mean(np.concatenate(per_repeat) > 1.0)),
                "pooled": _percentiles(np.concatenate(per_repeat)), "per_repeat": stats,
            }
        out["timings"][key] = entry
    t = out["timings"]
    step, base = t["StreamingDecoder.step"], t["no cache: encode last window"]
    print(f"  {name}: step median {step['wall']['median_ms']:.3f} ms, p99 "
          f"{step['wall']['p99_ms']:.3f} ms (CPU time {step['cpu']['median_ms']:.3f} / "
          f"{step['cpu']['p99_ms']:.3f}); no cache {base['wall']['median_ms']:.3f} ms", flush=True)
    return out


def _r2(model, Z, y, session, rows_fit, rows_eval):
    """Per-session ``model`` (fitted on ``rows_fit``) scored on ``rows_eval``: ``{session: R²}``."""
    out = {}
    for label in dict.fromkeys(session):
        here = session == label
        fitted = LinearRegression().fit(Z[here & rows_fit], y[here & rows_fit]) if model is None \
            else model[label]
        out[str(label)] = float(fitted.score(Z[here & rows_eval], y[here & rows_eval]))
    return out


def _mean_of_patches(Zc, n_patches):
    return Zc.reshape(len(Zc), n_patches, -1).mean(1)


def quality_seed(seed, duration, epochs):
    from benchmarks.encoder_quality import simulate

    _, L, y, session, train, evaluate = simulate(seed, duration, 2)
    labels = list(dict.fromkeys(session))
    out = {"r2": {}, "train_seconds": {}, "stream_seconds": None}
    for causal in (False, True):
        name = "causal" if causal else "bidirectional"
        model = LFPTransformer(**MODEL, causal=causal, max_epochs=epochs, random_state=seed,
                               device="cpu")
        start = time.perf_counter()
        model.fit(L[train], session=session[train])
        out["train_seconds"][name] = time.perf_counter() - start
        out["steps"] = int(epochs * np.ceil(model.n_windows_ / model.batch_size))
        n_patches = model.module_.tokenizer.n_patches
        Zc = model.transform(L, session=session, readout="concat")
        Zm = model.transform(L, session=session)
        assert np.allclose(_mean_of_patches(Zc, n_patches), Zm, atol=1e-4)  # every patch valid
        for readout, Z in (("mean", Zm), ("concat", Zc)):
            out["r2"][f"{name}, batch transform, {readout} readout"] = _r2(
                None, Z, y, session, train, evaluate)
        if not causal:
            continue
        # stream every session from its first bin (concat readout; the mean is its patch average)
        Sc = np.empty_like(Zc)
        start = time.perf_counter()
        for label in labels:
            rows = np.flatnonzero(session == label)
            Sc[rows] = StreamingDecoder(model, session=label, readout="concat").stream(L[rows])
        out["stream_seconds"] = time.perf_counter() - start
        out["streamed_bins"] = int(len(L))
        for readout, Z, S in (("mean", Zm, _mean_of_patches(Sc, n_patches)), ("concat", Zc, Sc)):
            batch_ols = {label: LinearRegression().fit(Z[(session == label) & train],
                                                       y[(session == label) & train])
                         for label in labels}
            out["r2"][f"causal, streamed, OLS fitted on batch transform, {readout} readout"] = _r2(
                batch_ols, S, y, session, train, evaluate)
            out["r2"][f"causal, streamed, OLS fitted on streamed rows, {readout} readout"] = _r2(
                None, S, y, session, train, evaluate)
        # where both see the same history: a session's first window, transformed on its own
        for label in labels:
            first = np.flatnonzero(session == label)[: MODEL["segment_length"]]
            alone = model.transform(L[first], session=session[first], readout="concat")
            out.setdefault("max_abs_diff_first_window", {})[label] = float(
                np.abs(Sc[first] - alone).max())
    for key, values in out["r2"].items():
        print(f"  seed {seed} {key}: {np.mean(list(values.values())):.3f}", flush=True)
    return out


def write(report, stem):
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2))
    m = report["machine"]
    lines = ["# Streaming decoder: per-bin latency and R²", "",
             f"Machine: {m['cpu'] or m['platform']}, {m['logical_cores']} logical cores (shared), "
             f"torch {m['torch']}; the benchmark pinned to core {m['affinity']} with "
             f"{m['torch_threads']} torch thread; load average at start {m['load_average_at_start'][0]:.2f}.",
             "", "## Per-bin latency on one CPU core", "",
             f"Medians over {report['repeats']} streams of {report['steps']} bins (after filling the "
             "cache) of each stream's median / p90 / p99; max over all bins. Goal: < 1 ms per bin "
             "at the default size.", "",
             "| size | context (bins) x patches | path | median ms | p90 ms | p99 ms | max ms "
             "| bins > 1 ms | CPU-time median ms | CPU-time p99 ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in report["latency"].items():
        for path, t in r["timings"].items():
            w, c = t["wall"], t["cpu"]
            lines.append(f"| {name} | {r['context']} x {r['n_patches']} | {path} | "
                         f"{w['median_ms']:.3f} | {w['p90_ms']:.3f} | {w['p99_ms']:.3f} | "
                         f"{w['max_ms']:.2f} | {100 * w['share_over_1ms']:.1f} % | "
                         f"{c['median_ms']:.3f} | {c['p99_ms']:.3f} |")
    lines += ["", "`StreamingDecoder.step`: input checks, the incremental encoder and the folded "
              "linear decoder, numpy in and out. `torch streamer step`: "
              "`skdistill.nn._streaming.StreamingPatchEncoder.step` alone. `no cache`: the causal "
              "model's batch `encode` of the last `context` bins at every bin (what the same "
              f"output costs without a cache; {report['baseline_steps']} bins per stream, 5 at the paper size). Wall-clock "
              "columns: `time.perf_counter` around each call, so they include every time the "
              "shared core was given to another process; CPU-time columns: `time.thread_time`, "
              "the CPU the call itself used (what an unshared core would take, less cache effects)."]
    q = report.get("quality")
    if q:
        lines += ["", "## R² on the simulator", "",
                  f"Velocity R² (val+test rows, per-session OLS; mean ± sd over seeds "
                  f"{q['seeds']}), LFP model (d 64 x 4 layers, 50-bin windows), "
                  f"{q['n_sessions']} sessions x {q['duration']:g} s, {q['epochs']} epochs "
                  f"({q['steps']} steps) for each model — a small CPU budget "
                  "(`docs/encoders.md` quotes 0.456 / 0.515 for the bidirectional model at 480 "
                  "steps on 3 seeds x 600 s).", "",
                  "| embedding | mean ± sd | per seed |", "|---|---|---|"]
        for key, r in q["summary"].items():
            lines.append(f"| {key} | {r['mean']:.3f} ± {r['sd']:.3f} | "
                         + " / ".join(f"{v:.3f}" for v in r["per_seed"]) + " |")
        diffs = [max(s["max_abs_diff_first_window"].values()) for s in q["per_seed"]]
        lines += ["", "Streamed embeddings of each session's first 50 bins equal the batch "
                  "`transform` of those 50 bins alone (both see the same history) to within "
                  f"{max(diffs):.1e}. Streaming "
                  f"{q['per_seed'][0]['streamed_bins']:,} bins took "
                  f"{np.mean([s['stream_seconds'] for s in q['per_seed']]):.0f} s per seed "
                  "(one process, one torch thread)."]
    lines += ["", f"Total {report['seconds']:.0f} s."]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--duration", type=float, default=240.0,
                        help="seconds per session (small: 8 epochs are 192 steps)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3000, help="timed bins per stream")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline-steps", type=int, default=300)
    parser.add_argument("--core", type=int, default=None, help="CPU core to pin to (default: the last)")
    parser.add_argument("--no-quality", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.duration, args.epochs = [0], 60.0, 1
        args.steps, args.repeats, args.baseline_steps = 300, 2, 50
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[-1] if args.core is None else args.core})
    torch.set_num_threads(1)
    start = time.perf_counter()
    report = {"machine": machine(), "steps": args.steps, "repeats": args.repeats,
              "baseline_steps": args.baseline_steps, "quick": args.quick, "latency": {}}
    rng = np.random.default_rng(0)
    sizes = [("LFP model default (64 x 4)", LFPTransformer, {}),
             ("teacher default (128 x 2)", MaskedSpikeTransformer, {}),
             ("paper (256 x 10, 8 heads)", LFPTransformer,
              {k: v for k, v in PAPER_PARAMS["lfp"].items() if k != "dropout"})]
    print("latency", flush=True)
    for name, cls, params in sizes:
        steps = args.steps if "paper" not in name else max(100, args.steps // 10)
        baseline = args.baseline_steps if "paper" not in name else max(5, args.baseline_steps // 60)
        report["latency"][name] = time_size(name, cls, params, steps, args.repeats, baseline, rng)
    if not args.no_quality:
        print("quality", flush=True)
        per_seed = [quality_seed(seed, args.duration, args.epochs) for seed in args.seeds]
        summary = {}
        for key in per_seed[0]["r2"]:
            means = [float(np.mean(list(s["r2"][key].values()))) for s in per_seed]
            summary[key] = {"mean": float(np.mean(means)), "sd": float(np.std(means)),
                            "per_seed": means}
        report["quality"] = {"seeds": args.seeds, "duration": args.duration, "n_sessions": 2,
                             "epochs": args.epochs,
                             "steps": per_seed[0]["steps"],
                             "per_seed": per_seed, "summary": summary}
    report["seconds"] = time.perf_counter() - start
    write(report, "streaming_latency_quick" if args.quick else "streaming_latency")


if __name__ == "__main__":
    main()
