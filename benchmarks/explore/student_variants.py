"""Student and LFP-model variants on the reference-scale session (issue 12 exploration).

On session 0 of ``benchmarks/distillation.py``'s seed-0 ``population`` data (4 x 600 s, read from
its cache), with that unit's cached teacher, fit variants of one model at a time and print its
velocity probe (per-session OLS on train segments, R² on val+test: the benchmark's unsupervised
column) with its epochs and held-out cosine. Models are 128 x 2, 50-bin windows, batch 32, lr 1e-3,
at most 40 epochs, early stopping (patience 5), as in the benchmark, unless a variant says
otherwise. Variants:

* ``student`` (default ``{}``), e.g. ``'{"dropout": 0.2}'``, ``'{"target_smoothing": 5.0}'``,
  ``'{"target_mode": "standardize", "align_loss": "mse"}'``, ``'{"patience": 15}'``;
* ``ss`` (``--model ss``): the SS-LFP baseline with the same overrides (alignment-only
  parameters are not used);
* ``supervised`` (``--model supervised``): an LFP transformer trained for one epoch, then
  fine-tuned on velocity alone (``SupervisedEncoderRegressor``, ``ssl_weight=0``, 30 epochs):
  what a transformer on this LFP reaches when it is told the answer.

The variant numbers in ``docs/distillation.md`` ("Where the velocity is lost") come from this
script. It is an exploration: nothing here is a default, and one seed decides nothing.

Run ``python -m benchmarks.explore.student_variants '{"dropout": 0.2}' [--model student]``
(3-8 minutes per fit on one core; run ``python -m benchmarks.distillation`` first so the data and
the teacher are cached).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from benchmarks._harness import literal_dict, pin_threads
from benchmarks.distillation import load_indexed, make_cache, simulated_data

BASE = dict(segment_length=50, d_model=128, n_layers=2, n_heads=4, batch_size=32, lr=1e-3,
            max_epochs=40, early_stopping=True, patience=5, random_state=0)
_ALIGNMENT_ONLY = ("align_weight", "align_loss", "target_mode", "target_smoothing",
                   "variance_weight", "teacher_layer", "align_layer", "projection", "recon_weight")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="?", type=literal_dict, default={})
    parser.add_argument("--model", choices=("student", "ss", "supervised"), default="student")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    pin_threads(args.threads)

    import pandas as pd
    from sklearn.frozen import FrozenEstimator
    from sklearn.metrics import r2_score

    from skdistill._comparison import REFERENCE_SCALE
    from skdistill.estimators import (DistilledLFPTransformer, LFPTransformer,
                                      SupervisedEncoderRegressor)
    from skdistill.evaluation import probe_r2
    from skdistill.model_selection import SegmentSplit

    cache = make_cache()
    S, L, y, session = simulated_data(cache, REFERENCE_SCALE["n_sessions"],
                                      REFERENCE_SCALE["duration"], "population")(args.seed)
    roles = SegmentSplit(segment_length=500).assign(S, session)
    home = session == pd.unique(session)[0]
    S, L, y, s, roles = S[home], L[home], y[home], session[home], roles[home]
    train, test = roles == "train", np.isin(roles, ["val", "test"])
    params = {**BASE, **args.overrides}
    start = time.perf_counter()
    if args.model == "student":
        teacher = load_indexed(cache, "population", args.seed, "teacher")
        if teacher is None:
            parser.error("no cached teacher: run python -m benchmarks.distillation first")
        est = DistilledLFPTransformer(FrozenEstimator(teacher), **params).fit(
            L[train], teacher_X=S[train], session=s[train])
    else:
        params = {k: v for k, v in params.items() if k not in _ALIGNMENT_ONLY}
        if args.model == "ss":
            est = LFPTransformer(decoder_width=params["d_model"], **params).fit(
                L[train], session=s[train])
        else:
            fine = dict(max_epochs=30, early_stopping=True, patience=5, random_state=0,
                        batch_size=params["batch_size"])
            encoder = LFPTransformer(decoder_width=params["d_model"], **{**params, "max_epochs": 1,
                                                                       "early_stopping": False})
            encoder.fit(L[train], session=s[train])
            est = SupervisedEncoderRegressor(FrozenEstimator(encoder), ssl_weight=0.0, **fine).fit(
                L[train], y[train], session=s[train])
    seconds = time.perf_counter() - start
    if args.model == "supervised":
        prediction = est.predict(L, session=s)
        r2 = float(np.mean([r2_score(y[test, k], prediction[test, k]) for k in range(y.shape[1])]))
    else:
        r2 = float(probe_r2(est.transform(L, session=s), y, s, train=train, test=test).iloc[0])
    history = est.history_
    valid = [h.get("valid_loss", np.nan) for h in history]
    best = int(np.nanargmin(valid))
    print(json.dumps(dict(model=args.model, overrides=args.overrides, r2=round(r2, 4),
                          epochs=len(history), best_epoch=best + 1, seconds=round(seconds),
                          train_loss_best=round(float(history[best]["train_loss"]), 4),
                          valid_loss_best=round(float(valid[best]), 4),
                          valid_cosine_best=history[best].get("valid_cosine"))), flush=True)


if __name__ == "__main__":
    main()
