"""Decoding scores: per-bin R² (overall and per session), bits per spike, ROC-AUC scorers."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import make_scorer, r2_score, roc_auc_score

from skdistill.data import check_session, check_spike_counts, check_target

__all__ = ["r2_per_session", "bits_per_spike", "r2_scorer", "roc_auc_scorer"]


def r2_per_session(y_true, y_pred, session=None) -> pd.Series:
    """R² (uniform average over output dimensions, as the reference) for each session.

    Returns a ``pandas.Series`` indexed by session label, in order of first appearance.
    """
    y_true = check_target(y_true, name="y_true")
    y_pred = check_target(y_pred, name="y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has {y_pred.shape}.")
    session = check_session(session, len(y_true))
    labels = list(dict.fromkeys(session))
    short = [s for s in labels if (session == s).sum() < 2]
    if short:
        raise ValueError(
            f"r2_per_session needs at least 2 rows per session (R² is undefined on one row); "
            f"session(s) {short} have fewer."
        )
    return pd.Series(
        {s: r2_score(y_true[session == s], y_pred[session == s]) for s in labels}, name="r2"
    )


def bits_per_spike(counts, log_rates, null_log_rates=None) -> float:
    """Poisson log-likelihood gain over a per-channel mean-rate model, in bits per spike.

    Parameters
    ----------
    counts : (n_bins, n_channels) array of spike counts.
    log_rates : (n_bins, n_channels) predicted log expected counts per bin.
    null_log_rates : optional (n_channels,) or same shape; default: log of each channel's mean count.
    """
    counts, _ = check_spike_counts(counts, name="counts")
    log_rates = check_target(log_rates, name="log_rates")
    if log_rates.shape != counts.shape:
        raise ValueError(
            f"log_rates has shape {log_rates.shape} but counts has {counts.shape}; give one "
            "predicted log rate per bin and channel."
        )
    if np.isnan(counts).any():
        raise ValueError("counts contains NaN; bits_per_spike needs every bin of every channel.")
    if null_log_rates is None:
        null_log_rates = np.log(np.maximum(counts.mean(axis=0), 1e-12))
    try:
        null_log_rates = np.broadcast_to(np.asarray(null_log_rates, dtype=float), counts.shape)
    except ValueError:
        raise ValueError(
            f"null_log_rates must have shape (n_channels,) = ({counts.shape[1]},) or {counts.shape}; "
            f"got {np.shape(null_log_rates)}."
        ) from None
    ll = (counts * log_rates - np.exp(log_rates)).sum()
    ll_null = (counts * null_log_rates - np.exp(null_log_rates)).sum()
    n_spikes = counts.sum()
    if n_spikes == 0:
        raise ValueError("bits_per_spike needs at least one spike.")
    return float((ll - ll_null) / (n_spikes * np.log(2)))


#: R² scorer (uniform average over outputs), for ``cross_validate(scoring=r2_scorer)``
r2_scorer = make_scorer(r2_score)
#: ROC-AUC on the positive-class probability
roc_auc_scorer = make_scorer(roc_auc_score, response_method=("predict_proba", "decision_function"))
