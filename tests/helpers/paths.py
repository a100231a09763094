"""Where the test fixtures are, and the model specs of the helper models (``path.py:function``)."""
from __future__ import annotations

from pathlib import Path

HELPERS = Path(__file__).resolve().parent
TESTS = HELPERS.parent
REPO = TESTS.parent
FIXTURES = TESTS / "fixtures"

#: the real Human3.6M S11 record (annotations of one frame) and the real RootNet files of both protocols
H36M_REAL = FIXTURES / "h36m-real"
REAL_FRAME = H36M_REAL / "s11_frame"
S11_ANNOTATIONS = REAL_FRAME / "annotations"
P1_FILE = H36M_REAL / "bbox_root" / "bbox_root_human36m_output_protocol1_S11.json"
P2_FILE = H36M_REAL / "bbox_root" / "bbox_root_human36m_output_protocol2_S9_S11.json"
#: the image id of the real S11 record
IMAGE_ID = 1877420

BYO_FILE = HELPERS / "byo_model.py"
#: the bring-your-own model as a ``--model`` spec
BYO = f"{BYO_FILE}:build"
TINY_MODELS = HELPERS / "tiny_models.py"


def tiny_spec(function: str) -> str:
    """A ``--model`` spec of one of the tiny models (``build_slow``, ``build_rootnet``, ...)."""
    return f"{TINY_MODELS}:{function}"
