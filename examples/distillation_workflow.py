"""Full cross-modal distillation workflow on neo data: spikes + LFP -> teacher -> LFP student -> decoder.

1. Build per-session neo Blocks (here from the simulator; with real data use ``skdistill.io``).
2. Bin spikes and bring the LFP to the bin rate with the reference chain, stack the sessions.
3. Fit the multi-session spike teacher, freeze it, distil it into an LFP student.
4. Decode velocity from the student's embeddings with a per-session linear readout, and
   fine-tune the student end to end (the supervised setting).

Run: ``python examples/distillation_workflow.py`` (about 3 minutes on a laptop CPU).
"""

import numpy as np
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from skdistill.data import stack_sessions
from skdistill.datasets import make_reaching_sessions
from skdistill import DistilledLFPTransformer, MaskedSpikeTransformer, SupervisedEncoderRegressor
from skdistill.model_selection import SegmentSplit
from skdistill.preprocessing import preprocess_recording

torch.set_num_threads(1)  # tiny models: one thread is faster on a busy 2-core machine

# 1-2. Recordings -> rows. With real files: recs = [skdistill.io.read_recording(path), ...]
#      (neo readers return the same Recording objects).
recs = [preprocess_recording(r) for r in make_reaching_sessions(3, 60.0, random_state=0)]
S, y, session = stack_sessions(recs, "spikes")  # (n_bins, n_units) counts at 100 Hz
L, _, _ = stack_sessions(recs, "lfp")  # (n_bins, 96) preprocessed LFP, NaN = absent channel
roles = SegmentSplit(segment_length=500).assign(S, session)
train = roles == "train"

size = dict(segment_length=50, d_model=32, n_layers=2, n_heads=4, random_state=0)

# 3. Teacher on all sessions' spikes, then a frozen copy is distilled into the LFP student.
teacher = MaskedSpikeTransformer(max_epochs=10, decoder_width=32, **size)
teacher.fit(S[train], session=session[train])
student = DistilledLFPTransformer(FrozenEstimator(teacher), max_epochs=15, **size)
student.fit(L[train], teacher_X=S[train], session=session[train])

# 4a. Unsupervised: frozen embedding + linear decoder, per session (LFP only from here on).
test = np.isin(roles, ["val", "test"])
for label in np.unique(session):
    rows = session == label
    Z = student.transform(L[rows], session=session[rows])
    ols = LinearRegression().fit(Z[train[rows]], y[rows][train[rows]])
    print(f"{label}: velocity R2 (val+test) = {ols.score(Z[test[rows]], y[rows][test[rows]]):.3f}")

# 4b. Supervised: fine-tune the student end to end with a linear head on one session.
rows = session == session[0]
reg = SupervisedEncoderRegressor(FrozenEstimator(student), max_epochs=5, random_state=0)
reg.fit(L[rows & train], y[rows & train], session=session[rows & train])
pred = reg.predict(L[rows & test], session=session[rows & test])
print("supervised R2:", round(r2_score(y[rows & test], pred), 3))

# Save the student; loading needs neither the teacher nor spikes.
student.save("student.pt")
print(DistilledLFPTransformer.load("student.pt").transform(L[:5], session=session[:5]).shape)
