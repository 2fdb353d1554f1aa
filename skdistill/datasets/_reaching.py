"""Simulator of multi-session 2-D reaching with paired Poisson spikes and a 1 kHz Utah-array LFP.

The full generative model, its equations, the parameter table and the calibration are written
up in ``docs/simulators.md``; the docstring of :func:`make_reaching_sessions` is the short form.
"""

from __future__ import annotations

import numbers
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import signal as sps

from skdistill.data import Recording

__all__ = ["make_reaching_sessions"]

# Utah array: 10 x 10 grid at 0.4 mm pitch; the four corner sites are not wired (96 electrodes)
_GRID = 10
_PITCH_MM = 0.4
_TASKS = ("random-target", "center-out")
_REGIMES = ("linear", "nonlinear")
_LFP_MODELS = ("population", "mrp")
# calibrated defaults (docs/simulators.md, "Calibration"); fixed here, never tuned to a model
_MRP_AMPLITUDE = 0.3
_VELOCITY_GAIN = (0.25, 0.55)
# reaching speeds are scaled by this before they drive neurons (about a typical peak speed)
_V_REF = 0.2  # m/s
_LFP_VOLTS = 50e-6  # one "background unit" of LFP, in volts

# lfp_model="population": the slow LFP is the synaptically filtered activity of a large local
# population (docs/simulators.md, "LFP, population model"). Structural constants, fixed from
# physiology before calibration; only _SYNAPTIC_AMPLITUDE was calibrated (against the linear LFP
# floor), never against a model's score.
_SYNAPTIC_AMPLITUDE = 1.4
_POPULATION_SIZE = 4000
_INHIBITORY_FRACTION = 0.2
# share of a population neuron's latent loadings given by the spatial loading field: the same
# coherence its preferred direction has with the tuning map (E cos of the 30 degree scatter)
_LATENT_COHERENCE = float(np.exp(-0.5 * (np.pi / 6) ** 2))
# synaptic current kernels: (name, presynaptic class, rise s, decay s, share of the class's charge)
# defaults that differ between the LFP models (None in the signature): "mrp" keeps its values
# of the first calibration; "population" was calibrated against the 1/f exponent and the beta
# peak of real LFP spectra (docs/simulators.md, "Calibration")
_MODEL_DEFAULTS = {
    "mrp": dict(beta_amplitude=1.0, sensor_noise=0.2, background_exponent=1.0),
    "population": dict(beta_amplitude=0.5, sensor_noise=0.05, background_exponent=1.5),
}
_KERNELS = (
    ("AMPA", "E", 0.001, 0.005, 0.5),
    ("NMDA", "E", 0.003, 0.080, 0.5),
    ("GABA_A", "I", 0.001, 0.015, 1.0),
)


# --------------------------------------------------------------------------- random streams


class _Streams:
    """Independent, named random streams derived from one seed.

    Each generative component (and each session or unit inside it) gets its own
    ``SeedSequence(entropy, spawn_key=(component, *keys))``, so changing one parameter (e.g. the
    spike gain) never redraws the random numbers of another component (e.g. the LFP background).
    """

    def __init__(self, random_state):
        if isinstance(random_state, np.random.SeedSequence):
            self.entropy = random_state.entropy
        elif random_state is None:
            self.entropy = np.random.SeedSequence().entropy
        elif isinstance(random_state, np.random.Generator):
            self.entropy = int(random_state.integers(2**63))
        elif isinstance(random_state, numbers.Integral) and int(random_state) >= 0:
            self.entropy = int(random_state)
        else:
            raise ValueError(
                "random_state must be None, a non-negative int, a numpy SeedSequence or a numpy "
                f"Generator; got {random_state!r}."
            )

    def __call__(self, component: str, *keys: int) -> np.random.Generator:
        key = (zlib.crc32(component.encode()), *[int(k) for k in keys])
        return np.random.default_rng(np.random.SeedSequence(self.entropy, spawn_key=key))


# --------------------------------------------------------------------------- array geometry


def _utah_positions() -> np.ndarray:
    """(96, 2) electrode positions in mm, row-major over the 10 x 10 grid minus the corners."""
    ij = [(i, j) for i in range(_GRID) for j in range(_GRID)
          if (i, j) not in {(0, 0), (0, _GRID - 1), (_GRID - 1, 0), (_GRID - 1, _GRID - 1)}]
    return np.asarray(ij, dtype=float) * _PITCH_MM


def _gaussian_field(rng, positions, length_scale, n_fields):
    """Gaussian random fields over electrode positions, unit variance per site.

    ``length_scale`` (mm) is the correlation length; 0 gives independent values per site.
    """
    n = len(positions)
    if length_scale <= 0:
        return rng.standard_normal((n, n_fields))
    d2 = ((positions[:, None, :] - positions[None, :, :]) ** 2).sum(-1)
    cov = np.exp(-d2 / (2.0 * length_scale**2)) + 1e-6 * np.eye(n)
    return np.linalg.cholesky(cov) @ rng.standard_normal((n, n_fields))


def _conduction_matrix(positions, length_mm):
    """Volume conduction: each electrode sees a Gaussian-weighted average of nearby sources."""
    if length_mm <= 0:
        return np.eye(len(positions))
    d2 = ((positions[:, None, :] - positions[None, :, :]) ** 2).sum(-1)
    mix = np.exp(-d2 / (2.0 * length_mm**2))
    return mix / mix.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- behaviour


def _min_jerk_segments(rng, task, duration):
    """Movement plan: list of (t0, movement time, p0, p1) minimum-jerk reaches, positions in m."""
    segments, t, pos, block = [], 0.0, np.zeros(2), []
    while t < duration + 2.0:
        if task == "center-out":
            # Flint-style: hold at centre, reach to one of 8 targets at 7 cm, hold, return;
            # targets come in shuffled blocks of 8, as in the usual experiment design
            if not block:
                block = list(rng.permutation(8))
            angle = block.pop() * np.pi / 4
            target = 0.07 * np.array([np.cos(angle), np.sin(angle)])
            plan = [(rng.uniform(0.3, 0.6), target), (rng.uniform(0.3, 0.6), np.zeros(2))]
        else:
            # O'Doherty-style self-paced: a new random target in a 16 x 16 cm workspace
            target = rng.uniform(-0.08, 0.08, size=2)
            plan = [(rng.uniform(0.15, 0.5), target)]
        for hold, goal in plan:
            t += hold
            dist = np.linalg.norm(goal - pos)
            # Fitts-like movement time, a little variable from reach to reach
            move = max(0.25, 0.3 + 2.5 * dist + rng.normal(0.0, 0.05))
            segments.append((t, move, pos.copy(), goal.copy()))
            t += move
            pos = goal
    return segments


def _behaviour(rng, task, times):
    """Position and velocity (m, m/s) at ``times`` from minimum-jerk reaches plus small drift."""
    segs = _min_jerk_segments(rng, task, times[-1] + (times[1] - times[0] if len(times) > 1 else 0))
    starts = np.array([s[0] for s in segs])
    idx = np.searchsorted(starts, times, side="right") - 1
    pos = np.zeros((len(times), 2))
    vel = np.zeros((len(times), 2))
    before = idx < 0
    pos[before] = 0.0
    for k in np.unique(idx[~before]):
        t0, move, p0, p1 = segs[k]
        sel = idx == k
        s = np.clip((times[sel] - t0) / move, 0.0, 1.0)
        shape = 10 * s**3 - 15 * s**4 + 6 * s**5
        dshape = (30 * s**2 - 60 * s**3 + 30 * s**4) / move
        pos[sel] = p0 + np.outer(shape, p1 - p0)
        vel[sel] = np.outer(dshape, p1 - p0)
    # small, smooth positional jitter (on-line corrections, postural sway) of 3 mm rms:
    # white noise through two 0.1 s low-pass stages, so its velocity stays smooth and bounded
    dt = times[1] - times[0]
    rho = np.exp(-dt / 0.1)
    jitter = rng.standard_normal((len(times) + 200, 2))
    for _ in range(2):
        jitter = sps.lfilter([1 - rho], [1, -rho], jitter, axis=0)
    jitter = jitter[200:]
    jitter *= 0.003 / jitter.std()
    return pos + jitter, vel + np.gradient(jitter, dt, axis=0)


def _ou(rng, n, n_dims, dt, taus):
    """Unit-variance Ornstein-Uhlenbeck processes with time constants ``taus`` (s), stationary start."""
    out = np.empty((n, n_dims))
    noise = rng.standard_normal((n, n_dims))
    for k in range(n_dims):
        rho = np.exp(-dt / taus[k])
        zi = [rho * rng.standard_normal()]
        out[:, k] = sps.lfilter([np.sqrt(1 - rho**2)], [1, -rho], noise[:, k], zi=zi)[0]
    return out


# --------------------------------------------------------------------------- units


@dataclass
class _Unit:
    uid: int
    electrode: int
    baseline: float  # Hz
    gain: float  # log-rate per unit of v / V_REF along the preferred direction
    angle: float  # preferred direction, rad
    speed_gain: float
    loadings: np.ndarray  # on the non-behavioural latents


def _new_unit(streams, uid, field_angle, velocity_gain, n_latents, latent_gain):
    rng = streams("unit", uid)
    electrode = int(rng.integers(len(field_angle)))
    return _Unit(
        uid=uid,
        electrode=electrode,
        baseline=float(np.exp(rng.normal(np.log(8.0), 0.6))),
        gain=float(rng.uniform(*velocity_gain)),
        # units share their electrode's preferred direction up to a 30 degree scatter
        angle=float(field_angle[electrode] + rng.normal(0.0, np.pi / 6)),
        speed_gain=float(rng.uniform(0.0, 0.3)),
        loadings=rng.normal(0.0, latent_gain / np.sqrt(max(n_latents, 1)), n_latents),
    )


def _drift(streams, unit, session):
    """Slow drift of a persisting unit between sessions: 10 degrees of direction, 10% of gain."""
    rng = streams("drift", unit.uid, session)
    return _Unit(unit.uid, unit.electrode, unit.baseline * float(np.exp(rng.normal(0, 0.1))),
                 unit.gain * float(np.exp(rng.normal(0, 0.1))),
                 unit.angle + float(rng.normal(0, np.deg2rad(10))), unit.speed_gain,
                 unit.loadings)


# --------------------------------------------------------------------------- LFP


class _Pink:
    """1/f noise as a sum of unit-variance AR(1) processes with corners spaced by 4x (stateful).

    ``exponent`` 1 weighs the components equally (1/f, unit variance). Another exponent weighs
    component ``k`` by ``(f_k / 10 Hz) ** (-(exponent - 1) / 2)`` (a 1/f^exponent spectrum), scaled
    so that the spectral density at 10 Hz is that of the 1/f process.
    """

    def __init__(self, rng, n_channels, fs, f_lo=0.02, f_hi=200.0, exponent=1.0):
        n_comp = int(np.ceil(np.log(f_hi / f_lo) / np.log(4.0))) + 1
        corners = f_lo * 4.0 ** np.arange(n_comp)
        self.rho = np.exp(-2 * np.pi * corners / fs)
        # one child stream per component, so the output does not depend on the chunk size
        self.rngs = rng.spawn(n_comp)
        # stationary start so the slow components do not ramp up from zero
        self.state = [r * g.standard_normal((1, n_channels)) for r, g in zip(self.rho, self.rngs)]
        self.norm = 1.0 / np.sqrt(n_comp)
        self.weights = None
        if exponent != 1.0:
            w = (corners / 10.0) ** (-(exponent - 1.0) / 2.0)
            # AR(1) spectral densities (unit variance) at 10 Hz, to match the 1/f process there
            z = np.exp(-2j * np.pi * 10.0 / fs)
            dens = (1 - self.rho**2) / np.abs(1 - self.rho * z) ** 2
            self.weights = w * np.sqrt(dens.sum() / n_comp / np.sum(w**2 * dens))

    def __call__(self, n):
        out = 0.0
        for k, rho in enumerate(self.rho):
            y, self.state[k] = sps.lfilter([np.sqrt(1 - rho**2)], [1, -rho],
                                           self.rngs[k].standard_normal((n, self.state[k].shape[1])),
                                           axis=0, zi=self.state[k])
            out = out + (y if self.weights is None else self.weights[k] * y)
        return out * (self.norm if self.weights is None else 1.0)


class _Filtered:
    """White noise through a fixed SOS filter, scaled to unit variance, state kept across chunks."""

    def __init__(self, rng, sos, n_channels):
        impulse = np.zeros(20000)
        impulse[0] = 1.0
        self.scale = 1.0 / np.sqrt(np.sum(sps.sosfilt(sos, impulse) ** 2))
        self.sos, self.rng = sos, rng
        self.zi = np.zeros((sos.shape[0], 2, n_channels))
        # burn in so the process is stationary from the first sample
        self(2000)

    def __call__(self, n):
        y, self.zi = sps.sosfilt(self.sos, self.rng.standard_normal((n, self.zi.shape[2])),
                                 axis=0, zi=self.zi)
        return y * self.scale


# --------------------------------------------------------------------------- population (LFP model)


@dataclass
class _Population:
    """The local population whose synaptic currents make the slow LFP (``lfp_model="population"``).

    ``projection`` maps the latent drive ``z = [v~x, v~y, |v~|, u]`` to each neuron's log-rate
    change; ``weights[X]`` (96 electrodes x neurons of class X) are the distance weights times the
    baseline rates, rows normalised to 1, so ``weights[X] @ exp(projection @ z)`` is the local
    population rate of class X relative to its baseline.
    """

    xy: np.ndarray  # (n, 2) mm
    inhibitory: np.ndarray  # (n,) bool; excitatory neurons come first
    projection: np.ndarray  # (n, 3 + n_latents)
    weights: dict  # {"E": (96, n_E), "I": (96, n_I)}


def _site_of(xy, positions):
    """Index of the nearest electrode for each point."""
    d2 = ((xy[:, None, :] - positions[None, :, :]) ** 2).sum(-1)
    return np.argmin(d2, axis=1)


def _population(streams, positions, field_angle, latent_fields, params):
    """Draw the population: neurons over the array, parameters from the recorded units' rules.

    Each neuron follows the units' rate model (``_new_unit``): baseline log-normal around 8 Hz,
    velocity gain ``U(velocity_gain)``, preferred direction the tuning map's at its nearest
    electrode plus a 30 degree scatter (uniform in the ``"nonlinear"`` regime), speed gain
    ``U(0, 0.3)`` and latent loadings ``sigma_w (rho F(site) + sqrt(1 - rho**2) xi)``,
    ``xi ~ N(0, I)``.
    The population is fixed over sessions (the same cortex); only the recorded sample turns over.
    """
    n = params["population_size"]
    n_lat = latent_fields.shape[1]
    n_inh = int(round(_INHIBITORY_FRACTION * n))
    lo, hi = -_PITCH_MM, positions.max() + _PITCH_MM  # the array footprint plus one pitch
    xy = streams("population_xy").uniform(lo, hi, (n, 2))
    site = _site_of(xy, positions)
    baseline = np.exp(streams("population_rate").normal(np.log(8.0), 0.6, n))
    gain = streams("population_gain").uniform(*params["velocity_gain"], n)
    scatter = streams("population_direction").normal(0.0, np.pi / 6, n)
    if params["lfp_regime"] == "linear":
        angle = field_angle[site] + scatter
    else:  # directions not organised over the array: linear velocity averages out of the LFP
        angle = streams("population_direction_free").uniform(0.0, 2 * np.pi, n)
    speed_gain = streams("population_speed").uniform(0.0, 0.3, n)
    sigma_w = params["latent_gain"] / np.sqrt(max(n_lat, 1))
    rho = params["latent_coherence"]
    own = streams("population_loadings").normal(0.0, sigma_w, (n, n_lat))
    loadings = rho * sigma_w * latent_fields[site] + np.sqrt(1.0 - rho**2) * own
    projection = np.column_stack([gain * np.cos(angle), gain * np.sin(angle), speed_gain, loadings])
    inhibitory = np.arange(n) >= n - n_inh
    # distance weighting: the conduction kernel (Gaussian, conduction_length) from each neuron to
    # each electrode, times the neuron's baseline rate, normalised per electrode and class
    L = params["conduction_length"]
    d2 = ((positions[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    if L > 0:
        kernel = np.exp(-d2 / (2.0 * L**2))
    else:  # no conduction: each electrode sees the neurons nearest to it
        kernel = (site[None, :] == np.arange(len(positions))[:, None]).astype(float)
    weights = {}
    for name, sel in (("E", ~inhibitory), ("I", inhibitory)):
        w = kernel[:, sel] * baseline[sel]
        weights[name] = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300)
    return _Population(xy=xy, inhibitory=inhibitory, projection=projection, weights=weights)


def _population_rates(pop, z, block=2000):
    """Relative local population rates per class at the bin rate: {"E", "I"} -> (n_bins, 96)."""
    n_exc = int((~pop.inhibitory).sum())
    out = {k: np.empty((len(z), w.shape[0])) for k, w in pop.weights.items()}
    for a in range(0, len(z), block):
        eta = z[a:a + block] @ pop.projection.T
        np.exp(eta, out=eta)
        out["E"][a:a + block] = eta[:, :n_exc] @ pop.weights["E"].T
        out["I"][a:a + block] = eta[:, n_exc:] @ pop.weights["I"].T
    return out


def _kernel_filter(rise, decay, fs):
    """Difference-of-exponentials synaptic kernel of unit area as an IIR filter (b, a)."""
    ar, ad = np.exp(-1.0 / (rise * fs)), np.exp(-1.0 / (decay * fs))
    c = (1 - ad) * (1 - ar) / (ad - ar)  # unit DC gain
    return np.array([0.0, c * (ad - ar)]), np.array([1.0, -(ad + ar), ad * ar])


class _SynapticLFP:
    """Slow synaptic LFP: relative population rates through the synaptic kernels (stateful).

    ``phi_e(t) = sum_k sign_k share_k f_X (h_k * (R_X,e - mean R_X,e))(t)``, excitatory currents
    negative (sinks at the recording depth), inhibitory positive (sources).
    """

    def __init__(self, rates, electrodes, bin_times, fs):
        self.bin_times, self.fs = bin_times, fs
        self.rates = {k: v[:, electrodes] - v[:, electrodes].mean(axis=0) for k, v in rates.items()}
        fraction = {"E": 1.0 - _INHIBITORY_FRACTION, "I": _INHIBITORY_FRACTION}
        sign = {"E": -1.0, "I": 1.0}
        self.kernels = []
        for _, cls, rise, decay, share in _KERNELS:
            b, a = _kernel_filter(rise, decay, fs)
            first = self.rates[cls][0]
            zi = sps.lfilter_zi(b, a)[:, None] * first[None, :]  # stationary start
            self.kernels.append([cls, sign[cls] * share * fraction[cls], b, a, zi])

    def __call__(self, t):
        out = 0.0
        rates = {cls: _interp_rows(t, self.bin_times, r) for cls, r in self.rates.items()}
        for k in self.kernels:
            cls, weight, b, a, zi = k
            y, k[4] = sps.lfilter(b, a, rates[cls], axis=0, zi=zi)
            out = out + weight * y
        return out


def _interp_rows(t, grid, values):
    """Linear interpolation of the rows of ``values`` (on the regular ``grid``) at ``t``.

    The same as ``np.interp`` per column, edge values held.
    """
    if len(grid) == 1:
        return np.repeat(values[:1], len(t), axis=0)
    pos = np.clip((t - grid[0]) / (grid[1] - grid[0]), 0.0, len(grid) - 1)
    i = np.minimum(pos.astype(int), len(grid) - 2)
    frac = (pos - i)[:, None]
    return values[i] * (1.0 - frac) + values[i + 1] * frac


def _lfp(streams, s, bins, bin_times, lfp_rate, n_samples, electrodes, arr, params, rates=None):
    """Chunked 1 kHz LFP of one session; returns (n_samples, n_channels) float32 in volts.

    ``rates`` (``lfp_model="population"``): the relative local population rates per class at the
    bin rate (``_population_rates``); they replace the slow movement-related potential and set
    the envelope of the broadband synaptic activity. ``None`` is the ``"mrp"`` model.
    """
    n_ch = len(electrodes)
    n_all = arr["positions"].shape[0]
    mix = arr["conduction"][np.ix_(electrodes, np.arange(n_all))]
    tuning = arr["tuning"]  # (96, 2) electrode tuning vectors
    line_gain = arr["line_gain"][electrodes]
    beta_maps = arr["beta_maps"]  # (96, 2)
    syn_load = arr["syn_loadings"]  # (96, n_latents)

    pink = _Pink(streams("background", s), n_all, lfp_rate,
                 exponent=params.get("background_exponent", 1.0))
    syn_noise = _Filtered(streams("synaptic", s),
                          sps.butter(1, 200.0, "low", fs=lfp_rate, output="sos"), n_all)
    # population model: a 4th-order band-pass, so the beta bump's skirts do not leak into the
    # aperiodic 1/f part of the spectrum (the mrp model keeps its 2nd-order filter)
    beta = _Filtered(streams("beta", s),
                     sps.butter(2 if rates is None else 4, [16.0, 28.0], "band", fs=lfp_rate,
                                output="sos"), 2)
    common = _Pink(streams("common", s), 1, lfp_rate, f_lo=0.05, f_hi=20.0)
    line_rng, sensor_rng = streams("line", s), streams("sensor", s)
    line_phase = line_rng.uniform(0, 2 * np.pi, 3)
    line_drift = _Pink(line_rng, 1, lfp_rate, f_lo=0.01, f_hi=0.5)

    if rates is not None:
        synaptic = _SynapticLFP(rates, electrodes, bin_times, lfp_rate)
        frac_i = _INHIBITORY_FRACTION
        local_rate = (1.0 - frac_i) * rates["E"] + frac_i * rates["I"]  # all 96 sites

    out = np.empty((n_samples, n_ch), dtype=np.float32)
    chunk = max(1, int(round(params["chunk_duration"] * lfp_rate)))
    t_first = bin_times[0]
    for a in range(0, n_samples, chunk):
        n = min(chunk, n_samples - a)
        t = t_first + (a + np.arange(n)) / lfp_rate
        # the bin-rate drive, linearly interpolated to the LFP rate
        drive = np.stack([np.interp(t, bin_times, col) for col in bins.T], axis=1)
        vel, move, lat = drive[:, :2], drive[:, 2], drive[:, 3:]
        local = pink(n)
        # broadband synaptic activity whose power follows the local population rate
        if rates is None:
            d_local = params["broadband_gain"] * (vel @ tuning.T) + lat @ syn_load.T
            local += params["broadband_amplitude"] * np.exp(0.5 * d_local) * syn_noise(n)
        else:
            envelope = np.sqrt(np.maximum(_interp_rows(t, bin_times, local_rate), 0.0))
            local += params["broadband_amplitude"] * envelope * syn_noise(n)
        # movement-related beta desynchronisation
        b_amp = params["beta_amplitude"] * (1.0 - params["beta_depth"] * move)
        local += (b_amp[:, None] * beta(n)) @ beta_maps.T
        # slow movement-related potential, linear in velocity (0 in the nonlinear regime)
        if params["mrp_amplitude"]:
            local += params["mrp_amplitude"] * (vel @ tuning.T)
        x = local @ mix.T
        if rates is not None:
            # slow synaptic currents of the local population, seen at each electrode
            x += params["synaptic_amplitude"] * synaptic(t)
        x += params["common_amplitude"] * common(n)
        wave = sum(amp * np.sin(2 * np.pi * 60.0 * h * t + ph)
                   for h, amp, ph in zip((1, 2, 3), (1.0, 0.3, 0.15), line_phase))
        wave = wave * (1.0 + 0.2 * line_drift(n)[:, 0])
        x += params["line_noise_amplitude"] * np.outer(wave, line_gain)
        x += params["sensor_noise"] * sensor_rng.standard_normal((n, n_ch))
        out[a:a + n] = (x * _LFP_VOLTS).astype(np.float32)
    return out


# --------------------------------------------------------------------------- public


def _cycle(value, n, name, kind):
    if isinstance(value, (str, numbers.Integral)):
        return [value] * n
    values = list(value)
    if not values:
        raise ValueError(f"{name} must be a {kind} or a non-empty sequence of them; got {value!r}.")
    return [values[i % len(values)] for i in range(n)]


def _check_params(n_sessions, duration, bin_size, lfp_rate, n_units, unit_turnover,
                  velocity_gain, lfp_regime, mrp_amplitude, chunk_duration, channels, tasks,
                  lfp_model="mrp", synaptic_amplitude=None, population_size=_POPULATION_SIZE,
                  latent_coherence=_LATENT_COHERENCE):
    if not isinstance(n_sessions, numbers.Integral) or n_sessions < 1:
        raise ValueError(f"n_sessions must be a positive int; got {n_sessions!r}.")
    if not (bin_size > 0):
        raise ValueError(f"bin_size must be a positive number of seconds; got {bin_size!r}.")
    if not (duration >= 10 * bin_size):
        raise ValueError(
            f"duration must be at least 10 bins ({10 * bin_size:g} s); got {duration!r} s."
        )
    ratio = lfp_rate * bin_size
    if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
        raise ValueError(
            f"lfp_rate * bin_size must be a whole number of LFP samples per bin; got "
            f"{lfp_rate:g} Hz * {bin_size:g} s = {ratio:g}. Use e.g. lfp_rate=1000, bin_size=0.01."
        )
    if not isinstance(n_units, numbers.Integral) or n_units < 1:
        raise ValueError(f"n_units must be a positive int; got {n_units!r}.")
    if not 0.0 <= unit_turnover <= 1.0:
        raise ValueError(f"unit_turnover must be a fraction in [0, 1]; got {unit_turnover!r}.")
    if len(velocity_gain) != 2 or not 0 <= velocity_gain[0] <= velocity_gain[1]:
        raise ValueError(
            f"velocity_gain must be a (low, high) range with 0 <= low <= high; got {velocity_gain!r}."
        )
    if not isinstance(lfp_model, str) or lfp_model not in _LFP_MODELS:
        raise ValueError(
            f"lfp_model must be one of {_LFP_MODELS} ('population': the slow LFP is the "
            "synaptic activity of the local population; 'mrp': the earlier model with a slow "
            f"movement-related potential); got {lfp_model!r}."
        )
    if lfp_regime not in _REGIMES:
        raise ValueError(f"lfp_regime must be one of {_REGIMES}; got {lfp_regime!r}.")
    if lfp_model == "population" and mrp_amplitude:
        raise ValueError(
            "mrp_amplitude sets the slow movement-related potential of lfp_model='mrp'; under "
            f"lfp_model='population' the slow LFP is the population's synaptic activity (set its "
            f"size with synaptic_amplitude). Got mrp_amplitude={mrp_amplitude!r}."
        )
    if lfp_model == "mrp" and synaptic_amplitude is not None:
        raise ValueError(
            "synaptic_amplitude belongs to lfp_model='population'; got "
            f"synaptic_amplitude={synaptic_amplitude!r} with lfp_model='mrp'."
        )
    if synaptic_amplitude is not None and not synaptic_amplitude >= 0:
        raise ValueError(
            f"synaptic_amplitude must be a non-negative number; got {synaptic_amplitude!r}."
        )
    if not isinstance(population_size, numbers.Integral) or population_size < 2:
        raise ValueError(f"population_size must be an int >= 2; got {population_size!r}.")
    if not 0.0 <= latent_coherence <= 1.0:
        raise ValueError(f"latent_coherence must be in [0, 1]; got {latent_coherence!r}.")
    if lfp_regime == "nonlinear" and mrp_amplitude:
        raise ValueError(
            "lfp_regime='nonlinear' means the slow movement-related potential is absent; got "
            f"mrp_amplitude={mrp_amplitude!r}. Leave mrp_amplitude=None or use lfp_regime='linear'."
        )
    if not chunk_duration > 0:
        raise ValueError(f"chunk_duration must be positive seconds; got {chunk_duration!r}.")
    for c in channels:
        if not isinstance(c, numbers.Integral) or not 1 <= c <= 96:
            raise ValueError(
                f"n_channels must be ints in [1, 96] (a Utah array has 96 electrodes); got {c!r}."
            )
    for task in tasks:
        if task not in _TASKS:
            raise ValueError(f"task must be one of {_TASKS} (or a sequence of them); got {task!r}.")


def make_reaching_sessions(
    n_sessions=2,
    duration=60.0,
    *,
    n_channels=(96, 95),
    n_units=96,
    task=_TASKS,
    bin_size=0.01,
    lfp_rate=1000.0,
    lfp_model="population",
    lfp_regime="linear",
    mrp_amplitude=None,
    synaptic_amplitude=None,
    population_size=_POPULATION_SIZE,
    latent_coherence=_LATENT_COHERENCE,
    velocity_gain=_VELOCITY_GAIN,
    tuning_smoothness=1.0,
    conduction_length=1.0,
    beta_amplitude=None,
    beta_depth=0.6,
    broadband_amplitude=0.5,
    broadband_gain=0.3,
    line_noise_amplitude=0.5,
    common_amplitude=0.5,
    sensor_noise=None,
    background_exponent=None,
    unit_turnover=0.2,
    n_latents=4,
    latent_gain=0.5,
    spike_lead=0.05,
    chunk_duration=10.0,
    random_state=None,
):
    """Simulate paired spikes, 1 kHz LFP and 2-D reaching velocity over several sessions.

    One simulated subject with a 96-electrode Utah array (10 x 10 grid, 0.4 mm pitch, corners
    unwired) reaches in 2-D. A low-dimensional latent state drives both modalities:

    * **latent** ``z(t) = [v(t + lead) / v_ref, m(t), u(t)]``: velocity (``v_ref`` = 0.2 m/s)
      leading the hand by ``spike_lead``; a movement state ``m = min(1, |v| / v_ref)`` smoothed
      over 150 ms; ``n_latents`` non-behavioural Ornstein-Uhlenbeck latents ``u`` (0.1-1 s).
    * **spikes** (``bin_size`` bins): unit ``i`` on electrode ``e`` fires as a Poisson process with
      ``log rate_i = log b_i + g_i (c_i . v~) + s_i |v~| + w_i . u``, ``c_i`` its preferred
      direction (the electrode's tuning direction plus 30 degree scatter), ``g_i ~ U(velocity_gain)``.
      Between sessions ``unit_turnover`` of the units are replaced by new ones (new names); the rest
      keep their names and drift (10 degrees of direction, 10 % of gain and rate).
    * **LFP** (``lfp_rate``, chunked), two versioned models (``lfp_model``):

      - ``"population"`` (default): the slow LFP is the synaptic current of a large local
        population (``population_size`` model neurons over the array, of which the recorded
        units are a sample in their rate model), driven by the same latent state:
        ``phi_e(t) = A_syn sum_k sign_k w_k (h_k * R_X(k),e)(t)``, where ``R_X,e`` is the
        population rate of class X (excitatory / inhibitory) weighted by the neurons' distance
        to electrode ``e`` and ``h_k`` are synaptic kernels (AMPA 1/5 ms, NMDA 3/80 ms, GABA_A
        1/15 ms rise/decay). Its neurons' preferred directions follow the tuning map and their
        latent loadings follow spatial loading fields, so the LFP carries velocity *and* the
        non-behavioural latents (the kernel method, Hagen et al. 2022).
      - ``"mrp"``: the earlier model, kept bit-for-bit: the slow part is a movement-related
        potential ``A_mrp (T_e . v~)`` linear in velocity; the latents reach the LFP only as the
        envelope of broadband noise.

      Both add, as local sources mixed by volume conduction (Gaussian kernel of
      ``conduction_length`` mm), a 1/f^``background_exponent`` background, broadband synaptic
      activity whose power follows the local population rate, and movement-related beta
      (16-28 Hz) desynchronisation; then 60 Hz line noise with harmonics, a common-mode signal
      and sensor noise at the electrode. ``T_e`` is a Gaussian random field over the array with
      correlation length ``tuning_smoothness`` (mm): smooth maps survive volume conduction and
      keep linear velocity information in the LFP, independent per-electrode directions
      (``tuning_smoothness=0``) average out.

    Spikes, behaviour and latents do not depend on ``lfp_model`` or ``lfp_regime``: with the same
    ``random_state`` they are bit-identical across the LFP models and regimes.

    Every component draws from its own random stream, so changing one parameter does not redraw
    the others. See ``docs/simulators.md`` for the equations and the calibration.

    Parameters
    ----------
    n_sessions : int, default=2
    duration : float, default=60.0
        Session length in seconds.
    n_channels : int or sequence of int, default=(96, 95)
        LFP channels per session, cycled over sessions; sessions with fewer than 96 lose
        randomly chosen electrodes (as bad channels would).
    n_units : int, default=96
        Spike units per session.
    task : {"random-target", "center-out"} or sequence of them, default=("random-target", "center-out")
        Reaching task per session, cycled: self-paced random targets in a 16 cm square, or
        centre-out to 8 targets at 7 cm with return to the centre.
    bin_size : float, default=0.01
        Width of the spike / behaviour bins in seconds (100 Hz rows).
    lfp_rate : float, default=1000.0
        LFP sampling rate in Hz; ``lfp_rate * bin_size`` must be a whole number.
    lfp_model : {"population", "mrp"}, default="population"
        Version of the LFP model (see above). ``"mrp"`` reproduces the LFP of earlier releases
        exactly for the same parameters and ``random_state``.
    lfp_regime : {"linear", "nonlinear"}, default="linear"
        How velocity reaches the slow LFP. ``"linear"``: linearly (``"mrp"``: the slow
        movement-related potential; ``"population"``: the population's preferred directions
        follow the smooth tuning map, so its summed synaptic current is linear in velocity).
        ``"nonlinear"``: velocity is only in band-power envelopes and speed (``"mrp"``: no slow
        potential; ``"population"``: the population's preferred directions are independent and
        uniform, so linear velocity averages out while speed and the latents remain).
    mrp_amplitude : float or None, default=None
        ``lfp_model="mrp"`` only: amplitude of the slow movement-related potential (in units of
        the 1/f background's standard deviation); ``None`` gives the calibrated value 0.3
        (linear) or 0 (nonlinear).
    synaptic_amplitude : float or None, default=None
        ``lfp_model="population"`` only: amplitude of the population's slow synaptic LFP per
        unit relative change of the local population rate (background units); ``None`` gives the
        calibrated value (set against the linear LFP floor).
    population_size : int, default=4000
        ``lfp_model="population"``: model neurons of the local population (80 % excitatory).
    latent_coherence : float, default=0.87
        ``lfp_model="population"``: weight ``rho`` of the spatial loading field in each
        population neuron's latent loadings, ``rho F(x) + sqrt(1 - rho**2) * own``; the default
        is the coherence of the preferred directions with the tuning map (30 degree scatter).
    velocity_gain : (float, float), default=(0.25, 0.55)
        Range of the per-unit velocity gains (log-rate per ``v_ref``); sets the spike floor.
    tuning_smoothness : float, default=1.0
        Correlation length in mm of the electrode tuning map (0: independent per electrode).
    conduction_length : float, default=1.0
        Width (mm, Gaussian sigma) of volume conduction; 0 turns it off.
    beta_amplitude, beta_depth : float or None, default=None, 0.6
        Beta amplitude at rest and the fraction by which it drops during movement; ``None``:
        0.5 (``"population"``) or 1.0 (``"mrp"``).
    broadband_amplitude, broadband_gain : float, default=0.5, 0.3
        Amplitude of the broadband synaptic component and (``"mrp"`` only) the velocity gain of
        its envelope; under ``"population"`` its power follows the local population rate.
    line_noise_amplitude : float, default=0.5
        60 Hz line noise (with 120 and 180 Hz harmonics at 0.3 and 0.15 of it).
    common_amplitude : float, default=0.5
        Common-mode (reference) noise, identical on every channel.
    sensor_noise : float or None, default=None
        White amplifier noise per channel; ``None``: 0.05 (``"population"``) or 0.2 (``"mrp"``).
    background_exponent : float or None, default=None
        Exponent of the 1/f^exponent background; ``None``: 1.5 (``"population"``) or 1
        (``"mrp"``).
    unit_turnover : float, default=0.2
        Fraction of units replaced between consecutive sessions.
    n_latents, latent_gain : int, float, default=4, 0.5
        Number of non-behavioural latents and the scale of the units' loadings on them.
    spike_lead : float, default=0.05
        Seconds by which neural activity leads the hand velocity.
    chunk_duration : float, default=10.0
        The LFP is generated in chunks of this many seconds (memory); results do not depend on it.
    random_state : int, numpy SeedSequence, numpy Generator or None, default=None

    Returns
    -------
    recordings : list of skdistill.data.Recording
        ``spikes`` (n_bins, n_units) int64 counts, ``behavior`` (n_bins, 2) velocity in m/s
        (``behavior_names=["vx", "vy"]``), ``lfp`` (n_bins * lfp_rate * bin_size, n_channels)
        float32 in volts at ``lfp_rate``; ``channels`` has ``name, electrode, array_x, array_y``
        (mm); ``units`` has ``name, electrode, array_x, array_y, baseline_rate`` (Hz),
        ``velocity_gain, preferred_direction`` (rad); ``annotations`` holds ``task``,
        ``position`` (m), ``latents`` (the non-behavioural latents, (n_bins, n_latents)),
        ``lfp_model`` and the other generative parameters.

    Examples
    --------
    >>> from skdistill.datasets import make_reaching_sessions
    >>> recs = make_reaching_sessions(n_sessions=2, duration=20.0, random_state=0)
    >>> [r.lfp.shape for r in recs]
    [(20000, 96), (20000, 95)]
    >>> old = make_reaching_sessions(n_sessions=2, duration=20.0, random_state=0, lfp_model="mrp")
    >>> bool((old[0].spikes == recs[0].spikes).all())  # the LFP model changes the LFP only
    True
    """
    if not isinstance(n_sessions, numbers.Integral) or isinstance(n_sessions, bool) or n_sessions < 1:
        raise ValueError(f"n_sessions must be a positive int; got {n_sessions!r}.")
    channels = _cycle(n_channels, n_sessions, "n_channels", "int")
    tasks = _cycle(task, n_sessions, "task", "task name")
    velocity_gain = tuple(float(g) for g in velocity_gain)
    _check_params(n_sessions, duration, bin_size, lfp_rate, n_units, unit_turnover,
                  velocity_gain, lfp_regime, mrp_amplitude, chunk_duration, channels, tasks,
                  lfp_model, synaptic_amplitude, population_size, latent_coherence)
    population = lfp_model == "population"
    defaults = _MODEL_DEFAULTS[lfp_model]
    beta_amplitude = defaults["beta_amplitude"] if beta_amplitude is None else beta_amplitude
    sensor_noise = defaults["sensor_noise"] if sensor_noise is None else sensor_noise
    if background_exponent is None:
        background_exponent = defaults["background_exponent"]
    if not 0.0 < background_exponent <= 3.0:
        raise ValueError(
            f"background_exponent must be in (0, 3] (the 1/f^exponent background); got "
            f"{background_exponent!r}."
        )
    if mrp_amplitude is None:
        mrp_amplitude = _MRP_AMPLITUDE if lfp_regime == "linear" and not population else 0.0
    params = dict(
        lfp_model=lfp_model,
        lfp_regime=lfp_regime, mrp_amplitude=float(mrp_amplitude), velocity_gain=velocity_gain,
        tuning_smoothness=float(tuning_smoothness), conduction_length=float(conduction_length),
        beta_amplitude=float(beta_amplitude), beta_depth=float(beta_depth),
        broadband_amplitude=float(broadband_amplitude), broadband_gain=float(broadband_gain),
        line_noise_amplitude=float(line_noise_amplitude), common_amplitude=float(common_amplitude),
        sensor_noise=float(sensor_noise), background_exponent=float(background_exponent),
        unit_turnover=float(unit_turnover),
        n_latents=int(n_latents), latent_gain=float(latent_gain), spike_lead=float(spike_lead),
        chunk_duration=float(chunk_duration),
    )
    if population:
        params.update(
            synaptic_amplitude=float(_SYNAPTIC_AMPLITUDE if synaptic_amplitude is None
                                     else synaptic_amplitude),
            population_size=int(population_size), latent_coherence=float(latent_coherence),
        )
    streams = _Streams(random_state)

    positions = _utah_positions()
    tuning = _gaussian_field(streams("tuning"), positions, tuning_smoothness, 2)
    tuning /= np.sqrt(np.mean(np.sum(tuning**2, axis=1)))  # unit RMS length
    field_angle = np.arctan2(tuning[:, 1], tuning[:, 0])
    beta_maps = 1.0 + 0.5 * _gaussian_field(streams("beta_maps"), positions, 1.5, 2)
    arr = dict(
        positions=positions, tuning=tuning, beta_maps=beta_maps / np.sqrt(2),
        conduction=_conduction_matrix(positions, conduction_length),
        line_gain=streams("line_gain").uniform(0.5, 1.5, len(positions)),
        syn_loadings=streams("syn_loadings").normal(
            0.0, latent_gain / np.sqrt(max(n_latents, 1)), (len(positions), n_latents)),
    )
    if population:
        # spatial loading fields of the latents, organised over the array like the tuning map
        latent_fields = _gaussian_field(streams("latent_fields"), positions, tuning_smoothness,
                                        n_latents)
        latent_fields = latent_fields / np.maximum(latent_fields.std(axis=0), 1e-12)
        pop = _population(streams, positions, field_angle, latent_fields, params)

    n_bins = int(np.floor(duration / bin_size + 1e-9))
    bin_times = np.arange(n_bins) * bin_size
    samples_per_bin = int(round(lfp_rate * bin_size))
    taus = np.geomspace(0.1, 1.0, max(n_latents, 1))
    n_keep = int(round((1.0 - unit_turnover) * n_units))

    recordings, units, next_uid = [], [], 0
    for s in range(n_sessions):
        # unit turnover: keep a random subset of the previous session's units, drifted
        if s == 0:
            kept = []
        else:
            keep_idx = np.sort(streams("turnover", s).choice(len(units), n_keep, replace=False))
            kept = [_drift(streams, units[k], s) for k in keep_idx]
        fresh = []
        for _ in range(n_units - len(kept)):
            fresh.append(_new_unit(streams, next_uid, field_angle, velocity_gain,
                                   n_latents, latent_gain))
            next_uid += 1
        units = kept + fresh

        pos, vel = _behaviour(streams("behavior", s), tasks[s], bin_times)
        v_lead = np.stack([np.interp(bin_times + spike_lead, bin_times, c) for c in vel.T], 1)
        v_lead /= _V_REF
        speed = np.linalg.norm(v_lead, axis=1)
        move = np.minimum(1.0, speed)
        rho = np.exp(-bin_size / 0.15)
        move = sps.lfilter([1 - rho], [1, -rho], sps.lfilter([1 - rho], [1, -rho], move)[::-1])[::-1]
        lat = _ou(streams("latents", s), n_bins, n_latents, bin_size, taus)

        dirs = np.array([[np.cos(u.angle), np.sin(u.angle)] for u in units])
        log_rate = (np.log([u.baseline for u in units])
                    + (v_lead @ dirs.T) * np.array([u.gain for u in units])
                    + np.outer(speed, [u.speed_gain for u in units])
                    + lat @ np.array([u.loadings for u in units]).T)
        spikes = streams("spikes", s).poisson(np.exp(log_rate) * bin_size).astype(np.int64)

        n_ch = channels[s]
        if n_ch < len(positions):
            drop = streams("channels", s).choice(len(positions), len(positions) - n_ch,
                                                 replace=False)
            electrodes = np.setdiff1d(np.arange(len(positions)), drop)
        else:
            electrodes = np.arange(len(positions))
        drive = np.column_stack([v_lead, move, lat])
        rates = None
        if population:
            rates = _population_rates(pop, np.column_stack([v_lead, speed, lat]))
        lfp = _lfp(streams, s, drive, bin_times, lfp_rate, n_bins * samples_per_bin,
                   electrodes, arr, params, rates)

        chan_table = pd.DataFrame({
            "name": [f"elec{e + 1:03d}" for e in electrodes],
            "electrode": electrodes + 1,
            "array_x": positions[electrodes, 0],
            "array_y": positions[electrodes, 1],
        })
        unit_table = pd.DataFrame({
            "name": [f"unit{u.uid:04d}" for u in units],
            "electrode": [u.electrode + 1 for u in units],
            "array_x": [positions[u.electrode, 0] for u in units],
            "array_y": [positions[u.electrode, 1] for u in units],
            "baseline_rate": [u.baseline for u in units],
            "velocity_gain": [u.gain for u in units],
            "preferred_direction": [u.angle for u in units],
        })
        recordings.append(Recording(
            session=f"reach-{s:02d}",
            spikes=spikes,
            behavior=vel,
            bin_rate=1.0 / bin_size,
            lfp=lfp,
            lfp_rate=float(lfp_rate),
            channels=chan_table,
            units=unit_table,
            behavior_names=["vx", "vy"],
            t_start=0.0,
            annotations=dict(
                task=tasks[s], position=pos, latents=lat, behavior_units="m/s",
                lfp_units="V", simulator="skdistill.datasets.make_reaching_sessions",
                n_persisting_units=len(kept), **params,
            ),
        ))
    return recordings
