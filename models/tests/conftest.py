import sys
from pathlib import Path

import pytest
import torch

MODELS_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(MODELS_DIR))

from bagnet_tools.arch import BagNet  # noqa: E402


def randomize(model: BagNet, seed: int) -> BagNet:
    """Random weights *and* BatchNorm statistics, so no layer is an identity and errors show."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(0.5 + torch.rand(n, generator=generator))
                module.bias.copy_(0.1 * torch.randn(n, generator=generator))
                module.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
            elif isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
                if module.bias is not None:
                    module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=generator))
    return model.eval()


def relative_error(actual, expected) -> float:
    """max |actual - expected| relative to the largest magnitude of ``expected``."""
    actual = torch.as_tensor(actual, dtype=torch.float64)
    expected = torch.as_tensor(expected, dtype=torch.float64)
    return float((actual - expected).abs().max() / expected.abs().max().clamp_min(1e-12))


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)
