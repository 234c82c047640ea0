import sys
from pathlib import Path

import pytest
import torch

MODELS_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(MODELS_DIR))

from bagnet_tools.fixtures import randomize  # noqa: E402,F401  (re-exported for the tests)


def relative_error(actual, expected) -> float:
    """max |actual - expected| relative to the largest magnitude of ``expected``."""
    actual = torch.as_tensor(actual, dtype=torch.float64)
    expected = torch.as_tensor(expected, dtype=torch.float64)
    return float((actual - expected).abs().max() / expected.abs().max().clamp_min(1e-12))


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)
