"""Property-based fuzzing (hypothesis) of the data layer's public entry points.

Every drawn input must give a result or a clear ``ValueError`` / ``TypeError`` /
``FileNotFoundError`` raised by skdistill naming the argument: no unhelpful crash, no silent
acceptance of an invalid input, no hang. ``python -m benchmarks.fuzz`` runs the same targets
with more examples and writes the counts to ``benchmarks/results/fuzz.{json,md}``.
"""

from __future__ import annotations

import pytest

from benchmarks.fuzz import Case, build_targets, classify, run_target

TARGETS = build_targets()
# known problems outside the data layer's files (reported; see benchmarks/results/fuzz.md)
KNOWN: dict = {}
# examples per target: the suite's budget is ~20 s for all of them
N_EXAMPLES = 12


@pytest.mark.parametrize("name", [n for n in TARGETS if n not in KNOWN])
def test_fuzz_target_gives_results_or_clear_errors(name):
    res = run_target(TARGETS[name], N_EXAMPLES, random_seed=0)
    bad = {o: res["samples"].get(o) for o in ("unhelpful crash", "silent acceptance", "hang")
           if res["counts"][o]}
    assert not bad, bad
    assert res["n"] >= min(N_EXAMPLES, 10)


@pytest.mark.skipif(not KNOWN, reason="no known problems left")
@pytest.mark.parametrize("name", list(KNOWN) or ["none"])
def test_known_problems_outside_the_data_layer(name):
    res = run_target(TARGETS[name], N_EXAMPLES, random_seed=0)
    if res["counts"]["unhelpful crash"] == 0:
        pytest.fail(f"{name} no longer crashes ({KNOWN[name]} was fixed): move it out of KNOWN.")
    assert res["counts"]["silent acceptance"] == 0 and res["counts"]["hang"] == 0


def test_the_oracle_tells_the_outcomes_apart():
    target = TARGETS["data.check_session"]
    assert classify(target, Case({"session": ["a", "b"], "n_rows": 2}))[0] == "result"
    assert classify(target, Case({"session": ["a"], "n_rows": 2}, "length"))[0] == "clear error"

    def crash(**kw):
        return {}["missing"]

    def accepts(**kw):
        return None

    from benchmarks.fuzz import Target

    assert classify(Target("t", target.strategy, crash), Case({}))[0] == "unhelpful crash"
    assert classify(Target("t", target.strategy, accepts), Case({}, "bad input"))[0] == "silent acceptance"
    slow = Target("t", target.strategy, lambda: __import__("time").sleep(5), timeout=0.2)
    assert classify(slow, Case({}))[0] == "hang"
