"""The exported graph: the model's own patch map, with less arithmetic (export.InferenceGraph)."""

import pytest
import torch

from bagnet_tools.arch import IMAGENET_CONFIGS, build
from bagnet_tools.export import InferenceGraph
from bagnet_tools.fashion import fashion_config
from conftest import randomize, relative_error


def conv_macs(module: torch.nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of every convolution ``module`` runs on ``x``, counted from the real outputs."""
    total = 0

    def count(conv, _inputs, output):
        nonlocal total
        total += output.numel() * conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]

    hooks = [m.register_forward_hook(count) for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        module(x)
    for hook in hooks:
        hook.remove()
    return total


CASES = [("fashion q13", fashion_config(13), (28, 28)), ("bagnet33", IMAGENET_CONFIGS["bagnet33"], (96, 80))]


@pytest.mark.parametrize("name,config,size", CASES, ids=[c[0] for c in CASES])
def test_the_inference_graph_computes_the_models_patch_map(name, config, size):
    model = randomize(build(config), seed=7)
    x = torch.randn(2, config.in_channels, *size)
    with torch.no_grad():
        expected, actual = model(x), InferenceGraph(model)(x)
    assert actual.shape == expected.shape
    assert relative_error(actual.numpy(), expected.numpy()) <= 1e-5


def test_the_inference_graph_does_less_arithmetic():
    # The default model's architecture at 28×28: 36.7 M multiply-adds as trained.
    model = randomize(build(fashion_config(13)), seed=7)
    x = torch.randn(1, 1, 28, 28)
    before, after = conv_macs(model, x), conv_macs(InferenceGraph(model), x)
    assert before == 36_705_408
    # The model's stem, 1x1 (1->24) then 3x3 (24->24) on 26×26, becomes one 3x3 (1->24); the
    # shortcuts computed only where they are kept save the rest.
    stem_saving = 24 * 28 * 28 + (24 * 24 - 24) * 9 * 26 * 26
    assert before - after > stem_saving
    assert after < 0.82 * before
