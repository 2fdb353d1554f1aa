"""Does BaRISTA pretraining learn on the simulated cohort, and can the cohort show it? (issue 13)

Two parts.

1. **Model-free statistics of the cohort** (``make_ieeg_cohort``, no model): where the task
   information sits (AUROC of per-channel log band power, six bands, responsive vs other
   contacts), how much of a z-scored responsive contact's variance the task band holds, which
   cross-channel structure a masked-latent objective can predict (waveform correlation of
   contact pairs in the same parcel / different parcels; 70-150 Hz waveform vs 70-150 Hz
   envelope among responsive contacts), and whether parcels look alike across subjects
   (correlation of the 2-40 Hz log spectra of same-parcel vs different-parcel contacts of two
   subjects).

2. **Learning curves**: ``BaristaTransformer`` pretrained on subjects 1-4, with a callback that
   every ``--probe-every`` epochs records the training and held-out masked-latent loss, the
   frozen-probe ROC-AUC on held-out subject 5 (chronological folds; readouts: mean-pool =
   ``transform``, per-channel token energy, channel-pooled tokens) and collapse diagnostics
   (variance and effective rank of the target tokenizer's tokens and of the contextual
   tokens). One base configuration (the reference's: lr 1e-3, EMA 0.996, mask ratio 0.3) and
   one-at-a-time changes of the learning rate, the EMA schedule, the mask ratio and target
   normalisation.

Run ``python -m benchmarks.barista_diagnostics`` (about 20 min on one shared core;
``--quick``: about a minute, ``barista_diagnostics_quick.*``). Models are cached
(``benchmarks/_harness.ModelCache``) with their curves, so an interrupted run resumes. Writes
``benchmarks/results/barista_diagnostics.{json,md,png}``.
"""

from __future__ import annotations

import copy
import json
import time

import numpy as np
from skorch.callbacks import Callback

from benchmarks._harness import ModelCache, make_parser, parse_args, write_results
from skdistill.evaluation import probe_auc

BANDS = {"1-4": (1, 4), "4-8": (4, 8), "8-13": (8, 13), "13-30": (13, 30), "30-70": (30, 70),
         "70-150": (70, 150)}
READOUTS = ("mean-pool", "token energy", "channel-pooled")

#: configurations of the sweep: the base (reference values) and one change at a time
CONFIGS = {
    "base (lr 1e-3, EMA 0.996, mask 0.3)": {},
    "lr 3e-4": {"lr": 3e-4},
    "lr 3e-3": {"lr": 3e-3},
    "EMA 0.99": {"ema_momentum": 0.99},
    "EMA 0.996 -> 1 (cosine)": {"ema_schedule": "cosine"},
    "mask 0.5": {"mask_ratio": 0.5},
    "normalized targets": {"normalize_targets": True},
}


def summary(values):
    """Mean, sd (ddof 1), s.e.m., median and the values."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    sd = float(values.std(ddof=1)) if n > 1 else 0.0
    return {"mean": float(values.mean()), "sd": sd, "sem": sd / np.sqrt(n) if n else 0.0,
            "median": float(np.median(values)), "values": [float(v) for v in values]}


def band_power(X, sampling_rate, band=(70.0, 150.0)):
    """Per-channel log power in ``band`` (Welch), padding channels dropped: (n, n_channels)."""
    from scipy.signal import welch

    present = ~np.isnan(X).all(axis=(0, 2))
    freqs, psd = welch(X[:, present], fs=sampling_rate, nperseg=min(256, X.shape[2]), axis=-1)
    keep = (freqs >= band[0]) & (freqs <= band[1])
    return np.log(psd[..., keep].mean(axis=-1))


# --------------------------------------------------------------------------- part 1


def _bandpass(X, fs, band):
    from scipy.signal import butter, sosfiltfilt

    sos = butter(4, band, btype="band", fs=fs, output="sos")
    return sosfiltfilt(sos, X, axis=-1)


def _pair_corr(x, pairs):
    """Mean over segments of the correlation of channel pairs (x: n, C, T, per-seg z-scored)."""
    if not pairs:
        return float("nan")
    z = (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True)
    return float(np.mean([np.mean((z[:, i] * z[:, j]).mean(-1)) for i, j in pairs]))


def cohort_statistics(seed, n_segments, cohort_kw):
    """Model-free statistics of the generative model (see the module docstring)."""
    from scipy.signal import welch

    from skdistill.datasets import make_ieeg_cohort

    c = make_ieeg_cohort(subjects=[1, 2, 3, 4, 5], n_segments=n_segments, random_state=seed,
                         **cohort_kw)
    fs = c.sampling_rate
    out = {"band_auc_responsive": {}, "band_auc_other": {}}
    # (a) where the label is: log band power per channel, responsive vs other contacts
    for name, band in BANDS.items():
        resp, other = [], []
        for s, table in c.electrodes.items():
            rows = c.session == s
            X = c.X[rows][:, : len(table)]
            w = table["response_weight"].to_numpy()
            feats = band_power(X, fs, band)
            for mask, dest in ((w > 0.3, resp), (w == 0, other)):
                if mask.sum():
                    dest.append(probe_auc(feats[:, mask], c.y[rows], c.session[rows], n_splits=5))
        out["band_auc_responsive"][name] = float(np.mean(resp)) if resp else float("nan")
        out["band_auc_other"][name] = float(np.mean(other))
    # (b) variance share of 70-150 Hz at responsive contacts after the per-segment z-score
    shares = {0: [], 1: []}
    corr = {"same parcel": [], "other parcel, same subject": [], "HG waveform, responsive": [],
            "HG envelope, responsive": []}
    for s, table in c.electrodes.items():
        rows = c.session == s
        X = c.X[rows][:, : len(table)].astype(np.float64)
        X = (X - X.mean(-1, keepdims=True)) / X.std(-1, keepdims=True)
        w = table["response_weight"].to_numpy()
        freqs, psd = welch(X, fs=fs, nperseg=256, axis=-1)
        hg = (freqs >= 70) & (freqs <= 150)
        share = psd[..., hg].sum(-1) / psd.sum(-1)  # (n, C)
        if (w > 0.3).any():
            for label in (0, 1):
                shares[label].append(float(share[c.y[rows] == label][:, w > 0.3].mean()))
        parcels = table["parcel"].to_numpy()
        shafts = table["shaft"].to_numpy()
        # pairs on different shafts (shaft noise is shared along a shaft, not by region)
        n = len(table)
        rng = np.random.default_rng(0)

        def cap(pairs, k=300):
            return [pairs[i] for i in rng.permutation(len(pairs))[:k]]

        same = cap([(i, j) for i in range(n) for j in range(i + 1, n)
                    if parcels[i] == parcels[j] != "unknown" and shafts[i] != shafts[j]])
        diff = cap([(i, j) for i in range(n) for j in range(i + 1, n)
                    if parcels[i] != parcels[j] and shafts[i] != shafts[j]])
        low = _bandpass(X, fs, (1, 40))
        corr["same parcel"].append(_pair_corr(low, same))
        corr["other parcel, same subject"].append(_pair_corr(low, diff))
        resp = np.flatnonzero(w > 0.3)
        rpairs = cap([(i, j) for a, i in enumerate(resp) for j in resp[a + 1:]
                      if shafts[i] != shafts[j]])
        if rpairs:
            from scipy.signal import hilbert

            hgx = _bandpass(X, fs, (70, 150))
            env = np.abs(hilbert(hgx, axis=-1))
            speech = c.y[rows] == 1
            corr["HG waveform, responsive"].append(_pair_corr(hgx[speech], rpairs))
            corr["HG envelope, responsive"].append(_pair_corr(env[speech], rpairs))
    out["hg_variance_share_responsive"] = {"non-speech": float(np.mean(shares[0])),
                                           "speech": float(np.mean(shares[1]))}
    out["pair_correlation"] = {k: float(np.nanmean(v)) for k, v in corr.items()}
    # (c) do parcels look alike across subjects? log spectra 2-40 Hz of sub-1 vs sub-2 contacts
    specs = {}
    for s in ("sub-1", "sub-2"):
        table = c.electrodes[s]
        X = c.X[c.session == s][:, : len(table)]
        freqs, psd = welch(X, fs=fs, nperseg=256, axis=-1)
        band = (freqs >= 2) & (freqs <= 40)
        logp = np.log(psd[..., band].mean(axis=0))
        logp = logp - logp.mean(axis=1, keepdims=True)
        specs[s] = (table["parcel"].to_numpy(), logp)
    (pa, la), (pb, lb) = specs["sub-1"], specs["sub-2"]
    r = np.corrcoef(la, lb)[: len(la), len(la):]
    same = pa[:, None] == pb[None, :]
    known = (pa[:, None] != "unknown") & (pb[None, :] != "unknown")
    out["cross_subject_spectrum_corr"] = {
        "same parcel": float(r[same & known].mean()) if (same & known).any() else float("nan"),
        "different parcel": float(r[~same & known].mean()),
        "n same-parcel pairs": int((same & known).sum()),
    }
    out["shared_parcels_sub1_sub2"] = sorted(set(pa) & set(pb) - {"unknown"})
    return out


def _onset_average(X, onsets, keep, fs, before=0.1, after=0.5):
    """Onset-locked average (n_channels, n_lags) over the segments ``keep`` with an onset."""
    lo, hi = int(round(before * fs)), int(round(after * fs))
    epochs = [X[k, :, int(round(o * fs)) - lo: int(round(o * fs)) + hi]
              for k, o in enumerate(onsets) if keep[k] and int(round(o * fs)) >= lo
              and int(round(o * fs)) + hi <= X.shape[-1]]
    return np.mean(epochs, axis=0), len(epochs)


def auditory_statistics(seed, n_segments, cohort_kw, subjects=(1, 2, 3, 4, 5)):
    """Model-free statistics of ``response_model="auditory"`` against ``"high_gamma"``.

    Same seed for both models: their difference is the low-frequency auditory part exactly
    (the streams of every other component are shared). Returns a dict (see ``write_cohort``).
    """
    from scipy.signal import welch

    from skdistill.datasets import make_ieeg_cohort

    kw = dict(subjects=list(subjects), n_segments=n_segments, random_state=seed, **cohort_kw)
    aud = make_ieeg_cohort(**kw)
    old = make_ieeg_cohort(response_model="high_gamma", **kw)
    fs = aud.sampling_rate
    out = {"band_auc_single_channel": {}, "band_auc_null": {}}
    null = make_ieeg_cohort(task=None, **kw)
    groups = {"responsive (response_weight > 0.3)": lambda t: t["response_weight"] > 0.3,
              "low-frequency only (evoked_weight > 0.3, response_weight <= 0.3)":
                  lambda t: (t["evoked_weight"] > 0.3) & (t["response_weight"] <= 0.3),
              "other (evoked_weight 0)": lambda t: t["evoked_weight"] == 0}
    for model, c in (("auditory", aud), ("high_gamma", old), ("auditory, task=None", null)):
        table_out = out["band_auc_single_channel"].setdefault(model, {})
        for gname, pick in groups.items():
            row = {}
            for name, band in BANDS.items():
                vals = []
                for sess, table in aud.electrodes.items():
                    rows = c.session == sess
                    idx = np.flatnonzero(pick(table).to_numpy())
                    if not len(idx):
                        continue
                    feats = band_power(c.X[rows][:, : len(table)], fs, band)
                    # single channels (at most 12 per session, evenly spread)
                    for i in idx[np.linspace(0, len(idx) - 1, min(12, len(idx))).astype(int)]:
                        vals.append(probe_auc(feats[:, [i]], c.y[rows], c.session[rows],
                                              n_splits=5))
                row[name] = float(np.mean(vals)) if vals else float("nan")
            table_out[gname] = row
    # share of variance of the low-frequency part, and its single-trial size
    share = {"speech": [], "other": []}
    peak = []
    corr = {"speech": [], "none": []}
    for sess, table in aud.electrodes.items():
        rows = aud.session == sess
        n = len(table)
        X = aud.X[rows][:, :n].astype(np.float64)
        lf = X - old.X[rows][:, :n]
        sound = aud.sound[rows]
        onset = aud.sound_onset[rows]
        w = table["response_weight"].to_numpy()
        resp = np.flatnonzero(w > 0.3)
        if not len(resp):
            continue
        for kind in share:
            k = sound == kind
            if k.any():
                share[kind].append(float(lf[k][:, resp].var(axis=-1).mean()
                                         / X[k][:, resp].var(axis=-1).mean()))
        sd = X[sound == "none"][:, resp].std(axis=-1).mean(axis=0)  # contact sd, silence
        lo = int(0.5 * fs)
        for k in np.flatnonzero(sound == "speech"):
            o = int(round(onset[k] * fs))
            peak.append(float(np.median(np.abs(lf[k, resp, o:o + lo]).max(axis=-1) / sd)))
        shafts = table["shaft"].to_numpy()
        pairs = [(i, j) for a, i in enumerate(resp) for j in resp[a + 1:] if shafts[i] != shafts[j]]
        if pairs:
            low = _bandpass(X, fs, (1, 8))
            for kind in corr:
                corr[kind].append(_pair_corr(low[sound == kind], pairs[:300]))
    out["lf_variance_share_responsive"] = {k: float(np.mean(v)) for k, v in share.items()}
    out["onset_peak_over_sd"] = float(np.median(peak))
    out["lf_pair_correlation_responsive"] = {k: float(np.nanmean(v)) for k, v in corr.items()}
    # cross-subject: speech-onset-locked averages (1-20 Hz) of the full signal, sub-1 vs sub-2
    avgs = {}
    for sess in ("sub-1", "sub-2"):
        table = aud.electrodes[sess]
        rows = aud.session == sess
        X = _bandpass(aud.X[rows][:, : len(table)].astype(np.float64), fs, (1, 20))
        avg, n_ep = _onset_average(X, aud.sound_onset[rows], aud.sound[rows] == "speech", fs)
        keep = table["evoked_weight"].to_numpy() > 0.3
        avgs[sess] = (table["parcel"].to_numpy()[keep], avg[keep], n_ep)
    (pa, ea, na), (pb, eb, nb) = avgs["sub-1"], avgs["sub-2"]
    r = np.array([[np.corrcoef(x, y)[0, 1] for y in eb] for x in ea])
    same = pa[:, None] == pb[None, :]
    out["cross_subject_evoked_corr"] = {
        "same parcel": float(r[same].mean()) if same.any() else float("nan"),
        "different parcel": float(r[~same].mean()) if (~same).any() else float("nan"),
        "n same-parcel pairs": int(same.sum()), "n different-parcel pairs": int((~same).sum()),
        "speech onsets averaged": [int(na), int(nb)]}
    out["n_segments"], out["seed"], out["subjects"] = n_segments, seed, list(subjects)
    return out


def write_cohort(stats, elapsed, args):
    """``barista_cohort.{json,md}``: the model-free table of the auditory response model."""
    lines = [
        "# The simulated cohort's response models, model-free (issue 13)",
        "",
        f"Generated by `python -m benchmarks.barista_diagnostics --cohort-only` in "
        f"{elapsed / 60:.1f} min: subjects {stats['subjects']}, every contact, "
        f"{stats['n_segments']} segments each, seed {stats['seed']}, effect_size "
        f"{args.effect_size:g}. No model is trained; both models from the same seed (their "
        "difference is exactly the low-frequency auditory part).",
        "",
        "## Single-channel AUROC of log band power (Welch; 5 chronological folds; mean over up "
        "to 12 contacts per session and group)",
        "",
        "| model | contacts | " + " | ".join(BANDS) + " |",
        "|---|---|" + "---|" * len(BANDS),
    ]
    for model, groups in stats["band_auc_single_channel"].items():
        for g, row in groups.items():
            lines.append(f"| {model} | {g} | " + " | ".join(f"{row[b]:.3f}" for b in BANDS)
                         + " |")
    sh, cc, xs = (stats["lf_variance_share_responsive"], stats["lf_pair_correlation_responsive"],
                  stats["cross_subject_evoked_corr"])
    lines += [
        "",
        "## Size and sharing of the low-frequency part (responsive contacts)",
        "",
        "| statistic | value |",
        "|---|---|",
        f"| share of a responsive contact's variance in the low-frequency auditory part, speech "
        f"segments | {sh['speech']:.3f} |",
        f"| same, segments with a non-speech sound | {sh['other']:.3f} |",
        f"| single-trial peak of the onset potential (0-0.5 s after onset) / contact sd in "
        f"silence, median | {stats['onset_peak_over_sd']:.2f} |",
        f"| 1-8 Hz waveform correlation, responsive contacts on different shafts, speech | "
        f"{cc['speech']:.3f} |",
        f"| same, silent segments | {cc['none']:.3f} |",
        f"| speech-onset-locked average (1-20 Hz), sub-1 vs sub-2 contacts with evoked_weight > "
        f"0.3: correlation, same parcel ({xs['n same-parcel pairs']} pairs) | "
        f"{xs['same parcel']:.3f} |",
        f"| same, different parcels ({xs['n different-parcel pairs']} pairs) | "
        f"{xs['different parcel']:.3f} |",
        "",
    ]
    payload = {"config": {k: str(v) for k, v in vars(args).items()}, "statistics": stats,
               "elapsed_seconds": elapsed}
    write_results("barista_cohort", payload, lines, quick=args.quick, out=args.out)


# --------------------------------------------------------------------------- part 2


def effective_rank(Z):
    """exp(entropy) of the normalised singular values of the centred rows of ``Z``."""
    Z = Z - Z.mean(axis=0)
    s = np.linalg.svd(Z, compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def readouts(est, X, meta):
    """Frozen-probe features of the contextual tokens and the collapse diagnostics."""
    from skdistill.estimators._common import predict_batches

    tokens = est.transform_tokens(X, **meta)
    present = ~np.isnan(tokens).all(axis=(0, 1, 3))
    tokens = tokens[:, :, present]  # (n, patches, channels, d)
    feats = {"mean-pool": tokens.mean(axis=(1, 2)),
             "token energy": np.log((tokens ** 2).mean(axis=(1, 3))),
             "channel-pooled": tokens.mean(axis=1).reshape(len(X), -1)}
    inputs = est._forward_inputs(X, meta["session"], meta["electrodes"])
    raw = predict_batches(est.module_.target_tokenizer,
                          {"x": inputs.arrays["x"], "channel_mask": inputs.arrays["channel_mask"]},
                          64, est.device_)
    raw = raw[:, :, inputs.arrays["channel_mask"][0]].reshape(-1, raw.shape[-1])
    ctx = tokens.reshape(-1, tokens.shape[-1])
    rng = np.random.default_rng(0)
    pick = rng.choice(len(raw), size=min(4000, len(raw)), replace=False)
    diag = {"target token variance": float(raw.var(axis=0).mean()),
            "target token effective rank": effective_rank(raw[pick]),
            "context token variance": float(ctx.var(axis=0).mean()),
            "context token effective rank": effective_rank(ctx[pick])}
    return feats, diag


class ProbeCurve(Callback):
    """skorch callback: every ``every`` epochs, probe held-out segments and record diagnostics.

    It keeps a reference to the estimator (deep copies return the same object: it observes).
    """

    def __init__(self, estimator, X, y, meta, every, folds):
        self.estimator, self.X, self.y, self.meta = estimator, X, y, meta
        self.every, self.folds = every, folds
        self.rows = []

    def __deepcopy__(self, memo):
        return self

    def on_train_begin(self, net, X=None, **kwargs):
        self.per_epoch = int(np.ceil(len(X) / net.batch_size))
        self.record(net, 0)

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if epoch % self.every == 0 or epoch == net.max_epochs:
            self.record(net, epoch)

    def record(self, net, epoch):
        feats, diag = readouts(self.estimator, self.X, self.meta)
        session = self.meta["session"]
        aucs = {k: probe_auc(F, self.y, session, n_splits=self.folds) for k, F in feats.items()}
        row = {"epoch": epoch, "steps": epoch * self.per_epoch, **aucs, **diag}
        if epoch:
            row["train_loss"] = float(net.history[-1]["train_loss"])
            row["valid_loss"] = float(net.history[-1].get("valid_loss", float("nan")))
        self.rows.append(row)
        print("   ", {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()},
              flush=True)



def _model_kw(args):
    """``response_model`` for make_ieeg_cohort."""
    return {"response_model": getattr(args, "response_model", "auditory")}


def cache_cohort_kw(cohort_kw):
    """The cohort arguments as a cache key: without ``response_model="high_gamma"`` (the only
    model before the option existed), so the earlier runs' cache entries stay reachable."""
    return {k: v for k, v in cohort_kw.items()
            if not (k == "response_model" and v == "high_gamma")}


def learning_curves(args, cache, seed, configs):
    from skdistill import BaristaTransformer
    from skdistill.datasets import make_ieeg_cohort

    cohort_kw = dict(max_channels=args.max_channels, effect_size=args.effect_size,
                     **_model_kw(args))
    train = make_ieeg_cohort(subjects=[1, 2, 3, 4], n_segments=args.pretrain_segments,
                             random_state=seed, **cohort_kw)
    test = make_ieeg_cohort(subjects=[5], n_segments=args.heldout_segments, random_state=seed,
                            **cohort_kw)
    # a str (not object) array: the model cache hashes array bytes, and object arrays hash as
    # pointers (a new key in every process; see the report of issue 13)
    meta_train = dict(session=np.asarray(train.session, dtype=str), electrodes=train.electrodes)
    meta_test = dict(session=test.session, electrodes=test.electrodes)
    data = {"cohort": cache_cohort_kw(cohort_kw), "subjects": [1, 2, 3, 4], "seed": seed,
            "n_segments": args.pretrain_segments, "probe": [args.heldout_segments,
                                                            args.probe_every, args.folds]}
    out = {"band_power": probe_auc(band_power(test.X, test.sampling_rate), test.y, test.session,
                                   n_splits=args.folds)}
    for name, change in configs.items():
        est = BaristaTransformer(args.encoding, args.mask_scale, random_state=seed,
                                 max_epochs=args.epochs, batch_size=args.batch_size,
                                 tokenizer=args.tokenizer, **change)
        curve = ProbeCurve(est, test.X, test.y, meta_test, args.probe_every, args.folds)
        est.set_params(callbacks=[curve])
        print(f"seed {seed} {name}", flush=True)
        fit = cache.fit(est, train.X, data=data, record=lambda m, c=curve: {
            "curve": c.rows, "fit_time": m.fit_time_,
            "history": [{k: h[k] for k in ("train_loss", "valid_loss") if k in h}
                        for h in m.history_]}, **meta_train)
        out[name] = fit.record
        print(f"  fit {fit.record['fit_time']:.0f} s (cache hit: {fit.hit})", flush=True)
    return out


# --------------------------------------------------------------------------- output


def write(stats, runs, elapsed, args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seeds = list(runs)
    configs = [k for k in runs[seeds[0]] if k != "band_power"]
    band = summary([runs[s]["band_power"] for s in seeds])
    lines = [
        "# BaRISTA diagnostics: can the cohort show it, and does pretraining learn?",
        "",
        f"Generated by `python -m benchmarks.barista_diagnostics` in {elapsed / 60:.1f} min "
        f"(seeds {seeds}; {args.max_channels} contacts per subject, effect_size "
        f"{args.effect_size:g}; tokenizer {args.tokenizer!r}).",
        "",
        "## 1. The cohort, model-free",
        "",
        f"Subjects 1-5, every contact, {args.stats_segments} segments each, seed "
        f"{args.seeds[0]}. AUROC of "
        "per-channel log band power (Welch), 5 chronological folds, mean over subjects:",
        "",
        "| band (Hz) | " + " | ".join(BANDS) + " |",
        "|---|" + "---|" * len(BANDS),
        "| responsive contacts (weight > 0.3) | " + " | ".join(
            f"{stats['band_auc_responsive'][b]:.3f}" for b in BANDS) + " |",
        "| other contacts (weight 0) | " + " | ".join(
            f"{stats['band_auc_other'][b]:.3f}" for b in BANDS) + " |",
        "",
        "Share of a z-scored responsive contact's variance in 70-150 Hz: "
        f"{stats['hg_variance_share_responsive']['non-speech']:.4f} (non-speech) vs "
        f"{stats['hg_variance_share_responsive']['speech']:.4f} (speech).",
        "",
        "Cross-channel correlation (contacts on different shafts, per segment, mean):",
        "",
        "| pair | correlation |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v:.3f} |" for k, v in stats["pair_correlation"].items()]
    cs = stats["cross_subject_spectrum_corr"]
    lines += [
        "",
        f"Across subjects (sub-1 vs sub-2, {cs['n same-parcel pairs']} same-parcel contact "
        f"pairs, parcels {', '.join(stats['shared_parcels_sub1_sub2'][:6])}...): correlation "
        f"of 2-40 Hz log spectra {cs['same parcel']:.3f} for the same parcel vs "
        f"{cs['different parcel']:.3f} for different parcels.",
        "",
        "## 2. Pretraining learning curves",
        "",
        f"{args.encoding} encoding + {args.mask_scale} masking, default size (d 32, 2 layers), "
        f"batch {args.batch_size}, {args.epochs} epochs of {args.pretrain_segments} x 4 "
        f"segments (10 % of each session held out for `valid_loss`); frozen probe on held-out "
        f"sub-5 ({args.heldout_segments} segments, {args.folds} chronological folds). "
        f"Per-channel log 70-150 Hz power on the same folds: {band['mean']:.3f} ± {band['sd']:.3f}.",
        "",
        "The masked-latent loss is an MSE against targets whose scale the target tokenizer "
        "itself sets, so the table also gives it relative to the target tokens' variance "
        "(held-out loss / target variance = 1 - R² of the prediction, 1 = predicting the mean).",
        "",
        "| configuration | steps | train loss first -> last | valid loss first -> min -> last | "
        "valid loss / target variance first -> last | mean-pool AUROC init -> best -> last | "
        "token energy init -> best -> last | channel-pooled init -> last | target variance "
        "init -> last | target rank init -> last (of d) | fit s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    payload = {"config": {k: str(v) for k, v in vars(args).items()}, "cohort_statistics": stats,
               "runs": runs, "band_power_probe_auc": band, "elapsed_seconds": elapsed}
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    for name in configs:
        curves = [runs[s][name]["curve"] for s in seeds]
        hist = [runs[s][name]["history"] for s in seeds]
        steps = [r["steps"] for r in curves[0]]
        mean = {k: np.mean([[r.get(k, np.nan) for r in c] for c in curves], axis=0)
                for k in ("mean-pool", "token energy", "channel-pooled", "valid_loss",
                          "target token variance", "target token effective rank")}
        rel = mean["valid_loss"] / mean["target token variance"]
        tl = np.mean([[h["train_loss"] for h in hh] for hh in hist], axis=0)
        vl = np.mean([[h["valid_loss"] for h in hh] for hh in hist], axis=0)
        fit_s = np.mean([runs[s][name]["fit_time"] for s in seeds])
        mp, te, rk = mean["mean-pool"], mean["token energy"], mean["target token effective rank"]
        lines.append(
            f"| {name} | {steps[-1]} | {tl[0]:.3f} -> {tl[-1]:.3f} | {vl[0]:.3f} -> {vl.min():.3f}"
            f" -> {vl[-1]:.3f} | {rel[1]:.3f} -> {rel[-1]:.3f} | {mp[0]:.3f} -> "
            f"{mp[1:].max():.3f} -> {mp[-1]:.3f} | {te[0]:.3f} -> {te[1:].max():.3f} -> "
            f"{te[-1]:.3f} | {mean['channel-pooled'][0]:.3f} -> {mean['channel-pooled'][-1]:.3f} | "
            f"{mean['target token variance'][0]:.2f} -> {mean['target token variance'][-1]:.2f} | "
            f"{rk[0]:.1f} -> {rk[-1]:.1f} | {fit_s:.0f} |")
        axes[1].plot(steps[1:], rel[1:], marker="o", label=name)
        per_epoch = steps[1] / curves[0][1]["epoch"] if len(steps) > 1 else 1
        x_hist = np.arange(1, len(tl) + 1) * per_epoch
        axes[0].plot(x_hist, tl, label=name)
        axes[2].plot(steps, te, marker="o", label=name)
        axes[3].plot(steps, rk, marker="o", label=name)
    axes[2].axhline(band["mean"], color="k", ls="--", lw=1, label="70-150 Hz power")
    for ax, title in zip(axes, ("train masked-latent loss", "held-out loss / target variance",
                                "probe AUROC (token energy)", "target-token effective rank")):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("optimizer steps")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    lines += ["", "Per-probe rows (every configuration and seed): `barista_diagnostics.json`, "
              "`runs.<seed>.<configuration>.curve`.", ""]
    name = "barista_diagnostics" if args.tokenizer == "cnn" else \
        f"barista_diagnostics_{args.tokenizer}"
    write_results(name, payload, lines, quick=args.quick, out=args.out,
                  figure=fig)


def main(argv=None):
    parser = make_parser(__doc__, seeds=(0,), quick_help="tiny cohort, 2 configurations, 2 epochs")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--probe-every", type=int, default=5)
    parser.add_argument("--encoding", default="parcel")
    parser.add_argument("--mask-scale", default="channel")
    parser.add_argument("--pretrain-segments", type=int, default=120)
    parser.add_argument("--heldout-segments", type=int, default=160)
    parser.add_argument("--stats-segments", type=int, default=60)
    parser.add_argument("--max-channels", type=int, default=24)
    parser.add_argument("--effect-size", type=float, default=2.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--response-model", default="auditory",
                        choices=["auditory", "high_gamma"],
                        help="the cohort's response model (high_gamma: the earlier one)")
    parser.add_argument("--cohort-only", action="store_true",
                        help="only the model-free statistics of the response models "
                        "(barista_cohort.{json,md}; about a minute)")
    parser.add_argument("--cohort-segments", type=int, default=120)
    parser.add_argument("--tokenizer", default="cnn", choices=["cnn", "spectral"],
                        help="BaRISTA tokenizer (spectral: results go to "
                        "barista_diagnostics_spectral.*)")
    parser.add_argument("--configs", nargs="+", default=None,
                        help="subset of the sweep (names as in CONFIGS)")
    args = parse_args(parser, argv)
    configs = CONFIGS if args.configs is None else {k: CONFIGS[k] for k in args.configs}
    if args.quick:
        args.epochs, args.probe_every, args.pretrain_segments = 2, 1, 16
        args.heldout_segments, args.stats_segments, args.max_channels = 40, 40, 8
        configs = dict(list(CONFIGS.items())[:2])
    cache = ModelCache(enabled=not (args.quick or args.no_cache))
    started = time.perf_counter()
    if args.cohort_only:
        stats = auditory_statistics(args.seeds[0], 40 if args.quick else args.cohort_segments,
                                    dict(max_channels=args.max_channels if args.quick else None,
                                         effect_size=args.effect_size))
        print(json.dumps(stats, indent=1), flush=True)
        write_cohort(stats, time.perf_counter() - started, args)
        return
    stats = cohort_statistics(args.seeds[0], args.stats_segments,
                              dict(max_channels=None if not args.quick else args.max_channels,
                                   effect_size=args.effect_size, **_model_kw(args)))
    print(stats, flush=True)
    runs = {seed: learning_curves(args, cache, seed, configs) for seed in args.seeds}
    write(stats, runs, time.perf_counter() - started, args)


if __name__ == "__main__":
    main()
