"""A multiregional sEEG cohort on the real Brain Treebank electrode positions.

The generative model is described in :func:`make_ieeg_cohort` and ``docs/ieeg_simulator.md``.
"""

from __future__ import annotations

import functools
import os
import zlib

import numpy as np
import pandas as pd
from scipy import signal
from sklearn.utils import Bunch

from skdistill.spatial import UNKNOWN, electrode_table

__all__ = ["load_btbank_coordinates", "make_ieeg_cohort", "BTBANK_SUBJECTS"]

#: Brain Treebank subject ids whose electrode positions are vendored
BTBANK_SUBJECTS = tuple(range(1, 11))

_DATA = os.path.join(os.path.dirname(__file__), "data", "btbank_mni_coords")

#: Destrieux parcel stems (either hemisphere) that respond to speech by default, with their
#: relative response gain: superior temporal gyrus and transverse temporal (auditory) cortex
#: fully, the superior temporal sulcus and planum polare partly.
DEFAULT_RESPONSIVE_REGIONS = {
    "G_temp_sup-Lateral": 1.0,
    "G_temp_sup-G_T_transv": 1.0,
    "G_temp_sup-Plan_tempo": 1.0,
    "S_temporal_transverse": 1.0,
    "S_temporal_sup": 0.6,
    "G_temp_sup-Plan_polar": 0.5,
}

# Fixed constants of the generative model (documented in make_ieeg_cohort and the docs page).
_HG_BAND = (70.0, 150.0)  # Hz, band of the task response
_PEAK_FREQUENCY = (4.0, 30.0)  # Hz, log-uniform range of the region rhythms
_BANDWIDTH = (2.0, 6.0)  # Hz, range of the region rhythms' bandwidths
_REGION_AMPLITUDE = (0.5, 1.5)  # range of the region source standard deviations
_APERIODIC_EXPONENT = (1.5, 2.5)  # range of the per-contact 1/f^chi exponents
_KNEE = 1.0  # Hz, knee of the 1/f spectra (keeps them finite at 0 Hz)
_WHITE_FLOOR = 0.1  # standard deviation of the white amplifier noise
_STATE_SD = 0.2  # per-segment log-amplitude fluctuation of each contact's background
_COMMON_STATE_SD = 0.1  # per-segment log-amplitude fluctuation shared by a subject's contacts
_DRIFT_SD, _DRIFT_RHO = 0.1, 0.95  # slow AR(1) drift of log-amplitude over segments
_LOUDNESS_SD = 0.5  # log-normal spread of the response amplitude across segments
_NONSPEECH_SOUND = (0.5, 0.4)  # probability and relative size of a response on label-0 segments
_STAY = 0.7  # probability that the next segment keeps the label (speech comes in runs)
_RAMP = 0.1  # s, raised-cosine on/off ramps of the response envelope
_SCALE_UV = 20.0  # overall scale: output in microvolts

#: response models (``response_model``): "auditory" adds onset-evoked and envelope-tracking
#: low-frequency potentials to the high-gamma response; "high_gamma" is the earlier model,
#: kept bit-for-bit
_RESPONSE_MODELS = ("auditory", "high_gamma")
# "auditory" low-frequency response (docs/ieeg_simulator.md, "Response models")
_EVOKED_SIZE = 1.0  # peak of the onset response at a fully responsive contact (background sd)
_TRACKING_SIZE = 0.5  # sd of the envelope-tracking potential during a sound (background sd)
_N1_LATENCY = (0.08, 0.12)  # s, negative peak of the parcel kernel (N1 / N100)
_N1_WIDTH = (0.02, 0.03)  # s, its Gaussian sd
_P2_LATENCY = (0.16, 0.24)  # s, positive peak (P2 / P200)
_P2_WIDTH = (0.04, 0.06)  # s
_P2_RATIO = (0.6, 1.0)  # P2 / N1 peak ratio
_ONSET_GAIN = (0.5, 1.5)  # per-parcel size of the onset response relative to tracking
_KERNEL_DURATION = 0.6  # s
_MODULATION_PEAK = {"speech": 4.5, "other": 2.0}  # Hz, peak of the sound envelope's spectrum
_MODULATION_WIDTH = 0.5  # sd of the log-Gaussian modulation spectrum (natural log units)
_LF_SPREAD = 2.0  # low-frequency potentials spread over this many volume_conduction lengths


def load_btbank_coordinates(subject=None) -> pd.DataFrame:
    """Electrode positions of the Brain Treebank subjects (vendored, MIT licence).

    Parameters
    ----------
    subject : int, sequence of int or None, default=None
        Brain Treebank subject id(s) in 1..10; ``None`` loads all ten.

    Returns
    -------
    pandas.DataFrame
        One row per contact with the CSV's columns ``btbank_id, electrode_label, name`` (shaft),
        ``num`` (contact on shaft), ``vox_x/y/z``, ``hem``, ``type``, ``ras_scanner_x/y/z``,
        ``mni305_x/y/z``, ``mni152_x/y/z`` (mm) and an added integer ``subject``. Use the
        ``mni152_*`` columns with the atlases of :mod:`skdistill.spatial`.
    """
    subjects = _check_subjects(subject)
    frames = []
    for sid in subjects:
        frame = pd.read_csv(os.path.join(_DATA, f"btbank{sid}_mni_coords.csv"))
        frame.insert(0, "subject", sid)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _check_subjects(subject) -> list[int]:
    if subject is None:
        return list(BTBANK_SUBJECTS)
    values = [subject] if np.isscalar(subject) else list(subject)
    out = []
    for value in values:
        if isinstance(value, (bool, np.bool_)) or value not in BTBANK_SUBJECTS:
            raise ValueError(f"Brain Treebank subjects are the integers 1..10; got {value!r}.")
        out.append(int(value))
    if len(set(out)) != len(out):
        raise ValueError(f"subjects must not repeat; got {out}.")
    if not out:
        raise ValueError("At least one Brain Treebank subject is needed.")
    return out


@functools.lru_cache(maxsize=None)
def _subject_electrodes(subject: int, atlas: str, radius: float) -> pd.DataFrame:
    coords = load_btbank_coordinates(subject)
    table = electrode_table(
        coords["electrode_label"],
        coords[["mni152_x", "mni152_y", "mni152_z"]].to_numpy(),
        atlas=atlas,
        radius=radius,
        shafts=coords["name"],
        contacts=coords["num"],
    )
    return table


# --------------------------------------------------------------------------- spectra


def _aperiodic_amplitude(freqs: np.ndarray, exponent) -> np.ndarray:
    """Unit-variance amplitude spectra ``~ (f^2 + knee^2)^(-chi/4)`` for ortho irfft synthesis."""
    exponent = np.atleast_1d(np.asarray(exponent, dtype=float))[:, None]
    amp = (freqs[None, :] ** 2 + _KNEE**2) ** (-exponent / 4.0)
    amp[:, 0] = 0.0  # no DC offset
    return amp / np.sqrt(_variance_of(amp))[:, None]


def _variance_of(amp: np.ndarray) -> np.ndarray:
    # variance of irfft(amp * Z, norm="ortho") for standard complex normal Z (E|Z|^2 = 1)
    n_times = 2 * (amp.shape[-1] - 1)
    return 2.0 * (amp[..., 1:] ** 2).sum(axis=-1) / n_times


def _synthesise(rng, amp: np.ndarray, lead_shape: tuple, n_times: int) -> np.ndarray:
    """Gaussian noise with amplitude spectrum ``amp`` (broadcast over ``lead_shape``)."""
    n_freqs = n_times // 2 + 1
    z = rng.standard_normal((*lead_shape, n_freqs, 2), dtype=np.float32)
    spec = (z[..., 0] + 1j * z[..., 1]) * np.float32(np.sqrt(0.5))
    spec *= amp.astype(np.float32)
    return np.fft.irfft(spec, n=n_times, norm="ortho").astype(np.float32)


def _band_amplitude(freqs: np.ndarray, band: tuple, taper: float = 5.0) -> np.ndarray:
    """Unit-variance flat spectrum over ``band`` (Hz) with cosine tapers of ``taper`` Hz."""
    low, high = band
    amp = np.zeros_like(freqs)
    inside = (freqs >= low) & (freqs <= high)
    amp[inside] = 1.0
    for edge, sign in ((low, -1), (high, 1)):
        ramp = (sign * (freqs - edge) > 0) & (sign * (freqs - edge) < taper)
        amp[ramp] = 0.5 * (1 + np.cos(np.pi * np.abs(freqs[ramp] - edge) / taper))
    return amp / np.sqrt(_variance_of(amp[None, :])[0])


def _band_power_share(amp: np.ndarray, freqs: np.ndarray, band: tuple) -> np.ndarray:
    inside = (freqs >= band[0]) & (freqs <= band[1])
    n_times = 2 * (amp.shape[-1] - 1)
    return 2.0 * (amp[..., inside] ** 2).sum(axis=-1) / n_times


# --------------------------------------------------------------------------- regions


def _region_parameters(parcels, region_entropy) -> pd.DataFrame:
    """Rhythm of each parcel: the same for every subject (keyed by the parcel's name)."""
    rows = []
    for parcel in parcels:
        # a parcel's stream depends only on the seed and its name, so a parcel has the same
        # rhythm in every subject and whatever the set of subjects
        rng = np.random.default_rng([*region_entropy, zlib.crc32(parcel.encode())])
        rows.append(
            {
                "parcel": parcel,
                "peak_frequency": float(np.exp(rng.uniform(*np.log(_PEAK_FREQUENCY)))),
                "bandwidth": float(rng.uniform(*_BANDWIDTH)),
                "amplitude": float(rng.uniform(*_REGION_AMPLITUDE)),
            }
        )
    return pd.DataFrame(rows, columns=["parcel", "peak_frequency", "bandwidth", "amplitude"])


def _resonator(peak: float, bandwidth: float, sampling_rate: float):
    """AR(2) coefficients of a resonance at ``peak`` Hz with ``bandwidth`` Hz, unit variance."""
    radius = np.exp(-np.pi * bandwidth / sampling_rate)
    a = np.array([1.0, -2 * radius * np.cos(2 * np.pi * peak / sampling_rate), radius**2])
    impulse = signal.lfilter([1.0], a, np.r_[1.0, np.zeros(4096)])
    return np.array([1.0 / np.sqrt((impulse**2).sum())]), a


def _region_sources(rng, regions, n_segments, n_times, sampling_rate) -> np.ndarray:
    burn = int(np.ceil(2.0 * sampling_rate))  # lets each AR(2) forget its zero start
    out = np.empty((n_segments, len(regions), n_times), dtype=np.float32)
    for j, row in enumerate(regions.itertuples()):
        b, a = _resonator(row.peak_frequency, row.bandwidth, sampling_rate)
        drive = rng.standard_normal((n_segments, n_times + burn))
        out[:, j] = row.amplitude * signal.lfilter(b, a, drive, axis=-1)[:, burn:]
    return out


def _proximity(coords: np.ndarray, parcels: np.ndarray, regions, length: float) -> np.ndarray:
    """``W[c, p]``: 1 on the contact's own parcel, ``exp(-d / length)`` to other parcels.

    ``d`` is the distance (mm) from the contact to the nearest contact of the subject that lies
    in parcel ``p``: sources are seen through the subject's own sampling of the region.
    """
    weights = np.zeros((len(coords), len(regions)))
    for j, parcel in enumerate(regions):
        members = coords[parcels == parcel]
        dist = np.linalg.norm(coords[:, None, :] - members[None, :, :], axis=-1).min(axis=1)
        weights[:, j] = np.exp(-dist / length) if length > 0 else (dist == 0).astype(float)
        weights[parcels == parcel, j] = 1.0
    return weights


def _mix(weights: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """``weights (c, p)`` applied to ``sources (k, p, t)`` -> ``(k, c, t)``."""
    n_seg, n_src, n_times = sources.shape
    if n_src == 0:
        return np.zeros((n_seg, len(weights), n_times), dtype=sources.dtype)
    # one 2-D product: numpy's stacked matmul is an order of magnitude slower here
    flat = weights @ sources.transpose(1, 0, 2).reshape(n_src, -1)
    return np.ascontiguousarray(flat.reshape(len(weights), n_seg, n_times).transpose(1, 0, 2))


def _response_gain(parcel: str, responsive: dict) -> float:
    stem = parcel.split("_", 2)[-1] if parcel.startswith(("ctx_lh_", "ctx_rh_")) else parcel
    return float(max([g for key, g in responsive.items() if key == stem or key == parcel] or [0.0]))


# --------------------------------------------------------------------------- labels, envelopes


def _labels(rng, n_segments: int) -> np.ndarray:
    y = np.empty(n_segments, dtype=int)
    y[0] = rng.integers(2)
    stay = rng.random(n_segments) < _STAY
    for k in range(1, n_segments):
        y[k] = y[k - 1] if stay[k] else 1 - y[k - 1]
    return y


def _envelopes(rng, y, n_times, sampling_rate, effect_size, events=False):
    """Amplitude of the high-gamma response over each segment (0 where there is none).

    With ``events=True`` also the sound of each segment: a dict with ``kind`` ("speech",
    "other", "none"), ``onset`` (s, NaN without a sound), ``size`` (response power relative to
    speech: 1, ``_NONSPEECH_SOUND[1]`` or 0), ``loudness`` and ``shape`` (n, n_times), the
    0-1 time course with its ramps. The random draws do not depend on ``events``.
    """
    duration = n_times / sampling_rate
    t = np.arange(n_times) / sampling_rate
    env = np.zeros((len(y), n_times), dtype=np.float32)
    sound = rng.random(len(y)) < _NONSPEECH_SOUND[0]
    onset = rng.uniform(0.0, 0.4, len(y)) * duration
    length = rng.uniform(0.5, 1.0, len(y)) * (duration - onset)
    loudness = np.exp(_LOUDNESS_SD * rng.standard_normal(len(y)) - _LOUDNESS_SD**2 / 2)
    ramp = min(_RAMP, duration / 4)
    kind = np.full(len(y), "none", dtype=object)
    rel = np.zeros(len(y))
    shapes = np.zeros((len(y), n_times), dtype=np.float32) if events else None
    for k in range(len(y)):
        if y[k] == 1:
            size = effect_size
            kind[k], rel[k] = "speech", 1.0
        elif sound[k]:
            size = effect_size * _NONSPEECH_SOUND[1]
            kind[k], rel[k] = "other", _NONSPEECH_SOUND[1]
        else:
            continue
        start, stop = onset[k], onset[k] + length[k]
        rise = np.clip((t - start) / ramp, 0, 1)
        fall = np.clip((stop - t) / ramp, 0, 1)
        shape = 0.5 * (1 - np.cos(np.pi * np.minimum(rise, fall)))
        # effect_size is a power ratio: amplitude is its square root
        env[k] = np.sqrt(size * loudness[k]) * shape
        if events:
            shapes[k] = shape
    if not events:
        return env
    return env, {"kind": kind, "onset": np.where(kind != "none", onset, np.nan),
                 "size": rel, "loudness": loudness, "shape": shapes}


# --------------------------------------------------------------------------- auditory LF response


def _parcel_kernels(regions, region_entropy, sampling_rate) -> tuple[np.ndarray, pd.DataFrame]:
    """N1-P2 kernel of each parcel, the same in every subject (keyed by the parcel's name).

    ``k_p(tau) = polarity (-N1 bump + ratio * P2 bump)``, peak |k_p| = 1, over
    ``_KERNEL_DURATION`` s. Returns the kernels (n_parcels, n_kernel) and their parameters.
    """
    tau = np.arange(int(round(_KERNEL_DURATION * sampling_rate))) / sampling_rate
    kernels, rows = [], []
    for parcel in regions["parcel"]:
        # a stream of its own (third key element 1): the rhythm streams are unchanged
        rng = np.random.default_rng([*region_entropy, zlib.crc32(parcel.encode()), 1])
        par = {"n1_latency": rng.uniform(*_N1_LATENCY), "n1_width": rng.uniform(*_N1_WIDTH),
               "p2_latency": rng.uniform(*_P2_LATENCY), "p2_width": rng.uniform(*_P2_WIDTH),
               "p2_ratio": rng.uniform(*_P2_RATIO), "onset_gain": rng.uniform(*_ONSET_GAIN),
               "polarity": float(rng.choice([-1.0, 1.0]))}
        k = (-np.exp(-0.5 * ((tau - par["n1_latency"]) / par["n1_width"]) ** 2)
             + par["p2_ratio"] * np.exp(-0.5 * ((tau - par["p2_latency"]) / par["p2_width"]) ** 2))
        kernels.append(par["polarity"] * k / np.abs(k).max())
        rows.append(par)
    frame = pd.DataFrame(rows, columns=["n1_latency", "n1_width", "p2_latency", "p2_width",
                                        "p2_ratio", "onset_gain", "polarity"])
    return np.asarray(kernels).reshape(len(regions), len(tau)), frame


def _modulation_amplitude(freqs: np.ndarray, peak: float) -> np.ndarray:
    """Unit-variance log-Gaussian spectrum around ``peak`` Hz (a sound's envelope fluctuation)."""
    amp = np.zeros_like(freqs)
    pos = freqs > 0
    amp[pos] = np.exp(-0.5 * ((np.log(freqs[pos]) - np.log(peak)) / _MODULATION_WIDTH) ** 2)
    return amp / np.sqrt(_variance_of(amp[None, :])[0])


def _auditory_potentials(rng, events, kernels, onset_gain, n_times, sampling_rate,
                         evoked_size, tracking_size) -> np.ndarray:
    """Low-frequency response of each responsive parcel: (n_segments, n_parcels, n_times).

    ``evoked_size * a_k * onset_gain_p * k_p(t - onset_k)`` (onset-evoked N1-P2) plus
    ``tracking_size * a_k * (k_p * (shape_k m_k))(t) / sd`` (envelope tracking: the parcel's
    kernel applied to the sound's envelope fluctuation ``m_k``, a unit-variance noise with a
    log-Gaussian modulation spectrum peaking at 4.5 Hz for speech and 2 Hz for other sounds;
    ``sd`` normalises the stationary response to unit variance). ``a_k = sqrt(size_k
    loudness_k)``, the amplitude of the segment's high-gamma envelope at ``effect_size`` 1.
    """
    n_seg, n_par = len(events["kind"]), len(kernels)
    n_fft = 2 * n_times  # linear (not circular) convolution
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sampling_rate)
    kspec = np.fft.rfft(kernels, n=n_fft, axis=-1)  # (p, f)
    seg_freqs = np.fft.rfftfreq(n_times, 1.0 / sampling_rate)
    mod = {}
    for kind, peak in _MODULATION_PEAK.items():
        amp = _modulation_amplitude(seg_freqs, peak)
        # variance of the kernel applied to stationary unit-variance m: sum |K|^2 |M|^2
        k_seg = np.abs(np.fft.rfft(kernels, n=n_times, axis=-1)) * amp[None, :]
        mod[kind] = (amp, np.sqrt(_variance_of(k_seg)))  # (f,), (p,)
    # one draw per segment and kind-independent, so the stream does not depend on the labels
    m = {kind: _synthesise(rng, amp[None], (n_seg,), n_times) for kind, (amp, _) in mod.items()}
    out = np.zeros((n_seg, n_par, n_times), dtype=np.float32)
    impulse = np.zeros((n_seg, n_fft))
    drive = np.zeros((n_seg, n_fft))
    a = np.sqrt(events["size"] * events["loudness"])
    for k in range(n_seg):
        kind = events["kind"][k]
        if kind == "none":
            continue
        impulse[k, int(round(events["onset"][k] * sampling_rate))] = a[k]
        drive[k, :n_times] = a[k] * events["shape"][k] * m[kind][k]
    imp_spec, drive_spec = np.fft.rfft(impulse, axis=-1), np.fft.rfft(drive, axis=-1)
    for kind in _MODULATION_PEAK:
        rows = np.flatnonzero(events["kind"] == kind)
        if not len(rows):
            continue
        sd = mod[kind][1]
        spec = (evoked_size * onset_gain[None, :, None] * imp_spec[rows, None, :] * kspec[None]
                + tracking_size / sd[None, :, None] * drive_spec[rows, None, :] * kspec[None])
        out[rows] = np.fft.irfft(spec, n=n_fft, axis=-1)[..., :n_times]
    return out


# --------------------------------------------------------------------------- the cohort


def _check_random_state(random_state) -> np.random.SeedSequence:
    if isinstance(random_state, np.random.SeedSequence):
        return random_state
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(random_state.integers(2**63))
    if random_state is None or (
        isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool)
        and random_state >= 0
    ):
        return np.random.SeedSequence(random_state)
    raise ValueError(
        "random_state must be None, a non-negative int, a numpy SeedSequence or Generator; got "
        f"{random_state!r}."
    )


def _select_shafts(rng, table: pd.DataFrame, max_channels) -> pd.DataFrame:
    if max_channels is None or len(table) <= max_channels:
        return table
    order = rng.permutation(pd.unique(table["shaft"]))
    sizes = table.groupby("shaft").size()
    chosen, total = [], 0
    for shaft in order:
        if total + sizes[shaft] <= max_channels:
            chosen.append(shaft)
            total += sizes[shaft]
    if not chosen:  # every shaft is longer than max_channels: take part of the first one
        return table[table["shaft"] == order[0]].iloc[:max_channels]
    return table[table["shaft"].isin(chosen)]


def _one_blas_thread(function):
    """Run ``function`` under one BLAS thread: a multi-threaded matmul sums in another order, so
    without it the simulated signals' last bits (and every hash of them, e.g. a model cache key)
    would depend on the machine's thread settings."""
    import functools

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return function(*args, **kwargs)

    return wrapper


@_one_blas_thread
def make_ieeg_cohort(
    n_subjects: int = 3,
    *,
    subjects=None,
    n_segments: int = 60,
    segment_duration: float = 3.0,
    sampling_rate: float = 512.0,
    task: str | None = "speech",
    responsive_regions=None,
    effect_size: float = 1.0,
    response_model: str = "auditory",
    evoked_size: float | None = None,
    tracking_size: float | None = None,
    volume_conduction: float = 3.0,
    shaft_noise: float = 1.0,
    max_channels: int | None = 64,
    atlas: str = "destrieux",
    radius: float = 5.0,
    dtype=np.float32,
    random_state=None,
) -> Bunch:
    """Simulate sEEG segments of a cohort with real Brain Treebank electrode positions.

    Each subject is one session: ``n_segments`` consecutive, non-overlapping segments of
    ``segment_duration`` seconds, labelled speech (1) or non-speech (0).

    **Generative model.** Contacts sit at the subject's real MNI152 positions and carry the
    grey-matter parcel of :func:`skdistill.spatial.label_contacts` (``atlas``, ``radius``).
    The signal of contact ``c`` in segment ``k`` is, in microvolts (scale 20 uV per unit)::

        x_c(t) = sum_p W[c, p] s_p(t)                          region sources
               + (1 + 0.05 (n_c - mean n)) shaft_noise u_h(t)   shaft-local noise
               + g_ck b_c(t) + 0.1 e_c(t)                       1/f background + white floor
               + g_ck A_c r_k(t) h_c(t)                         task response (high gamma)
               + sum_p V[c, p] v_pk(t)                          low-frequency auditory
                                                                potentials ("auditory" only)

    * ``s_p``: one latent source per parcel, an AR(2) resonance with a peak frequency
      (log-uniform 4-30 Hz), bandwidth (2-6 Hz) and standard deviation (0.5-1.5) that depend only
      on ``random_state`` and the parcel's name, so a parcel has the same rhythm in every subject
      (region sources are shared across subjects); time courses are drawn afresh per segment.
    * ``W[c, p]`` is 1 for the contact's own parcel and ``exp(-d / volume_conduction)`` for the
      other parcels of the subject, ``d`` the distance (mm) to the nearest contact in parcel
      ``p``. Contacts labelled ``"unknown"`` see only these neighbouring sources.
    * ``u_h``: 1/f^2 noise shared by the contacts of shaft ``h`` with a gain linear in the
      contact number ``n_c``; the shaft Laplacian ``x_n - (x_{n-1} + x_{n+1}) / 2`` removes it
      exactly for contacts with both neighbours.
    * ``b_c``: unit-variance 1/f^chi noise (chi uniform in 1.5-2.5 per contact, knee 1 Hz);
      ``e_c`` white noise. ``g_ck = exp(drift + common state + own state)`` is a per-segment
      gain: a slow AR(1) drift over the session (sd 0.1, rho 0.95 per segment), a fluctuation
      shared by the subject's contacts (sd 0.1) and an own one (sd 0.2), all in log amplitude.
    * Task: ``h_c`` is unit-variance noise band-limited to 70-150 Hz, scaled (``A_c``) so that at
      full response its power equals ``effect_size`` times the contact's background power in
      that band, times the contact's response weight (the ``responsive_regions`` gain of its own
      parcel, and ``exp(-d / volume_conduction)`` of nearby responsive parcels). ``r_k(t)`` is the
      envelope: on speech segments an interval starting in the first 40% of the segment and
      lasting 50-100% of the rest, with 0.1 s raised-cosine ramps and a log-normal loudness
      (sd 0.5); non-speech segments carry, with probability 0.5, a non-speech sound that evokes
      0.4 times the response, so the auditory response alone does not give the label away.
    * Labels form a Markov chain that keeps the previous label with probability 0.7 (speech
      comes in runs; both classes have stationary probability 0.5).
    * ``response_model="auditory"`` (default) adds, for each responsive parcel ``p``, a
      low-frequency potential ``v_pk`` made of the parcel's N1-P2 kernel ``k_p`` (N1 at
      80-120 ms, P2 at 160-240 ms, a polarity; drawn from ``random_state`` and the parcel's
      name, so the same in every subject): an onset-evoked response
      ``evoked_size * a_k * k_p(t - onset_k)`` and envelope tracking
      ``tracking_size * a_k * (k_p * (shape_k m_k))(t)``, ``m_k`` the sound's envelope
      fluctuation (modulation spectrum peaking at 4.5 Hz for speech, 2 Hz for other sounds),
      ``a_k`` the segment's sound amplitude (as for high gamma, non-speech sounds 0.4 in
      power). The drive is one per segment, shared by the whole auditory network.
      ``V[c, p]`` is the response gain of ``p`` times ``exp(-d / (2 volume_conduction))``:
      low-frequency potentials spread further than high gamma. ``response_model=
      "high_gamma"`` is the earlier model (no such term), bit-for-bit.

    Parameters
    ----------
    n_subjects : int, default=3
        Use Brain Treebank subjects ``1..n_subjects`` (at most 10). Ignored if ``subjects`` is set.
    subjects : sequence of int, optional
        Explicit Brain Treebank subject ids (1..10).
    n_segments : int, default=60
        Segments per subject (session).
    segment_duration : float, default=3.0
        Segment length in seconds (Brain Treebank/BaRISTA use 3 s).
    sampling_rate : float, default=512.0
        Sampling rate in Hz. The real data are at 2048 Hz; 512 Hz keeps the default cohort small
        and still resolves the 70-150 Hz response. Must exceed 2 x 150 Hz.
    task : {"speech", None}, default="speech"
        ``None`` draws labels but no response: a null task where every classifier is at chance.
    responsive_regions : dict of str -> float, optional
        Destrieux parcel stem (e.g. ``"G_temp_sup-Lateral"``, either hemisphere) or full parcel
        name -> relative response gain. Default: superior temporal gyrus and transverse temporal
        cortex 1.0, superior temporal sulcus 0.6, planum polare 0.5.
    effect_size : float, default=1.0
        Peak rise of 70-150 Hz power at a fully responsive contact, as a multiple of its
        background power in that band.
    response_model : {"auditory", "high_gamma"}, default="auditory"
        ``"auditory"``: the high-gamma response plus onset-evoked and envelope-tracking
        low-frequency potentials (docs/ieeg_simulator.md, "Response models").
        ``"high_gamma"``: the earlier model (high-gamma power only), reproduced bit-for-bit.
    evoked_size : float, optional
        ``"auditory"`` only: peak of the onset-evoked potential at a fully responsive contact,
        in units of a contact's background standard deviation (20 uV). Default 1.0.
    tracking_size : float, optional
        ``"auditory"`` only: standard deviation of the envelope-tracking potential during a
        sound at a fully responsive contact (same units). Default 0.5.
    volume_conduction : float, default=3.0
        Length constant (mm) of the spread of region sources and of the response to contacts
        outside their parcel.
    shaft_noise : float, default=1.0
        Standard deviation of the shaft-shared noise (1 = that of a contact's background).
    max_channels : int or None, default=64
        Keep at most this many contacts per subject, as whole shafts chosen in a random order
        (so shaft neighbours stay together); ``None`` keeps all (106-246 per subject).
    atlas : {"destrieux", "desikan_killiany"}, default="destrieux"
        Parcellation that defines the regions (the default responsive regions are Destrieux
        names).
    radius : float, default=5.0
        Nearest-parcel search radius (mm) for contacts in white matter.
    dtype : numpy dtype, default=numpy.float32
        dtype of ``X``.
    random_state : int, numpy SeedSequence or Generator, or None
        Seed. Each component (region rhythms, and per subject: shaft choice, labels, sources,
        shaft noise, background, task) has its own stream spawned from it, so that e.g.
        changing ``effect_size`` changes nothing but the response.

    Returns
    -------
    sklearn.utils.Bunch
        ``X`` : (n_subjects * n_segments, n_channels, n_times) array. Subjects have different
        numbers of contacts: channel rows are each session's contacts in electrode-table order,
        padded with all-NaN rows up to the largest count.
        ``y`` : (n,) int, 1 = speech.
        ``session`` : (n,) str, ``"sub-<id>"``; segments of a session are contiguous and in
        chronological order.
        ``time`` : (n,) float, start of each segment in seconds from the session start.
        ``electrodes`` : dict session -> DataFrame with ``name, x, y, z, parcel, lobe,
        hemisphere, shaft, contact`` and the simulator's ground truth ``response_weight``; row
        ``i`` describes channel row ``i`` of that session's segments.
        ``regions`` : DataFrame of the parcel rhythms and response gains (and, under
        ``"auditory"``, the parcel kernels' parameters).
        ``sound`` : (n,) str, the segment's sound: "speech", "other" or "none" (drawn under
        both models; with ``task=None`` it evokes nothing).
        ``sound_onset`` : (n,) float, its onset in s from the segment start (NaN if none).
        Under ``"auditory"`` the electrode tables also have ``evoked_weight``, the contact's
        low-frequency response weight ``sum_p V[c, p]``.
        ``sampling_rate`` (Hz), ``segment_duration`` (s), ``parameters`` (dict), ``DESCR``.

    Examples
    --------
    >>> from skdistill.datasets import make_ieeg_cohort
    >>> cohort = make_ieeg_cohort(n_subjects=2, n_segments=10, random_state=0)
    >>> cohort.X.shape[0], cohort.X.shape[2]
    (20, 1536)
    """
    if subjects is None:
        subject_ids = list(range(1, _check_n_subjects(n_subjects) + 1))
    else:
        subject_ids = _check_subjects(subjects)
    n_segments = _positive_int(n_segments, "n_segments")
    segment_duration = float(segment_duration)
    sampling_rate = float(sampling_rate)
    if not sampling_rate > 2 * _HG_BAND[1]:
        raise ValueError(
            f"sampling_rate must exceed {2 * _HG_BAND[1]:g} Hz so that the {_HG_BAND[0]:g}-"
            f"{_HG_BAND[1]:g} Hz response is representable; got {sampling_rate:g} Hz."
        )
    n_times = int(round(segment_duration * sampling_rate))
    if not np.isfinite(segment_duration) or n_times < 16:
        raise ValueError(
            f"segment_duration must give at least 16 samples at {sampling_rate:g} Hz; got "
            f"{segment_duration!r} s."
        )
    if task not in ("speech", None):
        raise ValueError(f"task must be 'speech' or None (null task); got {task!r}.")
    if not isinstance(response_model, str) or response_model not in _RESPONSE_MODELS:
        raise ValueError(
            f"response_model must be one of {_RESPONSE_MODELS} ('auditory': high-gamma power "
            "plus onset-evoked and envelope-tracking low-frequency potentials; 'high_gamma': "
            f"the earlier model, high-gamma power only); got {response_model!r}."
        )
    if response_model == "high_gamma" and (evoked_size is not None or tracking_size is not None):
        raise ValueError(
            "evoked_size and tracking_size set the low-frequency potentials of "
            "response_model='auditory'; response_model='high_gamma' has none (got "
            f"evoked_size={evoked_size!r}, tracking_size={tracking_size!r})."
        )
    evoked_size = _EVOKED_SIZE if evoked_size is None else evoked_size
    tracking_size = _TRACKING_SIZE if tracking_size is None else tracking_size
    for name, value in (("effect_size", effect_size), ("volume_conduction", volume_conduction),
                        ("shaft_noise", shaft_noise), ("evoked_size", evoked_size),
                        ("tracking_size", tracking_size)):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0; got {value!r}.")
    if max_channels is not None:
        max_channels = _positive_int(max_channels, "max_channels")
    responsive = dict(
        DEFAULT_RESPONSIVE_REGIONS if responsive_regions is None else responsive_regions
    )
    for key, gain in responsive.items():
        if not np.isfinite(gain) or gain < 0:
            raise ValueError(f"responsive_regions gains must be >= 0; got {key!r}: {gain!r}.")
    effect = 0.0 if task is None else float(effect_size)
    auditory = response_model == "auditory" and task is not None

    root = _check_random_state(random_state)
    region_seq, subjects_seq = root.spawn(2)
    region_entropy = [int(v) for v in region_seq.generate_state(4)]
    # one child per possible subject, so a subject's data do not depend on the others chosen
    per_subject = dict(zip(BTBANK_SUBJECTS, subjects_seq.spawn(len(BTBANK_SUBJECTS))))

    freqs = np.fft.rfftfreq(n_times, 1.0 / sampling_rate)
    hg_amp = _band_amplitude(freqs, _HG_BAND)
    flat = np.ones((1, len(freqs)))
    # white noise power falls in the band in proportion to the band's share of frequency bins
    white_hg = _WHITE_FLOOR**2 * (_band_power_share(flat, freqs, _HG_BAND) / _variance_of(flat))[0]

    tables, blocks, labels, all_events = {}, [], [], []
    all_regions = []
    for sid in subject_ids:
        # a 7th child for the low-frequency response: the first six are those of the earlier
        # model (SeedSequence children depend only on their index), so it stays bit-for-bit
        streams = dict(
            zip(
                ("selection", "labels", "sources", "shaft", "background", "task", "auditory"),
                (np.random.default_rng(s) for s in per_subject[sid].spawn(7)),
            )
        )
        table = _select_shafts(
            streams["selection"], _subject_electrodes(sid, atlas, float(radius)), max_channels
        ).reset_index(drop=True)
        n_ch = len(table)
        coords = table[["x", "y", "z"]].to_numpy()
        parcels = table["parcel"].to_numpy(dtype=object)
        region_names = sorted(p for p in pd.unique(parcels) if p != UNKNOWN)
        regions = _region_parameters(region_names, region_entropy)
        regions["response_gain"] = [_response_gain(p, responsive) for p in region_names]
        all_regions.append(regions)

        y = _labels(streams["labels"], n_segments)

        # region sources, mixed by proximity
        W = _proximity(coords, parcels, region_names, float(volume_conduction))
        sources = _region_sources(streams["sources"], regions, n_segments, n_times, sampling_rate)
        x = _mix(W.astype(np.float32), sources)
        del sources

        # shaft-local noise with a gain linear in the contact number
        shaft_names = list(pd.unique(table["shaft"]))
        shaft_index = table["shaft"].map({s: i for i, s in enumerate(shaft_names)}).to_numpy()
        shaft_signal = _synthesise(
            streams["shaft"], _aperiodic_amplitude(freqs, 2.0), (n_segments, len(shaft_names)),
            n_times,
        )
        number = table["contact"].to_numpy(dtype=float)
        centred = number - table.groupby("shaft")["contact"].transform("mean").to_numpy()
        shaft_gain = (1.0 + 0.05 * centred) * float(shaft_noise)
        x += shaft_gain[None, :, None].astype(np.float32) * shaft_signal[:, shaft_index]
        del shaft_signal

        # 1/f background and per-segment gains
        rng = streams["background"]
        exponent = rng.uniform(*_APERIODIC_EXPONENT, n_ch)
        bg_amp = _aperiodic_amplitude(freqs, exponent)
        background = _synthesise(rng, bg_amp[None], (n_segments, n_ch), n_times)
        drift = np.empty((n_segments, n_ch))
        drift[0] = _DRIFT_SD * rng.standard_normal(n_ch)
        innovation = _DRIFT_SD * np.sqrt(1 - _DRIFT_RHO**2)
        for k in range(1, n_segments):
            drift[k] = _DRIFT_RHO * drift[k - 1] + innovation * rng.standard_normal(n_ch)
        log_gain = (
            drift
            + _COMMON_STATE_SD * rng.standard_normal((n_segments, 1))
            + _STATE_SD * rng.standard_normal((n_segments, n_ch))
        )
        gain = np.exp(log_gain).astype(np.float32)
        background *= gain[:, :, None]
        x += background
        del background
        x += np.float32(_WHITE_FLOOR) * rng.standard_normal(x.shape, dtype=np.float32)

        # task response in 70-150 Hz
        response_weight = W @ regions["response_gain"].to_numpy()
        response_weight = np.where(response_weight > 1e-3, response_weight, 0.0)
        rng = streams["task"]
        env, events = _envelopes(rng, y, n_times, sampling_rate, effect, events=True)
        active = np.flatnonzero(response_weight)
        if effect > 0 and len(active):
            bg_hg = _band_power_share(bg_amp[active], freqs, _HG_BAND) + white_hg
            scale = np.sqrt(response_weight[active] * bg_hg).astype(np.float32)
            hg = _synthesise(rng, hg_amp[None], (n_segments, len(active)), n_times)
            hg *= scale[None, :, None] * gain[:, active, None] * env[:, None, :]
            x[:, active] += hg
            del hg

        # onset-evoked and envelope-tracking low-frequency potentials (response_model="auditory")
        if response_model == "auditory":
            kernels, kernel_par = _parcel_kernels(regions, region_entropy, sampling_rate)
            for col in kernel_par:
                regions[col] = kernel_par[col].to_numpy()
            W_lf = _proximity(coords, parcels, region_names,
                              _LF_SPREAD * float(volume_conduction))
            gains = regions["response_gain"].to_numpy()
            resp = np.flatnonzero(gains > 0)
            lf_weight = W_lf[:, resp] * gains[resp][None, :]
            evoked_weight = lf_weight.sum(axis=1)
            lf_weight[evoked_weight <= 1e-3] = 0.0  # the same cut-off as response_weight
            evoked_weight = np.where(evoked_weight > 1e-3, evoked_weight, 0.0)
            if auditory and len(resp) and (evoked_size > 0 or tracking_size > 0):
                lf = _auditory_potentials(
                    streams["auditory"], events, kernels[resp],
                    regions["onset_gain"].to_numpy()[resp], n_times, sampling_rate,
                    float(evoked_size), float(tracking_size))
                x += _mix(lf_weight.astype(np.float32), lf)
                del lf

        x *= np.float32(_SCALE_UV)
        table = table.copy()
        table["response_weight"] = response_weight
        if response_model == "auditory":
            table["evoked_weight"] = evoked_weight
        all_events.append(events)
        session = f"sub-{sid}"
        tables[session] = table
        blocks.append(x)
        labels.append(y)

    n_max = max(b.shape[1] for b in blocks)
    X = np.full((n_segments * len(blocks), n_max, n_times), np.nan, dtype=dtype)
    for i, block in enumerate(blocks):
        X[i * n_segments : (i + 1) * n_segments, : block.shape[1]] = block
    sessions = np.repeat(np.array(list(tables), dtype=object), n_segments)
    regions = (
        pd.concat(all_regions, ignore_index=True).drop_duplicates("parcel").sort_values("parcel")
    ).reset_index(drop=True)
    parameters = dict(
        subjects=subject_ids,
        n_segments=n_segments,
        segment_duration=segment_duration,
        sampling_rate=sampling_rate,
        task=task,
        responsive_regions=responsive,
        effect_size=float(effect_size),
        response_model=response_model,
        evoked_size=float(evoked_size) if response_model == "auditory" else None,
        tracking_size=float(tracking_size) if response_model == "auditory" else None,
        volume_conduction=float(volume_conduction),
        shaft_noise=float(shaft_noise),
        max_channels=max_channels,
        atlas=atlas,
        radius=float(radius),
        hg_band=_HG_BAND,
        units="uV",
    )
    return Bunch(
        X=X,
        y=np.concatenate(labels),
        session=sessions,
        time=np.tile(np.arange(n_segments) * segment_duration, len(blocks)),
        electrodes=tables,
        regions=regions,
        sound=np.concatenate([e["kind"] for e in all_events]).astype(str),
        sound_onset=np.concatenate([e["onset"] for e in all_events]),
        sampling_rate=sampling_rate,
        segment_duration=segment_duration,
        parameters=parameters,
        DESCR=_DESCR,
    )


def _positive_int(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not float(value).is_integer() or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def _check_n_subjects(n_subjects) -> int:
    n = _positive_int(n_subjects, "n_subjects")
    if n > len(BTBANK_SUBJECTS):
        raise ValueError(
            f"n_subjects must be at most {len(BTBANK_SUBJECTS)} (the Brain Treebank subjects); "
            f"got {n_subjects!r}."
        )
    return n


_DESCR = """Simulated multiregional sEEG cohort (skdistill.datasets.make_ieeg_cohort).

Real electrode positions of the Brain Treebank subjects (MNI152, MIT licence, vendored from the
neuroprobe package), atlas parcels from skdistill.spatial, region-level AR(2) sources shared
across subjects, shaft-shared noise, 1/f background, and a speech / non-speech task that raises
70-150 Hz power in auditory (superior temporal) parcels and (response_model="auditory", the
default) onset-evoked and envelope-tracking low-frequency potentials with a parcel-specific
N1-P2 kernel shared across subjects. See docs/ieeg_simulator.md.
"""
