"""fp16 and int8 variants of a model folder, each with its fidelity against fp32 measured.

    python3 -m bagnet_tools.precisions default --calibration fashion --evaluate fashion

- ``fp16``: every float weight stored in half precision, widened by a ``Cast`` at the top of the
  graph. onnxruntime folds those casts once when it creates the session, so the file is half the
  download and computes exactly as an fp32 graph with those (rounded) weights, on WASM and WebGPU.
- ``int8``: static QDQ. Convolution weights per output channel, symmetric int8 (7 bits used, see
  ``WEIGHT_LIMIT``); the activations that
  enter a convolution or a residual sum, uint8 with a range calibrated on real images; biases int32
  at the product of the scales. onnxruntime fuses each ``DequantizeLinear → Conv → QuantizeLinear``
  into an integer convolution (``QLinearConv``): :func:`integer_kernels` reads the graph it ran to
  check. The per-patch linear classifier stores int8 weights (per class) but multiplies in fp32 from
  their dequantised values, and the mean over patches stays in fp32, so the patch map is still an
  exact decomposition of *this* model's logits.

Why a QDQ pass of our own: onnxruntime's Python quantiser ships in the onnxruntime wheel, which is
not available from Debian (nor PyPI) here. What it would do for these graphs is small: find the
tensors, calibrate min/max, write the Q/DQ pairs. Calibration and measurement run the graphs through
onnxruntime-node (``ort_node.py``), the same kernels the browser's WASM build runs.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .ort_node import run_onnx

PRECISIONS = ("fp16", "int8")
# The metrics are measured on all the evaluation images and, again, on the first CHECK_IMAGES of them,
# which CI re-measures against the shipped files within a minute.
CHECK_IMAGES = 1000
FILE_NAMES = {"fp16": "model.fp16.onnx", "int8": "model.int8.onnx"}
# Ops that only move uint8 values: quantised in, quantised out with the same scale.
_MOVERS = {"Slice"}


# --- fp16 -------------------------------------------------------------------------------------------

def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Every float initializer stored as float16 and cast back to float32 where the graph starts."""
    result = copy.deepcopy(model)
    graph = result.graph
    casts, kept = [], []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            kept.append(init)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), f"{init.name}__fp16")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT, name=f"{init.name}__widen"))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    onnx.checker.check_model(result)
    return result


# --- int8: which tensors ----------------------------------------------------------------------------

def _float_tensors(model: onnx.ModelProto) -> set[str]:
    inferred = onnx.shape_inference.infer_shapes(model)
    graph = inferred.graph
    infos = list(graph.value_info) + list(graph.input) + list(graph.output)
    return {v.name for v in infos if v.type.tensor_type.elem_type == TensorProto.FLOAT}


def quantized_activations(model: onnx.ModelProto) -> dict[str, str]:
    """The activations to quantise → the tensor whose calibrated range sets their scale.

    Every float activation entering a Conv or a residual Add (both inputs computed), and, through a
    Slice (the residual crop), the tensor sliced, with the same scale so the slice moves uint8 values.
    """
    graph = model.graph
    constants = {i.name for i in graph.initializer} | {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    floats = _float_tensors(model)
    producer = {o: n for n in graph.node for o in n.output}
    wanted: dict[str, str] = {}

    def want(tensor: str) -> None:
        if tensor in wanted or tensor in constants or tensor not in floats:
            return
        node = producer.get(tensor)
        if node is not None and node.op_type in _MOVERS:
            want(node.input[0])
            wanted[tensor] = wanted[node.input[0]]
        else:
            wanted[tensor] = tensor

    for node in graph.node:
        if node.op_type == "Conv":
            want(node.input[0])
        elif node.op_type == "Add" and not any(i in constants for i in node.input) and all(i in floats for i in node.input):
            for tensor in node.input:
                want(tensor)
    return wanted


def calibration_graph(model: onnx.ModelProto, tensors: list[str]) -> onnx.ModelProto:
    """``model`` with ``tensors`` as extra outputs, for measuring their ranges."""
    result = copy.deepcopy(model)
    present = {o.name for o in result.graph.output}
    result.graph.output.extend(helper.make_tensor_value_info(t, TensorProto.FLOAT, None) for t in tensors if t not in present)
    return result


def calibrate(model: onnx.ModelProto, images: np.ndarray, workdir: Path) -> dict[str, tuple[float, float]]:
    """min/max of every tensor :func:`quantized_activations` names, over ``images`` (float32 NCHW)."""
    sources = sorted(set(quantized_activations(model).values()))
    path = workdir / "calibration.onnx"
    path.write_bytes(calibration_graph(model, sources).SerializeToString())
    ranges = run_onnx(path, images, slice_size=8, minmax=True).ranges
    path.unlink()
    assert ranges is not None
    return {t: ranges[t] for t in sources}


# --- int8: the QDQ graph ----------------------------------------------------------------------------

def activation_params(low: float, high: float) -> tuple[np.float32, np.uint8]:
    """uint8 asymmetric scale and zero point for a range (widened to include 0, as ReLU outputs start there)."""
    low, high = min(0.0, low), max(0.0, high)
    scale = np.float32((high - low) / 255.0) if high > low else np.float32(1.0)
    zero_point = np.uint8(np.clip(round(-low / float(scale)), 0, 255))
    return scale, zero_point


# Weights use 7 of int8's bits (±63, onnxruntime's "reduce_range"). x86 CPUs without VNNI (AVX2: the
# machines here, and onnxruntime-node's kernels on them) add pairs of uint8×int8 products in int16,
# which saturates at full range: measured on the default model, 8-bit weights agreed with fp32 on
# 98.85% of 2,000 test images (largest patch-logit error 34.9), 7-bit ones on 99.75% (4.4). With 7
# bits no build saturates, so node, WASM and x86 compute the same integers.
WEIGHT_LIMIT = 63


def weight_params(weights: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per channel along ``axis`` (within ±WEIGHT_LIMIT): (scales float32, quantised int8)."""
    moved = np.moveaxis(weights.astype(np.float64), axis, 0)
    largest = np.abs(moved.reshape(moved.shape[0], -1)).max(axis=1)
    scales = np.where(largest > 0, largest / WEIGHT_LIMIT, 1.0).astype(np.float32)
    shape = [1] * weights.ndim
    shape[axis] = -1
    quantised = np.clip(np.round(weights / scales.reshape(shape).astype(np.float64)),
                        -WEIGHT_LIMIT, WEIGHT_LIMIT).astype(np.int8)
    return scales, quantised


def quantize_int8(model: onnx.ModelProto, ranges: dict[str, tuple[float, float]]) -> onnx.ModelProto:
    """The static QDQ graph of ``model`` for the calibrated ``ranges`` (see the module's docstring)."""
    result = copy.deepcopy(model)
    graph = result.graph
    initializers = {i.name: i for i in graph.initializer}
    wanted = quantized_activations(model)
    params: dict[str, tuple[str, str, np.float32]] = {}  # source tensor → (scale name, zero-point name, scale)
    new_inits: list[TensorProto] = []
    head: list[onnx.NodeProto] = []
    dequantized: dict[str, str] = {}

    def source_params(source: str) -> tuple[str, str, np.float32]:
        if source not in params:
            scale, zero_point = activation_params(*ranges[source])
            names = (f"{source}__scale", f"{source}__zero_point")
            new_inits.append(numpy_helper.from_array(np.array(scale, dtype=np.float32), names[0]))
            new_inits.append(numpy_helper.from_array(np.array(zero_point, dtype=np.uint8), names[1]))
            params[source] = (*names, scale)
        return params[source]

    def qdq(tensor: str) -> list[onnx.NodeProto]:
        scale, zero_point, _ = source_params(wanted[tensor])
        dequantized[tensor] = f"{tensor}__dq"
        return [helper.make_node("QuantizeLinear", [tensor, scale, zero_point], [f"{tensor}__q"], name=f"{tensor}__Q"),
                helper.make_node("DequantizeLinear", [f"{tensor}__q", scale, zero_point], [dequantized[tensor]],
                                 name=f"{tensor}__DQ")]

    def constant_dq(name: str, values: np.ndarray, scales: np.ndarray, axis: int) -> str:
        new_inits.append(numpy_helper.from_array(values, f"{name}__quantized"))
        new_inits.append(numpy_helper.from_array(scales.astype(np.float32), f"{name}__scale"))
        new_inits.append(numpy_helper.from_array(np.zeros(scales.shape, dtype=values.dtype), f"{name}__zero_point"))
        head.append(helper.make_node("DequantizeLinear", [f"{name}__quantized", f"{name}__scale", f"{name}__zero_point"],
                                     [f"{name}__dq"], axis=axis, name=f"{name}__DQ"))
        return f"{name}__dq"

    for graph_input in graph.input:
        if graph_input.name in wanted:
            head.extend(qdq(graph_input.name))
    body: list[onnx.NodeProto] = []
    replaced: set[str] = set()
    for node in graph.node:
        # Every consumer of a quantised tensor reads its dequantised form (Shape included), so that the
        # producer's only consumer is its QuantizeLinear: onnxruntime fuses a Conv only then.
        inputs = [dequantized.get(i, i) for i in node.input]
        if node.op_type == "Conv":
            weight = numpy_helper.to_array(initializers[node.input[1]])
            w_scales, w_quantised = weight_params(weight, axis=0)
            inputs[1] = constant_dq(node.input[1], w_quantised, w_scales, axis=0)
            replaced.add(node.input[1])
            if len(inputs) > 2 and inputs[2]:
                x_scale = params[wanted[node.input[0]]][2]
                b_scales = (x_scale * w_scales).astype(np.float32)
                bias = numpy_helper.to_array(initializers[node.input[2]]).astype(np.float64)
                b_quantised = np.round(bias / b_scales.astype(np.float64)).astype(np.int32)
                inputs[2] = constant_dq(node.input[2], b_quantised, b_scales, axis=0)
                replaced.add(node.input[2])
        elif node.op_type == "MatMul" and inputs[1] in initializers:
            # The classifier: int8 storage, fp32 arithmetic (its input stays fp32). Widened by Cast and
            # Mul, which onnxruntime folds into an fp32 weight when the session starts: a
            # DequantizeLinear here would be fused into MatMulNBits, whose x86 kernel quantises the
            # activations too (measured: patch logits 1.3e-3 of the largest apart from WASM's).
            name = inputs[1]
            weight = numpy_helper.to_array(initializers[name])
            w_scales, w_quantised = weight_params(weight, axis=1)
            replaced.add(name)
            new_inits.append(numpy_helper.from_array(w_quantised, f"{name}__quantized"))
            new_inits.append(numpy_helper.from_array(w_scales.reshape(1, -1), f"{name}__scale"))
            head.append(helper.make_node("Cast", [f"{name}__quantized"], [f"{name}__widened"], to=TensorProto.FLOAT,
                                         name=f"{name}__Cast"))
            head.append(helper.make_node("Mul", [f"{name}__widened", f"{name}__scale"], [f"{name}__dq"], name=f"{name}__Scale"))
            inputs[1] = f"{name}__dq"
        rewired = helper.make_node(node.op_type, inputs, list(node.output), name=node.name, domain=node.domain or None)
        rewired.attribute.extend(node.attribute)
        body.append(rewired)
        for output in node.output:
            if output in wanted:
                body.extend(qdq(output))
    # Conv inputs are dequantised before the Conv is reached (topological order): check it held.
    missing = [n.input[0] for n in graph.node if n.op_type == "Conv" and n.input[0] not in dequantized]
    if missing:
        raise ValueError(f"activations without a quantised form: {missing}")
    kept = [i for i in graph.initializer if i.name not in replaced]
    del graph.initializer[:]
    graph.initializer.extend(kept + new_inits)
    del graph.node[:]
    graph.node.extend(head + body)
    onnx.checker.check_model(result)
    return result


def integer_kernels(model_path: Path, example: np.ndarray, workdir: Path) -> dict[str, int]:
    """Op counts of the graph onnxruntime-node runs for ``model_path`` after its fusions."""
    optimized = workdir / "optimized.onnx"
    run_onnx(model_path, example, optimized=optimized)
    counts: dict[str, int] = {}
    for node in onnx.load(str(optimized)).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    optimized.unlink()
    return counts


# --- measuring and writing --------------------------------------------------------------------------

def patch_logits(model_path: Path, images: np.ndarray) -> np.ndarray:
    output = run_onnx(model_path, images, slice_size=500).output
    assert output is not None
    return output


def fidelity(reference: np.ndarray, variant: np.ndarray, labels: np.ndarray | None) -> dict[str, Any]:
    """A variant's patch logits against fp32's, ``[N, rows, cols, classes]`` each."""
    ref_top = reference.astype(np.float64).mean(axis=(1, 2)).argmax(axis=1)
    top = variant.astype(np.float64).mean(axis=(1, 2)).argmax(axis=1)
    deviation = np.abs(variant.astype(np.float64) - reference.astype(np.float64))
    return {
        "top1": None if labels is None else round(float((top == labels).mean()), 4),
        "top1Fp32": None if labels is None else round(float((ref_top == labels).mean()), 4),
        "agreement": round(float((top == ref_top).mean()), 5),
        "maxAbsPatchDeviation": float(f"{deviation.max():.4g}"),
        "meanAbsPatchDeviation": float(f"{deviation.mean():.4g}"),
        "largestAbsPatchLogit": float(f"{np.abs(reference).max():.4g}"),
        "images": int(reference.shape[0]),
    }


def sample_references(folder: Path, model_path: Path, load_pixels: Callable[[Path], np.ndarray]) -> list[dict[str, Any]]:
    """The variant's own logits for ``samples.json``'s images, from onnxruntime-node (for the browser tests)."""
    samples = json.loads((folder / "samples.json").read_text())
    images = np.concatenate([load_pixels(folder / s["file"]) for s in samples])
    output = patch_logits(model_path, images)
    return [{
        "file": sample["file"],
        "predicted": int(output[i].astype(np.float64).mean(axis=(0, 1)).argmax()),
        "logits": [float(f"{v:.8g}") for v in output[i].astype(np.float64).mean(axis=(0, 1))],
        "patchDims": list(output.shape[1:]),
        "patchLogits": [float(f"{v:.7g}") for v in output[i].ravel()],
    } for i, sample in enumerate(samples)]


def add_precisions(folder: Path, calibration: np.ndarray, *, evaluation: np.ndarray | None = None,
                   labels: np.ndarray | None = None, dataset: str = "", calibration_source: str = "",
                   precisions: tuple[str, ...] = PRECISIONS,
                   load_pixels: Callable[[Path], np.ndarray] | None = None,
                   manifest_out: str = "bagnet.json") -> dict[str, Any]:
    """Write the variants of ``folder``'s fp32 model, measure them, and list them in ``bagnet.json``
    (or in another manifest beside it, ``manifest_out``, leaving ``bagnet.json`` as it was).

    ``calibration``: float32 NCHW images (already normalised) for the int8 ranges. ``evaluation`` (and
    its ``labels``, if known): the images the metrics are measured on; without, the calibration images.
    """
    from .export import file_entry

    folder = Path(folder)
    manifest_path = folder / "bagnet.json"
    manifest = json.loads(manifest_path.read_text())
    fp32_path = folder / manifest["files"]["fp32"]["url"]
    fp32 = onnx.load(str(fp32_path))
    evaluation = calibration if evaluation is None else evaluation
    reference = patch_logits(fp32_path, evaluation)
    workdir = folder / ".precisions"
    workdir.mkdir(exist_ok=True)
    try:
        for precision in precisions:
            if precision == "fp16":
                variant, extra = to_fp16(fp32), {"compute": "fp32", "note": "fp16 weights widened to fp32 when the session loads"}
            elif precision == "int8":
                ranges = calibrate(fp32, calibration, workdir)
                variant = quantize_int8(fp32, ranges)
                extra = {"compute": "int8", "calibration": {"images": int(calibration.shape[0]), "source": calibration_source}}
            else:
                raise ValueError(f"unknown precision {precision!r} (known: {', '.join(PRECISIONS)})")
            path = folder / FILE_NAMES[precision]
            path.write_bytes(variant.SerializeToString())
            if precision == "int8":
                counts = integer_kernels(path, evaluation[:1], workdir)
                convs = sum(n for op, n in counts.items() if op.endswith("Conv") and "QLinear" not in op)
                integer = sum(n for op, n in counts.items() if "QLinearConv" in op)
                if convs:
                    raise RuntimeError(f"onnxruntime kept {convs} float convolutions in the int8 graph: {counts}")
                extra["integerConvolutions"] = integer
            output = patch_logits(path, evaluation)
            metrics = fidelity(reference, output, labels)
            metrics["dataset"] = dataset
            if len(evaluation) > CHECK_IMAGES:  # what CI re-measures (tests/test_precisions.py)
                metrics["firstImages"] = fidelity(reference[:CHECK_IMAGES], output[:CHECK_IMAGES],
                                                  None if labels is None else labels[:CHECK_IMAGES])
            manifest["files"][precision] = {**file_entry(path), "metrics": metrics, **extra}
            if load_pixels is not None and (folder / "samples.json").exists():
                (folder / f"samples.{precision}.json").write_text(
                    json.dumps(sample_references(folder, path, load_pixels), indent=0) + "\n")
    finally:
        for leftover in workdir.glob("*"):
            leftover.unlink()
        workdir.rmdir()
    out_path = folder / manifest_out
    tmp = out_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(out_path)
    return manifest


def _fashion(limit_calibration: int, limit_evaluation: int, seed: int):
    from .fashion import load_split, normalise

    train, _ = load_split("train")
    rng = np.random.default_rng(seed)
    calibration = normalise(train[rng.choice(len(train), size=limit_calibration, replace=False)])
    test, labels = load_split("test")
    return calibration, normalise(test[:limit_evaluation]), labels[:limit_evaluation].astype(np.int64)


def add_fashion_precisions(folder: Path, precisions: tuple[str, ...] = PRECISIONS, calibration_images: int = 2000,
                           evaluation_images: int = 10000, seed: int = 0, manifest_out: str = "bagnet.json") -> dict[str, Any]:
    """:func:`add_precisions` for a Fashion-MNIST model: calibrated on the training split, measured on the test split."""
    calibration, evaluation, labels = _fashion(calibration_images, evaluation_images, seed)
    return add_precisions(folder, calibration, evaluation=evaluation, labels=labels,
                          dataset=f"Fashion-MNIST test (first {len(labels)})",
                          calibration_source=f"Fashion-MNIST train, {len(calibration)} images (seed {seed})",
                          precisions=precisions, load_pixels=_fashion_pixels, manifest_out=manifest_out)


def _fashion_pixels(path: Path) -> np.ndarray:
    from PIL import Image

    from .fashion import normalise

    return normalise(np.asarray(Image.open(path).convert("L"))[None])


def synthetic_images(manifest: dict[str, Any], count: int, seed: int) -> np.ndarray:
    """Smooth random images at the model's input size, normalised as the manifest says (for models
    without a calibration set: a stand-in, and said so in the metrics)."""
    spec = manifest["input"]
    size = spec["resize"]
    # A model that takes any size (resize "none") is calibrated at ImageNet's 224.
    height = size.get("height") or size.get("crop") or size.get("size") or 224
    width = size.get("width") or size.get("crop") or size.get("size") or 224
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 1, size=(count, spec["channels"], height // 8 + 2, width // 8 + 2)).astype(np.float32)
    pixels = coarse.repeat(8, axis=2).repeat(8, axis=3)[:, :, :height, :width]
    pixels = np.clip(pixels + rng.normal(0, 0.08, size=pixels.shape), 0, 1).astype(np.float32)
    mean = np.array(spec["mean"], dtype=np.float32)[None, :, None, None]
    std = np.array(spec["std"], dtype=np.float32)[None, :, None, None]
    return (pixels - mean) / std


def folder_images(manifest: dict[str, Any], folder: Path, count: int) -> np.ndarray:
    """Up to ``count`` images of ``folder`` (sorted by name), preprocessed as the manifest says (read as
    the browser will: ``datasets.read_file``), normalised: a calibration set."""
    from .datasets import IMAGE_SUFFIXES, read_file

    spec = manifest["input"]
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:count]
    if not paths:
        raise ValueError(f"no images (PNG, JPEG, WebP, BMP, GIF) in {folder}")
    background = tuple(spec.get("background", (255, 255, 255)))
    mean = np.array(spec["mean"], dtype=np.float32)[:, None, None]
    std = np.array(spec["std"], dtype=np.float32)[:, None, None]
    images = [(read_file(path, spec["channels"], spec["resize"], "file", background)[0].astype(np.float32) / 255.0 - mean) / std
              for path in paths]
    if len({i.shape for i in images}) > 1:
        raise ValueError(f"the images of {folder} have different sizes after preprocessing (resize 'none'): use same-sized images")
    return np.stack(images).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="a model folder (bagnet.json and its fp32 model)")
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    parser.add_argument("--calibration", default="fashion",
                        help="'fashion' (the Fashion-MNIST training split), 'synthetic' (smooth random images) "
                             "or a folder of images")
    parser.add_argument("--calibration-images", type=int, default=2000)
    parser.add_argument("--evaluation-images", type=int, default=10000, help="Fashion-MNIST test images measured")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--manifest-out", default="bagnet.json",
                        help="list the variants in this manifest beside bagnet.json instead (bagnet.json stays fp32-only)")
    args = parser.parse_args(argv)
    manifest = json.loads((args.folder / "bagnet.json").read_text())
    if args.calibration == "fashion":
        manifest = add_fashion_precisions(args.folder, tuple(args.precisions), args.calibration_images,
                                          args.evaluation_images, args.seed, args.manifest_out)
    elif args.calibration == "synthetic":
        calibration = synthetic_images(manifest, args.calibration_images, args.seed)
        manifest = add_precisions(args.folder, calibration, dataset="synthetic (the calibration images)",
                                  calibration_source=f"synthetic, {len(calibration)} images (seed {args.seed})",
                                  precisions=tuple(args.precisions), manifest_out=args.manifest_out)
    elif Path(args.calibration).is_dir():
        calibration = folder_images(manifest, Path(args.calibration), args.calibration_images)
        manifest = add_precisions(args.folder, calibration, dataset=f"{args.calibration} (the calibration images)",
                                  calibration_source=f"{args.calibration}, {len(calibration)} images",
                                  precisions=tuple(args.precisions), manifest_out=args.manifest_out)
    else:
        print(f"unknown --calibration {args.calibration!r}: 'fashion', 'synthetic' or a folder of images", file=sys.stderr)
        return 2
    fp32_bytes = manifest["files"]["fp32"]["bytes"]
    for precision in args.precisions:
        entry = manifest["files"][precision]
        print(json.dumps({"precision": precision, "bytes": entry["bytes"], "over_fp32": round(entry["bytes"] / fp32_bytes, 4),
                          **entry["metrics"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
