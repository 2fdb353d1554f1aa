"""Scorers: per-bin R² (overall and per session), bits per spike, ROC-AUC."""

from skdistill.metrics._scores import bits_per_spike, r2_per_session, r2_scorer, roc_auc_scorer

__all__ = ["r2_per_session", "bits_per_spike", "r2_scorer", "roc_auc_scorer"]
