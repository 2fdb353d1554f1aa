"""Writers of tiny files in the exact layouts the skdistill.io readers parse (used by test_io)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import h5py
import numpy as np
import scipy.io

GRIPFORCE_VHDR = (
    Path(__file__).parent / "data" / "gripforce_ecog_stn" / "sub-testsub" / "ses-EphysMedOff" / "ieeg"
    / "sub-testsub_ses-EphysMedOff_task-gripforce_run-0_ieeg.vhdr"
)

_MAT73_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."


def _mat73(path) -> h5py.File:
    """An HDF5 file with MATLAB's 512-byte user block (text header, version 0x0200, 'IM')."""
    f = h5py.File(path, "w", userblock_size=512)
    f.close()
    with open(path, "r+b") as raw:
        header = _MAT73_HEADER.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
        raw.write(header)
    return h5py.File(path, "a")


def _matlab_cell_ref(f: h5py.File, name: str, values, *, char: bool = False):
    if char:
        data = np.array([[ord(c)] for c in values], dtype=np.uint16)
        ds = f["#refs#"].create_dataset(name, data=data)
        ds.attrs["MATLAB_class"] = np.bytes_("char")
    elif len(values) == 0:
        ds = f["#refs#"].create_dataset(name, data=np.zeros(2, dtype=np.uint64))
        ds.attrs["MATLAB_class"] = np.bytes_("double")
        ds.attrs["MATLAB_empty"] = np.uint8(1)
    else:
        ds = f["#refs#"].create_dataset(name, data=np.asarray(values, dtype=float)[None, :])
        ds.attrs["MATLAB_class"] = np.bytes_("double")
    return ds.ref


def write_indy_mat(path, t, cursor_pos, target_pos, spikes=None, chan_names=None):
    """Indy kinematics file: t (1,T), cursor_pos/target_pos (2,T), spikes refs (units, channels).

    ``spikes`` is a list over channels of lists over units of spike-time arrays (MATLAB's
    channels x units cell array), ``[]`` for an empty cell.
    """
    with _mat73(path) as f:
        f.create_group("#refs#")
        f.create_dataset("t", data=np.asarray(t, dtype=float)[None, :])
        f.create_dataset("cursor_pos", data=np.asarray(cursor_pos, dtype=float).T)
        f.create_dataset("target_pos", data=np.asarray(target_pos, dtype=float).T)
        for key in ("t", "cursor_pos", "target_pos"):
            f[key].attrs["MATLAB_class"] = np.bytes_("double")
        if chan_names is not None:
            refs = [_matlab_cell_ref(f, f"c{i}", n, char=True) for i, n in enumerate(chan_names)]
            ds = f.create_dataset("chan_names", data=np.array([refs], dtype=h5py.ref_dtype))
            ds.attrs["MATLAB_class"] = np.bytes_("cell")
        if spikes is not None:
            n_units = max(len(units) for units in spikes)
            refs = np.empty((n_units, len(spikes)), dtype=object)
            for ch, units in enumerate(spikes):
                for u in range(n_units):
                    values = units[u] if u < len(units) else []
                    refs[u, ch] = _matlab_cell_ref(f, f"s{ch}_{u}", values)
            ds = f.create_dataset("spikes", data=refs, dtype=h5py.ref_dtype)
            ds.attrs["MATLAB_class"] = np.bytes_("cell")


def write_indy_broadband(path, data, timestamps, electrode_names, conversion):
    """NWB 1.x broadband file: /acquisition/timeseries/broadband/{data, timestamps, electrode_names}."""
    with h5py.File(path, "w") as f:
        f.attrs["nwb_version"] = "NWB-1.0.6"
        group = f.create_group("acquisition/timeseries/broadband")
        ds = group.create_dataset("data", data=np.asarray(data, dtype=np.int16))
        ds.attrs["conversion"] = conversion
        ds.attrs["unit"] = "volt"
        group.create_dataset("timestamps", data=np.asarray(timestamps, dtype=float))
        group.create_dataset("electrode_names", data=np.array(electrode_names, dtype="S"))


def write_flint_mat(path, subjects):
    """Flint 2012 file: ``subjects`` is a list of lists of trial dicts with keys Time, TargetPos,
    HandVel, Condition and Neuron (list of dicts with Spike and LFP), written as MATLAB structs."""
    neuron_dtype = [("Spike", "O"), ("LFP", "O")]
    trial_dtype = [("Time", "O"), ("TargetPos", "O"), ("HandPos", "O"), ("HandVel", "O"),
                   ("Condition", "O"), ("Neuron", "O")]
    subject_arr = np.empty((1, len(subjects)), dtype=[("Trial", "O")])
    for s, trials in enumerate(subjects):
        trial_arr = np.empty((1, len(trials)), dtype=trial_dtype)
        for j, tr in enumerate(trials):
            neurons = np.empty((1, len(tr["Neuron"])), dtype=neuron_dtype)
            for n, neuron in enumerate(tr["Neuron"]):
                neurons[0, n]["Spike"] = np.asarray(neuron["Spike"], dtype=float).reshape(-1, 1)
                neurons[0, n]["LFP"] = np.asarray(neuron["LFP"], dtype=float).reshape(-1, 1)
            trial_arr[0, j]["Time"] = np.asarray(tr["Time"], dtype=float).reshape(-1, 1)
            trial_arr[0, j]["TargetPos"] = np.asarray(tr["TargetPos"], dtype=float)
            trial_arr[0, j]["HandPos"] = np.cumsum(tr["HandVel"], axis=0)
            trial_arr[0, j]["HandVel"] = np.asarray(tr["HandVel"], dtype=float)
            trial_arr[0, j]["Condition"] = float(tr["Condition"])
            trial_arr[0, j]["Neuron"] = neurons
        subject_arr[0, s]["Trial"] = trial_arr
    scipy.io.savemat(str(path), {"Subject": subject_arr})


def write_brain_treebank(root, subject, trial, signals, labels, localization=None):
    """Brain Treebank layout under ``root``: trial h5 + electrode_labels.json + depth-wm.csv."""
    root = Path(root)
    (root / "all_subject_data").mkdir(parents=True, exist_ok=True)
    h5_path = root / "all_subject_data" / f"sub_{subject}_trial{trial:03d}.h5"
    with h5py.File(h5_path, "w") as f:
        group = f.create_group("data")
        for i, signal in enumerate(signals):
            group.create_dataset(f"electrode_{i}", data=np.asarray(signal, dtype=np.float32))
    labels_dir = root / "electrode_labels" / f"sub_{subject}"
    labels_dir.mkdir(parents=True, exist_ok=True)
    (labels_dir / "electrode_labels.json").write_text(json.dumps(list(labels)))
    if localization is not None:
        loc_dir = root / "localization" / f"sub_{subject}"
        loc_dir.mkdir(parents=True, exist_ok=True)
        localization.to_csv(loc_dir / "depth-wm.csv", index=False)
    return h5_path


def write_nwb(path, *, lfp, lfp_rate, electrode_labels, locations, unit_spike_times, unit_electrodes,
              position, position_rate, position_start=0.0, conversion=1e-6):
    """An NWB 2 file written with pynwb: LFP in processing/ecephys, units, Position."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.behavior import Position, SpatialSeries
    from pynwb.ecephys import LFP, ElectricalSeries

    nwb = NWBFile(
        session_description="skdistill test", identifier="test-nwb", session_id="nwb-session",
        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    )
    device = nwb.create_device("probe")
    nwb.add_electrode_column("label", "electrode name")
    groups = {}
    for i, (label, location) in enumerate(zip(electrode_labels, locations)):
        if location not in groups:
            groups[location] = nwb.create_electrode_group(
                f"group_{location}", description="shank", location=location, device=device
            )
        nwb.add_electrode(group=groups[location], location=location, x=float(i), y=0.0, z=0.0, label=label)
    region = nwb.create_electrode_table_region(list(range(len(electrode_labels))), "all electrodes")
    series = ElectricalSeries(name="lfp", data=np.asarray(lfp), electrodes=region, rate=float(lfp_rate),
                              starting_time=0.0, conversion=conversion)
    nwb.create_processing_module("ecephys", "LFP").add(LFP(electrical_series=series))
    for times, elec in zip(unit_spike_times, unit_electrodes):
        nwb.add_unit(spike_times=np.asarray(times, dtype=float), electrodes=[elec])
    position_series = SpatialSeries(name="cursor", data=np.asarray(position), reference_frame="screen",
                                    rate=float(position_rate), starting_time=float(position_start))
    nwb.create_processing_module("behavior", "kinematics").add(Position(spatial_series=position_series))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def write_wild_nwb(path, *, session_duration=700.0, hand=(10.0, 600.13), eye=(670.641, 695.0),
                   rate=20.0, n_units=3, seed=0, with_lfp=False):
    """An NWB file as another lab's pipeline writes it: sorted units over the whole session,
    behaviour series that each cover a different part of it.

    * ``units``: ``n_units`` Poisson trains (5 Hz) over ``[0, session_duration)`` with
      ``obs_intervals`` = the whole session;
    * ``processing/behavior/Position/hand`` (SpatialSeries, explicit timestamps) over ``hand``;
    * ``acquisition/eye_position`` (TimeSeries, ``starting_time`` + ``rate``) over ``eye``;
    * optionally an LFP over the whole session (``with_lfp``, 100 Hz, 2 channels).

    Returns ``(hand_times, hand_values, eye_times, eye_values, spike_times)``.
    """
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.behavior import Position, SpatialSeries
    from pynwb.ecephys import LFP, ElectricalSeries

    rng = np.random.default_rng(seed)
    nwb = NWBFile(
        session_description="wild lab file", identifier="wild-nwb", session_id="wild-session",
        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    )
    spikes = []
    for _ in range(n_units):
        times = np.sort(rng.uniform(0.0, session_duration, rng.poisson(5 * session_duration)))
        spikes.append(times)
        nwb.add_unit(spike_times=times, obs_intervals=[[0.0, session_duration]])
    hand_t = np.arange(hand[0], hand[1], 1.0 / rate)
    hand_v = np.stack([np.sin(hand_t), np.cos(hand_t)], axis=1)
    eye_t = eye[0] + np.arange(int(round((eye[1] - eye[0]) * rate))) / rate
    eye_v = np.stack([eye_t - eye[0], -(eye_t - eye[0])], axis=1)
    behavior = nwb.create_processing_module("behavior", "kinematics")
    behavior.add(Position(spatial_series=SpatialSeries(
        name="hand", data=hand_v, timestamps=hand_t, reference_frame="table")))
    nwb.add_acquisition(TimeSeries(name="eye_position", data=eye_v, unit="deg",
                                   starting_time=float(eye[0]), rate=float(rate)))
    if with_lfp:
        device = nwb.create_device("probe")
        group = nwb.create_electrode_group("shank", description="shank", location="M1", device=device)
        for i in range(2):
            nwb.add_electrode(group=group, location="M1", x=float(i), y=0.0, z=0.0)
        region = nwb.create_electrode_table_region([0, 1], "lfp electrodes")
        n = int(session_duration * 100)
        lfp = rng.standard_normal((n, 2)).astype(np.float32)
        nwb.create_processing_module("ecephys", "LFP").add(LFP(electrical_series=ElectricalSeries(
            name="lfp", data=lfp, electrodes=region, rate=100.0, starting_time=0.0)))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return hand_t, hand_v, eye_t, eye_v, spikes


def write_empty_nwb(path):
    """A valid NWB 2 file with no units, no ElectricalSeries and no behaviour."""
    from pynwb import NWBHDF5IO, NWBFile

    nwb = NWBFile(session_description="empty", identifier="empty-nwb",
                  session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def write_small_nwb(path, n_samples=2000, n_channels=4, rate=1000.0, dtype=np.int16, seed=0):
    """An NWB 2 file with one raw ElectricalSeries in acquisition (int16, conversion 1e-6).

    Returns the stored integer data.
    """
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ecephys import ElectricalSeries

    rng = np.random.default_rng(seed)
    data = rng.integers(-2000, 2000, size=(n_samples, n_channels)).astype(dtype)
    nwb = NWBFile(session_description="raw", identifier="raw-nwb", session_id="raw-session",
                  session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    device = nwb.create_device("probe")
    group = nwb.create_electrode_group("shank", description="shank", location="CA1", device=device)
    for i in range(n_channels):
        nwb.add_electrode(group=group, location="CA1", x=float(i), y=0.0, z=0.0)
    region = nwb.create_electrode_table_region(list(range(n_channels)), "all")
    nwb.add_acquisition(ElectricalSeries(name="raw", data=data, electrodes=region, rate=float(rate),
                                         starting_time=0.0, conversion=1e-6))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return data
