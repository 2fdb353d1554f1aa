"""``transform`` of hours-long recordings: peak memory and time against the recording's length.

A default ``MaskedSpikeTransformer`` (fitted once, briefly: only its transform is measured) embeds
96-channel spike counts at 100 Hz of 1, 2, 5 and 10 hours. Each point runs in a fresh process
(peak memory is per process). The input is a float64 ``np.memmap`` on disk (10 h = 2.8 GB) and the
output goes to a float32 ``np.lib.format.open_memmap`` (``transform(X, out=...)``); the 1 h point
is also run the default way (output a new float64 array in memory) for comparison with the
previous implementation (1.4 GB peak, 53 s at 2 threads).

Reported per point: wall time and bins/s of ``transform``; peak resident memory (``VmHWM``,
which counts the memory-mapped input and output pages the process touched) and peak
*anonymous* memory (``RssAnon``, sampled every 20 ms: what the process allocates itself, i.e.
not the mapped files); and, separately, the same for the input checks alone
(``est.check_input``), which ``transform`` runs first.

Run: ``python -m benchmarks.long_recording [--hours 1 2 5 10] [--threads 1] [--quick]``
(``--quick``: 0.1 and 0.2 h). Writes ``benchmarks/results/long_recording.{json,md,png}``. Takes
about 1-2 minutes per recorded hour on one core; run it in the background.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._harness import make_parser, parse_args, write_results

RATE = 100  # bins per second
N_CHANNELS = 96

_CHILD = r"""
import json, sys, threading, time
import numpy as np
import torch

torch.set_num_threads(int(sys.argv[5]))

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024

class AnonPeak:
    # RssAnon sampled every 20 ms by a thread
    def __enter__(self):
        self.peak, self.stop = status("RssAnon:"), False
        def run():
            while not self.stop:
                self.peak = max(self.peak, status("RssAnon:"))
                time.sleep(0.02)
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        return self
    def __exit__(self, *exc):
        self.stop = True
        self.thread.join()
        self.peak = max(self.peak, status("RssAnon:"))

from skdistill import MaskedSpikeTransformer

model_path, x_path, out_path, mode = sys.argv[1:5]
est = MaskedSpikeTransformer.load(model_path)
X = np.load(x_path, mmap_mode="r")
result = {"rows": int(X.shape[0]), "mode": mode,
          "anon_before_mb": status("RssAnon:"), "hwm_before_mb": status("VmHWM:")}
with AnonPeak() as peak:
    start = time.perf_counter()
    est.check_input(X)
    result["check_s"] = time.perf_counter() - start
result["check_anon_peak_mb"] = peak.peak
with AnonPeak() as peak:
    start, cpu = time.perf_counter(), time.process_time()
    if mode == "memmap":
        out = np.lib.format.open_memmap(out_path, mode="w+", dtype=np.float32,
                                        shape=(X.shape[0], est.embedding_dim_))
        Z = est.transform(X, out=out)
        Z.flush()
    else:
        Z = est.transform(np.asarray(X))
    result["transform_s"] = time.perf_counter() - start
    result["transform_cpu_s"] = time.process_time() - cpu
result["transform_anon_peak_mb"] = peak.peak
result["hwm_mb"] = status("VmHWM:")
result["output_mb"] = Z.nbytes / 2**20
result["output_dtype"] = str(Z.dtype)
result["finite"] = bool(np.isfinite(Z[:: max(1, len(Z) // 1000)]).all())
print("RESULT " + json.dumps(result))
"""


def write_input(path, hours, seed=0, block=360_000):
    """Poisson(0.5) counts of ``hours`` at 100 Hz, 96 channels, float64 ``.npy`` written in blocks."""
    rows = int(round(hours * 3600 * RATE))
    rng = np.random.default_rng(seed)
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(rows, N_CHANNELS))
    for start in range(0, rows, block):
        stop = min(rows, start + block)
        X[start:stop] = rng.poisson(0.5, (stop - start, N_CHANNELS))
    X.flush()
    del X
    return rows


def run_point(model_path, hours, mode, threads, tmp):
    x_path, out_path = Path(tmp) / f"x_{hours}h.npy", Path(tmp) / f"z_{hours}h.npy"
    if not x_path.exists():
        write_input(x_path, hours)
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(model_path), str(x_path),
                           str(out_path), mode, str(threads)], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{hours} h ({mode}) failed:\n{proc.stderr[-3000:]}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    result = json.loads(line[len("RESULT "):])
    out_path.unlink(missing_ok=True)
    result.update(hours=hours, bins_per_s=result["rows"] / result["transform_s"])
    print(f"  {hours:>5} h {mode:>7}: {result['transform_s']:.1f} s, "
          f"{result['bins_per_s']:,.0f} bins/s, peak RSS {result['hwm_mb']:.0f} MB, peak anon "
          f"{result['transform_anon_peak_mb']:.0f} MB (checks alone "
          f"{result['check_anon_peak_mb']:.0f} MB)", flush=True)
    return result


def main(argv=None):
    parser = make_parser(__doc__, seeds=(0,), quick_help="0.1 and 0.2 h only")
    parser.add_argument("--hours", type=float, nargs="+", default=[1, 2, 5, 10])
    parser.add_argument("--name", default="long_recording",
                        help="stem of the result files (default %(default)s)")
    parser.add_argument("--no-memory-mode", action="store_true",
                        help="skip the float64-in-memory comparison run at the first point")
    parser.add_argument("--merge", type=Path, nargs="+", default=None,
                        help="only combine the points of these result JSONs (e.g. a 10 h point run "
                             "as its own process) into <name>.*; measures nothing")
    parser.add_argument("--tmp", type=Path, default=None,
                        help="folder for the input and output memory maps (default: a temp dir)")
    args = parse_args(parser, argv)
    if args.merge:
        parts = [json.loads(Path(p).read_text()) for p in args.merge]
        points = sorted((pt for part in parts for pt in part["points"]),
                        key=lambda pt: (pt["hours"], pt["mode"] != "memmap"))
        report = {**parts[0], "points": points, "merged_from": [str(p) for p in args.merge]}
        report.pop("machine", None)
        write(report, quick=args.quick, out=args.out, name=args.name)
        return report
    hours = [0.1, 0.2] if args.quick else args.hours
    from skdistill import MaskedSpikeTransformer

    rng = np.random.default_rng(0)
    est = MaskedSpikeTransformer(max_epochs=1, random_state=0).fit(
        rng.poisson(0.5, (2000, N_CHANNELS)).astype(float))
    points = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        model_path = Path(tmp) / "model.pt"
        est.save(model_path)
        start = time.perf_counter()
        for h in hours:
            points.append(run_point(model_path, h, "memmap", args.threads, tmp))
            if h == hours[0] and not args.no_memory_mode:
                points.append(run_point(model_path, h, "memory", args.threads, tmp))
            (Path(tmp) / f"x_{h}h.npy").unlink()
        total = time.perf_counter() - start
    report = {"points": points, "threads": args.threads, "estimator": repr(est),
              "embedding_dim": est.embedding_dim_, "wall_s": total}
    write(report, quick=args.quick, out=args.out, name=args.name)
    return report


def write(report, quick=False, out=None, name="long_recording"):
    from benchmarks._harness import machine

    m = machine()
    pts = [p for p in report["points"] if p["mode"] == "memmap"]
    hours = np.array([p["hours"] for p in pts])
    secs = np.array([p["transform_s"] for p in pts])
    slope, intercept = np.polyfit(hours, secs, 1) if len(pts) > 1 else (secs[0] / hours[0], 0.0)
    lines = ["# Transform of long recordings", "",
             f"Machine: {m['platform']}, {m['cores']} cores (shared with other jobs while "
             f"measured), torch {m['torch']}, {report['threads']} thread(s). Command: "
             f"`python -m benchmarks.long_recording{' --quick' if quick else ''} --threads "
             f"{report['threads']}`. `MaskedSpikeTransformer()` defaults (128 x 2, 50-bin windows, "
             f"{report['embedding_dim']}-wide output), 96 channels of Poisson(0.5) counts at 100 Hz; "
             "each point in a fresh process, the input a float64 memory map on disk.", "",
             "| recording | rows | output | transform s (wall) | CPU s | bins/s (wall) | peak RSS MB "
             "| peak anonymous MB (transform) | of which the input checks alone | input MB | "
             "output MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in report["points"]:
        where = ("float32 memmap (`out=`)" if p["mode"] == "memmap"
                 else "float64 in memory (default)")
        cpu_s = f"{p['transform_cpu_s']:.1f}" if "transform_cpu_s" in p else "-"
        lines.append(f"| {p['hours']:g} h | {p['rows']:,} | {where} | {p['transform_s']:.1f} | "
                     f"{cpu_s} | {p['bins_per_s']:,.0f} | {p['hwm_mb']:,.0f} | "
                     f"{p['transform_anon_peak_mb']:,.0f} | {p['check_anon_peak_mb']:,.0f} | "
                     f"{p['rows'] * N_CHANNELS * 8 / 2**20:,.0f} | {p['output_mb']:,.0f} |")
    resid = secs - (slope * hours + intercept)
    if all("transform_cpu_s" in p for p in pts) and len(pts) > 1:
        cpu = np.array([p["transform_cpu_s"] for p in pts])
        cslope, cint = np.polyfit(hours, cpu, 1)
        lines += ["", f"CPU time (the process's own, insensitive to other jobs on the machine): "
                  f"{cslope:.1f} s per hour + {cint:.1f} s, largest residual "
                  f"{np.max(np.abs(cpu - (cslope * hours + cint))):.1f} s; per hour "
                  + ", ".join(f"{c / h:.1f}" for c, h in zip(cpu, hours)) + " s."]
    if report.get("merged_from"):
        lines += ["", "Points combined from separate runs (`--merge`): "
                  + ", ".join(f"`{Path(p).name}`" for p in report["merged_from"])
                  + "; the runs went side by side on the shared machine, so compare their CPU "
                  "times rather than wall times."]
    base = np.median([p["anon_before_mb"] for p in report["points"]])
    lines += ["", f"Before `transform` each process holds {base:.0f} MB of anonymous memory "
              "(Python, torch and the model): the peaks above include it."]
    lines += ["", f"Wall time against the length: a least-squares line gives {slope:.1f} s per "
              f"hour + {intercept:.1f} s (largest residual {np.max(np.abs(resid)):.1f} s; wall "
              "time includes waiting for the machine's other jobs).", "",
              "Peak RSS counts the pages of the memory-mapped input and output that the process "
              "touched (the kernel may keep them resident while memory is free); peak anonymous "
              "memory is what the process allocated itself. The window mapping streams one batch "
              "of windows at a time into `out`, and the input checks run in blocks of 65,536 "
              "rows (`skdistill.data`), so their temporaries are fixed (~130 MB); what still "
              "grows with the recording is per-row metadata: the session label of every row, "
              "its session-table index and the window bookkeeping (about 80 bytes a row, "
              "~0.3 GB at 10 h, against 2.6 GB of float64 input)."]

    def figure(path):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        axes[0].plot(hours, secs, "o-")
        axes[0].set(xlabel="recording (h)", ylabel="transform (s)", title="time")
        axes[1].plot(hours, [p["transform_anon_peak_mb"] for p in pts], "o-", label="peak anonymous")
        axes[1].plot(hours, [p["check_anon_peak_mb"] for p in pts], "s--", label="input checks alone")
        axes[1].plot(hours, [p["hwm_mb"] for p in pts], "^:", label="peak RSS (incl. mapped files)")
        axes[1].set(xlabel="recording (h)", ylabel="MB", title="memory")
        axes[1].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    write_results(name, report, lines, quick=quick, out=out, figure=figure)


if __name__ == "__main__":
    main()
