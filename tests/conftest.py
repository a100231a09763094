"""Shared pytest fixtures."""
import pytest
import torch


@pytest.fixture
def one_thread():
    """The recorded numbers come from torch.set_num_threads(1)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
