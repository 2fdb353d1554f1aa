"""What BaRISTA's tokens carry of the cohort's label, per tokenizer (issue 13).

The simulated cohort's speech label lives mostly in 70-150 Hz power (about 1 % of a z-scored
channel's variance, 1.5 % in speech: ``barista_diagnostics.md``), as in real iEEG, where high
gamma is the strongest single-site feature. BaRISTA fine-tunes with its tokenizer frozen, so
whatever the frozen tokens do not carry, the fine-tuned model cannot use. This benchmark asks,
per held-out subject and on the reference folds of ``benchmarks/barista.py`` (160 training
segments, 60 test segments per fold, 5 folds), how well a logistic regression separates the
classes from:

* hand-made: per-channel log 70-150 Hz power of the raw segments, and of the per-segment,
  per-channel z-scored segments that the model actually sees;
* the tokenizer's own outputs (no transformer): the per-channel mean over patches of the tokens
  (``n_channels x d_model`` features) and the per-channel log token energy;
* the contextual tokens (tokenizer + spatial vector + transformer) mean-pooled to ``d_model``.

for the reference's dilated CNN (``tokenizer="cnn"``) and the log-spectrum tokenizer
(``tokenizer="spectral"``), each at random init and after pretraining on subjects 1-4 (parcel
encoding, channel masking, 30 epochs, lr 3e-4: the grid's recipe). Run
``python -m benchmarks.barista_tokens`` (about 10 minutes on one core; ``--quick``: 1 minute).
Writes ``benchmarks/results/barista_tokens.{json,md,png}``.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks._harness import make_parser, parse_args, write_results
from benchmarks.barista import band_power, fold_probe, reference_folds, summary

FEATURES = ("HG power, raw", "HG power, z-scored input", "tokens, per-channel mean (C x d)",
            "tokens, per-channel log energy", "contextual, mean-pool (d)")


def features(est, test):
    """The feature sets of FEATURES for one held-out subject's segments."""
    import torch

    X = test.X
    present = ~np.isnan(X).all(axis=(0, 2))
    X = X[:, present]
    std = X.std(axis=2, keepdims=True)
    Z = (X - X.mean(axis=2, keepdims=True)) / np.where(std > 0, std, 1.0)
    with torch.no_grad():
        tokens = est.module_.target_tokenizer(torch.as_tensor(Z, dtype=torch.float32)).numpy()
    context = est.transform(test.X, session=test.session, electrodes=test.electrodes)
    return {
        FEATURES[0]: band_power(X, test.sampling_rate),
        FEATURES[1]: band_power(Z, test.sampling_rate),
        FEATURES[2]: tokens.mean(axis=1).reshape(len(X), -1),
        FEATURES[3]: np.log((tokens ** 2).mean(axis=(1, 3))),
        FEATURES[4]: context,
    }


def run(args):
    from skdistill import BaristaTransformer
    from skdistill.datasets import make_ieeg_cohort

    kw = dict(max_channels=args.max_channels, effect_size=2.0, response_model="auditory")
    train = make_ieeg_cohort(subjects=[1, 2, 3, 4], n_segments=args.pretrain_segments,
                             random_state=0, **kw)
    meta = dict(session=np.asarray(train.session, dtype=str), electrodes=train.electrodes)
    tests = {s: make_ieeg_cohort(subjects=[s], n_segments=args.heldout_segments, random_state=0,
                                 **kw) for s in args.subjects}
    results = {"rows": [], "pretrain": {}}
    for tokenizer in ("cnn", "spectral"):
        for epochs in (0, args.pretrain_epochs):
            start = time.perf_counter()
            est = BaristaTransformer("parcel", "channel", tokenizer=tokenizer, lr=3e-4,
                                     max_epochs=epochs, random_state=0).fit(train.X, **meta)
            name = f"{tokenizer}, {'random init' if epochs == 0 else f'pretrained {epochs} ep'}"
            if epochs:
                results["pretrain"][tokenizer] = {
                    "seconds": time.perf_counter() - start,
                    "train_loss": [float(h["train_loss"]) for h in est.history_],
                    "valid_loss": [float(h["valid_loss"]) for h in est.history_]}
            for s, test in tests.items():
                folds = reference_folds(test.y, test.session, 5, 160)
                for feature, F in features(est, test).items():
                    aurocs = [fold_probe(F, test.y, fold) for fold in folds]
                    results["rows"].append({"model": name, "subject": s, "feature": feature,
                                            "auroc": aurocs})
            print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)
    results["responsive"] = {
        s: int((t.electrodes[t.session[0]]["response_weight"] > 0.3).sum())
        for s, t in tests.items()}
    return results


def write(results, args, seconds):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in results["rows"]))
    subjects = list(args.subjects)
    table = {(r["model"], r["feature"], r["subject"]): summary(r["auroc"]) for r in results["rows"]}
    lines = [
        "# What BaRISTA's tokens carry of the label, per tokenizer",
        "",
        f"Generated by `python -m benchmarks.barista_tokens` in {seconds / 60:.1f} min (1 torch "
        "thread, 2 shared cores). Cohort `make_ieeg_cohort(response_model=\"auditory\")`, "
        f"{args.max_channels} contacts; pretraining on sub-1..4 ({args.pretrain_segments} "
        f"segments each; parcel encoding, channel masking, lr 3e-4, {args.pretrain_epochs} "
        f"epochs); held-out sub-{subjects} ({args.heldout_segments} segments), the reference "
        "folds of `benchmarks/barista.py` (160 training, 60 test segments per fold). "
        "Logistic-regression ROC-AUC, mean ± s.e.m. over the 5 folds. High-gamma-responsive "
        "contacts per held-out subject: " + ", ".join(
            f"sub-{s} {n}" for s, n in results["responsive"].items()) + ".",
        "",
        "| model | feature | " + " | ".join(f"sub-{s}" for s in subjects) + " |",
        "|---|---|" + "---|" * len(subjects),
    ]
    for m in models:
        for f in FEATURES:
            if m != models[0] and f.startswith("HG power"):
                continue  # the hand-made features do not depend on the model
            cells = [table.get((m, f, s)) for s in subjects]
            label = "(hand-made)" if f.startswith("HG power") else m
            lines.append(f"| {label} | {f} | " + " | ".join(
                f"{c['mean']:.3f} ± {c['sem']:.3f}" if c else "—" for c in cells) + " |")
    for tok, rec in results["pretrain"].items():
        lines.append("")
        lines.append(f"Pretraining ({tok}): {rec['seconds']:.0f} s; masked-latent loss train "
                     f"{rec['train_loss'][0]:.3f} -> {rec['train_loss'][-1]:.3f}, held-out "
                     f"{rec['valid_loss'][0]:.3f} -> {rec['valid_loss'][-1]:.3f}.")
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    shown = [f for f in FEATURES if not f.startswith("HG power")]
    width = 0.8 / len(models)
    for i, m in enumerate(models):
        vals = [np.mean([table[(m, f, s)]["mean"] for s in subjects]) for f in shown]
        ax.bar(np.arange(len(shown)) + i * width, vals, width, label=m)
    hg = np.mean([table[(models[0], FEATURES[0], s)]["mean"] for s in subjects])
    ax.axhline(hg, color="k", ls="--", lw=1, label=f"HG power, raw ({hg:.2f})")
    ax.axhline(0.5, color="grey", lw=0.8)
    ax.set_xticks(np.arange(len(shown)) + 0.4 - width / 2, shown, fontsize=8)
    ax.set_ylim(0.4, 1.0)
    ax.set_ylabel("ROC-AUC (mean over held-out subjects)")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    write_results("barista_tokens", {"config": {k: (str(v) if k == "out" else v)
                                                for k, v in vars(args).items()},
                                     **results}, lines, quick=args.quick, out=args.out, figure=fig)


def main(argv=None):
    parser = make_parser(__doc__, seeds=(0,), quick_help="1 subject, 2 epochs, small cohort")
    parser.add_argument("--subjects", type=int, nargs="+", default=[5, 6, 8, 9],
                        help="held-out subjects (never in pretraining; 3, 4, 8 and 12 "
                        "high-gamma-responsive contacts)")
    parser.add_argument("--pretrain-segments", type=int, default=120)
    parser.add_argument("--heldout-segments", type=int, default=600)
    parser.add_argument("--pretrain-epochs", type=int, default=30)
    parser.add_argument("--max-channels", type=int, default=24)
    args = parse_args(parser, argv)
    if args.quick:
        args.subjects, args.pretrain_segments, args.heldout_segments = [5], 16, 200
        args.pretrain_epochs = 2
    start = time.perf_counter()
    results = run(args)
    write(results, args, time.perf_counter() - start)


if __name__ == "__main__":
    main()
