"""Lazy, chunked reading of a large NWB ElectricalSeries: peak memory against a stated bound.

Writes a multi-GB NWB 2 file (int16 raw ElectricalSeries, written chunk by chunk with hdmf's
``GenericDataChunkIterator`` so the writer never holds it either) into a temporary folder on
/tmp, then reads it with :func:`skdistill.io.read_nwb` in fresh subprocesses and reports each
read's peak resident memory (``VmHWM``, reset after the imports) above the resident memory
before the read:

* a 10 % window (``t_start`` / ``t_stop``) as float64: only those rows are read;
* the whole series as float32 (``lfp_dtype=np.float32``).

The bound checked: ``peak - baseline <= output bytes + 3 * chunk_bytes + 128 MiB``. Reading
``series.data[:]`` and converting it, as the reader did before, needs the int16 copy, a float64
copy and temporaries of the same size (about 4.5x the float64 output at peak).

Run::

    python -m benchmarks.nwb_lazy_read [--quick] [--gib 2.0]

writes ``benchmarks/results/nwb_lazy_read.{json,md}`` (``_quick`` with ``--quick``: 0.2 GiB).
The file is deleted afterwards.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
N_CHANNELS = 32
RATE = 30000.0
CHUNK_BYTES = 64 * 2**20


def write_file(path: Path, n_samples: int) -> float:
    from hdmf.data_utils import GenericDataChunkIterator
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ecephys import ElectricalSeries

    class Synthetic(GenericDataChunkIterator):
        def _get_data(self, selection):
            rows = np.arange(n_samples)[selection[0]][:, None]
            cols = np.arange(N_CHANNELS)[selection[1]][None, :]
            return (((rows * 7 + cols * 13) % 4000) - 2000).astype(np.int16)

        def _get_maxshape(self):
            return (n_samples, N_CHANNELS)

        def _get_dtype(self):
            return np.dtype(np.int16)

    nwb = NWBFile(session_description="lazy read benchmark", identifier="lazy", session_id="lazy",
                  session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    device = nwb.create_device("probe")
    group = nwb.create_electrode_group("shank", description="shank", location="CA1", device=device)
    for i in range(N_CHANNELS):
        nwb.add_electrode(group=group, location="CA1", x=float(i), y=0.0, z=0.0)
    region = nwb.create_electrode_table_region(list(range(N_CHANNELS)), "all")
    data = Synthetic(buffer_gb=0.25, chunk_mb=8.0, display_progress=False)
    nwb.add_acquisition(ElectricalSeries(name="raw", data=data, electrodes=region, rate=RATE,
                                         starting_time=0.0, conversion=1e-6))
    start = time.perf_counter()
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return time.perf_counter() - start


_CHILD = r"""
import json, resource, sys, time
import numpy as np
from skdistill.io import read_nwb
import skdistill.io._nwb  # noqa: F401 - everything imported before the baseline


def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024


# the imports peak above the steady state; reset the high-water mark (Linux clear_refs 5)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
base = status("VmRSS:")
path, t_start, t_stop, dtype, chunk = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
kw = {}
if t_start != "none":
    kw.update(t_start=float(t_start), t_stop=float(t_stop))
start = time.perf_counter()
rec = read_nwb(path, 0.01, lfp_dtype=np.dtype(dtype), chunk_bytes=chunk, **kw)
seconds = time.perf_counter() - start
peak = status("VmHWM:")
# a spot check of the values: row k, channel c holds ((7k + 13c) % 4000 - 2000) * 1e-6 V
k0 = int(round(rec.t_start * 30000.0))
rows = np.arange(rec.lfp.shape[0])[:: max(rec.lfp.shape[0] // 1000, 1)]
expected = (((rows + k0)[:, None] * 7 + np.arange(rec.lfp.shape[1])[None, :] * 13) % 4000 - 2000) * 1e-6
ok = bool(np.allclose(rec.lfp[rows], expected, rtol=1e-6, atol=1e-9))
print(json.dumps({"baseline": base, "peak": peak, "seconds": seconds, "shape": list(rec.lfp.shape),
                  "output_bytes": int(rec.lfp.nbytes), "values_ok": ok}))
"""


def measure(path: Path, t_start, t_stop, dtype: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(t_start), str(t_stop), dtype, str(CHUNK_BYTES)],
        capture_output=True, text=True, cwd=ROOT, check=True,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "PYTHONWARNINGS": "ignore"},
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["above_baseline"] = res["peak"] - res["baseline"]
    res["bound"] = res["output_bytes"] + 3 * CHUNK_BYTES + 128 * 2**20
    res["within_bound"] = res["above_baseline"] <= res["bound"]
    return res


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--gib", type=float, default=None, help="size of the file (default 2.0, quick 0.2)")
    args = parser.parse_args(argv)
    gib = args.gib or (0.2 if args.quick else 2.0)
    n_samples = int(gib * 2**30 / (2 * N_CHANNELS))
    tmp = Path(tempfile.mkdtemp(prefix="skdistill_nwb_lazy_", dir="/tmp"))
    try:
        path = tmp / "large.nwb"
        write_seconds = write_file(path, n_samples)
        size = path.stat().st_size
        duration = n_samples / RATE
        reads = {
            "window_10pct_float64": measure(path, 0.45 * duration, 0.55 * duration, "float64"),
            "whole_float32": measure(path, "none", "none", "float32"),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report = {"file_bytes": size, "n_samples": n_samples, "n_channels": N_CHANNELS, "rate": RATE,
              "duration_s": duration, "write_seconds": round(write_seconds, 1), "chunk_bytes": CHUNK_BYTES,
              "reads": reads, "file_deleted": not tmp.exists()}
    gib_ = 2**30
    lines = ["# Lazy NWB ElectricalSeries reading", "",
             f"File: {size / gib_:.2f} GiB NWB 2 (int16, {N_CHANNELS} channels, {n_samples} samples = "
             f"{duration:.0f} s at 30 kHz), written in {write_seconds:.0f} s to /tmp and deleted afterwards.",
             f"Chunk size {CHUNK_BYTES / 2**20:.0f} MiB. Bound: peak RSS above baseline <= output + 3 chunks "
             "+ 128 MiB.", "",
             "| read | output | peak RSS above baseline | bound | within | values | seconds |",
             "|---|---|---|---|---|---|---|"]
    for name, r in reads.items():
        lines.append(f"| {name} | {r['output_bytes'] / gib_:.3f} GiB | {r['above_baseline'] / gib_:.3f} GiB | "
                     f"{r['bound'] / gib_:.3f} GiB | {r['within_bound']} | {'ok' if r['values_ok'] else 'WRONG'} | "
                     f"{r['seconds']:.1f} |")
    stem = "nwb_lazy_read" + ("_quick" if args.quick else "")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2))
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return report


if __name__ == "__main__":
    main()
