"""Teacher variants: probe-R²-vs-epochs of one MaskedSpikeTransformer configuration (issue 3).

An exploration tool behind ``benchmarks/results/teacher_variants.md``: simulates ``--sessions``
x ``--duration`` s sessions (seed ``--seed``), trains the teacher with the parameters given as a
dict (``--params``, JSON or a Python literal) on the train segments, and every ``--every`` epochs
prints the per-session OLS probe R² on val+test for every layer, mean-pooled (``L<k>m``) and
concatenated (``L<k>c``) readouts, next to the smoothed-spike OLS floor.

Run: ``python -m benchmarks.explore.teacher_variants --seed 0 --params "{'value_embedding':
'conv'}" --every 5 [--sessions 2 --duration 150 --threads 2 --save PATH]`` (``params`` may hold
``'cosine': True`` for a cosine learning-rate decay; ``--save``: where to save the model).
"""

from __future__ import annotations

import time

import numpy as np


def main(argv=None):
    from benchmarks._harness import literal_dict, make_parser, parse_args

    parser = make_parser(__doc__, seeds=(0,), quick_help="2 x 60 s sessions, 2 epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--params", type=literal_dict, default={})
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--sessions", type=int, default=2)
    parser.add_argument("--duration", type=float, default=150.0)
    parser.add_argument("--save", default=None)
    parser.set_defaults(threads=2)
    args = parse_args(parser, argv)
    if args.quick:
        args.duration, args.every = 60.0, 1
        args.params = {"max_epochs": 2, **args.params}

    import torch
    from skorch.callbacks import Callback, LRScheduler

    from skdistill import MaskedSpikeTransformer
    from skdistill.data import stack_sessions
    from skdistill.datasets import make_reaching_sessions
    from skdistill.evaluation import lagged, probe_r2, reference_split
    from skdistill.preprocessing import SpikeSmoother

    t0 = time.time()
    recs = make_reaching_sessions(n_sessions=args.sessions, duration=args.duration,
                                  random_state=args.seed)
    X, y, s = stack_sessions(recs, "spikes")
    tr, ev = reference_split(s)
    print("sim", round(time.time() - t0), flush=True)

    def probe(Z):
        return np.round(probe_r2(Z, y, s, train=tr, test=ev).to_numpy(), 3)

    lags = (-10, -5, 0, 5, 10)
    Zs = SpikeSmoother(sigma=0.05).fit_transform(X, session=s)
    print("floor smoothed-spikes OLS", probe(Zs), "shifted +5 bins", probe(lagged(Zs, (5,), s)),
          "lags -10..10", probe(lagged(Zs, lags, s)), flush=True)

    class Curve(Callback):
        def __init__(self, est):
            self.est = est

        def on_epoch_end(self, net, **kw):
            ep = len(net.history)
            if ep % args.every:
                return
            res = {}  # per layer and readout: per-session R², then their mean
            for layer in range(self.est.n_layers):
                for ro in ("mean", "concat"):
                    r = probe(self.est.transform(X, s, layer=layer, readout=ro))
                    res[f"L{layer}{ro[0]}"] = (r.tolist(), round(float(r.mean()), 3))
            Z = self.est.transform(X, s, layer=self.est.n_layers - 1, readout="concat")
            res["last concat, shifted +5"] = probe(lagged(Z, (5,), s)).tolist()
            res["last concat, lags -10..10"] = probe(lagged(Z, lags, s)).tolist()
            net.module_.train()
            print(f"epoch {ep} loss {net.history[-1]['train_loss']:.4f} {res} "
                  f"t={time.time() - t0:.0f}s", flush=True)

    cfg = dict(args.params)
    cosine = cfg.pop("cosine", False)  # cosine learning-rate decay to 0 over max_epochs
    est = MaskedSpikeTransformer(**{"max_epochs": 30, "random_state": args.seed, **cfg})
    callbacks = [Curve(est)]
    if cosine:
        callbacks.insert(0, LRScheduler(policy=torch.optim.lr_scheduler.CosineAnnealingLR,
                                        T_max=est.max_epochs))
    est.set_params(callbacks=callbacks)
    est.fit(X[tr], session=s[tr])
    print("done", time.time() - t0, "windows", est.n_windows_)
    if args.save:
        est.set_params(callbacks=None).save(args.save)


if __name__ == "__main__":
    main()
