"""Shared pytest fixtures, and the import path of the test helpers.

The tests mirror the package layout (tests/models for pose3dbench.models, tests/eval for pose3dbench.eval,
...); helper modules (conformance_utils, run_utils, byo_model) sit in tests/ and a few builders are shared
between folders (test_pipeline_conformance.build_dataset, test_h36m.make_real_s11): every test folder is
importable by module name, whichever file pytest collects first.
"""
import sys
from pathlib import Path

import pytest
import torch

_TESTS = Path(__file__).resolve().parent
for _folder in [_TESTS, *sorted(p for p in _TESTS.iterdir()
                                if p.is_dir() and p.name not in ("fixtures", "__pycache__"))]:
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))


@pytest.fixture
def one_thread():
    """The recorded numbers come from torch.set_num_threads(1)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
