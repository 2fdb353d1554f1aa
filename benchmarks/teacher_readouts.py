"""Transform-time readouts of one saved teacher (issue 3 exploration, ``teacher_variants.md``).

Loads a ``MaskedSpikeTransformer`` saved by ``teacher_variants`` (its 7th argument) and scores the
per-session OLS velocity probe (val+test of the 80/10/10 segment split, 2 x 150 s sessions of the
same seed) for readouts that differ only at transform time:

* ``standard``: ``transform`` as the library does it;
* ``history x q``: the causal-conv value embedding's history taps scaled by ``q`` (``q`` = the
  visible share in training reproduces what training-time rescaling, now the library's
  behaviour, does for a model trained without it);
* ``mask-average``: embeddings averaged over 8 transforms, each with the history thinned by a
  fresh random mask as in training;
* ``context rates`` / ``context hidden``: every bin hidden once (complementary masks over
  alternate bins) and read from the predictor, i.e. inferred from its neighbours only: the
  predicted log-rates of its channels, or the predictor's hidden state.

The numbers in ``teacher_variants.md`` come from a seed-0 teacher trained (100 epochs) at commit
2515a0e, before training rescaled the history; on a model trained with the rescaling, the
``history x q`` rows scale it twice.

Run: ``python -m benchmarks.teacher_readouts MODEL_PATH SEED [THREADS]``.
"""
import sys

import numpy as np
import torch
from sklearn.linear_model import LinearRegression

from skdistill import MaskedSpikeTransformer
from skdistill.data import stack_sessions
from skdistill.datasets import make_reaching_sessions
from skdistill.estimators._windows import map_windows
from skdistill.model_selection import SegmentSplit


def main(path, seed, threads=1):
    torch.set_num_threads(threads)
    X, y, s = stack_sessions(make_reaching_sessions(n_sessions=2, duration=150, random_state=seed),
                             "spikes")
    roles = SegmentSplit(500).assign(X, s)
    train, evaluate = roles == "train", np.isin(roles, ["val", "test"])

    def probe(Z):
        r2 = [LinearRegression().fit(Z[(s == k) & train], y[(s == k) & train])
              .score(Z[(s == k) & evaluate], y[(s == k) & evaluate]) for k in np.unique(s)]
        return f"{np.round(r2, 3).tolist()} mean {np.mean(r2):.3f}"

    est = MaskedSpikeTransformer.load(path)
    module = est.module_.eval()
    embedder = module.tokenizer.value_embedding
    plain, tap = embedder.forward, embedder.conv.weight[:, :, -1]  # tap: the current bin's
    visible = 1.0 - est.mask_ratio

    print("standard", probe(est.transform(X, session=s)), flush=True)
    for q in (visible, 0.25, 0.6):
        embedder.forward = lambda v, m, q=q: plain(v * m * q, m) + (1 - q) * ((v * m) @ tap.T)
        print(f"history x {q:.2f}", probe(est.transform(X, session=s)), flush=True)

    def thinned(v, m):
        keep = (torch.rand(*v.shape[:3], 1) < visible).to(v.dtype)
        return plain(v * m * keep, m) + (v * m * (1 - keep)) @ tap.T
    embedder.forward = thinned
    torch.manual_seed(0)
    print("mask-average (8)", probe(np.mean([est.transform(X, session=s) for _ in range(8)], 0)),
          flush=True)
    embedder.forward = plain

    def predictor(x, owner, keep_bins, what):
        values, valid = module.tokenizer.patchify(x)
        b, T, P, S = values.shape
        keep4 = keep_bins[None, :, None, None].expand(b, T, P, 1)
        tokens = embedder(values * keep4, valid & keep4)
        tables = torch.stack([module.tokenizer.session_embeddings[str(int(k))] for k in owner])
        tokens = (tokens + tables[:, None]).reshape(b, T * P, -1)
        pos = module._positions(b, T, P, x.device)
        vp = valid.any(-1).reshape(b, T * P)
        idx = torch.nonzero(keep4.reshape(b, T * P)[0]).squeeze(1)
        full = (module.mask_token + tables[:, None].expand(-1, T, -1, -1).reshape(b, T * P, -1)).clone()
        full[:, idx] = module.encoder(tokens[:, idx], pos[:, idx], vp[:, idx])
        hidden = module.decoder(module.decoder_in(full), pos, vp)
        if what == "rates":
            offsets = torch.stack([module.offsets[str(int(k))] for k in owner])
            return (module.head(hidden).reshape(b, T, P, S) + offsets[:, None]).reshape(b, T, P * S)
        return hidden.reshape(b, T, P, -1).mean(2)

    for what in ("rates", "hidden"):
        def fn(w, owner, what=what):
            w, out = torch.from_numpy(w), None
            with torch.no_grad():
                for k in range(2):
                    hide = (torch.arange(w.shape[1]) % 2) == k
                    r = predictor(w, owner, ~hide, what)
                    out = torch.zeros_like(r) if out is None else out
                    out[:, hide] = r[:, hide]
            return out.numpy()
        width = fn(X[: est.segment_length][None].astype(np.float32), np.zeros(1, int)).shape[-1]
        Z = map_windows(fn, X, est._session_index(s), s, est.segment_length, 64, width)
        print(f"context {what}", probe(Z), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1)
