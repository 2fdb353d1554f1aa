"""Real-time decoding: a fitted causal encoder and a linear decoder, fed one time bin at a time.

>>> from sklearn.linear_model import Ridge
>>> from skdistill import LFPTransformer
>>> from skdistill.streaming import StreamingDecoder
>>> encoder = LFPTransformer(causal=True).fit(L, session=s)               # doctest: +SKIP
>>> ridge = Ridge().fit(encoder.transform(L, session=s), y)               # doctest: +SKIP
>>> online = StreamingDecoder(encoder, ridge, session="session-0")       # doctest: +SKIP
>>> for x_bin in acquisition():                                           # doctest: +SKIP
...     velocity = online.step(x_bin)                                     # (n_outputs,)

See ``docs/streaming.md`` for what context a streamed bin sees compared with ``transform``.
"""

from __future__ import annotations

import copy
import numbers

import numpy as np
import torch

__all__ = ["StreamingDecoder"]

_ENCODERS = ("MaskedSpikeTransformer", "LFPTransformer", "DistilledLFPTransformer")


def _unwrap(estimator):
    """The estimator inside a ``FrozenEstimator`` (or the estimator itself)."""
    from sklearn.frozen import FrozenEstimator

    return estimator.estimator if isinstance(estimator, FrozenEstimator) else estimator


def _split_pipeline(encoder, decoder):
    """``(encoder, [decoder steps])`` from an encoder + decoder, or from a Pipeline's steps."""
    from sklearn.pipeline import Pipeline

    if isinstance(encoder, Pipeline):
        if decoder is not None:
            raise ValueError(
                "encoder is a Pipeline, so its later steps are the decoder; pass decoder=None "
                "(or pass the encoder step and the decoder separately)."
            )
        steps = [step for _, step in encoder.steps if step not in (None, "passthrough")]
        if not steps:
            raise ValueError("encoder is an empty Pipeline; its first step must be the encoder.")
        return _unwrap(steps[0]), [_unwrap(s) for s in steps[1:]]
    if decoder is None:
        return _unwrap(encoder), []
    if isinstance(decoder, Pipeline):
        steps = [s for _, s in decoder.steps if s not in (None, "passthrough")]
        return _unwrap(encoder), [_unwrap(s) for s in steps]
    return _unwrap(encoder), [_unwrap(decoder)]


def _apply_steps(steps, Z):
    for step in steps[:-1]:
        Z = step.transform(Z)
    return steps[-1].predict(Z)


def _affine_map(steps, width, rng):
    """``(A, b)`` with ``steps(Z) == Z @ A + b`` when the decoder chain is affine, else ``None``.

    Read off at the origin and the unit vectors, then checked on random points (a nonlinear
    decoder fails the check and is run through its own ``predict`` at every step).
    """
    probe = np.vstack([np.zeros(width), np.eye(width)])
    out = np.asarray(_apply_steps(steps, probe), dtype=np.float64)
    out = out.reshape(len(probe), -1)
    intercept = out[0]
    A = out[1:] - intercept
    check = rng.normal(scale=3.0, size=(8, width))
    expected = np.asarray(_apply_steps(steps, check), dtype=np.float64).reshape(len(check), -1)
    scale = max(1.0, float(np.abs(expected).max()))
    if np.allclose(check @ A + intercept, expected, rtol=1e-6, atol=1e-6 * scale):
        return A, intercept
    return None


class StreamingDecoder:
    """Decode behaviour from one new bin at a time with a fitted causal encoder.

    Each :meth:`step` embeds the newest bin with a key/value cache of the last ``context`` bins
    (per layer) and a shift buffer for the causal convolution's history, so a step costs
    O(context), and applies the decoder to the new embedding. The first ``context`` bins after
    :meth:`reset` get exactly the causal model's batch embeddings of those bins; later bins see a
    sliding window of ``context`` bins per layer (see ``docs/streaming.md``).

    Parameters
    ----------
    encoder : MaskedSpikeTransformer, LFPTransformer, DistilledLFPTransformer or Pipeline
        A fitted encoder with ``causal=True`` (or a ``FrozenEstimator`` around one). A fitted
        ``Pipeline`` whose first step is such an encoder and whose later steps are the decoder
        is accepted too (then ``decoder`` must be ``None``).
    decoder : fitted regressor, Pipeline or None, default=None
        Maps an embedding row to the behaviour estimate (e.g. ``Ridge``, ``LinearRegression``,
        ``make_pipeline(StandardScaler(), RidgeCV())``). An affine decoder chain is folded into
        one matrix at construction (``decoder_is_affine``); any other is called through its
        ``predict`` at every step (slower). ``None``: :meth:`step` returns the embedding.
    session : str, optional
        The session the stream comes from: a trained session label, or any label if the encoder
        routes unknown sessions (``unknown_session``). Optional when the encoder knows one session.
    context : int, optional
        Bins each layer attends to, the newest included (default: the encoder's
        ``segment_length``, the window length it was trained on).
    layer, readout : optional
        Encoder layer and per-bin pooling (default: the encoder's ``readout_layer`` and
        ``readout``, as :meth:`transform` uses).
    device : str, default="cpu"
        Where to stream. The encoder's module is copied there (the estimator is not modified).

    Attributes
    ----------
    n_channels : int
        Values per bin (the encoder's ``n_features_in_``).
    embedding_dim : int
        Width of the embedding fed to the decoder.
    n_outputs : int
        Width of :meth:`step`'s output.
    decoder_is_affine : bool
        Whether the decoder runs as one folded affine map.
    n_seen : int
        Bins stepped since the last :meth:`reset`.

    Notes
    -----
    The model is causal; the preprocessing must be too. Binned spike counts are; the reference
    LFP chain (``preprocess_lfp``: zero-phase filters, FFT resampling, z-score over the whole
    session) is not, so an online LFP system has to produce bins with causal filters and fixed
    (training-time) normalisation statistics.
    """

    def __init__(self, encoder, decoder=None, *, session=None, context=None, layer=None,
                 readout=None, device="cpu"):
        from sklearn.utils.validation import check_is_fitted

        from skdistill.nn._streaming import StreamingPatchEncoder

        encoder, steps = _split_pipeline(encoder, decoder)
        if type(encoder).__name__ not in _ENCODERS and not hasattr(encoder, "module_"):
            raise TypeError(
                f"encoder must be a fitted {', '.join(_ENCODERS)} (or a Pipeline starting with "
                f"one); got {type(encoder).__name__}."
            )
        check_is_fitted(encoder)
        if not getattr(encoder, "causal", False):
            raise ValueError(
                f"StreamingDecoder needs a causal encoder; this {type(encoder).__name__} was "
                "fitted with causal=False, so its embedding of a bin depends on later bins. Fit it with "
                f"{type(encoder).__name__}(causal=True, ...) for online decoding."
            )
        self.encoder = encoder
        self.session = self._check_session(encoder, session)
        session_idx = int(encoder.session_index(self.session)[0])  # routes unknown sessions
        if context is None:
            context = encoder.segment_length
        if not isinstance(context, numbers.Integral) or isinstance(context, bool) or context < 1:
            raise ValueError(f"context must be a positive integer number of bins; got {context!r}.")
        self.context = int(context)
        self.layer = encoder.readout_layer if layer is None else layer
        self.readout = encoder.readout if readout is None else readout
        self.device = str(device)
        module = copy.deepcopy(encoder.module_).to(self.device).eval()
        self._stream = StreamingPatchEncoder(module, session_idx, context=self.context,
                                             layer=self.layer, readout=self.readout)
        self.n_channels = int(encoder.n_features_in_)
        self.embedding_dim = int(self._stream.d_model * (self._stream.n_patches
                                                         if self.readout == "concat" else 1))
        self._spikes = type(encoder).__name__ == "MaskedSpikeTransformer"
        self._steps = steps
        self._affine = None
        self.n_outputs = self.embedding_dim
        if steps:
            for step in steps:
                check_is_fitted(step)
            expected = getattr(steps[0], "n_features_in_", None)
            if expected is not None and expected != self.embedding_dim:
                raise ValueError(
                    f"the decoder was fitted on {expected} features but the encoder gives "
                    f"{self.embedding_dim}-wide embeddings (readout={self.readout!r}); fit the "
                    "decoder on encoder.transform(X, session=...) with the same readout."
                )
            affine = _affine_map(steps, self.embedding_dim, np.random.default_rng(0))
            if affine is not None:
                A, b = affine
                self._affine = (torch.as_tensor(A, dtype=torch.float32, device=self.device),
                                torch.as_tensor(b, dtype=torch.float32, device=self.device))
                self.n_outputs = A.shape[1]
            else:
                probe = _apply_steps(steps, np.zeros((1, self.embedding_dim)))
                self.n_outputs = int(np.size(probe))
        self.decoder_is_affine = self._affine is not None
        self.reset()

    # -- validation --------------------------------------------------------------------------
    def _check_session(self, encoder, session):
        known = [str(s) for s in encoder.sessions_]
        if session is None:
            if len(known) != 1:
                raise ValueError(
                    f"session is required: the encoder was fitted on {len(known)} sessions "
                    f"{known}; pass session=<the label of the session being streamed>."
                )
            session = known[0]
        if not isinstance(session, (str, int, np.integer)):
            raise TypeError(
                f"session must be one session label (a str); got {type(session).__name__}.")
        return str(session)

    def _check_bin(self, x_bin):
        x = np.asarray(x_bin, dtype=np.float64)
        if x.ndim == 2 and x.shape[0] == 1:
            x = x[0]
        if x.ndim != 1:
            raise ValueError(
                f"step takes one bin: x_bin must have shape ({self.n_channels},); got shape "
                f"{x.shape}. Feed several bins with stream(X)."
            )
        if x.shape[0] != self.n_channels:
            raise ValueError(
                f"x_bin has {x.shape[0]} values but the encoder was fitted on {self.n_channels} "
                "channels; one bin is one row of X, with NaN for the channels absent from this "
                "session."
            )
        nan = np.isnan(x)
        if self._absent is None:
            if nan.all():
                raise ValueError("x_bin has no present channel (all values are NaN).")
            self._absent = nan
        elif not np.array_equal(nan, self._absent):
            changed = int(np.flatnonzero(nan != self._absent)[0])
            raise ValueError(
                f"channel {changed} is {'NaN' if nan[changed] else 'present'} in this bin but was "
                f"{'NaN' if self._absent[changed] else 'present'} in the first bin of the stream. "
                "NaN marks a channel absent from the whole session; fill dropped samples, or "
                "reset() to start a stream with another channel set."
            )
        if not np.isfinite(x[~nan]).all():
            raise ValueError("x_bin holds an infinite value.")
        if self._spikes:
            finite = x[~nan]
            if (finite < 0).any() or not np.array_equal(finite, np.round(finite)):
                raise ValueError(
                    "x_bin must hold non-negative integer spike counts for a "
                    "MaskedSpikeTransformer encoder."
                )
        return x

    # -- streaming ---------------------------------------------------------------------------
    @property
    def n_seen(self) -> int:
        return self._stream.n_seen

    def reset(self):
        """Start a new stream: empty caches, no history (as a new run in ``transform``)."""
        self._stream.reset()
        self._absent = None
        return self

    def step(self, x_bin):
        """Feed the newest bin and return the decoder's estimate for it.

        Parameters
        ----------
        x_bin : array-like of shape (n_channels,)
            One bin, as one row of the ``X`` the encoder was fitted on (NaN for channels absent
            from the session; the same channels in every bin of the stream).

        Returns
        -------
        y : ndarray of shape (n_outputs,), float64
            The decoder's estimate (the embedding when there is no decoder).
        """
        x = self._check_bin(x_bin)
        z = self._stream.step(torch.from_numpy(x.astype(np.float32)))
        if not self._steps:
            return z.double().cpu().numpy()
        if self._affine is not None:
            A, b = self._affine
            return torch.addmv(b, A.T, z).double().cpu().numpy()
        y = _apply_steps(self._steps, z.double().cpu().numpy()[None])
        return np.asarray(y, dtype=np.float64).reshape(-1)

    def stream(self, X):
        """:meth:`step` over the rows of ``X`` in order (continuing the current stream).

        Returns
        -------
        Y : ndarray of shape (n_rows, n_outputs), float64
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n_bins, n_channels); got shape {X.shape}.")
        out = np.empty((len(X), self.n_outputs), dtype=np.float64)
        for t, row in enumerate(X):
            out[t] = self.step(row)
        return out

    def __repr__(self):
        return (f"StreamingDecoder({type(self.encoder).__name__}, session={self.session!r}, "
                f"context={self.context}, n_outputs={self.n_outputs}, n_seen={self.n_seen})")

