"""One layer type per ONNX model, fp32 and int8 (the QDQ pass of ``precisions.py``), at BagNet-33 sizes,
for ``npm run bench``'s table of int8 against fp32 times per layer type in onnxruntime-web.

    python3 -m bagnet_tools.layer_models generated/layers

Each conv model is a stack of four layers of one type with a residual sum at the end (so that the
last convolution's output is quantised too, as inside a BagNet block, and every convolution becomes
an integer one); the classifier is BagNet-33's (2048 features → 1000 classes on a 24×24 map), whose
int8 file stores int8 weights and computes in fp32; "quantise" is a QuantizeLinear + DequantizeLinear
pair against a ReLU of the same tensor (the cost int8 adds where it enters and leaves integers).
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from .precisions import calibrate, integer_kernels, quantize_int8


class ConvStack(nn.Module):
    def __init__(self, channels: int, kernel: int, depth: int = 4) -> None:
        super().__init__()
        self.layers = nn.Sequential(*[m for _ in range(depth) for m in
                                      (nn.Conv2d(channels, channels, kernel, padding=kernel // 2), nn.ReLU())])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x) + x


class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2048, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.permute(0, 2, 3, 1))


def _export(module: nn.Module, dims: list[int]) -> onnx.ModelProto:
    buffer = io.BytesIO()
    torch.manual_seed(0)
    for p in module.parameters():
        nn.init.normal_(p, std=0.05)
    with torch.no_grad():
        torch.onnx.export(module.eval(), torch.zeros(dims), buffer, input_names=["input"], output_names=["patch_logits"],
                          dynamic_axes={"input": {0: "batch"}, "patch_logits": {0: "batch"}}, opset_version=17,
                          do_constant_folding=True)
    return onnx.load_from_string(buffer.getvalue())


def _quantise_pair(dims: list[int]) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    def model(nodes, inits):
        graph = helper.make_graph(nodes, "layer", [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)],
                                  [helper.make_tensor_value_info("patch_logits", TensorProto.FLOAT, dims)], inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    fp32 = model([helper.make_node("Relu", ["input"], ["patch_logits"])], [])
    inits = [numpy_helper.from_array(np.array(0.02, dtype=np.float32), "s"), numpy_helper.from_array(np.array(128, dtype=np.uint8), "z")]
    int8 = model([helper.make_node("QuantizeLinear", ["input", "s", "z"], ["q"]),
                  helper.make_node("DequantizeLinear", ["q", "s", "z"], ["patch_logits"])], inits)
    return fp32, int8


def write_layers(out: Path) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    specs = [
        ("conv1x1", "4 × 1×1 convolution, 512 channels, 28×28", ConvStack(512, 1), [1, 512, 28, 28]),
        ("conv3x3", "4 × 3×3 convolution, 256 channels, 28×28", ConvStack(256, 3), [1, 256, 28, 28]),
        ("classifier", "classifier 2048 → 1000 on 24×24 cells (int8: weights only)", Classifier(), [1, 2048, 24, 24]),
    ]
    listing = []
    rng = np.random.default_rng(0)
    for name, label, module, dims in specs:
        fp32 = _export(module, dims)
        calibration = np.abs(rng.normal(size=[4, *dims[1:]])).astype(np.float32)
        int8 = quantize_int8(fp32, calibrate(fp32, calibration, out))
        (out / f"{name}.fp32.onnx").write_bytes(fp32.SerializeToString())
        (out / f"{name}.int8.onnx").write_bytes(int8.SerializeToString())
        kernels = integer_kernels(out / f"{name}.int8.onnx", calibration[:1], out)
        listing.append({"name": name, "label": label, "dims": dims, "kernels": kernels})
    fp32, int8 = _quantise_pair([1, 256, 56, 56])
    (out / "quantize.fp32.onnx").write_bytes(fp32.SerializeToString())
    (out / "quantize.int8.onnx").write_bytes(int8.SerializeToString())
    listing.append({"name": "quantize", "label": "quantise + dequantise 256×56×56 (fp32: a ReLU of it)", "dims": [1, 256, 56, 56]})
    (out / "layers.json").write_text(json.dumps(listing, indent=1) + "\n")
    return listing


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    for entry in write_layers(args.out):
        print(json.dumps(entry))


if __name__ == "__main__":
    main()
