"""Flint et al. 2012 centre-out reaching (CRCNS DREAM ``Flint_2012_e*.mat``, MATLAB v5).

Layout: a struct array ``Subject``; ``Subject(k).Trial(j)`` has ``Time`` (kinematic sample
times, seconds), ``TargetPos``, ``HandPos``/``HandVel`` (samples x 3, the first two columns are
x, y), ``Condition`` and a struct array ``Neuron(n)`` with ``Spike`` (spike times, seconds)
and ``LFP`` (the LFP of that neuron's electrode during the trial, at a rate the files do not
state; 2 kHz is assumed, as in the reference code).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.io

from ..data import Recording
from ._binning import _n_bins, bin_spikes, signal_to_bins
from ._common import as_hz, as_seconds, check_lfp, existing_path

__all__ = ["load_flint"]


def _as_list(value) -> list:
    """MATLAB struct arrays come back as a lone struct or an object array (squeeze_me)."""
    if isinstance(value, np.ndarray):
        return list(value.ravel())
    return [value]


def _field(struct, name: str, where: str):
    if not hasattr(struct, name):
        fields = getattr(struct, "_fieldnames", [])
        raise ValueError(f"{where} has no field {name!r}; it has {fields}. Not a Flint 2012 file?")
    return getattr(struct, name)


def load_flint(mat_path, subject=0, bin_size=0.01, lfp_rate=2000.0, *, session=None) -> Recording:
    """Load one subject of a Flint 2012 file: trials concatenated into one Recording.

    Parameters
    ----------
    mat_path : str or path-like
        ``Flint_2012_e{d}.mat`` (MATLAB v5, read with :func:`scipy.io.loadmat`).
    subject : int, default=0
        Index (0-based) into ``Subject``; ``e{d}_{k}`` of the reference is ``subject=k-1``.
    bin_size : float, default=0.01
        Bin width, seconds.
    lfp_rate : float, default=2000.0
        Sampling rate of ``Neuron(n).LFP`` in Hz (the files do not store it).
    session : str, optional
        Defaults to ``"{file stem}_{subject + 1}"``.

    Returns
    -------
    Recording
        ``behavior`` = ``HandVel[:, :2]`` averaged in each bin (``vx, vy``); ``spikes`` one
        column per neuron; ``lfp`` one column per neuron whose LFP is non-empty in every trial.
        Each trial is binned from its first ``Time`` for as many whole bins as both its
        kinematics and its LFP cover, and its LFP is cut to exactly those bins, so LFP row
        ``i * lfp_rate * bin_size`` stays aligned with bin ``i`` across the concatenated trials.
        ``annotations`` holds per-trial ``trial_start_bins``, ``trial_t_start`` and ``condition``.
    """
    bin_size = as_seconds(bin_size, "bin_size")
    lfp_rate = as_hz(lfp_rate, "lfp_rate")
    if isinstance(subject, bool) or not isinstance(subject, (int, np.integer)):
        raise ValueError(f"subject must be an int index into Subject (0-based); got {subject!r}.")
    mat_path = existing_path(mat_path, "Flint 2012 .mat file (mat_path)", kind="file")
    try:
        mat = scipy.io.loadmat(str(mat_path), struct_as_record=False, squeeze_me=True, appendmat=False)
    except (ValueError, NotImplementedError, TypeError, OSError, EOFError, KeyError, IndexError,
            OverflowError, MemoryError) as exc:
        raise ValueError(
            f"'{mat_path}' cannot be read as a MATLAB v5 file ({type(exc).__name__}: {exc}): it is "
            "truncated or corrupt, or not v5. Flint 2012 files are v5; MATLAB v7.3 (HDF5) files "
            "such as the Indy data are read with load_indy."
        ) from None
    if "Subject" not in mat:
        raise ValueError(
            f"'{mat_path}' has no 'Subject' struct, so it is not a Flint 2012 file; it holds "
            f"{sorted(k for k in mat if not k.startswith('__'))}."
        )
    subjects = _as_list(mat["Subject"])
    if not 0 <= subject < len(subjects):
        raise ValueError(
            f"subject={subject} is out of range: '{mat_path}' holds {len(subjects)} subject(s); "
            f"pass 0..{len(subjects) - 1}."
        )
    trials = _as_list(_field(subjects[subject], "Trial", f"Subject({subject + 1})"))
    if not trials:
        raise ValueError(f"Subject({subject + 1}) of '{mat_path}' has no trials.")

    neurons_per_trial = [_as_list(_field(tr, "Neuron", "Trial")) for tr in trials]
    n_neurons = {len(n) for n in neurons_per_trial}
    if len(n_neurons) != 1:
        raise ValueError(f"trials of Subject({subject + 1}) have different neuron counts {sorted(n_neurons)}.")
    n_neurons = n_neurons.pop()
    lfp_neurons = [
        n for n in range(n_neurons)
        if all(np.size(getattr(neurons[n], "LFP", [])) > 0 for neurons in neurons_per_trial)
    ]
    per_bin = lfp_rate * bin_size

    spikes, behavior, lfp, starts, t_starts, conditions = [], [], [], [], [], []
    n_total = 0
    for j, (trial, neurons) in enumerate(zip(trials, neurons_per_trial)):
        time = np.atleast_1d(np.asarray(_field(trial, "Time", f"Trial({j + 1})"), dtype=float))
        if len(time) < 2:
            continue
        dt = float(np.median(np.diff(time)))
        t0 = float(time[0])
        n_bins = _n_bins(t0, t0 + len(time) * dt, bin_size)
        lfp_j = None
        if lfp_neurons:
            cols = [np.asarray(neurons[n].LFP, dtype=float).ravel() for n in lfp_neurons]
            n_lfp = min(len(c) for c in cols)
            n_bins = min(n_bins, int(np.floor(n_lfp / per_bin + 1e-9)))
            lfp_j = np.stack([c[: int(round(n_bins * per_bin))] for c in cols], axis=1)
        if n_bins < 1:
            continue
        vel = np.asarray(_field(trial, "HandVel", f"Trial({j + 1})"), dtype=float)
        vel = vel.reshape(len(time), -1)[:, :2]
        behavior.append(signal_to_bins(vel, time, t0, bin_size, n_bins))
        trains = [np.atleast_1d(np.asarray(n.Spike, dtype=float)).ravel() for n in neurons]
        spikes.append(bin_spikes(trains, bin_size, t_start=t0, t_stop=t0 + n_bins * bin_size))
        if lfp_j is not None:
            lfp.append(lfp_j)
        starts.append(n_total)
        t_starts.append(t0)
        conditions.append(np.asarray(getattr(trial, "Condition", np.nan)).tolist())
        n_total += n_bins
    if not spikes:
        raise ValueError(f"no trial of Subject({subject + 1}) in '{mat_path}' lasts a whole bin.")

    names = [f"neuron{n:03d}" for n in range(n_neurons)]
    lfp = np.concatenate(lfp) if lfp else None
    channels = pd.DataFrame({"name": [names[n] for n in lfp_neurons]})
    if lfp is not None:
        check_lfp(lfp, channels, str(mat_path))
    return Recording(
        session=session or f"{mat_path.stem}_{subject + 1}",
        spikes=np.concatenate(spikes),
        behavior=np.concatenate(behavior),
        bin_rate=1.0 / bin_size,
        lfp=lfp,
        lfp_rate=lfp_rate if lfp is not None else None,
        channels=channels,
        units=pd.DataFrame({"name": names, "has_lfp": [n in lfp_neurons for n in range(n_neurons)]}),
        behavior_names=["vx", "vy"],
        t_start=t_starts[0],
        annotations={
            "source": str(mat_path),
            "reader": "load_flint",
            "subject": subject,
            "trial_start_bins": starts,
            "trial_t_start": t_starts,
            "condition": conditions,
        },
    )
