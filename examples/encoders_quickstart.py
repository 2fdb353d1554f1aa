"""
Multi-session spike and LFP encoders in a scikit-learn workflow
===============================================================

Simulate three reaching sessions (96 and 95 channels), train a multi-session masked-autoencoding
teacher on the spike counts and an LFP model on the preprocessed LFP, decode velocity from frozen
embeddings with a per-session linear readout, add a session the models never saw, and grid-search
the masking ratio with the per-session segment split. CPU, about two minutes.

Run: ``python examples/encoders_quickstart.py``
"""

# %%
import numpy as np
import sklearn
import torch
from sklearn.linear_model import LinearRegression, RidgeCV
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import Pipeline

from skdistill import LFPTransformer, MaskedSpikeTransformer
from skdistill.data import stack_sessions
from skdistill.datasets import make_reaching_sessions
from skdistill.metrics import r2_per_session
from skdistill.model_selection import SegmentSplit
from skdistill.preprocessing import preprocess_recording

torch.set_num_threads(1)  # small models on a shared machine train faster on one thread
sklearn.set_config(enable_metadata_routing=True)

# %% Data: three sessions; the third is kept back as a "new" session.
recordings = make_reaching_sessions(n_sessions=3, duration=90, random_state=0)
spikes, velocity, session = stack_sessions(recordings[:2], modality="spikes")
lfp, _, _ = stack_sessions([preprocess_recording(r) for r in recordings[:2]], modality="lfp")
print("spikes", spikes.shape, "LFP", lfp.shape, "sessions", sorted(set(session)))

# %% Self-supervised training on the train segments of the reference 80/10/10 split.
roles = SegmentSplit(segment_length=500).assign(spikes, session)
train = roles == "train"
evaluate = np.isin(roles, ["val", "test"])

teacher = MaskedSpikeTransformer(max_epochs=5, random_state=0, verbose=1)
teacher.fit(spikes[train], session=session[train])
lfp_model = LFPTransformer(max_epochs=5, random_state=0).fit(lfp[train], session=session[train])

# %% Frozen embeddings + a per-session linear decoder (the reference protocol).
for name, model, X in (("teacher", teacher, spikes), ("LFP model", lfp_model, lfp)):
    Z = model.transform(X, session=session)
    prediction = np.empty_like(velocity)
    for s in np.unique(session):
        rows = session == s
        decoder = LinearRegression().fit(Z[rows & train], velocity[rows & train])
        prediction[rows] = decoder.predict(Z[rows])
    print(name, r2_per_session(velocity[evaluate], prediction[evaluate], session[evaluate]).round(3).to_dict())

# %% A session the teacher never saw: learn only its session table (old sessions unchanged).
new = recordings[2]
teacher.adapt(new.spikes, session=np.repeat(new.session, len(new.spikes)), max_epochs=2)
print("sessions now:", list(teacher.sessions_))

# %% The same encoder inside a Pipeline, cross-validated and grid-searched with routed sessions.
encoder = MaskedSpikeTransformer(max_epochs=2, random_state=0)
encoder.set_fit_request(session=True).set_transform_request(session=True)
pipe = Pipeline([("encoder", encoder), ("ridge", RidgeCV())])
cv = SegmentSplit(segment_length=500)
scores = cross_validate(pipe, spikes, velocity, cv=cv, params={"session": session, "groups": session})
print("cross-validated R²:", scores["test_score"].round(3))
search = GridSearchCV(pipe, {"encoder__mask_ratio": [0.3, 0.6]}, cv=cv)
search.fit(spikes, velocity, session=session, groups=session)
print("best mask_ratio:", search.best_params_["encoder__mask_ratio"])

# %% Save and load (parameters + weights; read back with torch.load(weights_only=True)).
teacher.save("teacher.pt")
restored = MaskedSpikeTransformer.load("teacher.pt")
assert np.allclose(restored.transform(spikes, session=session), teacher.transform(spikes, session=session))
