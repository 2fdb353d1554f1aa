"""The reference LFP chain as functions: notch, Butterworth band limits, CAR, resampling, z-score.

Every function takes a 2-D array ``(n_samples, n_channels)`` (a 1-D array is one channel) or a
``neo.AnalogSignal`` / quantities array, filters along time (axis 0) and returns a float64
ndarray of the same layout. Filters are zero-phase (forward-backward), as in the reference.
"""

from __future__ import annotations

import numpy as np
import quantities as pq
from elephant.signal_processing import butter as _elephant_butter
from scipy import signal as sps

from skdistill.data import Recording

__all__ = [
    "notch_filter",
    "butter_filter",
    "common_average_reference",
    "resample",
    "zscore",
    "preprocess_lfp",
    "preprocess_recording",
]

# channels filtered at a time in preprocess_lfp, so a long 1 kHz session never needs the
# full float64 copy of every channel at once
_CHANNEL_BLOCK = 16


def _as_2d(signal, name="signal"):
    """(n_samples, n_channels) float64 array from an ndarray, Quantity or neo.AnalogSignal."""
    if isinstance(signal, pq.Quantity):
        signal = signal.magnitude
    x = _as_float(signal, name)
    squeeze = x.ndim == 1
    if squeeze:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(
            f"{name} must be 1-D or 2-D (rows = samples, columns = channels); got shape {x.shape}."
        )
    if x.shape[0] < 2 or x.shape[1] == 0:
        raise ValueError(f"{name} needs at least 2 samples and one channel; got shape {x.shape}.")
    if not np.all(np.isfinite(x)) or (np.abs(x) > np.finfo(np.float32).max).any():
        raise ValueError(
            f"{name} contains NaN, infinite or beyond-float32 values; filters would spread them over the whole "
            "channel. Interpolate bad samples or drop the channel first."
        )
    return x, squeeze


def _as_float(signal, name):
    try:
        return np.asarray(signal, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a numeric array (rows = samples, columns = channels); got "
            f"{type(signal).__name__} that is not (ragged, or holds non-numbers)."
        ) from None


def _rate(sampling_rate, name="sampling_rate"):
    if isinstance(sampling_rate, pq.Quantity):
        sampling_rate = float(sampling_rate.rescale(pq.Hz).magnitude)
    try:
        value = float(sampling_rate)
    except (TypeError, ValueError):
        value = np.nan
    if isinstance(sampling_rate, bool) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive rate in Hz; got {sampling_rate!r}.")
    return value


def _filtfilt(sos, x, fs, what, name="signal"):
    """``sosfiltfilt`` along axis 0, with a clear error for a signal shorter than its padding."""
    n_sections = len(sos)
    padlen = 3 * (2 * n_sections + 1 - min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum()))
    if x.shape[0] <= padlen:
        raise ValueError(
            f"{name} has {x.shape[0]} samples ({x.shape[0] / fs:g} s at {fs:g} Hz); the zero-phase "
            f"{what} needs more than {padlen} ({(padlen + 1) / fs:g} s). Pass a longer signal or "
            "skip this filter."
        )
    return sps.sosfiltfilt(sos, x, axis=0)


def _out(x, squeeze):
    return x[:, 0] if squeeze else x


def notch_filter(signal, sampling_rate, freqs=60.0, harmonics=True, quality=30.0):
    """Remove line noise with zero-phase IIR notch filters (:func:`scipy.signal.iirnotch`).

    elephant has no notch filter, so this uses scipy directly.

    Parameters
    ----------
    signal : (n_samples, n_channels) array, Quantity or neo.AnalogSignal
    sampling_rate : float
        Hz.
    freqs : float or sequence of float, default=60.0
        Line frequencies in Hz (50.0 in Europe).
    harmonics : bool, default=True
        Also notch every integer multiple of each frequency below the Nyquist frequency.
    quality : float, default=30.0
        Quality factor Q (bandwidth = frequency / Q), the reference value.

    Returns
    -------
    ndarray, same shape as ``signal``
    """
    fs = _rate(sampling_rate)
    x, squeeze = _as_2d(signal)
    try:
        base = np.atleast_1d(np.asarray(freqs, dtype=float))
    except (TypeError, ValueError):
        base = np.array([np.nan])
    if base.ndim != 1 or not np.all(np.isfinite(base)) or np.any(base <= 0):
        raise ValueError(f"freqs (notch) must be positive frequencies in Hz; got {freqs!r}.")
    if not isinstance(quality, (int, float, np.number)) or not quality > 0:
        raise ValueError(f"quality must be a positive Q factor; got {quality!r}.")
    targets = []
    for f in base:
        mult = np.arange(1, int(np.ceil(fs / 2 / f)) + 1) if harmonics else np.array([1])
        targets.extend(f * m for m in mult if f * m < fs / 2)
    if not targets:
        raise ValueError(
            f"no notch frequency lies below the Nyquist frequency {fs / 2:g} Hz; got freqs={freqs!r}."
        )
    # one cascade of second-order sections: a single zero-phase pass instead of one per notch
    sos = np.concatenate([sps.tf2sos(*sps.iirnotch(f, quality, fs=fs)) for f in targets])
    x = _filtfilt(sos, x, fs, f"notch cascade ({len(targets)} notches)")
    return _out(x, squeeze)


def butter_filter(signal, sampling_rate, highpass=None, lowpass=None, order=2):
    """Zero-phase Butterworth high-pass and/or low-pass with :func:`elephant.signal_processing.butter`.

    A high-pass and a low-pass given together are applied as two separate filters of ``order``
    (high-pass first), as the reference chain does, not as one band-pass design. Second-order
    sections (``sosfiltfilt``) keep a 0.05 Hz corner at 1 kHz numerically stable.

    Parameters
    ----------
    signal : (n_samples, n_channels) array, Quantity or neo.AnalogSignal
    sampling_rate : float
        Hz.
    highpass, lowpass : float or None
        Corner frequencies in Hz; at least one is required.
    order : int, default=2

    Returns
    -------
    ndarray, same shape as ``signal``
    """
    fs = _rate(sampling_rate)
    x, squeeze = _as_2d(signal)
    if highpass is None and lowpass is None:
        raise ValueError("butter_filter needs highpass and/or lowpass (Hz); got neither.")
    for name, f in (("highpass", highpass), ("lowpass", lowpass)):
        if f is not None and (isinstance(f, bool) or not isinstance(f, (int, float, np.number))):
            raise ValueError(f"{name} must be a frequency in Hz or None; got {f!r}.")
        if f is not None and not 0 < f < fs / 2:
            raise ValueError(
                f"{name} must lie between 0 and the Nyquist frequency {fs / 2:g} Hz; got {f!r}. "
                "Pass None to skip it."
            )
    if highpass is not None and lowpass is not None and highpass >= lowpass:
        raise ValueError(f"highpass ({highpass} Hz) must be below lowpass ({lowpass} Hz).")
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"order must be a positive int; got {order!r}.")
    # the same design elephant.signal_processing.butter uses, to state the minimum length
    padlen = max(3 * (2 * int(np.ceil(order / 2)) + 1), 0)
    if x.shape[0] <= padlen:
        raise ValueError(
            f"signal has {x.shape[0]} samples ({x.shape[0] / fs:g} s at {fs:g} Hz); the zero-phase "
            f"Butterworth filter of order {order} needs more than {padlen}. Pass a longer signal "
            "or skip this filter (highpass=None / lowpass=None)."
        )
    if highpass is not None:
        x = _elephant_butter(x, highpass_frequency=highpass, order=order,
                             filter_function="sosfiltfilt", sampling_frequency=fs, axis=0)
    if lowpass is not None:
        x = _elephant_butter(x, lowpass_frequency=lowpass, order=order,
                             filter_function="sosfiltfilt", sampling_frequency=fs, axis=0)
    return _out(np.asarray(x), squeeze)


def common_average_reference(signal):
    """Subtract the across-channel mean from every sample (common average reference).

    All-NaN columns (channels absent from a session) are ignored and stay NaN.
    """
    x = _as_float(signal.magnitude if isinstance(signal, pq.Quantity) else signal, "signal")
    if x.ndim != 2:
        raise ValueError(
            f"common_average_reference needs a 2-D (samples, channels) array; got shape {x.shape}."
        )
    with np.errstate(invalid="ignore"):
        huge = np.abs(x) > np.finfo(np.float32).max
    if huge.any():
        raise ValueError(
            "signal holds infinite values or values beyond the float32 range; the channel mean "
            "would spread them to every channel. Interpolate bad samples or drop the channel first."
        )
    present = ~np.all(np.isnan(x), axis=0)
    out = x.copy()
    out[:, present] -= x[:, present].mean(axis=1, keepdims=True)
    return out


def resample(signal, from_rate, to_rate, n_out=None):
    """FFT resampling (:func:`scipy.signal.resample`) from ``from_rate`` to ``to_rate`` Hz.

    The FFT method is its own anti-alias filter: it keeps only the frequencies below the new
    Nyquist frequency. Its implicit periodic extension would otherwise wrap the end of the signal
    onto its start, so the signal is padded with its odd reflection (a tenth of its length, at
    least 1 s) before the transform and the padding is cut off afterwards.

    Parameters
    ----------
    signal : (n_samples, n_channels) array
    from_rate, to_rate : float
        Hz.
    n_out : int, optional
        Number of output samples; default ``round(n_samples * to_rate / from_rate)``.

    Returns
    -------
    (n_out, n_channels) ndarray
    """
    fs_in, fs_out = _rate(from_rate, "from_rate"), _rate(to_rate, "to_rate")
    x, squeeze = _as_2d(signal)
    n = x.shape[0]
    if n_out is None:
        n_out = int(round(n * fs_out / fs_in))
    if isinstance(n_out, bool) or not isinstance(n_out, (int, np.integer)) or n_out < 1:
        raise ValueError(f"n_out must be a positive number of samples; got {n_out!r}.")
    ratio = n_out / n
    pad = min(n - 1, max(int(round(0.1 * n)), int(round(fs_in))))
    # pad so that it lands on a whole number of output samples
    while pad > 0 and abs(pad * ratio - round(pad * ratio)) > 1e-9:
        pad -= 1
    if pad > 0:
        head = 2 * x[:1] - x[pad:0:-1]
        tail = 2 * x[-1:] - x[-2:-pad - 2:-1]
        xp = np.concatenate([head, x, tail])
        pad_out = int(round(pad * ratio))
        y = sps.resample(xp, n_out + 2 * pad_out, axis=0)[pad_out:pad_out + n_out]
    else:
        y = sps.resample(x, n_out, axis=0)
    return _out(y, squeeze)


def zscore(signal):
    """Z-score each channel over all its samples; a channel with zero std gets std 1.

    All-NaN columns (absent channels) stay NaN.
    """
    return _zscore(signal)


def _zscore(signal):
    x = _as_float(signal, "signal")
    if x.ndim not in (1, 2) or x.size == 0:
        raise ValueError(f"signal must be a non-empty 1-D or 2-D array; got shape {x.shape}.")
    with np.errstate(invalid="ignore"):
        huge = np.abs(x) > np.finfo(np.float32).max
    if huge.any():
        raise ValueError(
            "signal holds infinite values or values beyond the float32 range; z-scoring "
            "would give NaN. Interpolate bad samples or drop the channel first."
        )
    squeeze = x.ndim == 1
    if squeeze:
        x = x[:, None]
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(x, axis=0) if np.isnan(x).any() else x.mean(axis=0)
        std = np.nanstd(x, axis=0) if np.isnan(x).any() else x.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return _out((x - mean) / std, squeeze)


def preprocess_lfp(recording, *, notch=60.0, highpass=0.05, lowpass=50.0, car=True, zscore=True):
    """The reference LFP chain, returning the LFP at the recording's bin rate.

    Steps (the Monkey I chain of the reference): notch at ``notch`` Hz and its harmonics (Q 30),
    2nd-order zero-phase Butterworth high-pass at ``highpass`` Hz and low-pass at ``lowpass`` Hz,
    common average reference, FFT resampling to ``recording.bin_rate``, z-score per channel over
    the whole session. Channels are processed in blocks of 16: the filters and the resampling are
    the same linear operation on every channel, so CAR commutes with them and is applied after
    resampling, which gives the same result with a fraction of the memory.

    Parameters
    ----------
    recording : skdistill.data.Recording
        With ``lfp`` at ``lfp_rate`` and a ``bin_rate``.
    notch : float or None, default=60.0
        Line frequency in Hz; ``None`` skips the notch (the Monkey C chain has none).
    highpass, lowpass : float or None, default=0.05, 50.0
        Butterworth corners in Hz; ``None`` skips that filter.
    car : bool, default=True
    zscore : bool, default=True

    Returns
    -------
    (recording.n_bins, n_channels) float64 ndarray
        Row ``k`` is the LFP at time ``t_start + k / bin_rate``, row-aligned with ``spikes`` and
        ``behavior``.
    """
    if not isinstance(recording, Recording):
        raise ValueError(
            f"preprocess_lfp takes a skdistill.data.Recording; got {type(recording).__name__}. "
            "For a bare array use notch_filter, butter_filter, common_average_reference, "
            "resample and zscore."
        )
    if recording.lfp is None or not recording.bin_rate:
        raise ValueError(
            f"Recording {recording.session!r} needs lfp, lfp_rate and bin_rate for preprocess_lfp."
        )
    if notch is not None and not (isinstance(notch, (int, float, np.number)) and 0 < notch < recording.lfp_rate / 2):
        raise ValueError(
            f"notch must be a line frequency in Hz below the Nyquist frequency "
            f"{recording.lfp_rate / 2:g} Hz (or None to skip it); got {notch!r}."
        )
    fs, bin_rate = float(recording.lfp_rate), float(recording.bin_rate)
    n_bins = recording.n_bins
    if n_bins is None:
        n_bins = int(round(len(recording.lfp) * bin_rate / fs))
    n_out = int(round(len(recording.lfp) * bin_rate / fs))
    blocks = []
    for a in range(0, recording.lfp.shape[1], _CHANNEL_BLOCK):
        x, _ = _as_2d(recording.lfp[:, a:a + _CHANNEL_BLOCK], f"lfp of {recording.session!r}")
        try:
            if notch is not None:
                x = notch_filter(x, fs, freqs=notch, harmonics=True, quality=30.0)
            if highpass is not None or lowpass is not None:
                x = butter_filter(x, fs, highpass=highpass, lowpass=lowpass, order=2)
        except ValueError as exc:
            raise ValueError(f"preprocess_lfp, lfp of recording {recording.session!r}: {exc}") from None
        blocks.append(resample(x, fs, bin_rate, n_out=n_out))
    x = np.concatenate(blocks, axis=1)
    if car:
        x = common_average_reference(x)
    if n_out != n_bins:
        # lengths disagree (a real recording): put the LFP on the bin grid by linear
        # interpolation, holding the edge values, as the reference does
        t_lfp = np.arange(n_out) / bin_rate
        t_bins = (np.arange(n_bins) / bin_rate)
        x = np.stack([np.interp(t_bins, t_lfp, col) for col in x.T], axis=1)
    if zscore:
        x = _zscore(x)
    return x


def preprocess_recording(recording, **kwargs):
    """A copy of ``recording`` whose ``lfp`` is :func:`preprocess_lfp`'s output at ``bin_rate``.

    Afterwards ``lfp_rate == bin_rate``, so ``stack_sessions(recs, modality="lfp")`` works.
    Keyword arguments go to :func:`preprocess_lfp`; they are recorded in
    ``annotations["lfp_preprocessing"]``.
    """
    lfp = preprocess_lfp(recording, **kwargs)
    settings = dict(notch=60.0, highpass=0.05, lowpass=50.0, car=True, zscore=True)
    settings.update(kwargs)
    annotations = dict(recording.annotations, lfp_preprocessing=settings)
    annotations.pop("lfp_units", None)
    return recording.replace(lfp=lfp, lfp_rate=float(recording.bin_rate), annotations=annotations)
