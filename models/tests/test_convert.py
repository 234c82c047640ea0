"""The converter for the authors' checkpoints: success, and every way a bad file fails cleanly."""

import json

import numpy as np
import onnx
import pytest
import torch
import torchvision

from bagnet_tools.arch import IMAGENET_CONFIGS, build
from bagnet_tools.convert import CheckpointError, load_checkpoint, main
from bagnet_tools.ort_node import run_onnx
from conftest import randomize, relative_error


def save_like_the_authors(model, path, prefix="module.", drop_batch_counters=True):
    state = {prefix + k: v for k, v in model.state_dict().items()
             if not (drop_batch_counters and k.endswith("num_batches_tracked"))}
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def bagnet9_checkpoint(tmp_path_factory):
    model = randomize(build(IMAGENET_CONFIGS["bagnet9"]), seed=9)
    path = save_like_the_authors(model, tmp_path_factory.mktemp("ckpt") / "bagnet8-34f4ccd2.pth.tar")
    return model, path


def test_converts_a_checkpoint_into_a_model_folder(bagnet9_checkpoint, tmp_path):
    model, checkpoint = bagnet9_checkpoint
    out = tmp_path / "bagnet9-imagenet"
    assert main([str(checkpoint), "--out", str(out), "--calibration-images", "4"]) == 0
    manifest = json.loads((out / "bagnet.json").read_text())
    # fp16 and int8 beside fp32 by default (int8 calibrated on synthetic images here).
    fp32_bytes = manifest["files"]["fp32"]["bytes"]
    assert set(manifest["files"]) == {"fp32", "fp16", "int8"}
    assert manifest["files"]["fp16"]["bytes"] <= 0.52 * fp32_bytes and manifest["files"]["int8"]["bytes"] <= 0.27 * fp32_bytes
    convs = sum(node.op_type == "Conv" for node in onnx.load(str(out / "model.onnx")).graph.node)
    assert manifest["files"]["int8"]["integerConvolutions"] == convs
    assert manifest["files"]["int8"]["calibration"] == {"images": 4, "source": "synthetic, 4 images"}
    assert manifest["arch"] == "bagnet9" and manifest["patchSize"] == 9
    assert manifest["stride"] == 8 and manifest["offset"] == 0
    assert len(manifest["labels"]) == 1000 and manifest["labels"][0] == "tench"
    assert manifest["input"] == {"channels": 3, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                                 "resize": {"mode": "shorter-side", "size": 256, "crop": 224}}
    assert manifest["provenance"]["checkpoint"]["file"] == "bagnet8-34f4ccd2.pth.tar"
    assert manifest["files"]["fp32"]["bytes"] == (out / "model.onnx").stat().st_size
    x = torch.randn(1, 3, 64, 80, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(x)
    assert relative_error(run_onnx(out / "model.onnx", x.numpy()).output, expected) <= 1e-4
    # An existing folder is not overwritten without --force.
    assert main([str(checkpoint), "--out", str(out)]) == 2
    # --precisions with nothing after it: fp32 only.
    assert main([str(checkpoint), "--out", str(tmp_path / "fp32-only"), "--precisions"]) == 0
    assert set(json.loads((tmp_path / "fp32-only" / "bagnet.json").read_text())["files"]) == {"fp32"}


@pytest.mark.parametrize("name", list(IMAGENET_CONFIGS))
def test_auto_detects_each_architecture(name, tmp_path):
    model = randomize(build(IMAGENET_CONFIGS[name]), seed=1)
    path = save_like_the_authors(model, tmp_path / "weights.pth", prefix="")
    loaded, arch = load_checkpoint(path)
    assert arch == name
    for key, value in model.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(loaded.state_dict()[key], value), key


def assert_fails_without_writing(argv, tmp_path, capsys, *fragments):
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) == 2
    message = capsys.readouterr().err
    for fragment in fragments:
        assert fragment in message, message
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []
    return message


def test_wrong_architecture_names_the_mismatched_shapes(bagnet9_checkpoint, tmp_path, capsys):
    _, checkpoint = bagnet9_checkpoint
    assert_fails_without_writing([str(checkpoint), "--arch", "bagnet33"], tmp_path, capsys,
                                 "does not match bagnet33",
                                 "layer3.0.conv2.weight: checkpoint [256, 256, 1, 1], model [256, 256, 3, 3]",
                                 "layer4.0.conv2.weight")


def test_truncated_file_fails_clearly(bagnet9_checkpoint, tmp_path, capsys):
    _, checkpoint = bagnet9_checkpoint
    truncated = tmp_path / "truncated.pth.tar"
    truncated.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    assert_fails_without_writing([str(truncated)], tmp_path, capsys, "not a readable PyTorch checkpoint")


def test_a_resnet_is_not_a_bagnet(tmp_path, capsys):
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    message = assert_fails_without_writing([str(path)], tmp_path, capsys,
                                           "not a BagNet-9, -17 or -33 checkpoint", "missing key(s)",
                                           "conv1.weight: checkpoint [64, 3, 7, 7], model [64, 3, 1, 1]")
    assert "layer1.0.conv3.weight" in message


def test_foreign_keys_are_listed(tmp_path, capsys):
    path = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(4, 4), "decoder.bias": torch.zeros(4)}, path)
    assert_fails_without_writing([str(path)], tmp_path, capsys, "2 unexpected key(s): encoder.weight, decoder.bias",
                                 "missing key(s)")


def test_not_a_state_dict(tmp_path, capsys):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], path)
    assert_fails_without_writing([str(path)], tmp_path, capsys, "expected a state dict")
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "missing.pth")
