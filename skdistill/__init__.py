"""skdistill: scikit-learn estimators for neural-data foundation models.

Two methods, as ordinary fit/transform estimators:

* spike -> LFP cross-modal distillation (``MaskedSpikeTransformer``, ``LFPTransformer``,
  ``DistilledLFPTransformer``);
* BaRISTA spatiotemporal iEEG transformers (``BaristaTransformer``, ``BaristaClassifier``).

Estimators are imported lazily so that ``import skdistill`` stays fast and the data layer
(``skdistill.data``, ``skdistill.datasets``, ``skdistill.io``) works without loading torch.
"""

import importlib

__version__ = "0.1.0.dev0"

_ESTIMATORS = (
    "MaskedSpikeTransformer",
    "LFPTransformer",
    "DistilledLFPTransformer",
    "SupervisedEncoderRegressor",
    "BaristaTransformer",
    "BaristaClassifier",
)

__all__ = ["__version__", *_ESTIMATORS]


def __getattr__(name):
    if name in _ESTIMATORS:
        estimators = importlib.import_module("skdistill.estimators")
        return getattr(estimators, name)
    raise AttributeError(f"module 'skdistill' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_ESTIMATORS))
