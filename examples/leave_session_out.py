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

from skdistill._comparison import decode_r2, simulate_paired
from skdistill.estimators import LFPTransformer, MaskedSpikeTransformer
from skdistill.estimators._distilled import DistilledLFPTransformer
from skdistill.model_selection import LeaveSessionOut, SegmentSplit

torch.set_num_threads(1)
S, L, y, session = simulate_paired(n_sessions=3, duration=60.0, random_state=0)
roles = SegmentSplit(segment_length=500).assign(S, session)
train = roles == "train"
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
    r_student = decode_r2(Z, y, session, roles, [held])[held]
    r_ms = decode_r2(Z_ms, y, session, roles, [held])[held]
    print(f"held out {held}: distilled (routed via {student.sessions_[0]}) R2 {r_student:.3f}; "
          f"MS-LFP (saw it in pretraining) R2 {r_ms:.3f}")
