import numpy as np
import pandas as pd
import pytest

from skdistill.data import (
    Recording,
    check_continuous,
    check_epochs,
    check_paired,
    check_session,
    check_spike_counts,
    session_runs,
    stack_sessions,
)


def _rec(name, n_bins=20, n_units=4, n_ch=3, lfp=True, seed=0):
    rng = np.random.default_rng(seed)
    return Recording(
        session=name,
        spikes=rng.poisson(1.0, (n_bins, n_units)),
        behavior=rng.normal(size=(n_bins, 2)),
        bin_rate=100.0,
        lfp=rng.normal(size=(n_bins, n_ch)) if lfp else None,
        lfp_rate=100.0 if lfp else None,
        channels=pd.DataFrame({"name": [f"e{i}" for i in range(n_ch)]}) if lfp else None,
    )


def test_stack_sessions_pads_absent_channels_with_nan():
    a, b = _rec("a", n_units=4, n_ch=3), _rec("b", n_bins=10, n_units=3, n_ch=2, seed=1)
    X, y, session = stack_sessions([a, b], "spikes")
    assert X.shape == (30, 4) and y.shape == (30, 2)
    assert list(session[:20]) == ["a"] * 20 and list(session[20:]) == ["b"] * 10
    assert np.isnan(X[20:, 3]).all() and not np.isnan(X[:, :3]).any()
    np.testing.assert_array_equal(X[:20], a.spikes)
    X_lfp, _, _ = stack_sessions([a, b], "lfp")
    assert X_lfp.shape == (30, 3) and np.isnan(X_lfp[20:, 2]).all()


def test_stack_sessions_by_name_unions_columns():
    a = _rec("a", n_ch=3)
    b = _rec("b", n_ch=2).replace(channels=pd.DataFrame({"name": ["e2", "zz"]}))
    X, _, _, columns = stack_sessions([a, b], "lfp", align="name", return_channels=True)
    assert columns == ["e0", "e1", "e2", "zz"]
    np.testing.assert_array_equal(X[20:, 2], b.lfp[:, 0])
    assert np.isnan(X[20:, :2]).all() and np.isnan(X[:20, 3]).all()


def test_stack_sessions_errors():
    a = _rec("a")
    with pytest.raises(ValueError, match="unique"):
        stack_sessions([a, a])
    with pytest.raises(ValueError, match="preprocess_recording"):
        stack_sessions([a.replace(lfp_rate=1000.0)], "lfp")
    with pytest.raises(ValueError, match="Recording objects"):
        stack_sessions([np.zeros((3, 3))])
    with pytest.raises(ValueError, match="modality"):
        stack_sessions([a], "ecog")


def test_recording_validation():
    with pytest.raises(ValueError, match="row-aligned"):
        Recording("x", spikes=np.zeros((5, 2)), behavior=np.zeros((4, 2)), bin_rate=100)
    with pytest.raises(ValueError, match="bin_rate"):
        Recording("x", spikes=np.zeros((5, 2)))
    with pytest.raises(ValueError, match="non-negative"):
        Recording("x", spikes=-np.ones((5, 2)), bin_rate=100)
    with pytest.raises(ValueError, match="integer"):
        Recording("x", spikes=np.full((5, 2), 0.5), bin_rate=100)
    with pytest.raises(ValueError, match="one row per LFP channel"):
        Recording("x", lfp=np.zeros((5, 3)), lfp_rate=1000, channels=pd.DataFrame({"name": ["a"]}))
    rec = Recording("x", lfp=np.zeros((2000, 3)), lfp_rate=1000.0)
    assert rec.duration == 2.0 and list(rec.channels["name"]) == ["ch000", "ch001", "ch002"]


def test_check_continuous_names_session_and_channel():
    X = np.zeros((6, 3))
    X[3:, 2] = np.nan  # channel 2 absent from session b: fine
    Xc, s = check_continuous(X, ["a"] * 3 + ["b"] * 3)
    assert Xc.shape == (6, 3) and list(s) == ["a"] * 3 + ["b"] * 3
    X[0, 1] = np.nan
    with pytest.raises(ValueError, match=r"channel column 1 of session 'a'"):
        check_continuous(X, ["a"] * 3 + ["b"] * 3)
    with pytest.raises(ValueError, match="2-D"):
        check_continuous(np.zeros(5))
    with pytest.raises(ValueError, match="infinity"):
        check_continuous(np.array([[np.inf]]))
    with pytest.raises(ValueError, match="one session label per row"):
        check_continuous(np.zeros((3, 2)), ["a", "b"])


def test_spike_count_checks():
    check_spike_counts(np.array([[0, 1], [2, 5]]))
    with pytest.raises(ValueError, match="Negative"):
        check_spike_counts(np.array([[0, -1]]))
    with pytest.raises(ValueError, match="integer spike counts"):
        check_spike_counts(np.array([[0.2, 1]]))


def test_sessions_epochs_and_pairing():
    assert list(check_session(None, 2)) == ["session-0", "session-0"]
    assert session_runs(np.array(["a", "a", "b", "a"])) == [("a", 0, 2), ("b", 2, 3), ("a", 3, 4)]
    with pytest.raises(ValueError, match="3-D"):
        check_epochs(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        check_epochs(np.full((1, 1, 2), np.nan))
    with pytest.raises(ValueError, match="row-aligned"):
        check_paired(np.zeros((3, 1)), np.zeros((4, 1)))


# --------------------------------------------------------------------------- silent acceptances


def test_session_labels_of_different_types_are_not_merged():
    from skdistill.data import check_session

    with pytest.raises(ValueError, match="session labels 1 \\(int\\) and '1' \\(str\\) are both the session '1'"):
        check_session([1, 1, "1"], 3)
    assert list(check_session([1, 1, 2], 3)) == ["1", "1", "2"]
    assert list(check_session(np.array(["a", "b"]), 2)) == ["a", "b"]


@pytest.mark.parametrize("missing", [None, np.nan, pd.NA])
def test_missing_session_labels_are_refused(missing):
    from skdistill.data import check_session

    with pytest.raises(ValueError, match="session has a missing label .* at row 1"):
        check_session(["a", missing, "a"], 3)
    with pytest.raises(ValueError, match="session label"):
        Recording(session=missing, spikes=np.ones((2, 1), int), bin_rate=100.0)


@pytest.mark.parametrize("rate", [-100.0, 0.0, np.nan, np.inf, "100"])
def test_recording_refuses_bad_rates(rate):
    with pytest.raises(ValueError, match="bin_rate must be a positive"):
        Recording(session="s", spikes=np.ones((2, 1), int), bin_rate=rate)
    with pytest.raises(ValueError, match="lfp_rate must be a positive"):
        Recording(session="s", lfp=np.zeros((2, 1)), lfp_rate=rate)


def test_recording_refuses_empty_or_non_numeric_arrays_and_bad_t_start():
    with pytest.raises(ValueError, match="spikes is empty"):
        Recording(session="s", spikes=np.zeros((0, 2), int), bin_rate=100.0)
    with pytest.raises(ValueError, match="behavior must be numeric"):
        Recording(session="s", behavior=np.array([["x"]]), bin_rate=100.0)
    with pytest.raises(ValueError, match="t_start must be a finite time"):
        Recording(session="s", spikes=np.ones((2, 1), int), bin_rate=100.0, t_start=np.inf)
    # NaN behaviour marks bins outside a series' span and is kept
    rec = Recording(session="s", behavior=np.array([[np.nan], [1.0]]), bin_rate=100.0)
    assert np.isnan(rec.behavior[0, 0])


def test_values_beyond_float32_are_refused_at_validation():
    from skdistill.data import check_continuous, check_epochs, check_spike_counts, check_target

    big = np.array([[1.0, 2.0], [5e38, 3.0]])
    for check in (check_continuous, check_spike_counts):
        with pytest.raises(ValueError, match="holds 5e\\+38 at index \\(1, 0\\), beyond the float32 range"):
            check(big)
    with pytest.raises(ValueError, match="beyond the float32 range"):
        check_epochs(big[None])
    with pytest.raises(ValueError, match="y holds .* beyond the float32 range"):
        check_target(big)
    with pytest.raises(ValueError, match="contains infinity"):
        check_continuous(np.array([[np.inf]]))
    # float32's own maximum is still fine
    check_continuous(np.array([[float(np.finfo(np.float32).max)]]))


def test_check_target_explains_string_targets():
    from skdistill.data import check_target

    with pytest.raises(ValueError, match="y must be numeric .* Encode class labels"):
        check_target(np.array(["left", "right"]))
    with pytest.raises(ValueError, match="y contains NaN"):
        check_target([1.0, np.nan])
    np.testing.assert_array_equal(check_target([1, 2]), [1.0, 2.0])


def test_nan_column_checks_hold_across_blocks_of_rows(monkeypatch):
    # the checks run in blocks of rows; an absent channel spanning blocks passes, a channel
    # NaN in one block only of its session is caught, with the session's whole NaN count
    import skdistill.data as data

    monkeypatch.setattr(data, "_CHECK_BLOCK_ROWS", 7)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    s = np.array(["a"] * 10 + ["b"] * 20 + ["a"] * 10, dtype=object)
    X[s == "b", 2] = np.nan  # absent from all of b, across three blocks
    Xc, sc = data.check_continuous(X, s)
    assert Xc.shape == (40, 4) and list(sc[:2]) == ["a", "a"]
    bad = X.copy()
    bad[[3, 4, 35], 1] = np.nan  # present in a, NaN in a few of a's rows in two blocks
    with pytest.raises(ValueError, match=r"3 NaN value\(s\) inside channel column 1 of session 'a'"):
        data.check_continuous(bad, s)
    gone = X.copy()
    gone[s == "b"] = np.nan
    with pytest.raises(ValueError, match="no present channel in session 'b'"):
        data.check_continuous(gone, s)
