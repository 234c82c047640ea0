"""The three ImageNet BagNets, with random weights, exported to ONNX and run by onnxruntime."""

import json

import numpy as np
import pytest
import torch

from bagnet_tools.arch import IMAGENET_CONFIGS, build, count_parameters
from bagnet_tools.export import export_onnx
from bagnet_tools.ort_node import run_onnx
from conftest import MODELS_DIR, randomize, relative_error

# Keys and shapes of the authors' published checkpoints (copied from the project's shared reference data).
REFERENCE = MODELS_DIR / "reference" / "official-bagnet-state-dict-shapes.json"
PATCH = {"bagnet9": 9, "bagnet17": 17, "bagnet33": 33}
STRIDE = 8


@pytest.fixture(scope="module", params=list(IMAGENET_CONFIGS))
def exported(request, tmp_path_factory):
    name = request.param
    model = randomize(build(IMAGENET_CONFIGS[name]), seed=list(IMAGENET_CONFIGS).index(name))
    path = tmp_path_factory.mktemp(name) / "model.onnx"
    export_onnx(model, path)
    return name, model, path


def expected_cells(size: int, q: int) -> int:
    # The positions where a whole q×q patch fits, one every STRIDE pixels.
    return (size - q) // STRIDE + 1


def test_architecture_matches_the_published_checkpoints():
    reference = json.loads(REFERENCE.read_text())
    for name, config in IMAGENET_CONFIGS.items():
        ours = {k: list(v.shape) for k, v in build(config).state_dict().items()}
        assert ours == reference[name], name


def test_patch_size_and_parameter_counts():
    counts = {name: count_parameters(build(c)) for name, c in IMAGENET_CONFIGS.items()}
    assert {n: IMAGENET_CONFIGS[n].patch_size for n in counts} == PATCH
    assert {n: round(c / 1e6, 1) for n, c in counts.items()} == {"bagnet9": 15.7, "bagnet17": 16.2, "bagnet33": 18.3}


def test_mean_of_patch_logits_equals_pooled_logits(exported):
    name, model, path = exported
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    result = run_onnx(path, x.numpy())
    assert result.input_names == ["input"] and result.output_names == ["patch_logits"]
    cells = expected_cells(224, PATCH[name])
    assert result.output.shape == (2, cells, cells, 1000)
    with torch.no_grad():
        pooled = model.pooled_logits(x)  # the authors' avg-pool-then-fc path, in PyTorch
    assert relative_error(result.output.mean(axis=(1, 2)), pooled) <= 1e-4


def test_each_cell_is_the_network_on_its_patch_alone(exported):
    name, _, path = exported
    q = PATCH[name]
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(2)).numpy()
    full = run_onnx(path, x).output[0]
    rows, cols = full.shape[:2]
    rng = np.random.default_rng(3)
    cells = [(0, 0), (0, cols - 1), (rows - 1, 0), (rows - 1, cols - 1)]
    cells += [tuple(int(i) for i in rng.integers(0, (rows, cols))) for _ in range(12)]
    crops = np.concatenate([x[:, :, STRIDE * u:STRIDE * u + q, STRIDE * v:STRIDE * v + q] for u, v in cells])
    alone = run_onnx(path, crops).output
    assert alone.shape == (len(cells), 1, 1, 1000)
    for i, (u, v) in enumerate(cells):
        assert relative_error(alone[i, 0, 0], full[u, v]) <= 1e-4, (u, v)
    # And a patch shifted by one pixel is different: the check above can fail.
    shifted = x[:, :, 1:1 + q, 0:q]
    assert relative_error(run_onnx(path, shifted).output[0, 0, 0], full[0, 0]) > 1e-3


def test_non_square_input_gives_the_expected_map(exported):
    name, model, path = exported
    q = PATCH[name]
    x = torch.randn(1, 3, 200, 300, generator=torch.Generator().manual_seed(4))
    out = run_onnx(path, x.numpy()).output
    assert out.shape == (1, expected_cells(200, q), expected_cells(300, q), 1000)
    with torch.no_grad():
        torch_map = model(x)
    assert relative_error(out, torch_map) <= 1e-4
