"""Spike binning with elephant, and putting sampled signals onto the same bin grid."""

from __future__ import annotations

import warnings

import numpy as np
import neo
import quantities as pq
from ._common import as_seconds, check_grid_bytes

__all__ = ["bin_spikes"]

# float tolerance when a time falls on a bin edge (10 ms / 3 is not exact in binary)
_EDGE_TOL = 1e-9


def _n_bins(t_start: float, t_stop: float, bin_size: float) -> int:
    return int(np.floor((t_stop - t_start) / bin_size + _EDGE_TOL))


def _spike_times(train, index: int) -> np.ndarray:
    if isinstance(train, neo.SpikeTrain):
        return np.asarray(train.times.rescale(pq.s).magnitude, dtype=float)
    if isinstance(train, pq.Quantity):
        return np.asarray(train.rescale(pq.s).magnitude, dtype=float).ravel()
    times = np.asarray(train, dtype=float)
    if times.ndim > 1:
        raise ValueError(
            f"spike train {index} must be a 1-D array of spike times in seconds; got shape "
            f"{times.shape}."
        )
    return times.ravel()


def bin_spikes(spiketrains, bin_size, t_start=None, t_stop=None) -> np.ndarray:
    """Count spikes in consecutive bins with :class:`elephant.conversion.BinnedSpikeTrain`.

    Parameters
    ----------
    spiketrains : list of neo.SpikeTrain, quantities arrays or arrays of spike times in seconds
        One entry per unit.
    bin_size : float or quantities.Quantity
        Bin width, in seconds when a float (``0.01`` = 10 ms).
    t_start, t_stop : float or quantities.Quantity, optional
        Start and end of the binned interval (seconds). Defaults: the earliest ``t_start`` /
        latest ``t_stop`` of the ``neo.SpikeTrain`` objects; for plain arrays ``0.0`` and the
        end of the bin holding the last spike. ``t_stop`` is moved down to a whole number of
        bins; spikes outside ``[t_start, t_stop)`` are not counted.

    Returns
    -------
    counts : (n_bins, n_units) ndarray of int64
        Rows are time bins (the transpose of elephant's ``(n_units, n_bins)`` matrix).
    """
    bin_size = as_seconds(bin_size, "bin_size")
    if isinstance(spiketrains, neo.SpikeTrain):
        spiketrains = [spiketrains]
    spiketrains = list(spiketrains)
    if not spiketrains:
        raise ValueError("bin_spikes needs at least one spike train (one per unit); got none.")
    times = [_spike_times(train, i) for i, train in enumerate(spiketrains)]
    for i, t in enumerate(times):
        if not np.all(np.isfinite(t)):
            raise ValueError(f"spike train {i} contains NaN or infinite spike times.")
    is_neo = [isinstance(train, neo.SpikeTrain) for train in spiketrains]

    if t_start is None:
        if any(is_neo):
            t_start = min(
                float(tr.t_start.rescale(pq.s)) for tr, n in zip(spiketrains, is_neo) if n
            )
        else:
            t_start = 0.0
    else:
        t_start = _seconds(t_start, "t_start")
    if t_stop is None:
        if any(is_neo):
            t_stop = max(float(tr.t_stop.rescale(pq.s)) for tr, n in zip(spiketrains, is_neo) if n)
        else:
            last = max((t.max() for t in times if t.size), default=t_start)
            t_stop = t_start + bin_size * (_n_bins(t_start, last, bin_size) + 1)
    else:
        t_stop = _seconds(t_stop, "t_stop")
    n_bins = _n_bins(t_start, t_stop, bin_size)
    if n_bins < 1:
        raise ValueError(
            f"the interval [{t_start:g}, {t_stop:g}) s holds no whole bin of {bin_size:g} s; "
            "pass a longer interval or a smaller bin_size."
        )
    t_stop = t_start + n_bins * bin_size
    check_grid_bytes(n_bins, len(times), bin_size, f"{len(times)} spike train(s)")
    _warn_if_milliseconds(times, t_start, t_stop)

    # elephant requires every train to cover [t_start, t_stop], so each is rebuilt on exactly
    # that interval after dropping spikes outside it.
    trains = []
    for t in times:
        inside = t[(t >= t_start - _EDGE_TOL * bin_size) & (t < t_stop - _EDGE_TOL * bin_size)]
        inside = np.clip(inside, t_start, t_stop)
        trains.append(neo.SpikeTrain(np.sort(inside) * pq.s, t_start=t_start * pq.s, t_stop=t_stop * pq.s))
    # imported here: `import elephant` loads all its submodules (scipy.stats, sklearn), ~4 s
    from elephant.conversion import BinnedSpikeTrain

    binned = BinnedSpikeTrain(
        trains, bin_size=bin_size * pq.s, t_start=t_start * pq.s, t_stop=t_stop * pq.s
    )
    counts = binned.to_array().T.astype(np.int64)
    return counts[:n_bins]


def _warn_if_milliseconds(times, t_start: float, t_stop: float) -> None:
    """Warn when most spikes fall outside the window but would fall inside it in seconds / 1000."""
    spikes = np.concatenate([t for t in times if t.size]) if any(t.size for t in times) else np.zeros(0)
    if spikes.size < 3:
        return
    outside = np.mean((spikes < t_start) | (spikes >= t_stop))
    scaled = spikes / 1000.0
    inside_scaled = np.mean((scaled >= t_start) & (scaled < t_stop))
    if outside > 0.5 and inside_scaled > 0.9 and np.ptp(scaled) >= 0.25 * (t_stop - t_start):
        warnings.warn(
            f"{outside:.0%} of the spike times lie outside the binned window [{t_start:g}, "
            f"{t_stop:g}) s and are dropped, but divided by 1000 {inside_scaled:.0%} would lie "
            "inside it: are the spike times in milliseconds? Pass seconds (times / 1000) or a "
            "quantities array (times * pq.ms).",
            UserWarning, stacklevel=3,
        )


def _seconds(value, name: str = "time") -> float:
    if isinstance(value, pq.Quantity):
        value = value.rescale(pq.s).magnitude
    try:
        value = float(np.asarray(value).item())
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a time in seconds; got {value!r}.") from None
    if not np.isfinite(value):
        raise ValueError(f"{name} must be a finite time in seconds; got {value!r}.")
    return value


def signal_to_bins(values, times, t_start: float, bin_size: float, n_bins: int, *,
                   nan_outside: bool = False) -> np.ndarray:
    """Put a sampled signal onto the bin grid ``t_start + k * bin_size``, ``k < n_bins``.

    When every bin holds at least one sample (signal sampled at least as finely as the bins),
    each bin gets the mean of its samples, i.e. the same boxcar that binning applies to spikes.
    Otherwise the signal is interpolated linearly at the bin centres (edge values held).

    Parameters
    ----------
    values : (n_samples, n_dims) array
    times : (n_samples,) array of sample times in seconds (increasing)
    nan_outside : bool, default=False
        Bins outside the signal's own span ``[times[0], times[-1] + one sample)`` are NaN
        (instead of holding the edge values).

    Returns
    -------
    (n_bins, n_dims) float64 ndarray
    """
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    times = np.asarray(times, dtype=float).ravel()
    if len(times) != len(values):
        raise ValueError(
            f"signal has {len(values)} samples but {len(times)} timestamps; they must match."
        )
    check_grid_bytes(n_bins, values.shape[1], bin_size, "a sampled signal")
    if len(times) == 0:
        return np.full((n_bins, values.shape[1]), np.nan)
    idx = np.floor((times - t_start) / bin_size + _EDGE_TOL).astype(np.int64)
    inside = (idx >= 0) & (idx < n_bins)
    counts = np.bincount(idx[inside], minlength=n_bins)[:n_bins]
    if len(counts) == n_bins and np.all(counts > 0):
        sums = np.stack(
            [np.bincount(idx[inside], weights=col[inside], minlength=n_bins)[:n_bins]
             for col in values.T],
            axis=1,
        )
        out = sums / counts[:, None]
    else:
        centres = t_start + (np.arange(n_bins) + 0.5) * bin_size
        out = np.stack([np.interp(centres, times, col) for col in values.T], axis=1)
    if nan_outside:
        step = float(np.median(np.diff(times))) if len(times) > 1 else bin_size
        lo, hi = times[0], times[-1] + step
        edges = t_start + np.arange(n_bins) * bin_size
        # a bin is inside when its centre lies in the signal's span
        centre = edges + 0.5 * bin_size
        out[(centre < lo) | (centre >= hi)] = np.nan
    return out
