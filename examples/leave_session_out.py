"""Leave-session-out evaluation: does an LFP student distilled on one session decode the others?

For each held-out session the student is distilled on the remaining ones (multi-session
distillation: one table per training session), and the held-out session's LFP is routed through
one trained session's parameters (``unknown_session=...``) without any further training. The
MS-LFP baseline is fitted on every session's LFP (as in the reference, it saw the held-out
session in pretraining). Decoding: per-session OLS on train segments, R2 on val+test segments.

Run: ``python examples/leave_session_out.py`` (about 4 minutes on a laptop CPU).
"""

import numpy as np
import torch
from sklearn.frozen import FrozenEstimator

from skdistill import DistilledLFPTransformer, LFPTransformer, MaskedSpikeTransformer
from skdistill.data import stack_sessions
from skdistill.datasets import make_reaching_sessions
from skdistill.evaluation import probe_r2, reference_split
from skdistill.model_selection import LeaveSessionOut
from skdistill.preprocessing import preprocess_recording

torch.set_num_threads(1)
recordings = [preprocess_recording(r)
              for r in make_reaching_sessions(n_sessions=3, duration=60.0, random_state=0)]
S, y, session = stack_sessions(recordings, "spikes")
L, _, _ = stack_sessions(recordings, "lfp")
train, evaluate = reference_split(session)  # 5 s segments, seed 42, 80/10/10
size = dict(segment_length=50, d_model=32, n_layers=2, n_heads=4, random_state=0)

teacher = MaskedSpikeTransformer(max_epochs=10, decoder_width=32, **size).fit(
    S[train], session=session[train])
ms_lfp = LFPTransformer(max_epochs=10, decoder_width=32, **size).fit(L[train], session=session[train])
Z_ms = ms_lfp.transform(L, session=session)

for fit_idx, held_idx in LeaveSessionOut().split(L, groups=session):
    held = session[held_idx[0]]
    fit_rows = np.zeros(len(L), bool)
    fit_rows[fit_idx] = True
    fit_rows &= train
    student = DistilledLFPTransformer(FrozenEstimator(teacher), max_epochs=10, **size)
    student.fit(L[fit_rows], teacher_X=S[fit_rows], session=session[fit_rows])
    student.set_params(unknown_session=student.sessions_[0])  # route through a trained session
    Z = np.zeros((len(L), student.embedding_dim_))
    Z[held_idx] = student.transform(L[held_idx], session=session[held_idx])
    r_student = probe_r2(Z, y, session, train=train, test=evaluate, sessions=[held])[held]
    r_ms = probe_r2(Z_ms, y, session, train=train, test=evaluate, sessions=[held])[held]
    print(f"held out {held}: distilled (routed via {student.sessions_[0]}) R2 {r_student:.3f}; "
          f"MS-LFP (saw it in pretraining) R2 {r_ms:.3f}")
