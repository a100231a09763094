"""Shared pytest fixtures.

The tests mirror the package layout (tests/models for pose3dbench.models, tests/eval for pose3dbench.eval, ...).
``tests`` and its folders are packages: pytest imports a test module as ``tests.<folder>.<module>`` with the
repository root on ``sys.path`` (pyproject's ``pythonpath``), so the shared builders are imported as
``tests.helpers.<module>`` (see tests/helpers/__init__.py) and no test module imports another.
"""
import pytest
import torch


@pytest.fixture
def one_thread():
    """The recorded numbers come from torch.set_num_threads(1)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
