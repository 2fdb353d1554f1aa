"""BaRISTA spatial-scale benchmark on the simulated sEEG cohort, read out by the reference
fine-tuning protocol (issue 13).

For each cell of the 3 x 3 grid (spatial encoding x masking scale): pretrain
``BaristaTransformer`` on subjects 1-4 (one pretraining seed per cell, as in the paper), then
fine-tune ``BaristaClassifier`` on each held-out subject (5 and 6 by default, never seen in
pretraining) with the reference protocol: frozen tokenizer and spatial table, per-token weight
head, AdamW (backbone 1e-4, head 1e-3, weight decay 1e-2), warm-up 0.2 -> 1 over 5 epochs then
x0.99, 30 epochs, the epoch with the best validation ROC-AUC kept. Folds are the reference's
chronological layout: fold k's test block (10 % of the session) is framed by two 5 %
validation buffers, everything else trains; fine-tuning seed k runs on fold k (k = 0..4), so
5 seeds cover the 5 folds. Score: test ROC-AUC, mean ± s.e.m. over held-out subjects x seeds.

Beside it, on the same folds: the frozen probe of the same pretrained encoder (logistic
regression on the mean-pooled embedding and on per-channel token energy), random-init
fine-tuning (no pretraining; everything trained, as in the reference's random baseline), the
per-channel log 70-150 Hz power with logistic regression, and a null control (the best cell
fine-tuned on labels circularly shifted within the session).

Run ``python -m benchmarks.barista`` (see ``--help`` for the budget; a full grid takes about an
hour on one shared core). Every pretrained model and every fine-tuning result is cached
(``benchmarks/_harness.ModelCache``), so a killed run resumes; ``--cells`` runs part of the
grid. ``--quick`` is a smoke run (``barista_quick.*``). Writes
``benchmarks/results/barista.{json,md,png}`` (the png: heat map of the fine-tuned grid).
"""

from __future__ import annotations

import json
import time

import numpy as np

from benchmarks._harness import ModelCache, make_parser, parse_args, write_results

SCALES = ("channel", "parcel", "lobe")
CELLS = tuple(f"{e}+{m}" for e in SCALES for m in SCALES)

#: Reference numbers (Brain Treebank sentence onset, paper-secondhand; reference note §12)
REFERENCE = {
    "parcel+channel": 0.862,
    "parcel+parcel": 0.854,
    "parcel+lobe": 0.845,
    "channel+channel": 0.778,
    "random init": 0.611,
    "held-out subject (parcel+channel)": 0.841,
}


#: bands of the "all bands" hand-made baseline (Hz)
HAND_BANDS = ((1.0, 4.0), (4.0, 8.0), (8.0, 13.0), (13.0, 30.0), (30.0, 70.0), (70.0, 150.0))


def band_power(X, sampling_rate, band=(70.0, 150.0)):
    """Per-channel log power in ``band`` (Welch), padding channels dropped: (n, n_channels)."""
    from scipy.signal import welch

    present = ~np.isnan(X).all(axis=(0, 2))
    freqs, psd = welch(X[:, present], fs=sampling_rate, nperseg=min(256, X.shape[2]), axis=-1)
    keep = (freqs >= band[0]) & (freqs <= band[1])
    return np.log(psd[..., keep].mean(axis=-1))


def summary(values):
    """Mean, sd (ddof 1), s.e.m., 95 % t-interval of the mean, median and the values."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    n = len(values)
    sd = float(values.std(ddof=1)) if n > 1 else 0.0
    sem = sd / np.sqrt(n) if n else 0.0
    half = float(stats.t.ppf(0.975, n - 1) * sem) if n > 1 else 0.0
    return {"mean": float(values.mean()), "sd": sd, "sem": sem,
            "ci95": [float(values.mean() - half), float(values.mean() + half)],
            "median": float(np.median(values)), "n": n, "values": [float(v) for v in values]}


def reference_folds(y, session, n_folds, max_train=None):
    """``[(train, valid, test)]`` row indices: ChronologicalFolds' test blocks, the two buffers
    around each as validation (the reference's [val | test | val] window), the rest training.

    ``max_train`` keeps at most that many training rows, evenly spaced over the training part
    of the session: a long held-out session gives large test and validation blocks (10 % each)
    while the fine-tuning cost stays that of ``max_train`` segments.
    """
    from skdistill.model_selection import ChronologicalFolds

    cv = ChronologicalFolds(n_splits=n_folds, test_fraction=0.1, buffer_fraction=0.05)
    out = []
    for train, test in cv.split(np.zeros((len(y), 1)), y, groups=session):
        valid = np.setdiff1d(np.arange(len(y)), np.concatenate([train, test]))
        train = np.sort(train)
        if max_train is not None and len(train) > max_train:
            train = train[np.linspace(0, len(train) - 1, max_train).round().astype(int)]
        out.append((train, np.sort(valid), np.sort(test)))
    return out


def cohort_key(cohort_kw):
    """The cohort arguments as a cache key, without ``response_model="high_gamma"`` (the only
    model before the option existed), so that runs on the earlier model keep their entries."""
    return {k: v for k, v in cohort_kw.items()
            if not (k == "response_model" and v == "high_gamma")}


def _auroc(y, score):
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score)) if len(np.unique(y)) == 2 else float("nan")


def finetune(source, test, fold, seed, ft_kw, labels=None):
    """Fine-tune on one fold of one held-out subject; test ROC-AUC and the chosen epoch.

    ``source`` is a fitted BaristaTransformer (pretrained, or ``max_epochs=0`` = random init:
    then nothing is frozen). Training rows come first and the validation buffers last, so that
    ``BaristaClassifier``'s held-out segments (the last ``validation_fraction``) are exactly the
    buffers.
    """
    from sklearn.frozen import FrozenEstimator

    from skdistill import BaristaClassifier

    y = test.y if labels is None else labels
    train, valid, held = fold
    order = np.concatenate([train, valid])
    meta = dict(session=test.session[order], electrodes=test.electrodes)
    pretrained = source.max_epochs > 0
    clf = BaristaClassifier(
        FrozenEstimator(source), random_state=seed,
        validation_fraction=(len(valid) - 0.5) / len(order),
        freeze_tokenizer=pretrained, **ft_kw)
    start = time.perf_counter()
    clf.fit(test.X[order], y[order], **meta)
    seconds = time.perf_counter() - start
    proba = clf.predict_proba(test.X[held], session=test.session[held],
                              electrodes=test.electrodes)[:, 1]
    valid_auc = [h.get("valid_auroc", np.nan) for h in clf.history_]
    return {"auroc": _auroc(y[held], proba), "best_epoch": clf.best_epoch_,
            "valid_auroc": [float(v) for v in valid_auc],
            "train_loss": [float(h["train_loss"]) for h in clf.history_], "seconds": seconds}


def fold_probe(F, y, fold):
    """StandardScaler + LogisticRegression on the training rows, ROC-AUC on the test rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train, _, held = fold
    F = np.nan_to_num(F.reshape(len(F), -1))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(F[train], y[train])
    return _auroc(y[held], model.predict_proba(F[held])[:, 1])


def frozen_features(est, X, meta):
    """Mean-pooled embedding (``transform``) and per-channel token energy."""
    tokens = est.transform_tokens(X, **meta)
    present = ~np.isnan(tokens).all(axis=(0, 1, 3))
    tokens = tokens[:, :, present]
    return {"mean-pool": tokens.mean(axis=(1, 2)),
            "token energy": np.log((tokens ** 2).mean(axis=(1, 3)))}


def run(args, cache):
    from skdistill import BaristaTransformer
    from skdistill.datasets import make_ieeg_cohort
    from skdistill.evaluation import circular_shift

    cohort_kw = dict(max_channels=args.max_channels, effect_size=args.effect_size,
                     response_model=args.response_model)
    arch_kw = dict(tokenizer=args.tokenizer,
                   **({"spectral_bands": args.spectral_bands} if args.spectral_bands else {}))
    pre_kw = dict(**arch_kw, max_epochs=args.pretrain_epochs, batch_size=args.batch_size,
                  lr=args.lr, ema_momentum=args.ema_momentum, ema_schedule=args.ema_schedule,
                  mask_ratio=args.mask_ratio, normalize_targets=args.normalize_targets)
    ft_kw = dict(max_epochs=args.finetune_epochs, batch_size=args.finetune_batch_size,
                 readout=args.readout, head_norm=args.head_norm,
                 **({"head_init": args.head_init} if args.head_init != "random" else {}))
    seed = args.pretrain_seed
    started = time.perf_counter()
    train = make_ieeg_cohort(subjects=args.pretrain_subjects, n_segments=args.pretrain_segments,
                             random_state=seed, **cohort_kw)
    tests = {s: make_ieeg_cohort(subjects=[s], n_segments=args.heldout_segments,
                                 random_state=seed, **cohort_kw) for s in args.heldout_subjects}
    folds = {s: reference_folds(t.y, t.session, args.folds, args.finetune_train_segments)
             for s, t in tests.items()}
    # a str (not object) array: the model cache hashes array bytes, and object arrays hash as
    # pointers (a new key in every process; see the report of issue 13)
    meta_train = dict(session=np.asarray(train.session, dtype=str), electrodes=train.electrodes)
    data = {"cohort": cohort_key(cohort_kw), "subjects": list(args.pretrain_subjects),
            "seed": seed, "n_segments": args.pretrain_segments}
    results = {"finetuned": {}, "frozen": {}, "random_init": {}, "frozen_random": {},
               "band_power": [], "null": [], "pretrain": {}, "finetune_seconds": []}

    def probe(est):
        """Frozen-probe AUROCs of ``est`` on every held-out subject x seed (same folds)."""
        rows = []
        for s, test in tests.items():
            feats = frozen_features(est, test.X, dict(session=test.session,
                                                      electrodes=test.electrodes))
            for k in args.ft_seeds:
                fold = folds[s][k % args.folds]
                rows.append({"subject": s, "seed": k,
                             **{name: fold_probe(F, test.y, fold) for name, F in feats.items()}})
        return rows

    def ft_runs(name, source, labels_for=None):
        """Fine-tuning results of ``source`` over held-out subjects x seeds (memoised)."""
        out = []
        for s, test in tests.items():
            for k in args.ft_seeds:
                fold = folds[s][k % len(folds[s])]
                labels = None if labels_for is None else labels_for(test, k)
                config = {"name": name, "subject": s, "seed": k, "ft": ft_kw, "data": data,
                          "pre": pre_kw if source.max_epochs else {"init": source.get_params()},
                          "heldout": args.heldout_segments, "folds": args.folds,
                          **({} if args.finetune_train_segments is None else
                             {"max_train": args.finetune_train_segments}),
                          "null": labels_for is not None}
                if args.cached_only and not _memo_exists(cache, "barista_finetune", config):
                    continue
                r = cache.memo("barista_finetune", config,
                               lambda: finetune(source, test, fold, k, ft_kw, labels))
                out.append({"subject": s, "seed": k, **r})
                results["finetune_seconds"].append(r["seconds"])
        return out

    for s, test in tests.items():
        hg = band_power(test.X, test.sampling_rate)
        results["band_power"] += [{"subject": s, "seed": k,
                                   "auroc": fold_probe(hg, test.y, folds[s][k % args.folds])}
                                  for k in args.ft_seeds]
        # hand-made low-frequency and all-band features (what the auditory model adds)
        feats = {"1-8 Hz": band_power(test.X, test.sampling_rate, (1.0, 8.0)),
                 "all bands": np.concatenate([band_power(test.X, test.sampling_rate, b) for b in
                                              HAND_BANDS], axis=1)}
        for name, F in feats.items():
            results.setdefault("hand_features", {}).setdefault(name, []).extend(
                {"subject": s, "seed": k, "auroc": fold_probe(F, test.y, folds[s][k % args.folds])}
                for k in args.ft_seeds)
    def random_init(encoding):
        """Fine-tuning from random init (no pretraining: nothing frozen), once per encoding."""
        if encoding in results["random_init"]:
            return
        # random init does not depend on the pretraining recipe: built from the defaults
        rand = cache.fit(BaristaTransformer(encoding, random_state=seed, max_epochs=0,
                                            **arch_kw),
                         train.X, data=data, **meta_train).estimator
        results["frozen_random"][encoding] = probe(rand)
        results["random_init"][encoding] = ft_runs(f"random-{encoding}", rand)
        print(f"random init {encoding}: fine-tuned "
              f"{np.nanmean([r['auroc'] for r in results['random_init'][encoding]]):.3f} "
              f"[{time.perf_counter() - started:.0f}s]", flush=True)

    if args.baselines_only:
        for encoding in dict.fromkeys(c.split("+")[0] for c in args.cells):
            random_init(encoding)
    for cell in [] if args.baselines_only else args.cells:
        encoding, mask_scale = cell.split("+")
        est = BaristaTransformer(encoding, mask_scale, random_state=seed, **pre_kw)
        if args.cached_only and not cache._paths(
                cache.key(est, data, train.X, None, **meta_train), est)[0].exists():
            print(f"{cell}: no cached pretrained model, skipped (--cached-only)", flush=True)
            continue
        fit = cache.fit(est, train.X, data=data, record=lambda m: {
            "fit_time": m.fit_time_,
            "train_loss": [float(h["train_loss"]) for h in m.history_],
            "valid_loss": [float(h.get("valid_loss", np.nan)) for h in m.history_]},
            **meta_train)
        est = fit.estimator
        results["pretrain"][cell] = fit.record
        frozen = probe(est)
        results["frozen"][cell] = frozen
        results["finetuned"][cell] = ft_runs(cell, est)
        if cell == args.null_cell:
            def shifted(test, k):
                return circular_shift(test.y, test.session, np.random.default_rng(1000 + k))
            results["null"] = ft_runs(f"null-{cell}", est, shifted)
        random_init(encoding)
        print(f"{cell}: pretrain {fit.record['fit_time']:.0f}s loss "
              f"{fit.record['train_loss'][0]:.3f}->{fit.record['train_loss'][-1]:.3f}; fine-tuned "
              f"{np.nanmean([r['auroc'] for r in results['finetuned'][cell]]):.3f}, frozen "
              f"mean-pool {np.nanmean([r['mean-pool'] for r in frozen]):.3f}, token energy "
              f"{np.nanmean([r['token energy'] for r in frozen]):.3f} "
              f"[{time.perf_counter() - started:.0f}s]", flush=True)
    results["elapsed_seconds"] = time.perf_counter() - started
    results["channels"] = {s: len(t) for s, t in {**train.electrodes,
                                                  **{k: v for t in tests.values()
                                                     for k, v in t.electrodes.items()}}.items()}
    results["pretrain_steps"] = int(args.pretrain_epochs * np.ceil(
        0.9 * args.pretrain_segments * len(args.pretrain_subjects) / args.batch_size))
    return results


def _memo_exists(cache, name, config):
    """Whether ``cache.memo(name, config, ...)`` would be a hit (same key as the harness)."""
    import hashlib

    from benchmarks._harness import _canonical, code_version

    blob = json.dumps({"config": _canonical(config), "code": code_version()},
                      sort_keys=True).encode()
    return cache.enabled and (cache.root / f"{name}_{hashlib.sha1(blob).hexdigest()[:20]}.joblib"
                              ).exists()


def _paired(a, b, key="auroc"):
    """Per-(subject, seed) differences of ``key`` a - b (both lists of result dicts)."""
    idx = {(r["subject"], r["seed"]): r[key] for r in b}
    return [r[key] - idx[(r["subject"], r["seed"])] for r in a
            if (r["subject"], r["seed"]) in idx]


def write(results, args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results["finetuned"] = {c: v for c, v in results["finetuned"].items() if v}
    results["random_init"] = {e: v for e, v in results["random_init"].items() if v}
    results["frozen"] = {c: v for c, v in results["frozen"].items() if c in results["finetuned"]}
    ft = {c: summary([r["auroc"] for r in v]) for c, v in results["finetuned"].items()}
    def probe_summary(rows):
        return {k: summary([r[k] for r in rows]) for k in ("mean-pool", "token energy")}

    frozen = {c: probe_summary(v) for c, v in results["frozen"].items()}
    rand = {e: summary([r["auroc"] for r in v]) for e, v in results["random_init"].items()}
    frozen_rand = {e: probe_summary(v) for e, v in results.get("frozen_random", {}).items() if v}
    probe_gain = {c: summary(_paired(v, results["frozen_random"][c.split("+")[0]], "mean-pool"))
                  for c, v in results["frozen"].items() if c.split("+")[0] in frozen_rand}
    band = summary([r["auroc"] for r in results["band_power"]])
    hand = {k: summary([r["auroc"] for r in v])
            for k, v in results.get("hand_features", {}).items()}
    null = summary([r["auroc"] for r in results["null"]]) if results["null"] else None
    gain = {c: summary(_paired(results["finetuned"][c], results["random_init"][c.split("+")[0]]))
            for c in results["finetuned"] if c.split("+")[0] in results["random_init"]
            and _paired(results["finetuned"][c], results["random_init"][c.split("+")[0]])}
    by_enc = {}
    for e in SCALES:
        vals = [r for c, v in results["finetuned"].items() if c.startswith(e + "+") for r in v]
        if vals:
            by_enc[e] = summary([r["auroc"] for r in vals])
    contrast = {}
    for m in SCALES:
        p, ch = results["finetuned"].get(f"parcel+{m}"), results["finetuned"].get(f"channel+{m}")
        if p and ch:
            contrast[f"parcel+{m} - channel+{m}"] = summary(_paired(p, ch))
    pooled = [d for m in SCALES if f"parcel+{m}" in results["finetuned"]
              and f"channel+{m}" in results["finetuned"]
              for d in _paired(results["finetuned"][f"parcel+{m}"],
                               results["finetuned"][f"channel+{m}"])]
    if pooled:
        contrast["parcel - channel (all masking scales)"] = summary(pooled)
    best = max(ft, key=lambda c: ft[c]["mean"]) if ft else None
    targets = {
        "best cell >= 0.85": (best, ft[best]["mean"] >= 0.85) if best else None,
        "pretrained >= random + 0.05 in every encoding": {
            e: float(np.mean([gain[c]["mean"] for c in gain if c.startswith(e + "+")]))
            for e in SCALES if any(c.startswith(e + "+") for c in gain)},
    }
    payload = {"config": {k: (str(v) if k == "out" else v) for k, v in vars(args).items()},
               "finetuned_auroc": ft, "frozen_probe_auroc": frozen, "random_init_auroc": rand,
               "frozen_probe_random_init_auroc": frozen_rand,
               "frozen_probe_pretrained_minus_random": probe_gain,
               "pretrained_minus_random": gain, "by_encoding": by_enc,
               "parcel_minus_channel": contrast, "band_power_auroc": band, "hand_features_auroc": hand, "null_auroc": null,
               "targets": targets, "reference_auc": REFERENCE, "raw": results}

    fig, ax = plt.subplots(figsize=(5.4, 4.4))
    mean = np.full((3, 3), np.nan)
    for i, e in enumerate(SCALES):
        for j, m in enumerate(SCALES):
            g = ft.get(f"{e}+{m}")
            if g:
                mean[i, j] = g["mean"]
                ax.text(j, i, f"{g['mean']:.3f}\n±{g['sem']:.3f}", ha="center", va="center",
                        color="white" if g["mean"] < 0.8 else "black", fontsize=9)
    im = ax.imshow(mean, cmap="viridis", vmin=0.5, vmax=1.0)
    ax.set_xticks(range(3), SCALES)
    ax.set_yticks(range(3), SCALES)
    ax.set_xlabel("masking scale")
    ax.set_ylabel("spatial encoding")
    rmean = np.mean([r["mean"] for r in rand.values()]) if rand else float("nan")
    ax.set_title(f"Fine-tuned, held-out subjects (mean ± s.e.m.)\nrandom init {rmean:.3f}, "
                 f"HG band power {band['mean']:.3f}", fontsize=10)
    fig.colorbar(im, ax=ax, label="test ROC-AUC")
    fig.tight_layout()

    def cell_text(g):
        return f"{g['mean']:.3f} ± {g['sem']:.3f}" if g else "—"

    n = len(args.heldout_subjects) * len(args.ft_seeds)
    lines = [
        "# BaRISTA spatial-scale grid on the simulated cohort (reference fine-tuning protocol)",
        "",
        f"Generated by `python -m benchmarks.barista` in {results['elapsed_seconds'] / 60:.1f} min"
        f" (1 torch thread, 2 shared cores). Pretrain on sub-{args.pretrain_subjects} "
        f"({args.pretrain_segments} segments each, {args.max_channels} contacts, effect_size "
        f"{args.effect_size:g}, response_model {args.response_model!r}), pretraining seed {args.pretrain_seed}, {args.pretrain_epochs} "
        f"epochs = {results['pretrain_steps']} steps of batch {args.batch_size} (lr {args.lr:g}, "
        f"EMA {args.ema_momentum:g} {args.ema_schedule}, mask ratio {args.mask_ratio:g}, "
        f"normalized targets {args.normalize_targets}). Fine-tune on held-out "
        f"sub-{args.heldout_subjects} ({args.heldout_segments} segments each; per fold "
        f"{_block_sizes(args)}): frozen {args.tokenizer!r} tokenizer,"
        f" {args.readout!r} readout{' + batch-norm' if args.head_norm else ''} head"
        f"{' started at the frozen logistic-regression probe (LP-FT)' if args.head_init == 'probe' else ''}, "
        f"{args.finetune_epochs} epochs, batch {args.finetune_batch_size}, "
        "best validation ROC-AUC epoch kept, reference chronological folds (seed k on fold k). "
        f"Test ROC-AUC, mean ± s.e.m. over {n} runs ({len(args.heldout_subjects)} subjects x "
        f"{len(args.ft_seeds)} seeds).",
        "",
        "## Fine-tuned (main readout)",
        "",
        "| encoding \\ masking | " + " | ".join(SCALES) + " | random init (fine-tuned) |",
        "|---|---|---|---|---|",
    ]
    for e in SCALES:
        lines.append(f"| **{e}** | " + " | ".join(cell_text(ft.get(f"{e}+{m}")) for m in SCALES)
                     + f" | {cell_text(rand.get(e))} |")
    lines += ["", "## Frozen probe of the same encoders (logistic regression, same folds)", "",
              "| cell | mean-pool | per-channel token energy | fine-tuned - random init "
              "(paired, 95 % CI) |", "|---|---|---|---|"]
    for c in ft:
        g = gain.get(c)
        gtxt = (f"{g['mean']:+.3f} [{g['ci95'][0]:+.3f}, {g['ci95'][1]:+.3f}]" if g else "—")
        lines.append(f"| {c} | {cell_text(frozen[c]['mean-pool'])} | "
                     f"{cell_text(frozen[c]['token energy'])} | {gtxt} |")
    for e, g in frozen_rand.items():
        lines.append(f"| random init, {e} encoding | {cell_text(g['mean-pool'])} | "
                     f"{cell_text(g['token energy'])} | — |")
    if probe_gain:
        lines += ["", "Frozen mean-pool probe, pretrained − random init (paired, 95 % CI): "
                  + "; ".join(f"{c} {g['mean']:+.3f} [{g['ci95'][0]:+.3f}, {g['ci95'][1]:+.3f}]"
                              for c, g in probe_gain.items()) + "."]
    lines += ["", "## Baselines and controls", "", "| | ROC-AUC mean ± s.e.m. |", "|---|---|",
              f"| per-channel log 70-150 Hz power + logistic regression | {cell_text(band)} |"]
    for k, g in hand.items():
        lines.append(f"| per-channel log power, {k} + logistic regression | {cell_text(g)} |")
    if null:
        lines.append(f"| null control: {args.null_cell} fine-tuned on circularly shifted labels "
                     f"| {cell_text(null)} |")
    lines += ["", "## Parcel vs channel encoding (paired over subjects x seeds, 95 % t-interval)",
              "", "| contrast | mean | 95 % CI |", "|---|---|---|"]
    for k, g in contrast.items():
        lines.append(f"| {k} | {g['mean']:+.3f} | [{g['ci95'][0]:+.3f}, {g['ci95'][1]:+.3f}] |")
    lines += ["", "## Targets", ""]
    if best:
        lines.append(f"* best fine-tuned cell >= 0.85: **{'met' if ft[best]['mean'] >= 0.85 else 'not met'}**"
                     f" ({best}: {ft[best]['mean']:.3f}; band power {band['mean']:.3f}).")
    for e, v in targets["pretrained >= random + 0.05 in every encoding"].items():
        lines.append(f"* pretrained - random init, {e} encoding (mean over masking scales): "
                     f"{v:+.3f} ({'met' if v >= 0.05 else 'not met'}).")
    for k, g in contrast.items():
        lines.append(f"* {k}: {g['mean']:+.3f}, 95 % CI [{g['ci95'][0]:+.3f}, "
                     f"{g['ci95'][1]:+.3f}] (n = {g['n']}).")
    if not contrast:
        lines.append("* parcel - channel difference: not measured (needs both encodings).")
    pretrain_s = [r["fit_time"] for r in results["pretrain"].values()]
    lines += ["", f"Pretraining: {np.mean(pretrain_s):.0f} s per cell; fine-tuning: "
              f"{np.mean(results['finetune_seconds']):.1f} s per run "
              f"({len(results['finetune_seconds'])} runs, cached ones counted at their first "
              "run). Masked-latent loss (train, first -> last epoch): " + ", ".join(
                  f"{c} {r['train_loss'][0]:.3f}->{r['train_loss'][-1]:.3f}"
                  for c, r in results["pretrain"].items()) + ".",
              "", "Reference (Brain Treebank sentence onset, paper-secondhand): parcel+channel "
              "0.862, parcel+parcel 0.854, parcel+lobe 0.845, channel+channel 0.778, random init "
              "0.611, held-out subject 0.841; a 12-layer model, 29 h of data, ~19,500 steps."]
    write_results(results_name(args), payload, lines, quick=args.quick, out=args.out, figure=fig)
    return payload


def results_name(args):
    """``barista`` for the reference's CNN tokenizer and head; ``_<tokenizer>[<N>bands]`` and
    ``_head_<readout>[_norm]`` are appended for the others."""
    name = "barista" if args.tokenizer == "cnn" else f"barista_{args.tokenizer}"
    if args.tokenizer == "spectral" and args.spectral_bands:
        name += f"{args.spectral_bands}bands"
    if args.readout != "token_weights" or args.head_norm:
        name += f"_head_{args.readout}" + ("_norm" if args.head_norm else "")
    if args.head_init != "random":
        name += f"_init{args.head_init}"
    return name


def _block_sizes(args):
    """'train T, validation V, test N segments' of the reference folds for these arguments."""
    y = np.zeros(args.heldout_segments, dtype=int)
    y[::2] = 1
    train, valid, test = reference_folds(y, np.zeros(len(y)), args.folds,
                                         args.finetune_train_segments)[0]
    return f"train {len(train)}, validation {len(valid)}, test {len(test)} segments"


def main(argv=None):
    parser = make_parser(__doc__, seeds=(0,), quick_help="2 cells, tiny cohort, 1 epoch")
    parser.add_argument("--pretrain-subjects", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--heldout-subjects", type=int, nargs="+", default=[5, 6])
    parser.add_argument("--pretrain-segments", type=int, default=120)
    parser.add_argument("--heldout-segments", type=int, default=600,
                        help="segments per held-out subject: 600 gives 60-segment test and "
                        "validation blocks per fold (160 gave 16: single-fold AUROC +-0.15)")
    parser.add_argument("--finetune-train-segments", type=int, default=160,
                        help="at most this many training segments per fold, evenly spaced "
                        "(keeps fine-tuning cost fixed as --heldout-segments grows; 0 = all)")
    parser.add_argument("--response-model", default="auditory",
                        choices=["auditory", "high_gamma"],
                        help="the cohort's response model (high_gamma: the earlier one)")
    parser.add_argument("--max-channels", type=int, default=24)
    parser.add_argument("--effect-size", type=float, default=2.0,
                        help="simulator's high-gamma response (1 = background power)")
    parser.add_argument("--tokenizer", default="cnn", choices=["cnn", "spectral"],
                        help="cnn: the reference's dilated CNN; spectral: per-patch log "
                        "spectrum + linear (results go to barista_spectral.*)")
    parser.add_argument("--spectral-bands", type=int, default=None,
                        help="spectral tokenizer: average power over this many log-spaced bands "
                        "(results go to barista_spectral<N>bands.*)")
    parser.add_argument("--pretrain-epochs", type=int, default=30)
    parser.add_argument("--pretrain-seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--ema-momentum", type=float, default=0.996)
    parser.add_argument("--ema-schedule", default="constant")
    parser.add_argument("--mask-ratio", type=float, default=0.3)
    parser.add_argument("--normalize-targets", action="store_true")
    parser.add_argument("--finetune-epochs", type=int, default=30)
    parser.add_argument("--finetune-batch-size", type=int, default=8,
                        help="8: 16 steps per epoch on 128 training segments, 480 in 30 epochs "
                        "(the reference: batch 128 on ~2,000 segments, about as many steps)")
    parser.add_argument("--readout", default="token_weights",
                        choices=["token_weights", "mean", "attention"],
                        help="fine-tuning readout (token_weights: the reference head)")
    parser.add_argument("--head-norm", action="store_true",
                        help="BatchNorm (no affine) on the pooled embedding before the classifier")
    parser.add_argument("--head-init", default="random", choices=["random", "probe"],
                        help="probe: the classifier starts at the logistic regression on the "
                        "frozen pooled embedding (LP-FT; results go to ..._initprobe.*)")
    parser.add_argument("--ft-seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=CELLS)
    parser.add_argument("--null-cell", default="parcel+channel")
    parser.add_argument("--cached-only", action="store_true",
                        help="write the results of what is cached, run nothing new (a partial "
                        "grid; a later run without it completes and resumes)")
    parser.add_argument("--baselines-only", action="store_true",
                        help="only the random-init fine-tuning and band-power baselines (they do "
                        "not depend on the pretraining recipe; cached for the full run)")
    args = parse_args(parser, argv)
    if not args.finetune_train_segments:
        args.finetune_train_segments = None
    if args.quick:
        args.pretrain_segments, args.heldout_segments, args.max_channels = 16, 60, 8
        args.pretrain_epochs, args.finetune_epochs = 1, 2
        args.ft_seeds, args.heldout_subjects = [0, 1], [5]
        args.cells = ["channel+channel", "parcel+channel"]
    cache = ModelCache(enabled=not (args.quick or args.no_cache))
    payload = write(run(args, cache), args)
    print(json.dumps({k: payload[k] for k in ("by_encoding", "parcel_minus_channel", "targets")},
                     indent=1, default=str))


if __name__ == "__main__":
    main()
