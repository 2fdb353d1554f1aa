"""Transform-time readouts of one saved teacher (issue 3 exploration, ``teacher_variants.md``).

Loads a ``MaskedSpikeTransformer`` saved by ``teacher_variants --save`` and scores the
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

This script patches the fitted module's internals on purpose (an exploration of readouts the
library does not offer); it reads the estimator only through public names.

Run: ``python -m benchmarks.explore.teacher_readouts MODEL_PATH [--seed 0] [--threads 1]``.
"""

from __future__ import annotations

import numpy as np


def main(argv=None):
    from benchmarks._harness import make_parser, parse_args

    parser = make_parser(__doc__, seeds=(0,))
    parser.add_argument("path", help="a MaskedSpikeTransformer saved by teacher_variants --save")
    parser.add_argument("--seed", type=int, default=0)
    args = parse_args(parser, argv)
    run(args.path, args.seed)


def run(path, seed):
    import torch

    from skdistill import MaskedSpikeTransformer
    from skdistill.data import stack_sessions
    from skdistill.datasets import make_reaching_sessions
    from skdistill.evaluation import probe_r2, reference_split

    X, y, s = stack_sessions(make_reaching_sessions(n_sessions=2, duration=150, random_state=seed),
                             "spikes")
    train, evaluate = reference_split(s)

    def probe(Z):
        r2 = probe_r2(Z, y, s, train=train, test=evaluate)
        return f"{np.round(r2.to_numpy(), 3).tolist()} mean {r2.mean():.3f}"

    est = MaskedSpikeTransformer.load(path)
    module = est.module_.eval()
    embedder = module.tokenizer.value_embedding
    plain, tap = embedder.forward, embedder.conv.weight[:, :, -1]  # tap: the current bin's
    visible = 1.0 - est.mask_ratio

    print("standard", probe(est.transform(X, session=s)), flush=True)
    for q in (visible, 0.25, 0.6):  # visible_fraction f scales the history by 1 / f
        embedder.forward = lambda v, m, q=q: plain(v, m, visible_fraction=1.0 / q)
        print(f"history x {q:.2f}", probe(est.transform(X, session=s)), flush=True)

    def thinned(v, m):
        keep = (torch.rand(*v.shape[:3], 1) < visible).to(v.dtype)
        return plain(v * m * keep, m) + (v * m * (1 - keep)) @ tap.T
    embedder.forward = thinned
    torch.manual_seed(0)
    print("mask-average (8)", probe(np.mean([est.transform(X, session=s) for _ in range(8)], 0)),
          flush=True)
    embedder.forward = plain

    for what in ("prediction", "hidden"):
        def fn(w, owner, what=what):
            w, owner, out = torch.from_numpy(w), torch.from_numpy(owner), None
            n_patches = module.tokenizer.n_patches
            with torch.no_grad():
                for k in range(2):  # hide alternate bins, then the others
                    hide = (torch.arange(w.shape[1]) % 2) == k
                    noise = hide.repeat_interleave(n_patches).expand(len(w), -1)
                    r = module(w, owner, mask_ratio=0.5, noise=noise)[what]
                    r = r.reshape(len(w), w.shape[1], n_patches, -1)
                    r = r.flatten(2) if what == "prediction" else r.mean(2)
                    out = torch.zeros_like(r) if out is None else out
                    out[:, hide] = r[:, hide]
            return out.numpy()
        width = fn(X[: est.segment_length][None].astype(np.float32), np.zeros(1, int)).shape[-1]
        Xc, sc, session_index = est.check_input(X, s)  # rows as the encoder sees them
        Z = est.windowing.map(fn, Xc, session_index, sc, 64, width)
        print(f"context {'log-rates' if what == 'prediction' else what}", probe(Z), flush=True)


if __name__ == "__main__":
    main()
