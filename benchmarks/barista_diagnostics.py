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

Run ``python -m benchmarks.barista_diagnostics`` (about 10 min on 2 CPU cores; ``--quick``: a
few seconds, ``barista_diagnostics_quick.*``). Writes
``benchmarks/results/barista_diagnostics.{json,md}``.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks._harness import ModelCache, make_parser, parse_args, write_results
from benchmarks.barista import band_power, summary
from skdistill.evaluation import probe_auc

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


def run(args, cache):
    from skdistill import BaristaTransformer
    from skdistill.datasets import make_ieeg_cohort

    cohort_kw = dict(max_channels=args.max_channels, segment_duration=args.segment_duration,
                     effect_size=args.effect_size)
    rows, band, started = [], [], time.perf_counter()
    for seed in args.seeds:
        train = make_ieeg_cohort(subjects=[1, 2, 3, 4], n_segments=args.pretrain_segments,
                                 random_state=seed, **cohort_kw)
        test = make_ieeg_cohort(subjects=[5], n_segments=args.heldout_segments, random_state=seed,
                                **cohort_kw)
        meta_train = dict(session=train.session, electrodes=train.electrodes)
        meta_test = dict(session=test.session, electrodes=test.electrodes)
        band.append(probe_auc(band_power(test.X, test.sampling_rate), test.y, test.session,
                              n_splits=args.folds))
        data = {"cohort": cohort_kw, "subjects": [1, 2, 3, 4], "seed": seed,
                "n_segments": args.pretrain_segments}
        for epochs in args.epochs:
            est = BaristaTransformer(args.encoding, args.mask_scale, max_epochs=epochs,
                                     batch_size=args.batch_size, patch_size=args.patch_size,
                                     random_state=seed)
            fit = cache.fit(est, train.X, data=data, **meta_train, record=lambda m, e=epochs: {
                "fit_time": m.fit_time_,
                "loss": float(m.history_[-1]["train_loss"]) if e else float("nan")})
            est = fit.estimator
            feats = _readouts(est, test.X, meta_test)
            aucs = {name: probe_auc(F, test.y, test.session, n_splits=args.folds)
                    for name, F in feats.items()}
            steps = epochs * int(np.ceil(len(train.X) / args.batch_size))
            loss = fit.record["loss"]
            rows.append(dict(seed=seed, epochs=epochs, steps=steps, loss=loss,
                             fit_seconds=fit.record["fit_time"], **aucs))
            print(f"seed {seed} epochs {epochs:3d} ({steps} steps) loss {loss:.3f} "
                  + " ".join(f"{k} {v:.3f}" for k, v in aucs.items())
                  + f"  [{time.perf_counter() - started:.0f}s]", flush=True)
    return rows, band, time.perf_counter() - started


def write(rows, band, elapsed, args):
    table = {}
    for epochs in args.epochs:
        sel = [r for r in rows if r["epochs"] == epochs]
        table[epochs] = {"steps": sel[0]["steps"],
                         "loss": float(np.nanmean([r["loss"] for r in sel])),
                         **{name: summary([r[name] for r in sel]) for name in READOUTS}}
    payload = {"config": vars(args), "runs": rows, "by_epochs": table,
               "band_power_probe_auc": summary(band), "elapsed_seconds": elapsed}
    b = payload["band_power_probe_auc"]
    lines = [
        "# BaRISTA diagnostics: pretraining budget and readout",
        "",
        f"Cell {args.encoding} encoding + {args.mask_scale} masking; pretrain on sub-1..4 "
        f"({args.pretrain_segments} segments each, batch {args.batch_size}), probe held-out sub-5 "
        f"({args.heldout_segments} segments, {args.folds} chronological folds, StandardScaler + "
        f"LogisticRegression, ROC-AUC), {len(args.seeds)} seeds, mean ± sd. Generated by "
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
    write_results("barista_diagnostics", payload, lines, quick=args.quick, out=args.out)


def main(argv=None):
    parser = make_parser(__doc__, seeds=(0, 1, 2), quick_help="1 seed, epochs 0 and 1, tiny cohort")
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
    args = parse_args(parser, argv)
    if args.quick:
        args.seeds, args.epochs, args.pretrain_segments, args.heldout_segments = [0], [0, 1], 8, 40
        args.max_channels = 6
    cache = ModelCache(enabled=not (args.quick or args.no_cache))
    rows, band, elapsed = run(args, cache)
    write(rows, band, elapsed, args)


if __name__ == "__main__":
    main()
