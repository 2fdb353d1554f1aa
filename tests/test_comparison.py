"""The distillation comparison (skdistill._comparison) and its presentation (skdistill._demo)."""

import numpy as np
import pandas as pd
import pytest

from skdistill._comparison import FLOORS, LAGS, MODELS, NULLS, _assemble, run_comparison, simulate_paired
from skdistill._demo import format_generalization, format_table
from skdistill.evaluation import ridge_floor
from skdistill.model_selection import SegmentSplit

TINY = dict(segment_length=50, d_model=8, n_layers=1, n_heads=2, batch_size=32, lr=2e-3)


def _planted(n_sessions=3, n_rows=5000, seed=0):
    """A smooth 2-D 'velocity' drives Poisson spikes (16 units) and a linear LFP (12 channels)."""
    rng = np.random.default_rng(seed)
    S, L, y, s = [], [], [], []
    for k in range(n_sessions):
        v = np.cumsum(rng.standard_normal((n_rows, 2)), axis=0)
        v = np.apply_along_axis(lambda c: np.convolve(c, np.ones(25) / 25, "same"), 0, v)
        v = (v - v.mean(0)) / v.std(0)
        S.append(rng.poisson(np.exp(0.3 + 0.5 * v @ rng.standard_normal((2, 16)))).astype(float))
        L.append(v @ rng.standard_normal((2, 12)) + 0.5 * rng.standard_normal((n_rows, 12)))
        y.append(v)
        s += [f"s{k}"] * n_rows
    return np.vstack(S), np.vstack(L), np.vstack(y), np.array(s, dtype=object)


def test_plus_minus_only_with_two_or_more_seeds():
    one = _assemble([dict(seed=0, row="A", session="s0", unsupervised=0.5, supervised=np.nan)],
                    [], [], 0.0)
    text = format_table(one)
    assert "| A | 0.500 | – |" in text and "±" not in text and "(1 seed)" in text
    two = _assemble([dict(seed=k, row="A", session="s0", unsupervised=0.4 + 0.2 * k,
                          supervised=0.1) for k in range(2)], [], [], 0.0)
    assert "| A | 0.500 ± 0.141 | 0.100 ± 0.000 |" in format_table(two)


def test_generalization_table_counts_wins_per_seed_and_session():
    gen = [dict(seed=k, session=s, model=m, r2=r, teacher_saw=s == "s1")
           for k in range(2) for s, (a, b) in {"s1": (0.3, 0.5), "s2": (0.4, 0.2)}.items()
           for m, r in (("MS-LFP", a), ("Distilled LFP", b))]
    runs = [dict(seed=k, row="A", session="s0", unsupervised=0.0, supervised=0.0) for k in range(2)]
    text = format_generalization(_assemble(runs, gen, [], 0.0))
    assert "| s1 | yes | 0.300 ± 0.000 | 0.500 ± 0.000 |" in text
    assert "| s2 | no |" in text
    assert "Distilled LFP > MS-LFP on 2 of 4 (seed, session) pairs." in text


@pytest.fixture(scope="module")
def comparison():
    data = _planted()
    calls = []

    def fit(estimator, X, y=None, *, name, **fit_params):
        calls.append((name, sorted(set(fit_params["session"])), len(X)))
        fitted = estimator.fit(X, y, **fit_params) if y is not None else estimator.fit(X, **fit_params)
        return fitted, 0.0

    res = run_comparison(seeds=(0,), teacher_sessions=2, model_params=TINY,
                         epochs=dict(teacher=1, lfp=3, supervised=1), fit=fit,
                         data=lambda seed: data, device="cpu", verbose=False,
                         variants={"Distilled LFP (centred target)": {"target_mode": "center"}})
    return res, calls, data


def test_rows_floors_nulls_and_generalization(comparison):
    res, _, (S, L, y, s) = comparison
    rows = list(res["table"].index)
    assert set(MODELS) | set(FLOORS) | set(NULLS) | {"Distilled LFP (centred target)"} == set(rows)
    runs = res["runs"].set_index("row")
    # the floors are the evaluation module's ridge floors on the distillation session
    roles = SegmentSplit(segment_length=500).assign(S, s)
    kw = dict(train=roles == "train", test=np.isin(roles, ["val", "test"]), sessions=["s0"])
    lagged = ridge_floor(L, y, s, smooth=0.05, lags=LAGS, **kw)["s0"]
    assert runs.loc["Floor: lagged LFP ridge", "unsupervised"] == pytest.approx(lagged)
    assert runs.loc["Floor: same-bin LFP ridge", "unsupervised"] == pytest.approx(
        ridge_floor(L, y, s, **kw)["s0"])
    # on this planted data the LFP decodes velocity, and the null controls do not
    assert lagged > 0.5
    assert runs.loc["Null: lagged LFP ridge, shifted velocity", "unsupervised"] < 0.1
    assert runs.loc["Null: Distilled LFP, shifted velocity", "unsupervised"] < 0.1
    # the supervised column exists for the four encoders only
    assert np.isfinite(runs.loc[list(MODELS), "supervised"]).all()
    assert runs.loc[list(FLOORS), "supervised"].isna().all()
    gen = res["generalization"]
    assert set(gen["session"]) == {"s1", "s2"}
    assert gen.groupby("session")["teacher_saw"].first().to_dict() == {"s1": True, "s2": False}
    assert {"MS-LFP", "Distilled LFP", "Distilled LFP (centred target)"} <= set(gen["model"])


def test_who_trains_on_what_and_matched_steps(comparison):
    res, calls, _ = comparison
    by_name = {name: (sessions, n) for name, sessions, n in calls}
    assert by_name["teacher"][0] == ["s0", "s1"]  # teacher_sessions=2: s2 left out
    assert by_name["MS-LFP"][0] == ["s0", "s1", "s2"]
    for name in ("SS-LFP", "Distilled LFP", "Distilled LFP (centred target)", "MS-LFP fine-tuned",
                 "Distilled LFP fine-tuned"):
        assert by_name[name][0] == ["s0"], name
    # MS-LFP gets ceil(3 / 3) = 1 epoch over three sessions, SS-LFP 3 over one: the same steps
    diag = res["diagnostics"].set_index("model")
    assert diag.loc["MS-LFP", "epochs_run"] <= 1 and diag.loc["SS-LFP", "epochs_run"] <= 3
    assert {"heldout_alignment", "train_alignment", "valid_cosine"} <= set(diag.columns)
    assert np.isfinite(diag.loc["Distilled LFP", ["heldout_alignment", "valid_cosine"]]).all()


def test_simulate_paired_passes_the_lfp_model():
    S1, L1, y1, s1 = simulate_paired(2, 6.0, random_state=3, lfp_model="population")
    S2, L2, y2, s2 = simulate_paired(2, 6.0, random_state=3, lfp_model="mrp")
    np.testing.assert_array_equal(S1, S2)  # the spikes do not depend on the LFP model
    np.testing.assert_array_equal(y1, y2)
    assert L1.shape == L2.shape and not np.allclose(np.nan_to_num(L1), np.nan_to_num(L2))
    assert list(pd.unique(s1)) == ["reach-00", "reach-01"]


def test_benchmark_cache_key_is_the_same_in_every_process(tmp_path):
    # session labels are object arrays; hashed by their bytes they would be pointers, and a
    # resumed benchmark would never find its models again
    import subprocess
    import sys

    from benchmarks.distillation import make_cache
    from skdistill import LFPTransformer

    args = "LFPTransformer(d_model=8), {'seed': 0}, np.arange(20.0).reshape(10, 2)"
    labels = "np.array(['a'] * 5 + ['b'] * 5, dtype=object)"
    code = ("import numpy as np; from benchmarks.distillation import make_cache; "
            "from skdistill import LFPTransformer; "
            f"print(make_cache(root={str(tmp_path)!r}).key({args}, session={labels}))")
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.strip()
    here = make_cache(root=tmp_path).key(LFPTransformer(d_model=8), {"seed": 0},
                                     np.arange(20.0).reshape(10, 2),
                                     session=np.array(["a"] * 5 + ["b"] * 5, dtype=object))
    assert here == there and len(here) == 20


def test_lfp_window_keeps_the_bins_per_step():
    """``--lfp-window W`` gives the LFP models W-bin windows and the batch that reads as many bins
    per step as the default scale (matched budgets); ``--lfp-layers`` combines with it."""
    import argparse

    from benchmarks.distillation import index_suffix, lfp_model_params

    scale = {"segment_length": 50, "batch_size": 32}
    args = argparse.Namespace(lfp_layers=None, lfp_window=None)
    assert lfp_model_params(args, scale) is None
    args.lfp_window = 200
    assert lfp_model_params(args, scale) == {"segment_length": 200, "batch_size": 8}
    args.lfp_window, args.lfp_layers = 3000, 4
    params = lfp_model_params(args, scale)
    assert params == {"n_layers": 4, "segment_length": 3000, "batch_size": 1}
    # the models of such a run are indexed under their own names
    assert index_suffix(params) == "_batch_size1_n_layers4_segment_length3000"
    args.lfp_window = 1
    with pytest.raises(SystemExit, match="at least 2 bins"):
        lfp_model_params(args, scale)
