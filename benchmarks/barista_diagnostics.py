"""Why the BaRISTA grid sits at chance: pretraining budget and what the tokens carry (issue 4).

For one grid cell (``--encoding`` / ``--mask-scale``, default parcel + channel, the reference's
best) and each seed, pretrain ``BaristaTransformer`` on subjects 1-4 for each budget in
``--epochs`` (0 = random initialisation) and probe held-out subject 5 under the same
chronological folds and probe as ``benchmarks/barista.py``, with three readouts of the same
frozen tokens:

* ``mean-pool``: the segment embedding of ``transform`` (mean over every token);
* ``channel-pooled``: each channel's tokens averaged over patches, concatenated over channels;
* ``energy-pool``: per dimension, the log of the mean squared token value over every token
  (montage-independent, as ``mean-pool``, but second-order);
* ``token energy``: per channel, the log of the mean squared token value over patches and
  dimensions, a second-order readout with as many features as the band-power probe.

Next to them: per-channel log 70-150 Hz power of the raw signal (the simulator's task band).

Run ``python -m benchmarks.barista_diagnostics`` (about 10 min on 2 CPU cores). Writes
``benchmarks/results/barista_diagnostics.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from benchmarks.barista import RESULTS, _band_power, _probe_auc, _summary

READOUTS = ("mean-pool", "channel-pooled", "energy-pool", "token energy")


def _readouts(est, X, meta):
    tokens = est.transform_tokens(X, **meta)
    present = ~np.isnan(tokens).all(axis=(0, 1, 3))
    tokens = tokens[:, :, present]  # (n, patches, channels, d)
    return {
        "mean-pool": tokens.mean(axis=(1, 2)),
        "channel-pooled": tokens.mean(axis=1).reshape(len(X), -1),
        "energy-pool": np.log((tokens ** 2).mean(axis=(1, 2))),
        "token energy": np.log((tokens ** 2).mean(axis=(1, 3))),
    }


def run(args):
    import torch

    from skdistill.datasets import make_ieeg_cohort
    from skdistill.estimators._barista import BaristaTransformer

    torch.set_num_threads(args.threads)
    cohort_kw = dict(max_channels=args.max_channels, segment_duration=args.segment_duration,
                     effect_size=args.effect_size)
    rows, band, started = [], [], time.perf_counter()
    for seed in range(args.seeds):
        train = make_ieeg_cohort(subjects=[1, 2, 3, 4], n_segments=args.pretrain_segments,
                                 random_state=seed, **cohort_kw)
        test = make_ieeg_cohort(subjects=[5], n_segments=args.heldout_segments, random_state=seed,
                                **cohort_kw)
        meta_train = dict(session=train.session, electrodes=train.electrodes)
        meta_test = dict(session=test.session, electrodes=test.electrodes)
        band.append(_probe_auc(_band_power(test.X, test.sampling_rate), test.y, test.session,
                               args.folds)[0])
        for epochs in args.epochs:
            est = BaristaTransformer(args.encoding, args.mask_scale, max_epochs=epochs,
                                     batch_size=args.batch_size, patch_size=args.patch_size,
                                     random_state=seed).fit(train.X, **meta_train)
            feats = _readouts(est, test.X, meta_test)
            aucs = {name: _probe_auc(F, test.y, test.session, args.folds)[0]
                    for name, F in feats.items()}
            steps = epochs * int(np.ceil(len(train.X) / args.batch_size))
            loss = est.history_[-1]["train_loss"] if epochs else float("nan")
            rows.append(dict(seed=seed, epochs=epochs, steps=steps, loss=loss,
                             fit_seconds=est.fit_time_, **aucs))
            print(f"seed {seed} epochs {epochs:3d} ({steps} steps) loss {loss:.3f} "
                  + " ".join(f"{k} {v:.3f}" for k, v in aucs.items())
                  + f"  [{time.perf_counter() - started:.0f}s]", flush=True)
    return rows, band, time.perf_counter() - started


def write(rows, band, elapsed, args):
    os.makedirs(RESULTS, exist_ok=True)
    table = {}
    for epochs in args.epochs:
        sel = [r for r in rows if r["epochs"] == epochs]
        table[epochs] = {"steps": sel[0]["steps"],
                         "loss": float(np.nanmean([r["loss"] for r in sel])),
                         **{name: _summary([r[name] for r in sel]) for name in READOUTS}}
    payload = {"config": vars(args), "runs": rows, "by_epochs": table,
               "band_power_probe_auc": _summary(band), "elapsed_seconds": elapsed}
    with open(os.path.join(RESULTS, "barista_diagnostics.json"), "w") as fh:
        json.dump(payload, fh, indent=2, default=float)
    b = payload["band_power_probe_auc"]
    lines = [
        "# BaRISTA diagnostics: pretraining budget and readout",
        "",
        f"Cell {args.encoding} encoding + {args.mask_scale} masking; pretrain on sub-1..4 "
        f"({args.pretrain_segments} segments each, batch {args.batch_size}), probe held-out sub-5 "
        f"({args.heldout_segments} segments, {args.folds} chronological folds, StandardScaler + "
        f"LogisticRegression, ROC-AUC), {args.seeds} seeds, mean ± sd. Generated by "
        f"`python -m benchmarks.barista_diagnostics`; {elapsed / 60:.1f} min.",
        "",
        "| epochs (steps) | final loss | " + " | ".join(READOUTS) + " |",
        "|---|---|" + "---|" * len(READOUTS),
    ]
    for epochs, t in table.items():
        loss = "—" if np.isnan(t["loss"]) else f"{t['loss']:.3f}"
        label = "random init" if epochs == 0 else f"{epochs} ({t['steps']})"
        lines.append(f"| {label} | {loss} | " + " | ".join(
            f"{t[n]['mean']:.3f} ± {t[n]['sd']:.3f}" for n in READOUTS) + " |")
    lines += ["", f"Per-channel log 70-150 Hz power of the raw signal: {b['mean']:.3f} ± "
              f"{b['sd']:.3f}.", ""]
    with open(os.path.join(RESULTS, "barista_diagnostics.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, nargs="+", default=[0, 2, 10, 30])
    parser.add_argument("--encoding", default="parcel")
    parser.add_argument("--mask-scale", default="channel")
    parser.add_argument("--pretrain-segments", type=int, default=32)
    parser.add_argument("--heldout-segments", type=int, default=240)
    parser.add_argument("--max-channels", type=int, default=24)
    parser.add_argument("--segment-duration", type=float, default=3.0)
    parser.add_argument("--effect-size", type=float, default=2.0)
    parser.add_argument("--patch-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a 1-minute smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs, args.pretrain_segments, args.heldout_segments = 1, [0, 1], 8, 40
        args.max_channels = 6
    rows, band, elapsed = run(args)
    if not args.quick:
        write(rows, band, elapsed, args)


if __name__ == "__main__":
    main()
