"""The exact map's stages (bagnet_tools/stages.py): fed phase crops, they give every shift's patch map."""

import json
from dataclasses import replace

import onnx
import pytest
import torch

from bagnet_tools.arch import IMAGENET_CONFIGS, build
from bagnet_tools.export import InferenceGraph, write_model_folder
from bagnet_tools.fashion import fashion_config
from bagnet_tools.ort_node import run_onnx
from bagnet_tools.stages import split_stages
from conftest import randomize, relative_error


def staged_shift(stages, padded: torch.Tensor, dy: int, dx: int, classes: torch.Tensor) -> torch.Tensor:
    """What the worker does for shift (dy, dx): stage i's input is stage i - 1's output cropped by
    bit i - 1 of the shift, one row and column shorter."""
    x = stages[0](padded)
    for i, stage in enumerate(stages[1:], start=1):
        py, px = (dy >> (i - 1)) & 1, (dx >> (i - 1)) & 1
        x = x[:, :, py:py + x.shape[2] - 1, px:px + x.shape[3] - 1]
        x = stage(x, classes) if i == len(stages) - 1 else stage(x)
    return x


CASES = [("fashion q13", fashion_config(13), 28, [(0, 0), (0, 1), (1, 0), (1, 1)]),
         ("bagnet33", IMAGENET_CONFIGS["bagnet33"], 40, [(0, 0), (7, 7), (1, 6), (4, 0), (3, 5)]),
         ("bagnet9", IMAGENET_CONFIGS["bagnet9"], 24, [(0, 0), (6, 1), (7, 7)])]


@pytest.mark.parametrize("name,config,size,shifts", CASES, ids=[c[0] for c in CASES])
def test_stages_fed_phase_crops_give_each_shifts_patch_map(name, config, size, shifts):
    model = randomize(build(config), seed=11)
    graph = InferenceGraph(model).eval()
    stages = split_stages(model, graph.stem)
    stride, q = config.total_stride, config.patch_size
    assert len(stages) == stride.bit_length()  # one per halving, plus stage 0
    height, width = size, size + 5
    image = torch.randn(1, config.in_channels, height, width, generator=torch.Generator().manual_seed(3))
    p = (q - 1) // 2
    # As the worker pads: the reference's (q - 1) / 2 zeros, and stride - 1 more at the bottom/right,
    # which the phase crops (one row and column each stage) may take without losing a needed cell.
    padded = torch.nn.functional.pad(image, (p, p + stride - 1, p, p + stride - 1))
    classes = torch.tensor([config.num_classes - 1, 0, 3])
    with torch.no_grad():
        for dy, dx in shifts:
            staged = staged_shift(stages, padded, dy, dx, classes)
            # The reference: the whole network on the shift's crop of the image padded by p only.
            whole = graph(padded[:, :, dy:p + height + p, dx:p + width + p])[..., classes]
            needed = ((height - 1 - dy) // stride + 1, (width - 1 - dx) // stride + 1)
            assert whole.shape[1:3] == needed
            assert staged.shape[1] >= needed[0] and staged.shape[2] >= needed[1]
            rows, cols = needed
            assert relative_error(staged[:, :rows, :cols], whole) <= 1e-5, (dy, dx)


# Manifest fields of the small random models written below.
FIELDS = {"labels": [str(i) for i in range(10)],
          "input_spec": {"channels": 3, "mean": [0.5] * 3, "std": [0.5] * 3, "resize": {"mode": "none"}},
          "metrics": {"dataset": "none", "top1": None, "note": "untrained"}, "provenance": {}}


def test_model_folders_list_their_stages(tmp_path):
    tiny = replace(IMAGENET_CONFIGS["bagnet9"], widths=(4, 4, 4, 4), stem_width=4, num_classes=10)
    manifest = write_model_folder(tmp_path / "tiny", randomize(build(tiny), seed=2), {"name": "tiny", **FIELDS})
    assert [s["url"] for s in manifest["stages"]] == ["stage0.onnx", "stage1.onnx", "stage2.onnx", "stage3.onnx"]
    assert json.loads((tmp_path / "tiny" / "bagnet.json").read_text())["stages"] == manifest["stages"]
    # At stride 2 (the Fashion-MNIST models) the stages would share only the stem: none are written.
    fashion = write_model_folder(tmp_path / "fashion", randomize(build(fashion_config(9, width=4)), seed=2),
                                 {"name": "fashion", **FIELDS, "input_spec": {**FIELDS["input_spec"], "channels": 1,
                                                                          "mean": [0.5], "std": [0.5]}})
    assert "stages" not in fashion and not list((tmp_path / "fashion").glob("stage*"))
    last = onnx.load(str(tmp_path / "tiny" / "stage3.onnx"))
    assert [i.name for i in last.graph.input] == ["input", "classes"]
    assert [o.name for o in last.graph.output] == ["patch_logits"]


def test_stage_files_take_their_weights_from_the_whole_models_file(tmp_path):
    """The exported stages carry graphs only: their weights are external data inside model.onnx, and
    run in onnxruntime from the files they give what the PyTorch stages give."""
    config = replace(IMAGENET_CONFIGS["bagnet17"], widths=(8, 8, 16, 16), stem_width=8, num_classes=10)
    model = randomize(build(config), seed=4)
    manifest = write_model_folder(tmp_path / "m", model, {"name": "m", **FIELDS})
    folder = tmp_path / "m"
    whole_size = (folder / "model.onnx").stat().st_size
    # (tensors under 256 bytes stay in the stage: a reference would be as large)
    weights = sum(len(t.raw_data) for t in onnx.load(str(folder / "model.onnx")).graph.initializer if len(t.raw_data) >= 256)
    external = 0
    for entry in manifest["stages"]:
        assert entry["externalData"] == "model.onnx"
        proto = onnx.load(str(folder / entry["url"]), load_external_data=False)
        for tensor in proto.graph.initializer:
            if tensor.data_location == onnx.TensorProto.EXTERNAL:
                reference = {e.key: e.value for e in tensor.external_data}
                assert reference["location"] == "model.onnx"
                external += int(reference["length"])
            else:
                assert len(tensor.raw_data) < 256, tensor.name  # only tiny constants stay inside
    # Every weight of the whole network is some stage's, once; none is stored a second time.
    assert external == weights
    assert sum(entry["bytes"] for entry in manifest["stages"]) < whole_size

    stages = split_stages(model.eval(), InferenceGraph(model).stem)
    paths = [folder / entry["url"] for entry in manifest["stages"]]

    def onnx_stage(path):  # onnxruntime-node reads the weights from model.onnx
        return lambda x, *classes: torch.from_numpy(run_onnx(
            path, x.numpy(), int64={"classes": classes[0].tolist()} if classes else None).output)

    torch.manual_seed(0)
    padded = torch.randn(1, 3, 17 + 24 + 8 - 2, 17 + 24 + 8 - 2)
    classes = torch.tensor([3, 7])
    for dy, dx in [(0, 0), (5, 2), (7, 7)]:
        with torch.no_grad():
            expected = staged_shift(stages, padded, dy, dx, classes)
        assert relative_error(staged_shift([onnx_stage(p) for p in paths], padded, dy, dx, classes), expected) <= 1e-5, (dy, dx)
