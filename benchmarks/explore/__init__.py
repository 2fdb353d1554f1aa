"""Exploratory scripts (not benchmarks): ``python -m benchmarks.explore.<name>``."""
