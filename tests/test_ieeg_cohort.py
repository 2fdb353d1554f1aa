"""skdistill.datasets.make_ieeg_cohort and the vendored Brain Treebank positions."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdistill.datasets import load_btbank_coordinates, make_ieeg_cohort
from skdistill.spatial import ELECTRODE_COLUMNS, shaft_neighbours

SMALL = dict(n_segments=6, max_channels=24)


def test_load_btbank_coordinates():
    coords = load_btbank_coordinates()
    assert len(coords) == 1696
    counts = coords.groupby("subject").size()
    assert counts.to_dict() == {1: 154, 2: 170, 3: 134, 4: 188, 5: 156, 6: 164, 7: 246,
                                8: 162, 9: 106, 10: 216}
    for column in ("electrode_label", "name", "num", "hem", "type", "mni152_x", "mni152_y",
                   "mni152_z", "mni305_x", "vox_x", "ras_scanner_x"):
        assert column in coords.columns
    assert (coords["subject"] == coords["btbank_id"]).all()
    assert coords[["mni152_x", "mni152_y", "mni152_z"]].notna().all().all()
    one = load_btbank_coordinates(3)
    assert len(one) == 134 and set(one["subject"]) == {3}
    np.testing.assert_allclose(
        coords.loc[0, ["mni152_x", "mni152_y", "mni152_z"]].to_numpy(float),
        [59.18, -1.09, -22.96], atol=0.01,
    )
    for bad in (0, 11, 2.5, [1, 1]):
        with pytest.raises(ValueError, match="subject"):
            load_btbank_coordinates(bad)


def test_shapes_dtypes_and_padding():
    cohort = make_ieeg_cohort(subjects=[1, 9], n_segments=5, max_channels=None, random_state=0)
    sizes = {"sub-1": 154, "sub-9": 106}
    n_times = int(3.0 * 512)
    assert cohort.X.shape == (10, 154, n_times)
    assert cohort.X.dtype == np.float32
    assert cohort.y.shape == (10,) and set(np.unique(cohort.y)) <= {0, 1}
    assert cohort.y.dtype.kind == "i"
    assert list(cohort.session) == ["sub-1"] * 5 + ["sub-9"] * 5
    np.testing.assert_allclose(cohort.time, np.tile(np.arange(5) * 3.0, 2))
    assert cohort.sampling_rate == 512.0
    for session, n_channels in sizes.items():
        table = cohort.electrodes[session]
        assert len(table) == n_channels
        assert list(table.columns[: len(ELECTRODE_COLUMNS)]) == ELECTRODE_COLUMNS
        rows = cohort.X[cohort.session == session]
        # real channel rows are finite, padding rows are all NaN
        assert np.isfinite(rows[:, :n_channels]).all()
        assert np.isnan(rows[:, n_channels:]).all()
    assert cohort.parameters["subjects"] == [1, 9]
    assert {"parcel", "peak_frequency", "response_gain"} <= set(cohort.regions.columns)


def test_default_call_is_small():
    cohort = make_ieeg_cohort(random_state=0)
    assert cohort.X.shape == (180, 64, 1536)
    assert len(cohort.electrodes) == 3
    assert np.isfinite(cohort.X).any()


def test_reproducible_and_independent_streams():
    a = make_ieeg_cohort(random_state=3, **SMALL)
    b = make_ieeg_cohort(random_state=3, **SMALL)
    c = make_ieeg_cohort(random_state=4, **SMALL)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.X.shape != c.X.shape or not np.allclose(np.nan_to_num(a.X), np.nan_to_num(c.X))
    # a subject's data do not depend on which other subjects are simulated
    alone = make_ieeg_cohort(subjects=[2], random_state=3, **SMALL)
    rows = a.session == "sub-2"
    n = len(alone.electrodes["sub-2"])
    np.testing.assert_array_equal(a.X[rows][:, :n], alone.X[:, :n])
    # the response has its own stream: without it only responsive channels change
    null = make_ieeg_cohort(random_state=3, effect_size=0.0, **SMALL)
    np.testing.assert_array_equal(a.y, null.y)
    for session, table in a.electrodes.items():
        rows = a.session == session
        diff = np.abs(a.X[rows] - null.X[rows])[:, : len(table)].max(axis=(0, 2))
        responsive = table["response_weight"].to_numpy() > 0
        assert np.all(diff[~responsive] == 0)


def test_region_rhythms_shared_across_subjects():
    cohort = make_ieeg_cohort(subjects=[2, 3], random_state=0, **SMALL)
    other = make_ieeg_cohort(subjects=[1], random_state=0, **SMALL)
    both = cohort.regions.merge(other.regions, on="parcel", suffixes=("", "_other"))
    assert len(both) > 0
    np.testing.assert_allclose(both["peak_frequency"], both["peak_frequency_other"])
    assert cohort.regions["peak_frequency"].between(4, 30).all()


def test_shaft_laplacian_removes_shaft_noise():
    kwargs = dict(subjects=[1], n_segments=4, max_channels=None, random_state=7, dtype=np.float64)
    with_noise = make_ieeg_cohort(shaft_noise=3.0, **kwargs)
    without = make_ieeg_cohort(shaft_noise=0.0, **kwargs)
    shaft_part = with_noise.X - without.X
    neighbours = shaft_neighbours(with_noise.electrodes["sub-1"])
    interior = np.flatnonzero((neighbours >= 0).all(axis=1))
    assert len(interior) > 100
    laplacian = shaft_part[:, interior] - 0.5 * (
        shaft_part[:, neighbours[interior, 0]] + shaft_part[:, neighbours[interior, 1]]
    )
    assert np.abs(shaft_part[:, interior]).mean() > 10.0  # uV: the shaft noise is large ...
    assert np.abs(laplacian).max() < 1e-3  # ... and the Laplacian removes it (float32 rounding)


def _log_high_gamma(cohort):
    """Log mean periodogram power in 70-150 Hz per segment and channel."""
    power = np.abs(np.fft.rfft(cohort.X, axis=-1)) ** 2
    freqs = np.fft.rfftfreq(cohort.X.shape[-1], 1.0 / cohort.sampling_rate)
    return np.log(power[..., (freqs >= 70) & (freqs <= 150)].mean(axis=-1))


def test_task_is_learnable_in_responsive_regions_only():
    # with this seed both subjects keep auditory and non-temporal shafts (checked below)
    cohort = make_ieeg_cohort(subjects=[1, 3], n_segments=120, max_channels=48, random_state=0)
    hg = _log_high_gamma(cohort)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1))
    # chronological folds: shuffled folds would let the slow drift leak across neighbours
    cv = KFold(5)
    responsive_auc, control_auc = [], []
    for session, table in cohort.electrodes.items():
        rows = cohort.session == session
        weight = table["response_weight"].to_numpy()
        responsive = np.flatnonzero(weight > 0.3)
        control = np.flatnonzero((weight == 0) & (table["lobe"] != "temporal").to_numpy())
        assert len(responsive) >= 3 and len(control) >= 3
        X, y = hg[rows], cohort.y[rows]
        responsive_auc.append(cross_val_score(model, X[:, responsive], y, cv=cv,
                                              scoring="roc_auc").mean())
        control_auc.append(cross_val_score(model, X[:, control], y, cv=cv,
                                           scoring="roc_auc").mean())
    assert min(responsive_auc) > 0.65
    assert max(responsive_auc) < 0.99  # learnable, not trivial
    assert abs(np.mean(control_auc) - 0.5) < 0.12


def test_null_task_has_no_response():
    a = make_ieeg_cohort(task=None, random_state=1, response_model="high_gamma", **SMALL)
    b = make_ieeg_cohort(effect_size=0.0, random_state=1, response_model="high_gamma", **SMALL)
    np.testing.assert_array_equal(a.X, b.X)
    # under the auditory model the null task also has no low-frequency response
    c = make_ieeg_cohort(task=None, random_state=1, **SMALL)
    d = make_ieeg_cohort(effect_size=0.0, evoked_size=0.0, tracking_size=0.0, random_state=1,
                         **SMALL)
    np.testing.assert_array_equal(c.X, d.X)
    np.testing.assert_array_equal(a.X, c.X)


# SHA-256 of X recorded from the code before response_model existed (commit addedec)
_HIGH_GAMMA_SHA256 = {
    "default_small": (dict(n_subjects=2, n_segments=4, random_state=0),
                      "4275a1013360646a275f91b127bbfc8a07ff9085752c6c079ab34981e9f70fae"),
    "sub_3_7": (dict(subjects=[3, 7], n_segments=3, max_channels=40, effect_size=2.0,
                     random_state=5),
                "6bdfaf159b806ef2ef39ea28848459911b9f1adeffe4f77747ef8b30050aefc9"),
    "null": (dict(n_subjects=1, n_segments=4, task=None, random_state=2),
             "7a69c543efad728580f8372d8a00f188ac8a346781f57987b5191f34fb4b3094"),
}


@pytest.mark.parametrize("case", sorted(_HIGH_GAMMA_SHA256))
def test_high_gamma_model_is_the_earlier_model_bit_for_bit(case):
    import hashlib

    from threadpoolctl import threadpool_limits

    kwargs, digest = _HIGH_GAMMA_SHA256[case]
    # recorded with one BLAS thread: a multi-threaded matmul sums in another order, so the last
    # bits (and the hash) depend on the thread count
    with threadpool_limits(limits=1):
        cohort = make_ieeg_cohort(response_model="high_gamma", **kwargs)
    assert hashlib.sha256(np.ascontiguousarray(cohort.X).tobytes()).hexdigest() == digest
    assert "evoked_weight" not in cohort.electrodes[cohort.session[0]].columns


def test_the_cohort_is_bit_identical_under_any_blas_thread_count():
    """The simulator pins one BLAS thread itself, so a model cache keyed on ``X``'s bytes hits
    whatever OMP_NUM_THREADS a run had (it missed between 1- and 2-thread runs before)."""
    from threadpoolctl import threadpool_limits

    kwargs = dict(subjects=[1, 2], n_segments=20, random_state=0)  # differed before: 3e-5
    with threadpool_limits(limits=1):
        one = make_ieeg_cohort(**kwargs).X
    with threadpool_limits(limits=2):
        two = make_ieeg_cohort(**kwargs).X
    np.testing.assert_array_equal(one, two)


def _auditory_part(**kwargs):
    """The auditory model, and its low-frequency part alone (auditory - high_gamma, same seed)."""
    kwargs = dict(dtype=np.float64, **kwargs)
    aud = make_ieeg_cohort(**kwargs)
    hg = make_ieeg_cohort(response_model="high_gamma", **kwargs)
    np.testing.assert_array_equal(aud.y, hg.y)
    return aud, hg, aud.X - hg.X


def test_auditory_model_adds_only_low_frequency_potentials_at_auditory_contacts():
    aud, hg, lf = _auditory_part(subjects=[1, 3], n_segments=40, max_channels=48, random_state=0)
    assert aud.parameters["response_model"] == "auditory"  # the default
    assert set(aud.sound) <= {"speech", "other", "none"}
    assert (aud.sound[aud.y == 1] == "speech").all() and (aud.sound[aud.y == 0] != "speech").all()
    assert np.isnan(aud.sound_onset[aud.sound == "none"]).all()
    assert (aud.sound_onset[aud.sound != "none"] >= 0).all()
    fs = aud.sampling_rate
    freqs = np.fft.rfftfreq(lf.shape[-1], 1 / fs)
    for session, table in aud.electrodes.items():
        rows = aud.session == session
        part = lf[rows][:, : len(table)]
        w = table["evoked_weight"].to_numpy()
        assert (w >= table["response_weight"].to_numpy() - 1e-12).all()  # spreads further
        assert np.all(part[:, w == 0] == 0)
        silent = aud.sound[rows] == "none"
        assert np.all(part[silent] == 0)
        assert np.abs(part[~silent][:, w > 0.3]).max() > 1.0  # uV
        # low-frequency: >= 95 % of its power below 15 Hz
        power = (np.abs(np.fft.rfft(part[:, w > 0.3], axis=-1)) ** 2).sum(axis=(0, 1))
        assert power[freqs < 15].sum() / power.sum() > 0.95


def test_auditory_onset_response_has_the_parcel_kernel_in_every_subject():
    kwargs = dict(n_segments=80, max_channels=None, random_state=0)
    a_aud, _, a_lf = _auditory_part(subjects=[1], **kwargs)
    b_aud, _, b_lf = _auditory_part(subjects=[2], **kwargs)
    both = a_aud.regions.merge(b_aud.regions, on="parcel", suffixes=("", "_b"))
    np.testing.assert_allclose(both["n1_latency"], both["n1_latency_b"])
    np.testing.assert_allclose(both["polarity"], both["polarity_b"])
    assert a_aud.regions["n1_latency"].between(0.08, 0.12).all()
    fs = int(a_aud.sampling_rate)

    def onset_average(aud, lf):
        """Speech-onset-locked average (-0.1 .. 0.5 s) per contact of the parcel kernel."""
        table = aud.electrodes[aud.session[0]]
        epochs = [lf[k, : len(table), int(o * fs) - fs // 10: int(o * fs) + fs // 2]
                  for k, o in enumerate(aud.sound_onset) if aud.sound[k] == "speech"
                  and int(o * fs) >= fs // 10]
        return table, np.mean(epochs, axis=0)

    (ta, ea), (tb, eb) = onset_average(a_aud, a_lf), onset_average(b_aud, b_lf)
    # fully responsive contacts of a parcel present in both subjects: the same waveform
    ra = ta[ta["response_weight"].between(0.95, 1.05)]
    rb = tb[tb["response_weight"].between(0.95, 1.05)]
    shared = sorted(set(ra["parcel"]) & set(rb["parcel"]))
    assert shared
    same = [np.corrcoef(ea[i], eb[j])[0, 1] for p in shared
            for i in ra.index[ra["parcel"] == p] for j in rb.index[rb["parcel"] == p]]
    assert np.median(same) > 0.8


def test_auditory_low_frequency_power_carries_the_label_and_null_is_at_chance():
    from skdistill.evaluation import probe_auc

    def band_auc(cohort, band):
        out = []
        for session, table in cohort.electrodes.items():
            rows = cohort.session == session
            X = cohort.X[rows][:, : len(table)]
            power = np.abs(np.fft.rfft(X, axis=-1)) ** 2
            freqs = np.fft.rfftfreq(X.shape[-1], 1.0 / cohort.sampling_rate)
            F = np.log(power[..., (freqs >= band[0]) & (freqs <= band[1])].mean(axis=-1))
            for i in np.flatnonzero(table["response_weight"].to_numpy() > 0.3):
                out.append(probe_auc(F[:, [i]], cohort.y[rows], cohort.session[rows],
                                     n_splits=5))
        return np.mean(out)

    kwargs = dict(subjects=[1, 3], n_segments=120, max_channels=48, random_state=0,
                  effect_size=2.0)
    aud = make_ieeg_cohort(**kwargs)
    theta, hg = band_auc(aud, (4, 8)), band_auc(aud, (70, 150))
    assert 0.55 < theta < 0.75  # informative, less than high gamma (docs: "Response models")
    assert 0.75 < hg < 0.95
    null = make_ieeg_cohort(task=None, **kwargs)
    assert abs(band_auc(null, (4, 8)) - 0.5) < 0.1
    assert abs(band_auc(null, (70, 150)) - 0.5) < 0.1


def test_labels_come_in_runs():
    cohort = make_ieeg_cohort(subjects=[4], n_segments=400, max_channels=8, random_state=0)
    y = cohort.y
    assert 0.35 < y.mean() < 0.65
    assert 0.6 < np.mean(y[1:] == y[:-1]) < 0.8  # stay probability 0.7


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_subjects=11), "n_subjects"),
        (dict(n_subjects=0), "n_subjects"),
        (dict(subjects=[12]), "subject"),
        (dict(sampling_rate=256.0), "sampling_rate"),
        (dict(task="music"), "task"),
        (dict(effect_size=-1.0), "effect_size"),
        (dict(max_channels=0), "max_channels"),
        (dict(random_state="x"), "random_state"),
        (dict(atlas="aal"), "atlas"),
        (dict(response_model="mrp"), "response_model"),
        (dict(response_model="high_gamma", evoked_size=1.0), "evoked_size"),
        (dict(evoked_size=-1.0), "evoked_size"),
        (dict(tracking_size=float("nan")), "tracking_size"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_ieeg_cohort(**{**SMALL, **kwargs})


def test_max_channels_keeps_whole_shafts():
    cohort = make_ieeg_cohort(subjects=[7], n_segments=2, max_channels=40, random_state=0)
    table = cohort.electrodes["sub-7"]
    assert 0 < len(table) <= 40
    full = load_btbank_coordinates(7).groupby("name").size()
    kept = table.groupby("shaft").size()
    assert all(kept[shaft] == full[shaft] for shaft in kept.index)
    assert isinstance(table, pd.DataFrame)
