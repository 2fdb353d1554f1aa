"""BaRISTA spatial-scale benchmark on the simulated sEEG cohort (real Brain Treebank positions).

For each seed: pretrain ``BaristaTransformer`` for all 3 x 3 combinations of spatial encoding x
masking scale on subjects 1-4, then probe the frozen embeddings of held-out subject 5 with
``StandardScaler + LogisticRegression`` under chronological folds (ROC-AUC, mean over folds).
Baselines on the same folds: the randomly initialised encoder (no pretraining) for each
encoding, and per-channel log 70-150 Hz power (the simulator's task band) with the same probe.

Run ``python -m benchmarks.barista`` (about 15-20 min on 2 shared CPU cores; fitted models are
cached under ``benchmarks/cache/``); ``--quick`` is a 1-minute smoke run (``barista_quick.*``).
Writes ``benchmarks/results/barista.{json,md,png}`` (the png: the heatmap).
"""

from __future__ import annotations

import json
import time

import numpy as np

from benchmarks._harness import ModelCache, make_parser, parse_args, write_results
from skdistill.evaluation import probe_auc

SCALES = ("channel", "parcel", "lobe")

#: Reference numbers (Brain Treebank sentence onset, paper-secondhand; see reference note §12)
REFERENCE = {
    "parcel+channel": 0.862,
    "parcel+parcel": 0.854,
    "parcel+lobe": 0.845,
    "channel+channel": 0.778,
    "random init": 0.611,
    "held-out subject (parcel+channel)": 0.841,
}


def _embeddings(est, X, meta):
    """Segment embedding (mean over all real tokens, = ``transform``) and the channel-pooled
    one (mean over patches per channel, concatenated over the subject's channels)."""
    tokens = est.transform_tokens(X, **meta)
    present = ~np.isnan(tokens).all(axis=(0, 1, 3))
    tokens = tokens[:, :, present]
    return tokens.mean(axis=(1, 2)), tokens.mean(axis=1).reshape(len(X), -1)


def band_power(X, sampling_rate, band=(70.0, 150.0)):
    """Per-channel log power in ``band`` (Welch), padding channels dropped: (n, n_channels)."""
    from scipy.signal import welch

    present = ~np.isnan(X).all(axis=(0, 2))
    freqs, psd = welch(X[:, present], fs=sampling_rate, nperseg=min(256, X.shape[2]), axis=-1)
    keep = (freqs >= band[0]) & (freqs <= band[1])
    return np.log(psd[..., keep].mean(axis=-1))


def summary(values):
    """Mean, sd (ddof 1), median and the values."""
    values = np.asarray(values, dtype=float)
    return {
        "mean": float(values.mean()),
        "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
        "median": float(np.median(values)),
        "values": [float(v) for v in values],
    }


def time_default_size(n_segments, threads):
    """Seconds per pretraining epoch of ``BaristaTransformer()`` on the default cohort shape."""
    from skdistill import BaristaTransformer
    from skdistill.datasets import make_ieeg_cohort

    cohort = make_ieeg_cohort(n_subjects=3, n_segments=n_segments, random_state=0)
    est = BaristaTransformer(max_epochs=1, random_state=0)
    est.fit(cohort.X, session=cohort.session, electrodes=cohort.electrodes)
    per_epoch = est.fit_time_
    return {
        "X_shape": list(cohort.X.shape),
        "seconds_per_epoch": per_epoch,
        "seconds_per_segment_epoch": per_epoch / len(cohort.X),
        "torch_threads": threads,
        "estimated_default_fit_s (3 subjects x 60 segments, max_epochs=10)": per_epoch
        / len(cohort.X) * 180 * 10,
    }


def run(args, cache):
    from skdistill import BaristaTransformer
    from skdistill.datasets import make_ieeg_cohort

    train_subjects = list(range(1, args.n_subjects))
    held_out = args.n_subjects
    cohort_kw = dict(
        max_channels=args.max_channels,
        segment_duration=args.segment_duration,
        effect_size=args.effect_size,
    )
    model_kw = dict(max_epochs=args.epochs, batch_size=args.batch_size, patch_size=args.patch_size)
    results = {"grid": {}, "grid_channel_pooled": {}, "random_init": {},
               "random_init_channel_pooled": {}, "band_power": [], "fit_seconds": []}
    started = time.perf_counter()
    for seed in args.seeds:
        train = make_ieeg_cohort(
            subjects=train_subjects, n_segments=args.pretrain_segments, random_state=seed,
            **cohort_kw,
        )
        test = make_ieeg_cohort(
            subjects=[held_out], n_segments=args.heldout_segments, random_state=seed, **cohort_kw
        )
        meta_train = dict(session=train.session, electrodes=train.electrodes)
        meta_test = dict(session=test.session, electrodes=test.electrodes)
        data = {"cohort": cohort_kw, "subjects": train_subjects, "seed": seed,
                "n_segments": args.pretrain_segments}
        hg = band_power(test.X, test.sampling_rate)
        results["band_power"].append(probe_auc(hg, test.y, test.session, n_splits=args.folds))
        for encoding in SCALES:
            est = BaristaTransformer(encoding, random_state=seed, **{**model_kw, "max_epochs": 0})
            est = cache.fit(est, train.X, data=data, **meta_train).estimator
            Z, Zc = _embeddings(est, test.X, meta_test)
            results["random_init"].setdefault(encoding, []).append(
                probe_auc(Z, test.y, test.session, n_splits=args.folds))
            results["random_init_channel_pooled"].setdefault(encoding, []).append(
                probe_auc(Zc, test.y, test.session, n_splits=args.folds))
            for mask_scale in SCALES:
                est = BaristaTransformer(encoding, mask_scale, random_state=seed, **model_kw)
                fit = cache.fit(est, train.X, data=data, record=lambda m: {"fit_time": m.fit_time_},
                                **meta_train)
                est = fit.estimator
                Z, Zc = _embeddings(est, test.X, meta_test)
                auc, folds = probe_auc(Z, test.y, test.session, n_splits=args.folds,
                                       return_folds=True)
                auc_c = probe_auc(Zc, test.y, test.session, n_splits=args.folds)
                key = f"{encoding}+{mask_scale}"
                results["grid"].setdefault(key, []).append(auc)
                results["grid_channel_pooled"].setdefault(key, []).append(auc_c)
                results["fit_seconds"].append(fit.record["fit_time"])
                print(
                    f"seed {seed} {key:16s} AUC {auc:.3f} channel-pooled {auc_c:.3f} "
                    f"(folds {np.round(folds, 2).tolist()}) "
                    f"loss {est.history_[0]['train_loss']:.3f}->{est.history_[-1]['train_loss']:.3f} "
                    f"fit {fit.record['fit_time']:.0f}s  [{time.perf_counter() - started:.0f}s]",
                    flush=True,
                )
    timing = time_default_size(args.timing_segments, args.threads) if args.timing_segments else None
    return results, timing, time.perf_counter() - started, train, test


def write(results, timing, elapsed, train, test, args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = {k: summary(v) for k, v in results["grid"].items()}
    grid_c = {k: summary(v) for k, v in results["grid_channel_pooled"].items()}
    random_c = {k: summary(v) for k, v in results["random_init_channel_pooled"].items()}
    random_init = {k: summary(v) for k, v in results["random_init"].items()}
    random_all = summary([v for vals in results["random_init"].values() for v in vals])
    band = summary(results["band_power"])
    by_encoding = {
        e: summary([v for m in SCALES for v in results["grid"][f"{e}+{m}"]]) for e in SCALES
    }
    by_mask = {m: summary([v for e in SCALES for v in results["grid"][f"{e}+{m}"]]) for m in SCALES}
    payload = {
        "config": vars(args),
        "pretrain_subjects": sorted(set(train.session)),
        "held_out_subject": sorted(set(test.session)),
        "channels_per_subject": {s: len(t) for s, t in {**train.electrodes, **test.electrodes}.items()},
        "sampling_rate_hz": float(train.sampling_rate),
        "grid_auc": grid,
        "by_encoding": by_encoding,
        "by_mask_scale": by_mask,
        "grid_auc_channel_pooled": grid_c,
        "random_init_auc": random_init,
        "random_init_auc_channel_pooled": random_c,
        "random_init_all": random_all,
        "band_power_probe_auc": band,
        "pretrain_fit_seconds": summary(results["fit_seconds"]),
        "default_size_timing": timing,
        "elapsed_seconds": elapsed,
        "reference_auc": REFERENCE,
    }

    mean = np.array([[grid[f"{e}+{m}"]["mean"] for m in SCALES] for e in SCALES])
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    im = ax.imshow(mean, cmap="viridis", vmin=0.5, vmax=1.0)
    for i, e in enumerate(SCALES):
        for j, m in enumerate(SCALES):
            g = grid[f"{e}+{m}"]
            ax.text(j, i, f"{g['mean']:.3f}\n±{g['sd']:.3f}", ha="center", va="center",
                    color="white" if g["mean"] < 0.8 else "black", fontsize=9)
    ax.set_xticks(range(3), SCALES)
    ax.set_yticks(range(3), SCALES)
    ax.set_xlabel("masking scale")
    ax.set_ylabel("spatial encoding")
    ax.set_title(
        f"Held-out subject ROC-AUC ({len(args.seeds)} seeds)\nrandom init {random_all['mean']:.3f}, "
        f"HG band power {band['mean']:.3f}", fontsize=10,
    )
    fig.colorbar(im, ax=ax, label="ROC-AUC")
    fig.tight_layout()

    lines = [
        "# BaRISTA spatial-scale grid on the simulated cohort",
        "",
        f"Pretrain on {', '.join(payload['pretrain_subjects'])}; frozen-embedding probe "
        f"(StandardScaler + LogisticRegression) on held-out {payload['held_out_subject'][0]}, "
        f"{args.folds} chronological folds, ROC-AUC averaged over folds; {len(args.seeds)} seeds "
        "(cohort and model). Generated by `python -m benchmarks.barista`.",
        "",
        f"Setup: {args.max_channels} contacts per subject, {args.segment_duration:g} s segments at "
        f"{train.sampling_rate:g} Hz, effect_size {args.effect_size:g}, patch "
        f"{args.patch_size} samples, "
        f"{args.pretrain_segments} segments per pretraining subject, {args.heldout_segments} "
        f"held-out segments, default model size (d_model 32, 2 layers), {args.epochs} epochs, "
        f"batch {args.batch_size}. Total {elapsed / 60:.1f} min.",
        "",
        "| encoding \\ masking | " + " | ".join(SCALES) + " | all masks (mean ± sd, median) |",
        "|---|---|---|---|---|",
    ]
    for e in SCALES:
        cells = [f"{grid[f'{e}+{m}']['mean']:.3f} ± {grid[f'{e}+{m}']['sd']:.3f} "
                 f"({grid[f'{e}+{m}']['median']:.3f})" for m in SCALES]
        b = by_encoding[e]
        lines.append(f"| **{e}** | " + " | ".join(cells)
                     + f" | {b['mean']:.3f} ± {b['sd']:.3f} ({b['median']:.3f}) |")
    lines += [
        "",
        "Channel-pooled probe (each channel's tokens averaged over patches, concatenated):",
        "",
        "| encoding \\ masking | " + " | ".join(SCALES) + " |",
        "|---|---|---|---|",
    ]
    for e in SCALES:
        lines.append(f"| **{e}** | " + " | ".join(
            f"{grid_c[f'{e}+{m}']['mean']:.3f} ± {grid_c[f'{e}+{m}']['sd']:.3f} "
            f"({grid_c[f'{e}+{m}']['median']:.3f})" for m in SCALES) + " |")
    lines += [
        "",
        "| baseline | mean ± sd (median) |",
        "|---|---|",
    ]
    for e in SCALES:
        r = random_init[e]
        rc = random_c[e]
        lines.append(f"| random init, {e} encoding | {r['mean']:.3f} ± {r['sd']:.3f} "
                     f"({r['median']:.3f}); channel-pooled {rc['mean']:.3f} ± {rc['sd']:.3f} |")
    lines.append(f"| per-channel log 70-150 Hz power | {band['mean']:.3f} ± {band['sd']:.3f} "
                 f"({band['median']:.3f}) |")
    lines += [
        "",
        "Reference (Brain Treebank sentence onset, paper-secondhand): parcel+channel 0.862, "
        "parcel+parcel 0.854, parcel+lobe 0.845, channel+channel 0.778, random init 0.611, "
        "held-out subject 0.841. Not comparable in protocol or scale (the paper: 12-layer model, "
        "29 h of pretraining data, 70 epochs on 4 GPUs, fine-tuned token-weight head).",
        "",
        f"Pretraining time per grid model: {payload['pretrain_fit_seconds']['mean']:.1f} s mean "
        f"({len(results['fit_seconds'])} fits).",
    ]
    if timing:
        lines.append(
            f"Default size on CPU ({timing['torch_threads']} torch thread(s), cohort X "
            f"{tuple(timing['X_shape'])}): {timing['seconds_per_epoch']:.1f} s per epoch, "
            f"{timing['seconds_per_segment_epoch']:.3f} s per segment-epoch."
        )
    payload["config"] = {k: (str(v) if k == "out" else v) for k, v in vars(args).items()}
    write_results("barista", payload, lines, quick=args.quick, out=args.out, figure=fig, echo=False)
    return payload


def main(argv=None):
    parser = make_parser(__doc__, seeds=(0, 1, 2), quick_help="2 seeds, tiny cohort, 1 epoch")
    parser.add_argument("--n-subjects", type=int, default=5, help="the last one is held out")
    parser.add_argument("--pretrain-segments", type=int, default=32)
    parser.add_argument("--heldout-segments", type=int, default=240)
    parser.add_argument("--max-channels", type=int, default=24)
    parser.add_argument("--segment-duration", type=float, default=3.0)
    parser.add_argument("--effect-size", type=float, default=2.0,
                        help="simulator's high-gamma response (1 = background power)")
    parser.add_argument("--patch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--timing-segments", type=int, default=20,
                        help="segments per subject for the default-size timing run (0 skips it)")
    args = parse_args(parser, argv)
    if args.quick:
        args.seeds, args.pretrain_segments, args.heldout_segments = [0, 1], 8, 40
        args.max_channels, args.epochs, args.timing_segments = 6, 1, 0
    cache = ModelCache(enabled=not (args.quick or args.no_cache))
    payload = write(*run(args, cache), args)
    print(json.dumps({k: payload[k] for k in ("by_encoding", "random_init_all",
                                              "band_power_probe_auc")}, indent=1))


if __name__ == "__main__":
    main()
