"""Less arithmetic, the same patch map: shortcuts computed only where kept (arch.Bottleneck) and the
stem's two convolutions multiplied into one (export.InferenceGraph)."""

import pytest
import torch

from bagnet_tools.arch import IMAGENET_CONFIGS, BagNet, Bottleneck, build
from bagnet_tools.export import InferenceGraph, conv_macs
from bagnet_tools.fashion import fashion_config
from conftest import randomize, relative_error


def authors_block(block: Bottleneck, x: torch.Tensor) -> torch.Tensor:
    """The bottleneck as the authors' bagnets/pytorchnet.py runs it: shortcut everywhere, then cropped."""
    residual = x if block.downsample is None else block.downsample(x)
    out = block.relu(block.bn1(block.conv1(x)))
    out = block.relu(block.bn2(block.conv2(out)))
    out = block.bn3(block.conv3(out))
    return block.relu(out + residual[:, :, :out.shape[-2], :out.shape[-1]])


def authors_map(model: BagNet, x: torch.Tensor) -> torch.Tensor:
    x = model.relu(model.bn1(model.conv2(model.conv1(x))))
    for index in range(1, model.num_layers + 1):
        for block in getattr(model, f"layer{index}"):
            x = authors_block(block, x)
    return model.fc(x.permute(0, 2, 3, 1))


CASES = [("fashion q13", fashion_config(13), (28, 28)), ("bagnet33", IMAGENET_CONFIGS["bagnet33"], (96, 80))]


@pytest.mark.parametrize("name,config,size", CASES, ids=[c[0] for c in CASES])
def test_the_model_and_its_inference_graph_compute_the_authors_patch_map(name, config, size):
    model = randomize(build(config), seed=7)
    x = torch.randn(2, config.in_channels, *size)
    with torch.no_grad():
        expected = authors_map(model, x)
        ours, graph = model(x), InferenceGraph(model)(x)
    assert ours.shape == graph.shape == expected.shape
    assert relative_error(ours.numpy(), expected.numpy()) <= 1e-5  # float rounding: other convolution sizes
    assert relative_error(graph.numpy(), expected.numpy()) <= 1e-5


def test_each_step_saves_what_it_should():
    # The default model's architecture at 28×28.
    model = randomize(build(fashion_config(13)), seed=7)
    x = torch.randn(1, 1, 28, 28)
    authors = conv_macs(lambda t: authors_map(model, t), model, x)
    ours = conv_macs(model, model, x)
    inference_graph = InferenceGraph(model)
    graph = conv_macs(inference_graph, inference_graph, x)
    assert authors == 36_705_408
    # The shortcuts: layer1 96×24 at 13×13 → 12×12, layer2 192×96 at 12×12 → 10×10, layer3 384×192 at 10×10 → 8×8.
    assert authors - ours == 96 * 24 * (169 - 144) + 192 * 96 * (144 - 100) + 384 * 192 * (100 - 64)
    # The stem: 1x1 (1→24) at 28×28 and 3x3 (24→24) at 26×26 become one 3x3 (1→24).
    assert ours - graph == 24 * 28 * 28 + (24 * 24 - 24) * 9 * 26 * 26
