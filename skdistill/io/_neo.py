"""Any neo ``Block`` (or any file neo reads) -> :class:`~skdistill.data.Recording`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import neo
import quantities as pq

from ..data import Recording
from ._binning import _n_bins, bin_spikes, signal_to_bins
from ._common import as_seconds, check_brainvision_files, check_lfp, existing_path

__all__ = ["read_neo"]


def _load_block(block_or_path):
    if isinstance(block_or_path, neo.Block):
        return block_or_path, None
    if isinstance(block_or_path, neo.Segment):
        block = neo.Block(name=block_or_path.name)
        block.segments.append(block_or_path)
        return block, None
    path = existing_path(block_or_path)
    if path.suffix.lower() == ".vhdr":
        check_brainvision_files(path)
    try:
        ios = neo.io.list_candidate_ios(str(path))
    except (IOError, OSError, ValueError):
        ios = []
    if not ios:
        raise ValueError(
            f"neo has no reader for '{path}' (extension {path.suffix or '(none)'!r}). Supported: "
            "any format neo.io.get_io recognises (BrainVision .vhdr, Blackrock .nev/.nsX, "
            "Neuralynx, Plexon, ...)."
        )
    try:
        io = neo.io.get_io(str(path))
        return io.read_block(lazy=False), path
    except Exception as exc:  # noqa: BLE001 - neo's parsers raise many types on a bad file
        raise ValueError(
            f"neo's {ios[0].__name__} could not read '{path}' ({type(exc).__name__}: {exc}); the "
            "file (or one it refers to) is truncated, corrupt or incomplete."
        ) from None


def _segment_span(seg) -> tuple[float, float]:
    starts, stops = [], []
    for obj in list(seg.analogsignals) + list(seg.irregularlysampledsignals) + list(seg.spiketrains):
        starts.append(float(obj.t_start.rescale(pq.s)))
        stops.append(float(obj.t_stop.rescale(pq.s)))
    if not starts:
        return np.nan, np.nan
    return min(starts), max(stops)


def _check_contiguous(segments, tolerance: float):
    spans = [_segment_span(seg) for seg in segments]
    order = np.argsort([s[0] for s in spans])
    for a, b in zip(order[:-1], order[1:]):
        gap = spans[b][0] - spans[a][1]
        if abs(gap) > tolerance:
            kind = "a gap" if gap > 0 else "an overlap"
            raise ValueError(
                f"segments {a} and {b} of the block are not contiguous ({kind} of {abs(gap):.6g} s "
                f"between {spans[a][1]:.6g} s and {spans[b][0]:.6g} s). read_neo concatenates only "
                "segments that follow each other; read each segment on its own, e.g. "
                "read_neo(block.segments[i]), and give each a session name."
            )
    return [segments[i] for i in order], spans[order[0]][0], spans[order[-1]][1]


def _channel_names(sig, k: int) -> list[str]:
    names = sig.array_annotations.get("channel_names") if sig.array_annotations else None
    if names is not None and len(names) == sig.shape[1]:
        return [str(n) for n in names]
    stem = sig.name or f"signal{k}"
    if sig.shape[1] == 1:
        return [str(stem)]
    return [f"{stem}_{i}" for i in range(sig.shape[1])]


def _concatenate_signals(segments):
    """Per signal position: (values, t_start, rate, units, names), segments concatenated."""
    counts = {len(seg.analogsignals) for seg in segments}
    if len(counts) > 1:
        raise ValueError(
            f"segments hold different numbers of AnalogSignals ({sorted(counts)}); read_neo "
            "concatenates the k-th signal of each segment, so every segment needs the same set."
        )
    out = []
    for k in range(counts.pop() if counts else 0):
        sigs = [seg.analogsignals[k] for seg in segments]
        rates = {float(s.sampling_rate.rescale(pq.Hz)) for s in sigs}
        if len(rates) > 1:
            raise ValueError(f"AnalogSignal {k} changes sampling rate across segments: {sorted(rates)} Hz.")
        units = sigs[0].units
        values = np.concatenate([np.asarray(s.rescale(units).magnitude, dtype=float) for s in sigs])
        out.append(
            dict(
                values=values,
                t_start=float(sigs[0].t_start.rescale(pq.s)),
                rate=rates.pop(),
                units=units.dimensionality.string,
                names=_channel_names(sigs[0], k),
            )
        )
    return out


def _unit_key(train, i: int) -> str:
    for key in ("unit_id", "unit_name", "id"):
        if key in train.annotations:
            return str(train.annotations[key])
    return str(train.name) if train.name else f"unit{i:03d}"


def read_neo(
    block_or_path,
    bin_size=0.01,
    *,
    session=None,
    behavior_channels=None,
    lfp_channels=None,
    t_start=None,
    t_stop=None,
) -> Recording:
    """Read a neo ``Block`` (or any file neo reads) into a :class:`~skdistill.data.Recording`.

    Spike trains are binned with elephant's ``BinnedSpikeTrain``; analog signals become the
    LFP, except the channels named in ``behavior_channels``, which are put onto the bin grid
    as behaviour.

    Parameters
    ----------
    block_or_path : neo.Block, neo.Segment, str or path-like
        A block in memory, or a file that ``neo.io.get_io`` recognises (BrainVision, Blackrock,
        Neuralynx, Plexon, ...).
    bin_size : float or quantities.Quantity, default=0.01
        Width of the spike / behaviour bins, seconds.
    session : str, optional
        Session name; defaults to the block name or the file stem.
    behavior_channels : list of str, optional
        Analog channel names to split off as behaviour (e.g. ``["MOV_RIGHT"]`` for grip force).
        Each bin gets the mean of the samples inside it (linear interpolation at the bin
        centres when the signal is sampled more coarsely than the bins).
    lfp_channels : list of str, optional
        Analog channel names that make up the LFP (default: every analog channel that is not
        behaviour). They must share one sampling rate.
    t_start, t_stop : float, optional
        Interval to read, seconds. Default: the LFP's start (or the block's) to the block's end.

    Returns
    -------
    Recording
        ``spikes`` ``(n_bins, n_units)`` (None without spike trains), ``behavior``
        ``(n_bins, n_dims)`` (None without ``behavior_channels``), ``lfp``
        ``(n_samples, n_channels)`` in the signal's own units (``channels["units"]``), and
        ``bin_rate = 1 / bin_size``.

    Notes
    -----
    Multi-segment blocks: segments are sorted by start time and concatenated when each one
    starts where the previous one stops (within one sample, or one bin without signals); the
    k-th AnalogSignal of every segment is the same set of channels. A gap or an overlap raises a
    ``ValueError``: read such segments one at a time.
    """
    bin_size = as_seconds(bin_size, "bin_size")
    block, path = _load_block(block_or_path)
    segments = [seg for seg in block.segments if not np.isnan(_segment_span(seg)[0])]
    if not segments:
        raise ValueError(
            f"the neo Block {block.name or path} holds no signal and no spike train; nothing to read."
        )
    rates = [float(s.sampling_rate.rescale(pq.Hz)) for seg in segments for s in seg.analogsignals]
    tolerance = 1.0 / min(rates) if rates else bin_size
    segments, block_start, block_stop = _check_contiguous(segments, tolerance)
    signals = _concatenate_signals(segments)
    source = str(path) if path is not None else f"neo Block {block.name!r}"

    pool = {}
    for k, sig in enumerate(signals):
        for col, name in enumerate(sig["names"]):
            pool.setdefault(name, (k, col))
    for arg, names in (("behavior_channels", behavior_channels), ("lfp_channels", lfp_channels)):
        if names is None:
            continue
        if isinstance(names, str):
            raise ValueError(f"{arg} must be a list of channel names, e.g. [{names!r}].")
        missing = [n for n in names if n not in pool]
        if missing:
            raise ValueError(
                f"{arg} names {missing}, which {source} does not have; its analog channels are "
                f"{list(pool)}."
            )
    behavior_channels = list(behavior_channels or [])
    if lfp_channels is None:
        lfp_channels = [n for n in pool if n not in behavior_channels]
    lfp_channels = list(lfp_channels)

    lfp = lfp_rate = None
    lfp_t0 = None
    channels = pd.DataFrame({"name": []})
    if lfp_channels:
        groups = {pool[n][0] for n in lfp_channels}
        lfp_rates = {signals[k]["rate"] for k in groups}
        starts = {round(signals[k]["t_start"], 9) for k in groups}
        if len(lfp_rates) > 1 or len(starts) > 1:
            raise ValueError(
                f"the LFP channels of {source} come at different sampling rates or start times "
                f"({sorted(lfp_rates)} Hz, starting at {sorted(starts)} s); pass lfp_channels with "
                "channels of one rate."
            )
        lfp_rate = lfp_rates.pop()
        n = min(len(signals[k]["values"]) for k in groups)
        lfp = np.stack([signals[pool[c][0]]["values"][:n, pool[c][1]] for c in lfp_channels], axis=1)
        lfp_t0 = signals[pool[lfp_channels[0]][0]]["t_start"]
        channels = pd.DataFrame(
            {
                "name": lfp_channels,
                "units": [signals[pool[c][0]]["units"] for c in lfp_channels],
            }
        )

    t0 = float(t_start) if t_start is not None else (lfp_t0 if lfp_t0 is not None else block_start)
    t1 = float(t_stop) if t_stop is not None else block_stop
    if lfp is not None:
        first = int(round((t0 - lfp_t0) * lfp_rate))
        if first < 0:
            raise ValueError(
                f"t_start={t0:g} s is before the LFP starts ({lfp_t0:g} s); pass t_start >= {lfp_t0:g}."
            )
        last = min(len(lfp), int(np.floor((t1 - lfp_t0) * lfp_rate + 1e-9)))
        lfp = lfp[first:last]
        if len(lfp) == 0:
            raise ValueError(f"no LFP sample lies in [{t0:g}, {t1:g}) s.")
    n_bins = _n_bins(t0, t1, bin_size)
    if n_bins < 1:
        raise ValueError(f"[{t0:g}, {t1:g}) s holds no whole bin of {bin_size:g} s.")

    behavior = None
    if behavior_channels:
        cols = []
        for name in behavior_channels:
            k, col = pool[name]
            sig = signals[k]
            times = sig["t_start"] + np.arange(len(sig["values"])) / sig["rate"]
            cols.append(signal_to_bins(sig["values"][:, col], times, t0, bin_size, n_bins)[:, 0])
        behavior = np.stack(cols, axis=1)

    spikes = None
    units = pd.DataFrame({"name": []})
    trains = {}
    for seg in segments:
        for i, train in enumerate(seg.spiketrains):
            trains.setdefault(_unit_key(train, i), []).append(
                np.asarray(train.times.rescale(pq.s).magnitude, dtype=float)
            )
    if trains:
        spikes = bin_spikes(
            [np.concatenate(v) for v in trains.values()], bin_size, t_start=t0,
            t_stop=t0 + n_bins * bin_size,
        )
        units = pd.DataFrame({"name": list(trains)})

    if lfp is not None:
        check_lfp(lfp, channels, source)
    if session is None:
        session = block.name or (Path(path).stem if path is not None else "session-0")
    annotations = {"source": source, "reader": "read_neo", "n_segments": len(segments)}
    if lfp is not None:
        annotations["lfp_units"] = channels["units"].iloc[0]
    return Recording(
        session=session,
        spikes=spikes,
        behavior=behavior,
        bin_rate=1.0 / bin_size,
        lfp=lfp,
        lfp_rate=lfp_rate,
        channels=channels,
        units=units,
        behavior_names=list(behavior_channels),
        t_start=t0,
        annotations=annotations,
    )
