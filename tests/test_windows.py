"""Training windows (grid and random crops) and covering windows for transform."""

import numpy as np
import pytest
import torch

from skdistill import MaskedSpikeTransformer
from skdistill.estimators._windows import WindowDataset, covering_windows


def _rows():
    # row value = its own index, so a window tells where it was cut
    session = np.array(["a"] * 35 + ["b"] * 23)
    rows = np.arange(len(session), dtype=float)[:, None] * np.ones((1, 3))
    index = np.where(session == "a", 0, 1)
    return rows, index, session


def test_grid_windows_are_fixed_and_non_overlapping():
    rows, index, session = _rows()
    ds = WindowDataset({"x": rows}, index, session, 10)
    assert len(ds) == 3 + 2  # 35 rows -> 3 windows, 23 rows -> 2 (remainders dropped)
    starts = [int(ds[i][0]["x"][0, 0]) for i in range(len(ds))]
    assert starts == [0, 10, 20, 35, 45]
    assert [int(ds[i][0]["session_idx"]) for i in range(len(ds))] == [0, 0, 0, 1, 1]
    assert starts == [int(ds[i][0]["x"][0, 0]) for i in range(len(ds))]  # same on every read


def test_random_windows_stay_inside_their_session_and_cover_new_offsets():
    rows, index, session = _rows()
    ds = WindowDataset({"x": rows, "target": -rows}, index, session, 10, sampling="random",
                       random_state=0)
    assert len(ds) == 5  # as many windows per epoch as the grid
    seen = {0: set(), 1: set()}
    for _ in range(60):
        for i in range(len(ds)):
            item, _ = ds[i]
            x = item["x"][:, 0]
            np.testing.assert_array_equal(np.diff(x), 1)  # contiguous rows
            np.testing.assert_array_equal(item["target"], -item["x"])  # columns stay aligned
            sess = int(item["session_idx"])
            lo, hi = (0, 25) if sess == 0 else (35, 48)  # valid starts of each run
            assert lo <= x[0] <= hi
            seen[sess].add(int(x[0]))
    assert seen[0] == set(range(0, 26)) and seen[1] == set(range(35, 49))  # every offset drawn
    # reproducible given the seed
    a = WindowDataset({"x": rows}, index, session, 10, sampling="random", random_state=3)
    b = WindowDataset({"x": rows}, index, session, 10, sampling="random", random_state=3)
    np.testing.assert_array_equal([a.window_start(i) for i in range(5)],
                                  [b.window_start(i) for i in range(5)])


def test_window_dataset_errors():
    rows, index, session = _rows()
    with pytest.raises(ValueError, match="'grid' or 'random'"):
        WindowDataset({"x": rows}, index, session, 10, sampling="jitter")


def test_runs_shorter_than_a_window_are_padded_not_refused():
    rows, index, session = _rows()
    data = WindowDataset({"x": rows}, index, session, 40, sampling="random", random_state=0)
    assert len(data) == 2  # one padded window per run (35 and 23 rows)
    first, second = data[0][0]["x"], data[1][0]["x"]
    assert first.shape == second.shape == (40, 3)
    np.testing.assert_array_equal(first[:35, 0], np.arange(35))  # the whole run, in order
    assert np.isnan(first[35:]).all() and np.isnan(second[23:]).all()
    np.testing.assert_array_equal(second[:23, 0], np.arange(35, 58))
    with pytest.raises(ValueError, match="'grid' or 'random'"):
        WindowDataset({"x": rows}, index, session, 10, sampling="jitter")


def test_batches_collate_for_skorch():
    rows, index, session = _rows()
    ds = WindowDataset({"x": rows}, index, session, 10, sampling="random", random_state=0)
    batch, _ = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["x"].shape == (4, 10, 3) and batch["x"].dtype == torch.float32
    assert batch["session_idx"].dtype == torch.int64


@pytest.mark.parametrize("centred", [True, False])
@pytest.mark.parametrize("n_a", [10, 11, 23, 35, 40, 41])
def test_covering_windows_cover_every_row_once(n_a, centred):
    session = np.array(["a"] * n_a + ["b"] * 7)
    covered = np.zeros(len(session), int)
    for start, length, keep_from, keep_to in covering_windows(session, 10, centred):
        assert 0 <= keep_from < keep_to <= length
        assert len(set(session[start : start + length])) == 1  # inside one run
        covered[start + keep_from : start + keep_to] += 1
    np.testing.assert_array_equal(covered, 1)


def test_centred_windows_read_rows_away_from_window_edges():
    session = np.array(["a"] * 100)
    position = np.full(100, -1)
    for start, length, keep_from, keep_to in covering_windows(session, 20):
        position[start + keep_from : start + keep_to] = np.arange(keep_from, keep_to)
    inner = position[20:80]  # rows away from the run's ends: from the middle half of a window
    assert inner.min() >= 5 and inner.max() < 15
    plain = [entry[2:] for entry in covering_windows(session, 20, centred=False)]
    assert plain == [(0, 20)] * 5  # consecutive windows, read whole


def test_estimators_train_with_either_sampling():
    rng = np.random.default_rng(0)
    X = rng.poisson(1.0, size=(200, 8)).astype(float)
    small = dict(segment_length=10, patch_size=4, d_model=8, n_layers=1, n_heads=2,
                 decoder_width=8, max_epochs=3, random_state=0)
    grid = MaskedSpikeTransformer(**small, window_sampling="grid").fit(X)
    rand = MaskedSpikeTransformer(**small, window_sampling="random").fit(X)
    again = MaskedSpikeTransformer(**small, window_sampling="random").fit(X)
    assert grid.n_windows_ == rand.n_windows_ == 18  # 200 rows less 20 held out
    # random crops change what was trained on; the same seed reproduces it exactly
    assert not np.allclose(grid.transform(X), rand.transform(X))
    np.testing.assert_array_equal(rand.transform(X), again.transform(X))


def _old_map_windows(fn, X, session_index, session, segment_length, batch_size, width):
    """The previous implementation: the whole plan, grouped by window length."""
    out = np.empty((len(X), width))
    by_length = {}
    for entry in covering_windows(session, segment_length):
        by_length.setdefault(entry[1], []).append(entry)
    for length, entries in by_length.items():
        for k in range(0, len(entries), batch_size):
            chunk = entries[k : k + batch_size]
            index = np.array([e[0] for e in chunk])[:, None] + np.arange(length)
            rows = fn(X[index].astype(np.float32), session_index[[e[0] for e in chunk]])
            for (start, _, a, b), r in zip(chunk, rows):
                out[start + a : start + b] = r[a:b]
    return out


def _window_fn(windows, owners):
    # a per-bin output that depends on the whole window and on the session
    return (np.cumsum(windows, axis=1)[..., :2] + owners[:, None, None]).astype(np.float32)


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_map_windows_streams_batches_and_matches_the_previous_mapping(batch_size):
    from skdistill.estimators._windows import iter_covering_windows, iter_window_batches, map_windows

    rng = np.random.default_rng(0)
    session = np.array(["a"] * 97 + ["b"] * 7 + ["c"] * 55 + ["a"] * 4)
    X = rng.normal(size=(len(session), 3))
    index = np.array([{"a": 0, "b": 1, "c": 2}[s] for s in session])
    want = _old_map_windows(_window_fn, X, index, session, 20, batch_size, 2)
    got = map_windows(_window_fn, X, index, session, 20, batch_size, 2)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got.dtype == np.float64
    out32 = np.full((len(X), 2), np.nan, dtype=np.float32)
    assert map_windows(_window_fn, X, index, session, 20, batch_size, 2, out=out32) is out32
    np.testing.assert_allclose(out32, want, rtol=1e-6)
    # the plan is a generator and no batch holds more than batch_size windows of one length
    assert not isinstance(iter_covering_windows(session, 20), list)
    for windows, owners, entries in iter_window_batches(X, index, iter_covering_windows(session, 20),
                                                        batch_size):
        assert len(windows) <= batch_size and windows.dtype == np.float32
        assert len({e[1] for e in entries}) == 1 and windows.shape[1] == entries[0][1]


def test_map_windows_out_is_checked():
    from skdistill.estimators._windows import map_windows

    session = np.array(["a"] * 30)
    X, index = np.zeros((30, 3)), np.zeros(30, int)
    for bad, err in [(np.zeros((29, 2)), ValueError), (np.zeros((30, 2), int), ValueError),
                     ([[0.0, 0.0]] * 30, TypeError)]:
        with pytest.raises(err, match="out"):
            map_windows(_window_fn, X, index, session, 10, 4, 2, out=bad)
    frozen = np.zeros((30, 2))
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        map_windows(_window_fn, X, index, session, 10, 4, 2, out=frozen)


def test_transform_into_a_float32_memmap(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.poisson(1.0, size=(300, 8)).astype(float)
    est = MaskedSpikeTransformer(segment_length=10, patch_size=4, d_model=8, n_layers=1,
                                 n_heads=2, decoder_width=8, max_epochs=1, random_state=0).fit(X)
    want = est.transform(X)
    out = np.lib.format.open_memmap(tmp_path / "z.npy", mode="w+", dtype=np.float32,
                                    shape=(len(X), est.embedding_dim_))
    got = est.transform(X, out=out)
    assert got is out
    out.flush()
    np.testing.assert_allclose(np.load(tmp_path / "z.npy"), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        est.transform(X, out=np.empty((len(X), est.embedding_dim_ + 1), np.float32))
