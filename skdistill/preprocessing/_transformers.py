"""Row-preserving preprocessing as scikit-learn transformers that honour per-row ``session``.

``session`` reaches ``fit``/``transform`` through sklearn's metadata routing
(``sklearn.set_config(enable_metadata_routing=True)`` and
``.set_fit_request(session=True).set_transform_request(session=True)`` inside a ``Pipeline``),
or directly as a keyword. Rows of different sessions are never mixed: statistics are computed
per session and temporal filters run within each contiguous run of one session label.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from scipy.ndimage import gaussian_filter1d
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from skdistill.data import check_continuous, session_runs
from skdistill.preprocessing._lfp import butter_filter, common_average_reference, notch_filter

__all__ = ["SessionStandardScaler", "SpikeSmoother", "LFPFilter", "CommonAverageReference"]


class _SessionTransformer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Shared plumbing: validation with the NaN-column convention and session-aware fit_transform."""

    def _validate(self, X, session, reset):
        # skdistill's checks first: they name X / the session and the convention broken
        X, session = check_continuous(X, session, name="X")
        X = validate_data(self, X, reset=reset, ensure_all_finite="allow-nan", dtype=np.float64)
        return X, session

    def fit_transform(self, X, y=None, session=None):
        # TransformerMixin.fit_transform would call transform without the session labels
        return self.fit(X, y, session=session).transform(X, session=session)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class _Stateless(_SessionTransformer):
    def fit(self, X, y=None, session=None):
        """Validate ``X`` and record its width; these transformers learn nothing."""
        self._validate_params()
        self._validate(X, session, reset=True)
        return self

    def transform(self, X, session=None):
        """Apply the operation within each contiguous run of one session label."""
        check_is_fitted(self, "n_features_in_")
        X, session = self._validate(X, session, reset=False)
        out = np.array(X, dtype=float)
        for _, start, stop in session_runs(session):
            block = X[start:stop]
            present = ~np.all(np.isnan(block), axis=0)
            if present.any():
                out[start:stop, present] = self._apply(block[:, present])
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags


class SessionStandardScaler(_SessionTransformer):
    """Z-score each column separately within each session.

    ``fit`` stores one mean and standard deviation per session and column; ``transform`` applies
    the statistics of the row's session. Columns that are all-NaN in a session (channels absent
    there) get NaN statistics and stay NaN; a zero standard deviation is replaced by 1.

    Parameters
    ----------
    unknown_session : {"error", "own"}, default="error"
        What ``transform`` does with a session not seen in ``fit``: raise, or z-score those rows
        with their own statistics (the reference z-scores each whole session this way).

    Attributes
    ----------
    mean_, scale_ : dict of str -> (n_features,) ndarray
        Per-session statistics.
    sessions_ : list of str
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [2.0], [10.0], [14.0]])
    >>> SessionStandardScaler().fit_transform(X, session=["a", "a", "b", "b"]).ravel()
    array([-1.,  1., -1.,  1.])
    """

    _parameter_constraints = {"unknown_session": [StrOptions({"error", "own"})]}

    def __init__(self, unknown_session="error"):
        self.unknown_session = unknown_session

    @staticmethod
    def _stats(block):
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            # all-NaN columns (absent channels) are expected to give NaN statistics
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(block, axis=0)
            std = np.nanstd(block, axis=0)
        return mean, np.where(std > 0, std, 1.0)

    def fit(self, X, y=None, session=None):
        """Compute per-session means and standard deviations."""
        self._validate_params()
        X, session = self._validate(X, session, reset=True)
        self.mean_, self.scale_ = {}, {}
        for label in dict.fromkeys(session):
            self.mean_[label], self.scale_[label] = self._stats(X[session == label])
        self.sessions_ = list(self.mean_)
        return self

    def transform(self, X, session=None):
        """Standardise each row with the statistics of its session."""
        check_is_fitted(self)
        X, session = self._validate(X, session, reset=False)
        out = np.empty_like(X)
        for label in dict.fromkeys(session):
            rows = session == label
            if label in self.mean_:
                mean, scale = self.mean_[label], self.scale_[label]
            elif self.unknown_session == "own":
                mean, scale = self._stats(X[rows])
            else:
                raise ValueError(
                    f"session {label!r} was not seen in fit (fitted sessions: {self.sessions_}). "
                    "Fit on rows of that session too, or use unknown_session='own' to z-score "
                    "new sessions with their own statistics."
                )
            out[rows] = (X[rows] - mean) / scale
        return out


class SpikeSmoother(_Stateless):
    """Gaussian smoothing of binned spike counts along time, within each session.

    The kernel never reaches across a session boundary: each contiguous run of one session label
    is smoothed on its own, with reflected edges. The kernel is symmetric (non-causal) and sums
    to 1, so smoothed counts keep their mean (counts per bin).

    Parameters
    ----------
    sigma : float, default=0.05
        Standard deviation of the Gaussian kernel in seconds.
    bin_size : float, default=0.01
        Width of the rows in seconds.
    truncate : float, default=4.0
        The kernel is cut at this many standard deviations.
    """

    _parameter_constraints = {
        "sigma": [Interval(Real, 0, None, closed="left")],
        "bin_size": [Interval(Real, 0, None, closed="neither")],
        "truncate": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, sigma=0.05, *, bin_size=0.01, truncate=4.0):
        self.sigma = sigma
        self.bin_size = bin_size
        self.truncate = truncate

    def _apply(self, block):
        if self.sigma == 0:
            return block
        return gaussian_filter1d(block, self.sigma / self.bin_size, axis=0, mode="reflect",
                                 truncate=self.truncate)


class LFPFilter(_Stateless):
    """Notch and zero-phase Butterworth filtering of a continuous signal, within each session.

    Row-preserving part of the reference chain at the signal's own rate (see
    :func:`~skdistill.preprocessing.notch_filter` and
    :func:`~skdistill.preprocessing.butter_filter`).

    Parameters
    ----------
    sampling_rate : float, default=100.0
        Rate of the rows in Hz.
    notch : float or None, default=None
        Line frequency in Hz (harmonics below Nyquist included); None skips it.
    highpass, lowpass : float or None, default=0.05, None
        Butterworth corners in Hz.
    order : int, default=2
    """

    _parameter_constraints = {
        "sampling_rate": [Interval(Real, 0, None, closed="neither")],
        "notch": [Interval(Real, 0, None, closed="neither"), None],
        "highpass": [Interval(Real, 0, None, closed="neither"), None],
        "lowpass": [Interval(Real, 0, None, closed="neither"), None],
        "order": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, sampling_rate=100.0, *, notch=None, highpass=0.05, lowpass=None, order=2):
        self.sampling_rate = sampling_rate
        self.notch = notch
        self.highpass = highpass
        self.lowpass = lowpass
        self.order = order

    def _apply(self, block):
        if self.notch is not None:
            block = notch_filter(block, self.sampling_rate, freqs=self.notch)
        if self.highpass is not None or self.lowpass is not None:
            block = butter_filter(block, self.sampling_rate, highpass=self.highpass,
                                  lowpass=self.lowpass, order=self.order)
        return block


class CommonAverageReference(_Stateless):
    """Subtract, per row, the mean over the channels present in that row's session."""

    _parameter_constraints: dict = {}

    def _apply(self, block):
        return common_average_reference(block)
