"""Preprocessing: the reference LFP chain, spike binning and smoothing, sEEG re-referencing.

Functions that change the sampling rate or the channel set (:func:`preprocess_lfp`,
:func:`resample`, :func:`bin_spikes`, :func:`shaft_laplacian`) work on arrays or
:class:`~skdistill.data.Recording` objects; row-preserving steps are also scikit-learn
transformers that honour per-row ``session`` metadata and never mix rows of two sessions
(:class:`SessionStandardScaler`, :class:`SpikeSmoother`, :class:`LFPFilter`,
:class:`CommonAverageReference`). See ``docs/preprocessing.md``.
"""

# bin_spikes is implemented in the io layer (readers bin spikes too) and re-exported here
from skdistill.io import bin_spikes
from skdistill.preprocessing._laplacian import shaft_laplacian
from skdistill.preprocessing._lfp import (
    butter_filter,
    common_average_reference,
    notch_filter,
    preprocess_lfp,
    preprocess_recording,
    resample,
    zscore,
)
from skdistill.preprocessing._transformers import (
    CommonAverageReference,
    LFPFilter,
    SessionStandardScaler,
    SpikeSmoother,
)

__all__ = [
    "notch_filter",
    "butter_filter",
    "common_average_reference",
    "resample",
    "zscore",
    "preprocess_lfp",
    "preprocess_recording",
    "bin_spikes",
    "shaft_laplacian",
    "SessionStandardScaler",
    "SpikeSmoother",
    "LFPFilter",
    "CommonAverageReference",
]
