"""The Fashion-MNIST BagNets: geometry, the training script, and the shipped default model."""

import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image

from bagnet_tools.arch import build, receptive_field
from bagnet_tools.fashion import LABELS, fashion_config, load_split, normalise
from bagnet_tools.make_default import DEFAULT_MAX_MULTIPLY_ADDS, multiply_adds, pick_run
from bagnet_tools.ort_node import run_onnx
from bagnet_tools.train_fashion import finalize, main as train
from conftest import MODELS_DIR, randomize, relative_error

DEFAULT = MODELS_DIR / "default"
# The shipped Fashion-MNIST models: the default, and the more accurate (and 1.8x costlier) width-32 one.
SHIPPED = [DEFAULT, MODELS_DIR / "bagnet13-fashion-mnist-w32"]


@pytest.mark.parametrize("q, cells", [(5, 12), (9, 10), (13, 8), (17, 6), (21, 4)])
def test_patch_sizes_and_map_sizes(q, cells):
    config = fashion_config(q)
    assert receptive_field(config) == q and config.total_stride == 2
    with torch.no_grad():
        out = build(config).eval()(torch.zeros(1, 1, 28, 28))
    assert out.shape == (1, cells, cells, 10) == (1, *config.map_size(28, 28), 10)


@pytest.mark.parametrize("q", [5, 9, 13])
def test_each_cell_sees_only_its_patch(q):
    model = randomize(build(fashion_config(q)), seed=q)
    x = torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = model(x)[0]
        for u, v in [(0, 0), (1, 3), (full.shape[0] - 1, full.shape[1] - 1)]:
            alone = model(x[:, :, 2 * u:2 * u + q, 2 * v:2 * v + q])[0, 0, 0]
            assert relative_error(alone, full[u, v]) <= 1e-5
            # Changing every pixel outside the patch leaves the cell as it is.
            noisy = torch.randn_like(x)
            noisy[:, :, 2 * u:2 * u + q, 2 * v:2 * v + q] = x[:, :, 2 * u:2 * u + q, 2 * v:2 * v + q]
            assert relative_error(model(noisy)[0, u, v], full[u, v]) <= 1e-5


def test_training_script_runs_and_records_its_recipe(tmp_path):
    metrics = train(["--patch-size", "9", "--epochs", "1", "--limit-train", "512", "--val-size", "500",
                     "--batch-size", "64", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["top1_test"] == metrics["top1_test"] and saved["test_images"] == 10000
    assert saved["recipe"]["seed"] == 0 and saved["config"]["kernel3"] == [1, 1, 0]
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 1
    assert "top1_val_before_bn_recalibration" in saved and saved["bn_recalibration_images"] == 512
    # Finalising again starts from the trained weights: same numbers.
    assert finalize(tmp_path)["top1_test"] == metrics["top1_test"]
    checkpoint = torch.load(tmp_path / "checkpoint.pt")
    model = build(fashion_config(9))
    model.load_state_dict(checkpoint["state_dict"])


def test_an_interrupted_run_resumed_is_the_run_that_was_not_interrupted(tmp_path):
    common = ["--patch-size", "5", "--epochs", "2", "--limit-train", "256", "--val-size", "500", "--batch-size", "64"]
    whole = train([*common, "--out", str(tmp_path / "whole")])
    assert train([*common, "--stop-after", "1", "--out", str(tmp_path / "parts")]) == {"stopped_after_epoch": 1}
    assert not (tmp_path / "parts" / "metrics.json").exists()
    with pytest.raises(SystemExit, match="seed"):
        train([*common, "--seed", "1", "--resume", "--out", str(tmp_path / "parts")])
    resumed = train([*common, "--resume", "--out", str(tmp_path / "parts")])
    assert resumed["top1_test"] == whole["top1_test"] and resumed["top1_val"] == whole["top1_val"]
    a = torch.load(tmp_path / "whole" / "checkpoint.pt")["state_dict"]
    b = torch.load(tmp_path / "parts" / "checkpoint.pt")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert len((tmp_path / "parts" / "log.jsonl").read_text().splitlines()) == 2


# --- the shipped models ------------------------------------------------------------------------

@pytest.fixture(scope="module", params=SHIPPED, ids=[p.name for p in SHIPPED])
def shipped(request):
    return request.param, json.loads((request.param / "bagnet.json").read_text())


def test_shipped_model_files_and_manifest(shipped):
    folder, manifest = shipped
    onnx_file = folder / manifest["files"]["fp32"]["url"]
    data = onnx_file.read_bytes()
    assert len(data) <= 5 * 1024 * 1024
    assert manifest["files"]["fp32"] == {"url": "model.onnx", "bytes": len(data),
                                         "sha256": hashlib.sha256(data).hexdigest()}
    assert manifest["patchSize"] <= 13 and manifest["stride"] == 2 and manifest["offset"] == 0
    assert manifest["labels"] == LABELS
    assert manifest["metrics"]["dataset"] == "Fashion-MNIST test" and manifest["metrics"]["top1"] >= 0.92
    assert manifest["provenance"]["recipe"]["seed"] is not None


def test_shipped_model_reaches_its_reported_accuracy_in_onnxruntime(shipped):
    folder, manifest = shipped
    images, labels = load_split("test")
    output = run_onnx(folder / "model.onnx", normalise(images)).output
    assert output.shape[1] >= 8 and output.shape[2] >= 8  # at least an 8x8 evidence map
    accuracy = float((output.mean(axis=(1, 2)).argmax(1) == labels).mean())
    # Measured by PyTorch in training; onnxruntime may flip a borderline image or two.
    assert abs(accuracy - manifest["metrics"]["top1"]) <= 2 / len(labels)
    assert accuracy >= 0.92


def test_shipped_samples_match_onnxruntime(shipped):
    folder, _ = shipped
    samples = json.loads((folder / "samples.json").read_text())
    assert len(samples) == 20
    assert sorted(s["labelIndex"] for s in samples) == sorted(list(range(10)) * 2)
    images, labels = load_split("test")
    pixels = np.stack([np.asarray(Image.open(folder / s["file"])) for s in samples])
    for sample, image in zip(samples, pixels):
        assert np.array_equal(image, images[sample["testIndex"]]) and labels[sample["testIndex"]] == sample["labelIndex"]
    logits = run_onnx(folder / "model.onnx", normalise(pixels)).output.mean(axis=(1, 2))
    for sample, row in zip(samples, logits):
        assert relative_error(row, sample["logits"]) <= 1e-4
        assert int(row.argmax()) == sample["predicted"]


def test_the_default_is_the_best_light_model_by_validation(tmp_path):
    """make_default's choice: best validation top-1 among q <= 13 within the cost budget, never the test set."""
    def run(name, q, width, val, test):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "metrics.json").write_text(json.dumps(
            {"patchSize": q, "top1_val": val, "top1_test": test, "config": fashion_config(q, width).to_json()}))
    run("light", 13, 24, 0.930, 0.920)
    run("light-better-test", 9, 24, 0.925, 0.950)
    run("too-costly", 13, 32, 0.940, 0.940)
    run("too-wide-a-patch", 17, 24, 0.945, 0.945)
    assert multiply_adds(fashion_config(13, 24)) <= DEFAULT_MAX_MULTIPLY_ADDS < multiply_adds(fashion_config(13, 32))
    assert pick_run(tmp_path, 13, DEFAULT_MAX_MULTIPLY_ADDS).name == "light"
    assert pick_run(tmp_path, 13, float("inf")).name == "too-costly"
    assert pick_run(tmp_path, 17, float("inf")).name == "too-wide-a-patch"
