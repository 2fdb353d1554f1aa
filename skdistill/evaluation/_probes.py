"""Per-session linear probes (R², ROC-AUC) and ridge floors."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import clone, is_regressor
from sklearn.linear_model import LinearRegression, LogisticRegression, RidgeCV
from sklearn.model_selection import KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdistill.data import check_session
from skdistill.evaluation._features import circular_shift, lagged
from skdistill.metrics import r2_per_session, roc_auc_scorer
from skdistill.model_selection import ChronologicalFolds, SegmentSplit

__all__ = ["probe_r2", "ridge_floor", "probe_auc", "reference_split", "blocked_ridge",
           "zscore_per_session", "RIDGE_ALPHAS"]

#: ridge penalties searched by :func:`blocked_ridge` (10^-2 .. 10^5, half-decade steps)
RIDGE_ALPHAS = np.logspace(-2, 5, 15)


def reference_split(session, *, segment_length=500, random_state=42):
    """Train and evaluation row masks of the reference split.

    Each session is cut into consecutive ``segment_length``-row segments (500 bins = 5 s at
    10 ms), shuffled with ``random_state`` and split 80/10/10 by
    :class:`~skdistill.model_selection.SegmentSplit`; the evaluation rows are val and test
    pooled. Rows of an incomplete last segment are in neither.

    Returns
    -------
    train, evaluate : boolean ndarrays of shape (n_rows,)
    """
    session = check_session(session, len(session))
    roles = SegmentSplit(segment_length, random_state=random_state).assign(
        np.empty((len(session), 0)), session)
    return roles == "train", np.isin(roles, ["val", "test"])


def zscore_per_session(y, session=None):
    """``y`` z-scored within each session over all its rows (constant columns are centred)."""
    y = np.asarray(y, dtype=float)
    session = check_session(session, len(y))
    out = np.empty_like(y)
    for label in dict.fromkeys(session):
        rows = session == label
        sd = y[rows].std(0)
        out[rows] = (y[rows] - y[rows].mean(0)) / np.where(sd > 0, sd, 1.0)
    return out


def blocked_ridge(alphas=None, *, n_folds=5, standardize=False):
    """``RidgeCV`` whose penalty is chosen by ``n_folds`` contiguous (unshuffled) folds.

    Neighbouring 10 ms bins are nearly identical, so leave-one-out (RidgeCV's default GCV) or
    shuffled folds validate on rows that are almost copies of training rows and pick far too
    small a penalty. ``standardize=True`` puts a ``StandardScaler`` in front.
    """
    ridge = RidgeCV(alphas=RIDGE_ALPHAS if alphas is None else alphas,
                    cv=KFold(n_folds, shuffle=False))
    return make_pipeline(StandardScaler(), ridge) if standardize else ridge


def _as_mask(rows, n, name):
    rows = np.asarray(rows)
    if rows.dtype == bool:
        if rows.shape != (n,):
            raise ValueError(f"{name} must be a boolean mask of length {n}; got shape {rows.shape}.")
        return rows
    if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
        raise TypeError(f"{name} must be a boolean mask or an array of row indices.")
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    return mask


def _rows(train, test, session, segment_length, split_seed):
    n = len(session)
    if (train is None) != (test is None):
        raise ValueError("pass both train and test (row masks or indices), or neither for the "
                         "reference split.")
    if train is None:
        return reference_split(session, segment_length=segment_length, random_state=split_seed)
    return _as_mask(train, n, "train"), _as_mask(test, n, "test")


def _features(Z, name="Z"):
    Z = np.asarray(Z, dtype=float)
    if Z.ndim == 1:
        Z = Z[:, None]
    if Z.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows x features); got shape {Z.shape}.")
    if Z.size and np.isnan(Z).all():
        raise ValueError(f"{name} is entirely NaN (did the model's training diverge?).")
    return np.nan_to_num(Z, nan=0.0, posinf=0.0, neginf=0.0)


def _regressor(model, alphas, n_folds, standardize):
    if isinstance(model, str):
        if model == "ols":
            reg = LinearRegression()
            return make_pipeline(StandardScaler(), reg) if standardize else reg
        if model == "ridge":
            return blocked_ridge(alphas, n_folds=n_folds, standardize=standardize)
        raise ValueError(f"model must be 'ols', 'ridge' or a scikit-learn regressor; got {model!r}.")
    if not is_regressor(model) and not hasattr(model, "predict"):
        raise TypeError(f"model must be 'ols', 'ridge' or a scikit-learn regressor; got {model!r}.")
    return model


def probe_r2(Z, y, session=None, *, train=None, test=None, model="ols", alphas=None, n_folds=5,
             standardize=False, zscore=True, sessions=None, null=False, random_state=0,
             segment_length=500, split_seed=42):
    """Per-session linear probe: fit on train rows, R² on the evaluation rows.

    For each session, a linear readout from the features ``Z`` to the behaviour ``y`` is
    fitted on that session's ``train`` rows and scored on its ``test`` rows with
    :func:`skdistill.metrics.r2_per_session` (R² averaged uniformly over ``y``'s columns). By
    default the rows are the reference split (:func:`reference_split`: 5 s segments, seed 42,
    80/10/10, scored on val and test pooled) and ``y`` is z-scored within each session.

    Parameters
    ----------
    Z : array-like of shape (n_rows, n_features)
        Embeddings or raw features, rows in time order per session. NaN counts as 0 (the
        columns of channels absent from a session, rows outside a single-session model's
        session); an all-NaN ``Z`` is an error.
    y : array-like of shape (n_rows, n_outputs) or (n_rows,)
        Behaviour (e.g. 2-D velocity).
    session : array-like of shape (n_rows,), optional
    train, test : boolean masks or index arrays, optional
        Both or neither (then the reference split).
    model : {"ols", "ridge"} or scikit-learn regressor, default="ols"
        ``"ridge"`` is :func:`blocked_ridge` (penalty from ``alphas`` by ``n_folds`` contiguous
        folds of the session's train rows); a regressor is cloned per session.
    alphas : array-like, optional
        Ridge penalties (default :data:`RIDGE_ALPHAS`).
    n_folds : int, default=5
    standardize : bool, default=False
        Standardize the features (on the train rows) before the readout.
    zscore : bool, default=True
        z-score ``y`` within each session (all its rows), as the reference does.
    sessions : sequence of labels, optional
        Only these sessions (default: every session, in order of appearance).
    null : bool, default=False
        The null control: score against ``y`` circularly shifted within each session
        (:func:`circular_shift` with ``random_state``).
    random_state : int, default=0
        Seed of the null control's shifts.
    segment_length, split_seed : int
        The reference split's segment length (rows) and seed.

    Returns
    -------
    pandas.Series
        R² per session (index: session labels), name ``"r2"``; ``.mean()`` is the usual
        summary.

    Examples
    --------
    >>> import numpy as np
    >>> from skdistill.evaluation import probe_r2
    >>> rng = np.random.default_rng(0)
    >>> Z = rng.normal(size=(3000, 4))
    >>> y = Z @ rng.normal(size=(4, 2))
    >>> session = np.repeat(["a", "b"], 1500)
    >>> probe_r2(Z, y, session, segment_length=100).round(3).tolist()
    [1.0, 1.0]
    """
    Z = _features(Z)
    y = np.asarray(y, dtype=float)
    if len(y) != len(Z):
        raise ValueError(f"y has {len(y)} rows but Z has {len(Z)}; pass one behaviour row per "
                         "feature row.")
    session = check_session(session, len(Z))
    train, test = _rows(train, test, session, segment_length, split_seed)
    if zscore:
        y = zscore_per_session(y, session)
    if null:
        y = circular_shift(y, session, random_state)
    reg = _regressor(model, alphas, n_folds, standardize)
    labels = list(dict.fromkeys(session)) if sessions is None else [str(s) for s in sessions]
    missing = [s for s in labels if s not in set(session)]
    if missing:
        raise ValueError(f"sessions {missing} are not in session; known: {list(dict.fromkeys(session))}.")
    truth, pred, owner = [], [], []
    for label in labels:
        mine = session == label
        fit_rows, eval_rows = mine & train, mine & test
        if not fit_rows.any() or not eval_rows.any():
            raise ValueError(f"session {label!r} has no train or no evaluation rows.")
        fitted = clone(reg).fit(Z[fit_rows], y[fit_rows])
        truth.append(y[eval_rows])
        pred.append(fitted.predict(Z[eval_rows]).reshape(y[eval_rows].shape))
        owner.append(session[eval_rows])
    scores = r2_per_session(np.concatenate(truth), np.concatenate(pred), np.concatenate(owner))
    return scores.reindex(labels).astype(float)


def ridge_floor(X, y, session=None, *, lags=None, smooth=None, bin_size=0.01, fill="edge",
                **probe_params):
    """Ridge readout of raw features (the floor an embedding must beat), per session.

    The same-bin floor (``lags=None``) is a standardized ridge from each bin's features to its
    behaviour; the lagged floor (e.g. ``lags=(-10, -5, 0, 5, 10)``, a Wiener-style filter)
    stacks :func:`lagged` copies that never cross a session boundary. ``smooth`` (seconds)
    first smooths the features with a Gaussian of that s.d. inside each session
    (:class:`~skdistill.preprocessing.SpikeSmoother`), e.g. ``smooth=0.05`` for the reference's
    smoothed-spike floor. The penalty is chosen by blocked CV on the train rows.

    Parameters
    ----------
    X : array-like of shape (n_rows, n_features)
        Spike counts, preprocessed LFP, ...
    y, session
        As :func:`probe_r2`.
    lags : sequence of int, optional
    smooth : float, optional
        Gaussian s.d. in seconds.
    bin_size : float, default=0.01
        Seconds per row (for ``smooth``).
    fill : {"edge", "nan"}, default="edge"
        Passed to :func:`lagged` (NaN becomes 0 in the probe).
    **probe_params
        Passed to :func:`probe_r2` (``train``, ``test``, ``alphas``, ``null``, ...); the model is
        ``"ridge"`` with ``standardize=True`` unless given.

    Returns
    -------
    pandas.Series
        R² per session.
    """
    X = np.asarray(X, dtype=float)
    session = check_session(session, len(X))
    if smooth is not None:
        from skdistill.preprocessing import SpikeSmoother

        X = SpikeSmoother(sigma=smooth, bin_size=bin_size).fit_transform(np.nan_to_num(X),
                                                                         session=session)
    if lags is not None:
        X = lagged(X, lags, session, fill=fill)
    probe_params = {"model": "ridge", "standardize": True, **probe_params}
    return probe_r2(X, y, session, **probe_params)


def probe_auc(Z, y, session=None, *, cv=None, n_splits=5, C=1.0, max_iter=2000, null=False,
              random_state=0, return_folds=False):
    """ROC-AUC of a logistic-regression probe of segment-level embeddings, mean over folds.

    For epoched data (one row per segment, e.g. ``BaristaTransformer.transform``): a
    ``StandardScaler + LogisticRegression`` probe evaluated by ``cross_validate`` under
    :class:`~skdistill.model_selection.ChronologicalFolds` (buffered chronological folds within
    each session, each test block holding both classes) and scored with
    :data:`skdistill.metrics.roc_auc_scorer`.

    Parameters
    ----------
    Z : array-like of shape (n_segments, ...)
        Segment embeddings; trailing axes are flattened (e.g. per-channel embeddings).
    y : array-like of shape (n_segments,)
        Binary labels.
    session : array-like of shape (n_segments,), optional
        Per-segment session (subject) labels, segments in time order within each.
    cv : cross-validation splitter, optional
        Default ``ChronologicalFolds(n_splits)``; it receives ``groups=session``.
    n_splits : int, default=5
    C : float, default=1.0
        Inverse regularization of the logistic regression.
    max_iter : int, default=2000
    null : bool, default=False
        Score against the labels circularly shifted within each session (expect about 0.5).
    random_state : int, default=0
        Seed of the null control's shifts.
    return_folds : bool, default=False
        Also return the per-fold AUCs.

    Returns
    -------
    auc : float
        Mean ROC-AUC over folds; ``(auc, folds)`` with ``return_folds=True``.
    """
    Z = np.asarray(Z, dtype=float)
    if Z.ndim < 2:
        raise ValueError(f"Z must have one row per segment and at least 2 dimensions; got shape "
                         f"{Z.shape}.")
    Z = _features(Z.reshape(len(Z), -1))
    y = np.asarray(y)
    if y.shape != (len(Z),):
        raise ValueError(f"y must hold one label per segment, shape ({len(Z)},); got {y.shape}.")
    if len(np.unique(y)) != 2:
        raise ValueError(f"probe_auc needs binary labels; y has classes {np.unique(y).tolist()}.")
    session = check_session(session, len(Z))
    if null:
        y = circular_shift(y, session, random_state)
    if isinstance(cv, numbers.Integral) or cv is None:
        cv = ChronologicalFolds(n_splits=n_splits if cv is None else int(cv))
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    folds = cross_validate(probe, Z, y, groups=session, cv=cv, scoring=roc_auc_scorer)["test_score"]
    folds = [float(v) for v in folds]
    auc = float(np.mean(folds))
    return (auc, folds) if return_folds else auc
