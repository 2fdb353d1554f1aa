"""Laplacian re-referencing along sEEG shafts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from skdistill.spatial import shaft_neighbours

__all__ = ["shaft_laplacian"]


def shaft_laplacian(signal, channels, *, edge="drop"):
    """Laplacian re-reference for sEEG: each contact minus the mean of its two shaft neighbours.

    Neighbours are the contacts on the same shaft with contact number one below and one above
    (``LT2`` and ``LT4`` for ``LT3``). Contacts lacking one of them (shaft ends, gaps left by
    removed contacts) are handled by ``edge``.

    Parameters
    ----------
    signal : (n_samples, n_channels) array
    channels : pandas.DataFrame or sequence of str
        One row per column of ``signal``: ``shaft`` and ``contact`` columns, or ``name``
        (``"LT3"``); a plain sequence is taken as names.
    edge : {"drop", "one-sided"}, default="drop"
        ``"drop"``: contacts without both neighbours are removed from the output.
        ``"one-sided"``: they are referenced to the one neighbour they have (a bipolar
        derivation); a contact with no neighbour at all is still dropped.

    Returns
    -------
    referenced : (n_samples, n_kept) ndarray
    kept : pandas.DataFrame
        The rows of ``channels`` that were kept, in output column order, with an added
        ``n_neighbours`` column (2, or 1 for one-sided contacts).
    """
    x = np.asarray(signal, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"signal must be 2-D (samples, channels); got shape {x.shape}.")
    if edge not in ("drop", "one-sided"):
        raise ValueError(f"edge must be 'drop' or 'one-sided'; got {edge!r}.")
    table = (channels.reset_index(drop=True) if isinstance(channels, pd.DataFrame)
             else pd.DataFrame({"name": [str(c) for c in channels]}))
    if len(table) != x.shape[1]:
        raise ValueError(
            f"channels has {len(table)} rows but signal has {x.shape[1]} columns; give one row "
            "per channel."
        )
    # neighbour rule and name parsing live in skdistill.spatial (shared with the iEEG loaders)
    neighbours_of = shaft_neighbours(table)
    columns, kept, n_neigh = [], [], []
    for i, pair in enumerate(neighbours_of):
        neighbours = [int(j) for j in pair if j >= 0]
        if len(neighbours) == 2 or (edge == "one-sided" and len(neighbours) == 1):
            columns.append(x[:, i] - x[:, neighbours].mean(axis=1))
            kept.append(i)
            n_neigh.append(len(neighbours))
    out = np.stack(columns, axis=1) if columns else np.empty((x.shape[0], 0))
    kept_table = table.iloc[kept].reset_index(drop=True).assign(n_neighbours=n_neigh)
    return out, kept_table
