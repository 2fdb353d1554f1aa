"""Teacher variants: probe-R²-vs-epochs of one MaskedSpikeTransformer configuration (issue 3).

An exploration tool behind ``benchmarks/results/teacher_variants.md``: simulates 2 x 150 s
sessions (seed ARG1), trains the teacher with the parameters given as a Python dict literal (ARG2)
on the train segments, and every ARG3 epochs prints the per-session OLS probe R² on val+test for
the last layer, mean-pooled (``L3m``) and concatenated (``L3c``) readouts, next to the
smoothed-spike OLS floor.

Run: ``python -m benchmarks.teacher_variants SEED PARAMS EVERY [N_SESSIONS DURATION THREADS SAVE]``
(PARAMS may hold ``'cosine': True`` for a cosine learning-rate decay; SAVE: where to save the model),
e.g. ``python -m benchmarks.teacher_variants 0 "{'value_embedding': 'conv'}" 5 2 150 2``
"""
import sys, time, numpy as np, torch
from sklearn.linear_model import LinearRegression
from skdistill.datasets import make_reaching_sessions
from skdistill.data import stack_sessions
from skdistill.model_selection import SegmentSplit
from skdistill.preprocessing import SpikeSmoother
from skdistill import MaskedSpikeTransformer
from skdistill.estimators._windows import covering_windows, iter_window_batches
from skorch.callbacks import Callback, LRScheduler

seed = int(sys.argv[1]); cfg = eval(sys.argv[2]); every = int(sys.argv[3]) if len(sys.argv) > 3 else 5
n_sessions = int(sys.argv[4]) if len(sys.argv) > 4 else 2
duration = float(sys.argv[5]) if len(sys.argv) > 5 else 150
torch.set_num_threads(int(sys.argv[6]) if len(sys.argv) > 6 else 2)
t0 = time.time()
recs = make_reaching_sessions(n_sessions=n_sessions, duration=duration, random_state=seed)
X, y, s = stack_sessions(recs, "spikes")
roles = SegmentSplit(500).assign(X, s)
tr, ev = roles == "train", np.isin(roles, ["val", "test"])
print("sim", round(time.time() - t0), flush=True)

def probe(Z):
    out = []
    for sess in np.unique(s):
        m = s == sess
        out.append(LinearRegression().fit(Z[m & tr], y[m & tr]).score(Z[m & ev], y[m & ev]))
    return np.round(out, 3)

def shifted(Z, lag):
    """Rows of Z moved ``lag`` bins later inside each session (row t gets Z[t - lag])."""
    out = np.empty_like(Z)
    for sess in np.unique(s):
        m = np.flatnonzero(s == sess)
        out[m] = np.roll(Z[m], lag, axis=0)
    return out

def wiener(Z, lags=(-10, -5, 0, 5, 10)):
    return np.hstack([shifted(Z, lag) for lag in lags])

Zs = SpikeSmoother(sigma=0.05).fit_transform(X, session=s)
print("floor smoothed-spikes OLS", probe(Zs), "shifted +5 bins", probe(shifted(Zs, 5)),
      "lags -10..10", probe(wiener(Zs)), flush=True)

def embed(module, est, layer, readout):
    idx = est._session_index(s); plan = covering_windows(s, est.segment_length)
    outs = None
    with torch.no_grad():
        module.eval()
        for w, o, entries in iter_window_batches(X, idx, plan, 256):
            e = module.encode(torch.from_numpy(w), torch.from_numpy(o), layer=layer, readout=readout).numpy()
            if outs is None: outs = np.empty((len(X), e.shape[-1]))
            for (st, _, kf, kt), rows in zip(entries, e): outs[st + kf: st + kt] = rows[kf:kt]
    module.train()
    return outs

class Curve(Callback):
    def __init__(self, est): self.est = est
    def on_epoch_end(self, net, **kw):
        ep = len(net.history)
        if ep % every == 0:
            res = {}  # per layer and readout: per-session R², then their mean
            for layer in range(self.est.n_layers):
                for ro in ("mean", "concat"):
                    r = probe(embed(net.module_, self.est, layer, ro)); res[f"L{layer}{ro[0]}"] = (r.tolist(), round(float(r.mean()), 3))
            Z = embed(net.module_, self.est, self.est.n_layers - 1, "concat")
            res["last concat, shifted +5"] = probe(shifted(Z, 5)).tolist()
            res["last concat, lags -10..10"] = probe(wiener(Z)).tolist()
            print(f"epoch {ep} loss {net.history[-1]['train_loss']:.4f} {res} t={time.time()-t0:.0f}s", flush=True)

cosine = cfg.pop("cosine", False)  # cosine learning-rate decay to 0 over max_epochs
est = MaskedSpikeTransformer(**{"max_epochs": 30, "random_state": seed, **cfg})
callbacks = [Curve(est)]
if cosine:
    callbacks.insert(0, LRScheduler(policy=torch.optim.lr_scheduler.CosineAnnealingLR,
                                    T_max=est.max_epochs))
est.set_params(callbacks=callbacks)
est.fit(X[tr], session=s[tr])
print("done", time.time() - t0, "windows", est.n_windows_)
if len(sys.argv) > 7:
    est.set_params(callbacks=None).save(sys.argv[7])
