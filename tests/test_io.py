"""Readers (skdistill.io): each layout is written in its exact on-disk form, then read back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import neo
import quantities as pq

from skdistill.data import Recording
from skdistill.io import (
    SUPPORTED_LAYOUTS,
    bin_spikes,
    load_brain_treebank,
    load_flint,
    load_indy,
    read_bids_ieeg,
    read_neo,
    read_nwb,
    read_recording,
)
from skdistill.io._binning import signal_to_bins

from io_fixtures import (
    GRIPFORCE_VHDR,
    write_brain_treebank,
    write_flint_mat,
    write_indy_broadband,
    write_indy_mat,
    write_nwb,
)


# --------------------------------------------------------------------------- binning


def test_bin_spikes_counts_and_orientation():
    trains = [np.array([0.001, 0.005, 0.0101, 0.039]), np.array([0.025])]
    counts = bin_spikes(trains, 0.01, t_start=0.0, t_stop=0.04)
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts, [[2, 0], [1, 0], [0, 1], [1, 0]])


def test_bin_spikes_neo_and_quantities_agree_with_arrays():
    times = [0.0, 0.01, 0.02, 0.0299, 0.095]
    st = neo.SpikeTrain(np.array(times) * 1000 * pq.ms, t_start=0 * pq.s, t_stop=0.1 * pq.s)
    from_neo = bin_spikes([st], 10 * pq.ms)
    from_arr = bin_spikes([np.array(times)], 0.01, t_start=0.0, t_stop=0.1)
    assert from_neo.shape == (10, 1)
    np.testing.assert_array_equal(from_neo, from_arr)
    np.testing.assert_array_equal(from_neo[:, 0], [1, 1, 2, 0, 0, 0, 0, 0, 0, 1])


def test_bin_spikes_default_interval_and_clipping():
    counts = bin_spikes([np.array([0.05, 0.26])], 0.1)  # 0 .. end of the bin holding 0.26
    np.testing.assert_array_equal(counts[:, 0], [1, 0, 1])
    # spikes outside [t_start, t_stop) are not counted; t_stop is cut to whole bins
    counts = bin_spikes([np.array([-1.0, 0.15, 0.35, 5.0])], 0.1, t_start=0.1, t_stop=0.45)
    np.testing.assert_array_equal(counts[:, 0], [1, 0, 1])


@pytest.mark.parametrize("bad", [0, -0.01, np.nan, "10ms", 3 * pq.mV])
def test_bin_spikes_rejects_bad_bin_size(bad):
    with pytest.raises(ValueError, match="bin_size"):
        bin_spikes([np.array([0.1])], bad)


def test_bin_spikes_rejects_2d_trains_and_nan():
    with pytest.raises(ValueError, match="1-D"):
        bin_spikes([np.zeros((2, 2))], 0.01)
    with pytest.raises(ValueError, match="NaN"):
        bin_spikes([np.array([0.1, np.nan])], 0.01)


def test_signal_to_bins_means_and_interpolation():
    t = np.arange(1000) / 1000.0  # 1 kHz ramp x(t) = t
    binned = signal_to_bins(t, t, 0.0, 0.01, 100)
    # mean of t over the 10 samples k*0.01 + {0..9} ms
    np.testing.assert_allclose(binned[:, 0], np.arange(100) * 0.01 + 0.0045)
    coarse_t = np.arange(0, 1.0, 0.05)  # coarser than the bins -> interpolated at bin centres
    binned = signal_to_bins(2 * coarse_t, coarse_t, 0.0, 0.01, 90)
    np.testing.assert_allclose(binned[:, 0], 2 * (np.arange(90) * 0.01 + 0.005))


# --------------------------------------------------------------------------- neo


def _two_segment_block(gap=0.0):
    block = neo.Block(name="blk")
    rng = np.random.default_rng(np.random.SeedSequence(1))
    for k in range(2):
        t0 = k * (1.0 + gap)
        seg = neo.Segment()
        values = np.c_[rng.normal(size=(1000, 2)), np.full(1000, k + 1.0)]
        sig = neo.AnalogSignal(values, units="uV", sampling_rate=1000 * pq.Hz, t_start=t0 * pq.s)
        sig.array_annotate(channel_names=np.array(["lfp_a", "lfp_b", "force"]))
        seg.analogsignals.append(sig)
        seg.spiketrains.append(
            neo.SpikeTrain([t0 + 0.015, t0 + 0.5] * pq.s, t_start=t0 * pq.s, t_stop=(t0 + 1) * pq.s, name="u1")
        )
        block.segments.append(seg)
    return block


def test_read_neo_concatenates_contiguous_segments():
    rec = read_neo(_two_segment_block(), bin_size=0.01, behavior_channels=["force"])
    assert isinstance(rec, Recording)
    assert rec.lfp.shape == (2000, 2) and rec.lfp_rate == 1000.0
    assert list(rec.channels["name"]) == ["lfp_a", "lfp_b"]
    assert rec.channels["units"].iloc[0] == "uV"
    assert rec.spikes.shape == (200, 1) and rec.behavior.shape == (200, 1)
    assert rec.bin_rate == 100.0 and rec.session == "blk"
    np.testing.assert_array_equal(np.flatnonzero(rec.spikes[:, 0]), [1, 50, 101, 150])
    np.testing.assert_allclose(rec.behavior[:100, 0], 1.0)
    np.testing.assert_allclose(rec.behavior[100:, 0], 2.0)


def test_read_neo_refuses_gaps_and_unknown_channels():
    with pytest.raises(ValueError, match="not contiguous"):
        read_neo(_two_segment_block(gap=0.5))
    with pytest.raises(ValueError, match="MOV_LEFT.*lfp_a"):
        read_neo(_two_segment_block(), behavior_channels=["MOV_LEFT"])
    # one segment read on its own works
    rec = read_neo(_two_segment_block(gap=0.5).segments[1], session="seg1")
    assert rec.lfp.shape == (1000, 3) and rec.t_start == pytest.approx(1.5)


# --------------------------------------------------------------------------- real grip-force recording


@pytest.fixture(scope="module")
def gripforce():
    return read_recording(GRIPFORCE_VHDR, bin_size=0.01)


def test_gripforce_signals(gripforce):
    rec = gripforce
    names = [f"LFP_RIGHT_{i}" for i in range(3)] + [f"ECOG_RIGHT_{i}" for i in range(6)]
    assert rec.lfp_rate == 1000.0
    assert rec.lfp.shape == (19001, 9)
    assert (len(rec.lfp) - 1) / rec.lfp_rate == pytest.approx(19.0)  # first to last sample
    assert list(rec.channels["name"]) == names
    assert list(rec.channels["type"]) == ["DBS"] * 3 + ["ECOG"] * 6
    assert list(rec.channels["shaft"]) == ["LFP_RIGHT"] * 3 + ["ECOG_RIGHT"] * 6
    assert rec.behavior_names == ["MOV_RIGHT"]
    assert rec.behavior.shape == (1900, 1) and rec.spikes is None
    assert rec.duration == pytest.approx(19.0)
    assert rec.annotations["coordinate_space"] == "MNI"
    assert np.abs(rec.lfp).max() > 1e7  # raw values of order 1e8, as documented


def test_gripforce_positions_in_mm(gripforce):
    tsv = pd.read_csv(
        GRIPFORCE_VHDR.with_name("sub-testsub_ses-EphysMedOff_space-mni_electrodes.tsv"), sep="\t",
        na_values="n/a",
    ).set_index("name")
    ch = gripforce.channels.set_index("name")
    for axis in "xyz":
        np.testing.assert_allclose(ch[axis], tsv.loc[ch.index, axis] * 1000.0, rtol=1e-12)
    assert ch.loc["ECOG_RIGHT_0", "z"] == pytest.approx(61.79765474)


def test_gripforce_force_is_binned_mean_of_raw(gripforce):
    raw = read_neo(GRIPFORCE_VHDR, lfp_channels=["MOV_RIGHT"]).lfp[:, 0]
    np.testing.assert_allclose(gripforce.behavior[:, 0], raw[:19000].reshape(1900, 10).mean(axis=1))
    assert gripforce.behavior.std() > 0


def test_bids_reader_without_sidecars(tmp_path):
    for ext in ("vhdr", "vmrk", "eeg"):
        src = GRIPFORCE_VHDR.with_suffix(f".{ext}")
        (tmp_path / src.name).write_bytes(src.read_bytes())
    rec = read_bids_ieeg(tmp_path / GRIPFORCE_VHDR.name)
    assert rec.lfp.shape == (19001, 10) and rec.behavior is None
    assert "x" not in rec.channels


# --------------------------------------------------------------------------- NWB 2 (pynwb)


@pytest.fixture
def nwb_file(tmp_path):
    rng = np.random.default_rng(np.random.SeedSequence(2))
    t = np.arange(200) / 100.0
    position = np.c_[3.0 * t, 0.5 * t**2]
    path = tmp_path / "session.nwb"
    lfp = rng.normal(size=(2000, 3))
    write_nwb(
        path, lfp=lfp, lfp_rate=1000.0, electrode_labels=["e0", "e1", "e2"],
        locations=["M1", "M1", "PMd"], unit_spike_times=[[0.012, 0.5, 1.234], [0.3]],
        unit_electrodes=[0, 2], position=position, position_rate=100.0,
    )
    return path, lfp, position


def test_read_nwb(nwb_file):
    path, lfp, position = nwb_file
    rec = read_nwb(path, bin_size=0.02)
    assert rec.session == "nwb-session" and rec.bin_rate == 50.0
    assert rec.lfp.shape == (2000, 3) and rec.lfp_rate == 1000.0
    np.testing.assert_allclose(rec.lfp, lfp * 1e-6)  # conversion to volts
    assert list(rec.channels["name"]) == ["e0", "e1", "e2"]
    assert list(rec.channels["location"]) == ["M1", "M1", "PMd"]
    assert rec.spikes.shape == (100, 2)
    np.testing.assert_array_equal(np.flatnonzero(rec.spikes[:, 0]), [0, 25, 61])
    np.testing.assert_array_equal(np.flatnonzero(rec.spikes[:, 1]), [15])
    assert list(rec.units["channel"]) == ["e0", "e2"] and list(rec.units["location"]) == ["M1", "PMd"]
    assert rec.behavior_names == ["cursor_x", "cursor_y"]
    np.testing.assert_allclose(rec.behavior[:, 0], 3.0 * (np.arange(100) * 0.02 + 0.005))


def test_read_nwb_velocity_and_dispatch(nwb_file):
    path, _, _ = nwb_file
    rec = read_recording(path, bin_size=0.01, velocity=True)
    assert rec.behavior_names == ["d_cursor_x", "d_cursor_y"]
    np.testing.assert_allclose(rec.behavior[:, 0], 3.0)
    centres = np.arange(200) * 0.01
    np.testing.assert_allclose(rec.behavior[1:-1, 1], centres[1:-1])  # d/dt 0.5 t^2 = t
    with pytest.raises(ValueError, match="no ElectricalSeries named 'raw'.*lfp"):
        read_nwb(path, electrical_series="raw")
    assert read_nwb(path, electrical_series=False).lfp is None


# --------------------------------------------------------------------------- Indy (Makin / O'Doherty)


@pytest.fixture
def indy_files(tmp_path):
    t = 100.0 + np.arange(500) * 0.004  # 250 Hz kinematics, 2 s, starting at 100 s
    cursor = np.c_[2.0 * (t - 100.0) ** 2, -5.0 * (t - 100.0)]
    target = np.tile([10.0, 20.0], (len(t), 1))
    spikes = [
        [[100.001, 100.5], [100.0151, 101.0, 101.9999]],  # channel 1: unsorted + one unit
        [[], [100.25]],                                    # channel 2: no unsorted spikes
    ]
    mat = tmp_path / "indy_20160622_01.mat"
    write_indy_mat(mat, t, cursor, target, spikes=spikes, chan_names=["ch1", "ch2"])
    rate = 1000.0
    ts = 99.5 + np.arange(int(3 * rate)) / rate
    data = (np.arange(len(ts))[:, None] % 100 + np.array([[0, 1000]])).astype(np.int16)
    nwb = tmp_path / "indy_20160622_01.nwb"
    write_indy_broadband(nwb, data, ts, ["elec1", "elec2"], conversion=2.5e-7)
    return mat, nwb, data, ts


def test_load_indy(indy_files):
    mat, nwb, data, ts = indy_files
    rec = load_indy(mat, nwb, bin_size=0.01)
    assert rec.session == "indy_20160622_01" and rec.t_start == pytest.approx(100.0)
    assert rec.behavior.shape == (200, 2) and rec.behavior_names == ["vx", "vy"]
    np.testing.assert_allclose(rec.behavior[:, 1], -5.0)
    # vx = 4 (t - 100), averaged over the 250 Hz samples of each 10 ms bin (interior bins)
    t = np.arange(500) * 0.004
    idx = np.floor(t / 0.01 + 1e-9).astype(int)
    expected = np.bincount(idx, weights=4 * t) / np.bincount(idx)
    np.testing.assert_allclose(rec.behavior[1:-1, 0], expected[1:-1], atol=1e-9)
    assert list(rec.units["name"]) == ["ch1_u0", "ch1_u1", "ch2_u1"]
    assert rec.spikes.shape == (200, 3)
    np.testing.assert_array_equal(rec.spikes.sum(axis=0), [2, 3, 1])
    np.testing.assert_array_equal(np.flatnonzero(rec.spikes[:, 1]), [1, 100, 199])
    assert rec.lfp_rate == pytest.approx(1000.0) and rec.lfp.shape == (2000, 2)
    first = int(round((100.0 - 99.5) * 1000))
    np.testing.assert_allclose(rec.lfp, data[first:first + 2000] * 2.5e-7, rtol=1e-6)
    assert list(rec.channels["name"]) == ["elec1", "elec2"]


def test_load_indy_without_broadband_and_dispatch(indy_files):
    mat, nwb, data, ts = indy_files
    rec = read_recording(mat, bin_size=0.02, include_unsorted=False)
    assert rec.lfp is None and rec.spikes.shape == (100, 2)
    assert list(rec.units["name"]) == ["ch1_u1", "ch2_u1"]
    broadband = read_recording(nwb)
    assert broadband.lfp.shape == (3000, 2) and broadband.t_start == pytest.approx(99.5)


# --------------------------------------------------------------------------- Flint 2012


def _flint_trials(rng, n_trials=2, lfp_rate=2000.0):
    trials = []
    for j in range(n_trials):
        t0 = 10.0 * j + 1.0
        time = t0 + np.arange(50) * 0.01  # 0.5 s at 100 Hz
        vel = np.c_[np.full(50, j + 1.0), np.linspace(0, 1, 50), np.zeros(50)]
        neurons = [
            {"Spike": [t0 + 0.005, t0 + 0.255], "LFP": rng.normal(size=int(0.5 * lfp_rate))},
            {"Spike": [t0 + 0.1], "LFP": []},  # a neuron without LFP
            {"Spike": [], "LFP": rng.normal(size=int(0.5 * lfp_rate) + 7)},
        ]
        trials.append({"Time": time, "TargetPos": np.zeros((50, 3)), "HandVel": vel,
                       "Condition": j + 1, "Neuron": neurons})
    return trials


def test_load_flint(tmp_path):
    rng = np.random.default_rng(np.random.SeedSequence(3))
    trials = _flint_trials(rng)
    path = tmp_path / "Flint_2012_e1.mat"
    write_flint_mat(path, [trials, _flint_trials(rng, n_trials=1)])
    rec = load_flint(path, subject=0, bin_size=0.01, lfp_rate=2000.0)
    assert rec.session == "Flint_2012_e1_1"
    assert rec.spikes.shape == (100, 3) and rec.behavior.shape == (100, 2)
    np.testing.assert_allclose(rec.behavior[:50, 0], 1.0)
    np.testing.assert_allclose(rec.behavior[50:, 0], 2.0)
    np.testing.assert_array_equal(np.flatnonzero(rec.spikes[:, 0]), [0, 25, 50, 75])
    np.testing.assert_array_equal(np.flatnonzero(rec.spikes[:, 1]), [10, 60])
    assert list(rec.channels["name"]) == ["neuron000", "neuron002"]
    assert rec.lfp.shape == (2000, 2) and rec.lfp_rate == 2000.0
    # trial 2's LFP starts at row 1000 = 50 bins x 20 samples, cut to the same length
    np.testing.assert_allclose(rec.lfp[1000:, 0], trials[1]["Neuron"][0]["LFP"][:1000])
    np.testing.assert_allclose(rec.lfp[:1000, 1], trials[0]["Neuron"][2]["LFP"][:1000])
    assert rec.annotations["trial_start_bins"] == [0, 50]
    assert rec.annotations["condition"] == [1.0, 2.0]
    other = read_recording(path, subject=1)
    assert other.spikes.shape == (50, 3)
    with pytest.raises(ValueError, match="out of range"):
        load_flint(path, subject=2)


# --------------------------------------------------------------------------- Brain Treebank


@pytest.fixture
def treebank(tmp_path):
    rng = np.random.default_rng(np.random.SeedSequence(4))
    signals = rng.normal(size=(3, 4096)).astype(np.float32)
    labels = ["T1aA1*", "T1aA2", "F3b_10#"]
    localization = pd.DataFrame({
        "ID": [1, 2, 3], "Electrode": ["T1aA1", "T1aA2", "F3b10"],
        "L": [-30.0, -32.0, 40.0], "I": [10.0, 11.0, -20.0], "P": [5.0, 5.5, -30.0],
        "Destrieux": ["G_temporal_middle", "Right-Cerebral-White-Matter", "G_front_middle"],
        "DesikanKilliany": ["middletemporal", "Right-Cerebral-White-Matter", "rostralmiddlefrontal"],
    })
    h5 = write_brain_treebank(tmp_path, 3, 2, signals, labels, localization)
    return tmp_path, h5, signals


def test_load_brain_treebank(treebank):
    root, h5, signals = treebank
    rec = load_brain_treebank(root, 3, 2)
    assert rec.session == "sub_3_trial002" and rec.lfp_rate == 2048.0
    assert rec.lfp.shape == (4096, 3) and rec.duration == pytest.approx(2.0)
    np.testing.assert_array_equal(rec.lfp, signals.T.astype(float))
    ch = rec.channels
    assert list(ch["name"]) == ["T1aA1", "T1aA2", "F3b10"]
    assert list(ch["shaft"]) == ["T1aA", "T1aA", "F3b"] and list(ch["contact"]) == [1, 2, 10]
    assert list(ch["parcel"]) == ["G_temporal_middle", "Right-Cerebral-White-Matter", "G_front_middle"]
    assert list(ch["L"]) == [-30.0, -32.0, 40.0]
    assert ch[["x", "y", "z"]].isna().all().all()  # no MNI table given
    mni = pd.DataFrame({"btbank_id": 3, "electrode_label": ["F3b10", "T1aA1"],
                        "mni152_x": [1.0, 2.0], "mni152_y": [3.0, 4.0], "mni152_z": [5.0, 6.0]})
    part = load_brain_treebank(root, 3, 2, electrodes=["F3b_10#", 0], mni_coords=mni, t_start=0.5, t_stop=1.0)
    assert list(part.channels["name"]) == ["F3b10", "T1aA1"]
    np.testing.assert_array_equal(part.channels[["x", "y", "z"]].to_numpy(), [[1, 3, 5], [2, 4, 6]])
    np.testing.assert_array_equal(part.lfp[:, 0], signals[2, 1024:2048])
    assert part.t_start == 0.5 and part.annotations["coordinate_space"] == "MNI152"


def test_brain_treebank_dispatch(treebank):
    root, h5, signals = treebank
    np.testing.assert_array_equal(read_recording(h5).lfp, read_recording(root, subject=3, trial=2).lfp)
    with pytest.raises(ValueError, match="subject=<k> and trial=<nnn>"):
        read_recording(root)
    with pytest.raises(ValueError, match="electrode 'Z9'"):
        load_brain_treebank(root, 3, 2, electrodes=["Z9"])


def test_brain_treebank_nan_inside_channel(tmp_path):
    signals = np.ones((2, 100))
    signals[1, 40] = np.nan
    write_brain_treebank(tmp_path, 1, 0, signals, ["A1", "A2"])
    with pytest.raises(ValueError, match="NaN value.*inside channel A2"):
        load_brain_treebank(tmp_path, 1, 0)


# --------------------------------------------------------------------------- bad input


def test_missing_path_is_file_not_found(tmp_path):
    missing = tmp_path / "nope.nwb"
    with pytest.raises(FileNotFoundError, match="nope.nwb"):
        read_recording(missing)
    with pytest.raises(FileNotFoundError, match="nope.nwb"):
        read_nwb(missing)


def test_mat_with_neither_layout(tmp_path):
    import scipy.io

    v5 = tmp_path / "other.mat"
    scipy.io.savemat(str(v5), {"foo": np.arange(3)})
    with pytest.raises(ValueError, match="(?s)Unknown file layout.*'foo'.*Flint 2012"):
        read_recording(v5)
    with pytest.raises(ValueError, match="no 'Subject' struct"):
        load_flint(v5)
    v73 = tmp_path / "other73.mat"
    write_indy_mat(v73, np.arange(3.0), np.zeros((3, 2)), np.zeros((3, 2)))
    import h5py

    with h5py.File(v73, "a") as f:
        del f["cursor_pos"]
    with pytest.raises(ValueError, match="(?s)Unknown file layout.*Indy"):
        read_recording(v73)
    with pytest.raises(ValueError, match="lacks \\['cursor_pos'\\]"):
        load_indy(v73)


def test_unknown_extension_lists_supported_layouts(tmp_path):
    odd = tmp_path / "data.xyz123"
    odd.write_text("hello")
    with pytest.raises(ValueError) as info:
        read_recording(odd)
    for layout in SUPPORTED_LAYOUTS:
        assert layout in str(info.value)
    with pytest.raises(ValueError, match="not a Brain Treebank root"):
        read_recording(tmp_path)


def test_nwb1_file_is_refused_by_read_nwb(indy_files):
    _, nwb, _, _ = indy_files
    with pytest.raises(ValueError, match="NWB 1.x.*load_indy"):
        read_nwb(nwb)


# --------------------------------------------------------------------------- files in the wild


from io_fixtures import write_empty_nwb, write_small_nwb, write_wild_nwb  # noqa: E402


@pytest.fixture(scope="module")
def wild_nwb(tmp_path_factory):
    path = tmp_path_factory.mktemp("wild") / "wild.nwb"
    return path, write_wild_nwb(path)


def test_wild_nwb_reads_on_the_units_grid_with_behaviour_nan_outside_its_span(wild_nwb):
    path, (hand_t, hand_v, eye_t, eye_v, spikes) = wild_nwb
    with pytest.warns(UserWarning, match="(?s)NaN outside each series.*'hand' covers \\[10, 600.15"):
        rec = read_recording(path)
    # the units' obs_intervals: the whole 700 s session at 10 ms
    assert rec.t_start == 0.0 and rec.spikes.shape == (70000, 3)
    assert rec.spikes.sum() == sum(len(t) for t in spikes)
    assert rec.behavior_names == ["hand_x", "hand_y", "eye_position_x", "eye_position_y"]
    hand, eye = rec.behavior[:, :2], rec.behavior[:, 2:]
    centres = (np.arange(70000) + 0.5) * 0.01
    inside_hand = (centres >= 10.0) & (centres < 600.15)
    assert np.isnan(hand[~inside_hand]).all() and np.isfinite(hand[inside_hand]).all()
    inside_eye = (centres >= eye_t[0]) & (centres < eye_t[-1] + 0.05)
    assert np.isnan(eye[~inside_eye]).all() and np.isfinite(eye[inside_eye]).all()
    # inside its span the behaviour is the series (interpolated at 20 Hz samples)
    k = np.flatnonzero(inside_hand)[500]
    np.testing.assert_allclose(hand[k, 0], np.interp(centres[k], hand_t, hand_v[:, 0]), atol=1e-9)
    assert rec.annotations["behavior_span"]["hand"] == pytest.approx((10.0, 600.15))


def test_wild_nwb_shared_grid_explains_and_explicit_choices_work(wild_nwb):
    path, _ = wild_nwb
    with pytest.raises(ValueError, match="(?s)do not share an interval.*hand \\[10, 600.15\\) s.*"
                                         "eye_position \\[670.641.*grid='neural'.*behavior=.*t_start="):
        read_nwb(path, grid="shared")
    rec = read_nwb(path, behavior=["hand"], grid="shared")
    assert rec.t_start == 10.0 and rec.n_bins == 59015 and np.isfinite(rec.behavior).all()
    rec = read_nwb(path, t_start=672.0, t_stop=690.0, behavior=["eye_position"])
    assert rec.n_bins == 1800 and np.isfinite(rec.behavior).all()
    with pytest.raises(ValueError, match="t_stop - t_start"):
        read_nwb(path, t_start=680.0, t_stop=600.13)
    with pytest.raises(ValueError, match="grid must be"):
        read_nwb(path, grid="union")


def test_valid_nwb_without_data_is_refused(tmp_path):
    path = tmp_path / "empty.nwb"
    write_empty_nwb(path)
    with pytest.raises(ValueError, match="empty.nwb' is a valid NWB file but holds nothing to read"):
        read_recording(path)


def test_truncated_nwb_names_the_file(tmp_path):
    path = tmp_path / "raw.nwb"
    write_small_nwb(path)
    data = path.read_bytes()
    half = tmp_path / "half.nwb"
    half.write_bytes(data[: len(data) // 2])
    for reader in (read_recording, read_nwb):
        with pytest.raises(ValueError, match="half.nwb' is a truncated or corrupt HDF5 file"):
            reader(half)


def test_electrical_series_is_read_in_bounded_chunks(tmp_path, monkeypatch):
    from skdistill.io import _nwb

    path = tmp_path / "raw.nwb"
    stored = write_small_nwb(path, n_samples=2000, n_channels=4, rate=1000.0)
    calls = []
    real = _nwb._read_rows

    def spy(data, start, stop):
        calls.append((start, stop))
        return real(data, start, stop)

    monkeypatch.setattr(_nwb, "_read_rows", spy)
    # 4 channels x 8 bytes (float64 working copy) -> 1024 bytes = 32 rows per chunk
    rec = read_nwb(path, chunk_bytes=1024, lfp_dtype=np.float32)
    assert rec.lfp.dtype == np.float32 and rec.lfp.shape == (2000, 4)
    assert max(b - a for a, b in calls) == 32 and len(calls) == int(np.ceil(2000 / 32))
    assert calls[0][0] == 0 and calls[-1][1] == 2000
    np.testing.assert_allclose(rec.lfp, stored * 1e-6, rtol=1e-6)
    # a window reads only its own rows
    calls.clear()
    rec = read_nwb(path, t_start=0.5, t_stop=1.0, chunk_bytes=1024)
    assert calls[0][0] == 500 and calls[-1][1] == 1000 and rec.lfp.shape == (500, 4)
    np.testing.assert_allclose(rec.lfp, stored[500:1000] * 1e-6)


def test_damaged_mat_files_name_the_file(tmp_path):
    trials = [{"Time": np.arange(100) / 100.0, "TargetPos": np.zeros((100, 2)), "HandVel": np.ones((100, 3)),
               "Condition": 1, "Neuron": [{"Spike": [0.1], "LFP": np.zeros(2000)}]}]
    flint = tmp_path / "Flint_2012_e1.mat"
    write_flint_mat(flint, [trials])
    cut = tmp_path / "Flint_cut.mat"
    cut.write_bytes(flint.read_bytes()[:300])
    with pytest.raises(ValueError, match="Flint_cut.mat' cannot be read as a MATLAB v5 file"):
        load_flint(cut)
    with pytest.raises(ValueError, match="Flint_cut.mat' cannot be read as a MATLAB"):
        read_recording(cut)
    with pytest.raises(ValueError, match="is a folder; expected a Flint 2012 .mat file"):
        load_flint(tmp_path)
    indy = tmp_path / "indy.mat"
    write_indy_mat(indy, np.arange(3.0), np.zeros((3, 2)), np.zeros((3, 2)))
    half = tmp_path / "indy_half.mat"
    half.write_bytes(indy.read_bytes()[:2000])
    for reader in (load_indy, read_recording):
        with pytest.raises(ValueError, match="indy_half.mat' is a truncated or corrupt HDF5 file"):
            reader(half)


@pytest.fixture
def bids_copy(tmp_path):
    import shutil

    folder = tmp_path / "ieeg"
    shutil.copytree(GRIPFORCE_VHDR.parent, folder)
    return folder / GRIPFORCE_VHDR.name


def test_brainvision_missing_or_truncated_data_file(bids_copy):
    eeg = bids_copy.with_suffix(".eeg")
    data = eeg.read_bytes()
    eeg.write_bytes(data[:1001])
    with pytest.raises(ValueError, match="_ieeg.eeg' holds 1001 bytes, not a whole number of samples"):
        read_recording(bids_copy)
    eeg.unlink()
    for reader in (read_recording, read_bids_ieeg, read_neo):
        with pytest.raises(ValueError, match="names the data file '.*_ieeg.eeg', which is missing"):
            reader(bids_copy)


def test_corrupt_json_sidecar_names_the_file(bids_copy):
    coordsystem = next(bids_copy.parent.glob("*coordsystem.json"))
    coordsystem.write_text('{"iEEGCoordinateUnits": "m",\n  "iEEGCoord')
    with pytest.raises(ValueError, match="coordsystem.json' is not valid JSON: .* line 2"):
        read_bids_ieeg(bids_copy)


def test_bin_grid_beyond_the_memory_limit_is_refused(monkeypatch):
    with pytest.raises(ValueError, match="(?s)bin_size=1e-09 s gives .* GiB, above the limit.*in seconds"):
        read_bids_ieeg(GRIPFORCE_VHDR, bin_size=1e-9)
    import skdistill.io

    monkeypatch.setattr(skdistill.io, "MAX_BIN_BYTES", 1000)
    with pytest.raises(ValueError, match="MAX_BIN_BYTES"):
        bin_spikes([np.array([0.5])], 0.01, t_start=0.0, t_stop=10.0)


def test_spike_times_in_ms_against_a_window_in_s_warn():
    times_ms = np.array([100.0, 250.0, 900.0, 1500.0, 1900.0])
    with pytest.warns(UserWarning, match="milliseconds"):
        counts = bin_spikes([times_ms], 0.01, t_start=0.0, t_stop=2.0)
    assert counts.sum() == 0
    with pytest.raises(ValueError, match="t_start must be a finite time"):
        bin_spikes([times_ms], 0.01, t_start=np.nan, t_stop=2.0)
