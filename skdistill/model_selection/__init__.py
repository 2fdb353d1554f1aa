"""Session- and time-aware cross-validation splitters (usable as ``cv=`` in sklearn)."""

from skdistill.model_selection._split import ChronologicalFolds, LeaveSessionOut, SegmentSplit

__all__ = ["SegmentSplit", "LeaveSessionOut", "ChronologicalFolds"]
