"""Simulators (the embedded default data) and vendored small real files.

* :func:`make_reaching_sessions` -- multi-session 2-D reaching with paired Poisson spikes and
  a 1 kHz LFP (the distillation method's data); the LFP model is versioned: ``lfp_model=
  "population"`` (default: the synaptic currents of a large local population) or ``"mrp"``
  (the earlier model, bit for bit).
* :func:`make_ieeg_cohort` -- a multiregional sEEG cohort on the real Brain Treebank electrode
  positions with a binary speech task (BaRISTA's data).
"""

from skdistill.datasets._reaching import make_reaching_sessions
from skdistill.datasets._ieeg import load_btbank_coordinates, make_ieeg_cohort

__all__ = ["make_reaching_sessions", "make_ieeg_cohort", "load_btbank_coordinates"]
