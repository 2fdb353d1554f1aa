"""Property-based fuzzing (hypothesis) of the estimators' entry points: fit / transform / predict
/ adapt / load of every estimator. Each drawn input gives a result or a clear ValueError /
TypeError / FileNotFoundError from skdistill that names the argument; no crash, no silent
acceptance, no hang. ``python -m benchmarks.fuzz`` runs them with more examples."""

import pytest

from benchmarks.fuzz import build_targets, run_target

TARGETS = {n: t for n, t in build_targets().items() if t.layer == "estimators"}


def test_every_estimator_entry_point_is_fuzzed():
    names = " ".join(TARGETS)
    for entry in ("MaskedSpikeTransformer.fit", "LFPTransformer.fit", "transform",
                  "DistilledLFPTransformer.fit", "SupervisedEncoderRegressor.fit", "adapt",
                  "load", "BaristaClassifier.fit"):
        assert entry in names, entry


@pytest.mark.parametrize("name", list(TARGETS))
def test_fuzz_estimator_gives_results_or_clear_errors(name):
    res = run_target(TARGETS[name], 15, random_seed=1)
    bad = {o: res["samples"].get(o) for o in ("unhelpful crash", "silent acceptance", "hang")
           if res["counts"][o]}
    assert not bad, bad
