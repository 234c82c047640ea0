"""fp16 and int8 variants (bagnet_tools.precisions): the QDQ pass, and the shipped files against their metrics."""

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from bagnet_tools import precisions
from bagnet_tools.arch import build
from bagnet_tools.export import export_onnx, file_entry
from bagnet_tools.fashion import fashion_config, load_split, normalise
from bagnet_tools.ort_node import run_onnx
from conftest import MODELS_DIR, randomize, relative_error

SHIPPED = [MODELS_DIR / "default", MODELS_DIR / "bagnet13-fashion-mnist-w32"]


def test_weights_are_symmetric_per_channel_within_seven_bits():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(6, 3, 3, 3)).astype(np.float32) * np.arange(1, 7, dtype=np.float32)[:, None, None, None]
    weights[2] = 0
    scales, quantised = precisions.weight_params(weights, axis=0)
    assert quantised.dtype == np.int8 and np.abs(quantised).max() == precisions.WEIGHT_LIMIT == 63
    assert scales[2] == 1 and not quantised[2].any()
    error = np.abs(quantised * scales[:, None, None, None] - weights)
    assert (error <= scales[:, None, None, None] / 2 + 1e-7).all()
    # Per channel: each channel's largest weight uses the whole range.
    assert (np.abs(quantised.reshape(6, -1)).max(axis=1)[[0, 1, 3, 4, 5]] == 63).all()
    # Along another axis (the classifier's [features, classes] weight: one scale per class).
    scales, quantised = precisions.weight_params(weights.reshape(6, 27).T, axis=1)
    assert scales.shape == (6,)


@pytest.mark.parametrize("low, high, scale, zero_point", [(0.0, 6.0, 6 / 255, 0), (-1.0, 3.0, 4 / 255, 64),
                                                           (0.5, 2.0, 2 / 255, 0), (-2.0, -1.0, 2 / 255, 255)])
def test_activation_ranges_include_zero(low, high, scale, zero_point):
    got_scale, got_zero = precisions.activation_params(low, high)
    assert got_scale == pytest.approx(scale, rel=1e-6) and got_zero == zero_point


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small")
    model = randomize(build(fashion_config(9)), seed=3).eval()
    export_onnx(model, folder / "model.onnx", example_size=(28, 28))
    images = np.random.default_rng(1).normal(size=(64, 1, 28, 28)).astype(np.float32)
    return folder, onnx.load(str(folder / "model.onnx")), images


def test_int8_runs_integer_convolutions_that_match_the_simulated_graph(small_model, tmp_path):
    folder, model, images = small_model
    ranges = precisions.calibrate(model, images, tmp_path)
    quantised = precisions.quantize_int8(model, ranges)
    path = tmp_path / "model.int8.onnx"
    path.write_bytes(quantised.SerializeToString())
    convs = sum(node.op_type == "Conv" for node in model.graph.node)
    counts = precisions.integer_kernels(path, images[:1], tmp_path)
    # Every convolution became an integer one; the classifier did not (it computes in fp32).
    assert counts.get("QLinearConv", 0) == convs and "Conv" not in counts
    # The classifier's weights were widened once, at load: a float MatMul (not MatMulNBits, whose x86
    # kernel would quantise the activations too).
    assert counts.get("MatMul") == 1 and "MatMulNBits" not in counts and "Cast" not in counts
    # Integer kernels against onnxruntime running the same QDQ graph unfused (quantise, dequantise,
    # float kernels): the same numbers but where a requantisation rounds the other way (one step),
    # which random weights amplify now and then. Measured: mean deviation 0.1% of the largest logit,
    # 15x closer to the simulation than to fp32.
    fused = run_onnx(path, images).output
    simulated = run_onnx(path, images, optimize=False).output
    fp32 = run_onnx(folder / "model.onnx", images).output
    to_simulated, to_fp32 = np.abs(fused - simulated).mean(), np.abs(fused - fp32).mean()
    assert to_simulated <= 0.005 * np.abs(simulated).max() and to_simulated <= 0.2 * to_fp32
    assert (fused.mean(axis=(1, 2)).argmax(1) == simulated.mean(axis=(1, 2)).argmax(1)).mean() >= 0.95
    # And near fp32 (measured: mean deviation 1.5% of the largest logit with random weights).
    assert to_fp32 <= 0.025 * np.abs(fp32).max()


def test_classifier_weights_are_stored_in_int8(small_model, tmp_path):
    _folder, model, images = small_model
    quantised = precisions.quantize_int8(model, precisions.calibrate(model, images, tmp_path))
    types = {init.name: init.data_type for init in quantised.graph.initializer}
    producer = {output: node for node in quantised.graph.node for output in node.output}
    matmul = next(node for node in quantised.graph.node if node.op_type == "MatMul")
    scale = producer[matmul.input[1]]
    cast = producer[scale.input[0]]
    assert (scale.op_type, cast.op_type) == ("Mul", "Cast") and types[cast.input[0]] == onnx.TensorProto.INT8
    # Nothing float is stored but scales (one per channel or tensor) and the classifier's bias.
    floats = [init for init in quantised.graph.initializer if init.data_type == onnx.TensorProto.FLOAT]
    assert all(init.name.endswith("__scale") or "bias" in init.name for init in floats)


def test_fp16_computes_as_fp32_with_rounded_weights(small_model, tmp_path):
    folder, model, images = small_model
    path = tmp_path / "model.fp16.onnx"
    path.write_bytes(precisions.to_fp16(model).SerializeToString())
    # The independent computation: the fp32 graph with every weight rounded to fp16 in numpy.
    rounded = onnx.load(str(folder / "model.onnx"))
    for init in rounded.graph.initializer:
        if init.data_type == onnx.TensorProto.FLOAT:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16).astype(np.float32), init.name))
    (tmp_path / "rounded.onnx").write_bytes(rounded.SerializeToString())
    assert relative_error(run_onnx(path, images).output, run_onnx(tmp_path / "rounded.onnx", images).output) <= 1e-6
    assert path.stat().st_size <= 0.52 * (folder / "model.onnx").stat().st_size


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda f: f.name)
def test_shipped_variants_reproduce_their_recorded_metrics(folder):
    """CI's check: the files are the ones measured, and re-measured on the first 1,000 test images
    they agree with their records within two images."""
    manifest = json.loads((folder / "bagnet.json").read_text())
    images, labels = load_split("test")
    count = precisions.CHECK_IMAGES
    images, labels = normalise(images[:count]), labels[:count]
    reference = run_onnx(folder / manifest["files"]["fp32"]["url"], images, slice_size=500).output
    for precision in precisions.PRECISIONS:
        entry = manifest["files"][precision]
        path = folder / entry["url"]
        assert {k: entry[k] for k in ("url", "bytes", "sha256")} == file_entry(path)
        recorded = entry["metrics"]["firstImages"]
        measured = precisions.fidelity(reference, run_onnx(path, images, slice_size=500).output, labels)
        assert measured["images"] == recorded["images"] == count
        for key in ("top1", "top1Fp32", "agreement"):
            assert abs(measured[key] - recorded[key]) * count <= 2, (precision, key, measured[key], recorded[key])
        # The targets of the issue, on the full test set as recorded.
        full = entry["metrics"]
        assert full["images"] == 10000
        if precision == "int8":
            assert full["agreement"] >= 0.995 and full["top1Fp32"] - full["top1"] <= 0.003
            assert entry["integerConvolutions"] == sum(n.op_type == "Conv" for n in onnx.load(str(path)).graph.node)
        else:
            assert full["agreement"] >= 0.999 and entry["bytes"] <= 0.52 * manifest["files"]["fp32"]["bytes"]


def test_int8_of_the_trained_model_stays_close_to_fp32(tmp_path):
    """The pass itself (not only the shipped file): quantise the default model afresh from 500
    training images and compare with fp32 on 1,000 test images."""
    folder = SHIPPED[0]
    model = onnx.load(str(folder / "model.onnx"))
    train, _ = load_split("train")
    ranges = precisions.calibrate(model, normalise(train[:500]), tmp_path)
    path = tmp_path / "model.int8.onnx"
    path.write_bytes(precisions.quantize_int8(model, ranges).SerializeToString())
    test, _ = load_split("test")
    images = normalise(test[:1000])
    metrics = precisions.fidelity(run_onnx(folder / "model.onnx", images).output, run_onnx(path, images).output, None)
    # Measured: agreement 0.997, mean deviation 0.23% of the largest logit (10,000 images, 2,000 for calibration).
    assert metrics["agreement"] >= 0.99
    assert metrics["meanAbsPatchDeviation"] <= 0.004 * metrics["largestAbsPatchLogit"]


def test_a_calibration_folder_is_preprocessed_as_the_manifest_says(tmp_path):
    from PIL import Image

    Image.new("RGB", (300, 260), (255, 0, 128)).save(tmp_path / "a.png")
    Image.new("RGB", (260, 300), (0, 0, 0)).save(tmp_path / "b.jpg", quality=100)
    (tmp_path / "notes.txt").write_text("not an image")
    manifest = {"input": {"channels": 3, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.5, 1.0],
                          "resize": {"mode": "shorter-side", "size": 256, "crop": 224}}}
    images = precisions.folder_images(manifest, tmp_path, 10)
    assert images.shape == (2, 3, 224, 224)
    assert np.allclose(images[0, :, 100, 100], [(1 - 0.5) / 0.25, (0 - 0.5) / 0.5, (128 / 255 - 0.5) / 1.0], atol=1e-6)
    assert np.allclose(images[1], np.array([-2.0, -1.0, -0.5])[:, None, None], atol=0.05)
    with pytest.raises(ValueError, match="no images"):
        precisions.folder_images(manifest, tmp_path / "..", 0)


def test_the_command_writes_measured_variants_into_another_manifest(tmp_path):
    """`python -m bagnet_tools.precisions FOLDER` (small sets): files, metrics and sample references
    written, and with --manifest-out, bagnet.json left as it was."""
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(SHIPPED[0], folder)
    before = (folder / "bagnet.json").read_text()
    assert precisions.main([str(folder), "--calibration-images", "64", "--evaluation-images", "300",
                            "--manifest-out", "variants.json"]) == 0
    assert (folder / "bagnet.json").read_text() == before
    manifest = json.loads((folder / "variants.json").read_text())
    for precision in precisions.PRECISIONS:
        entry = manifest["files"][precision]
        assert {k: entry[k] for k in ("url", "bytes", "sha256")} == file_entry(folder / entry["url"])
        assert entry["metrics"]["images"] == 300 and entry["metrics"]["dataset"] == "Fashion-MNIST test (first 300)"
        assert "firstImages" not in entry["metrics"]  # fewer images than the check's 1,000
        references = json.loads((folder / f"samples.{precision}.json").read_text())
        assert len(references) == 20 and len(references[0]["patchLogits"]) == 8 * 8 * 10
    assert manifest["files"]["int8"]["calibration"]["images"] == 64
