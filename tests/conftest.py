"""Suite-wide settings."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    # The tests train tiny models: on a shared 2-core machine, two intra-op threads made them up to
    # 10x slower than one (thread hand-off dominates). Benchmarks keep torch's default.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
