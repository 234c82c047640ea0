"""Random-weight test and benchmark models (generated, never committed).

    /usr/bin/python3 -m bagnet_tools.fixtures --out generated

- ``bagnet33-random``: the full BagNet-33 (18.3M parameters, 1000 classes, 73 MB) with random weights,
  for benchmarks and for the main-thread test while a real-size BagNet runs.
- ``bagnet33-narrow``: BagNet-33 geometry (q = 33, stride 8, the same layers and 3x3 positions) with
  1/8 of the widths and 10 classes, small enough for exhaustive checks on WebGPU (SwiftShader).

- ``synthetic-brightness``: not trained, not even a ResNet: one 9x9 convolution with stride 4 whose
  class 0 ("bright") is the mean of the patch and class 1 ("dark") its negative. It obeys the model
  contract, and for it the answer to "which patch has the most evidence" is known in advance.

Each folder is a regular model (``bagnet.json`` + ``model.onnx`` + the exact map's stages) with
``input.resize.mode = none``; ``whole.json`` lists the same model without its stages, ``bad-stage.json``
with a stage whose checksum is wrong.
A folder whose manifest already records the same recipe is left alone, so repeated runs are instant.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch

from .arch import IMAGENET_CONFIGS, BagNetConfig, build
from .convert import IMAGENET_MEAN, IMAGENET_STD
from .export import write_model_folder
from .precisions import add_precisions, synthetic_images

RECIPE_VERSION = 5  # 2: exported as export.InferenceGraph (fused stem, shortcuts only where kept); 3: with stages; 4: stage weights in model.onnx; 5: no copies of same-size shortcuts


def randomize(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random weights and BatchNorm statistics (seeded), so every layer matters."""
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


FIXTURES: dict[str, tuple[BagNetConfig, int]] = {
    "bagnet33-random": (IMAGENET_CONFIGS["bagnet33"], 33),
    "bagnet33-narrow": (replace(IMAGENET_CONFIGS["bagnet33"], widths=(8, 16, 32, 64), stem_width=8, num_classes=10), 34),
}


def make(name: str, out_root: Path, force: bool = False) -> Path:
    config, seed = FIXTURES[name]
    out = out_root / name
    recipe = {"fixture": name, "seed": seed, "version": RECIPE_VERSION, "config": config.to_json()}
    manifest_path = out / "bagnet.json"
    if manifest_path.exists() and not force:
        existing = json.loads(manifest_path.read_text())
        if existing.get("provenance", {}).get("recipe") == recipe and (out / "model.onnx").exists():
            write_variants(out, existing)
            if name in WITH_PRECISIONS:
                write_precisions(out, existing)
            return out
        force = True
    model = randomize(build(config), seed)
    fields = {
        "name": name,
        "labels": [f"class {i}" for i in range(config.num_classes)],
        "input_spec": {"channels": 3, "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "resize": {"mode": "none"}},
        "metrics": {"dataset": "none", "top1": None, "note": "random weights: a test and benchmark fixture"},
        "provenance": {"tool": "bagnet_tools.fixtures", "recipe": recipe},
    }
    manifest = write_model_folder(out, model, fields, force=force)
    write_variants(out, manifest)
    if name in WITH_PRECISIONS:
        write_precisions(out, manifest)
    return out


# The fixtures whose fp16 and int8 files are made here (seconds); the full BagNet-33's take a minute,
# made by `npm run bench` when it needs them.
WITH_PRECISIONS = {"bagnet33-narrow"}


def write_precisions(out: Path, manifest: dict) -> None:
    """The fixture's fp16 and int8 files (calibrated on synthetic images), listed in ``precisions.json``:
    ``bagnet.json`` stays fp32-only for the tests that compare with fp32 references."""
    listing = out / "precisions.json"
    if listing.exists() and (out / "model.int8.onnx").exists():
        listed = json.loads(listing.read_text())["files"]
        if listed["fp32"].get("sha256") == manifest["files"]["fp32"]["sha256"]:
            return
    add_precisions(out, synthetic_images(manifest, 8, seed=0), dataset="synthetic (the calibration images)",
                   calibration_source="synthetic, 8 images (seed 0)", manifest_out="precisions.json")


def write_variants(out: Path, manifest: dict) -> None:
    """More manifests of the same files: for the exact map's other paths, none of the stages (shift by
    shift) and a stage whose checksum does not match (the worker falls back to shifts); and, for what-if
    on a resizing model, ImageNet-style preprocessing (shorter side 72, centre crop 64)."""
    whole = {k: v for k, v in manifest.items() if k != "stages"}
    (out / "whole.json").write_text(json.dumps(whole, indent=2) + "\n")
    stages = [dict(s) for s in manifest["stages"]]
    stages[-1]["sha256"] = "0" * 64
    (out / "bad-stage.json").write_text(json.dumps({**manifest, "stages": stages}, indent=2) + "\n")
    resized = {**whole, "input": {**whole["input"], "resize": {"mode": "shorter-side", "size": 72, "crop": 64}}}
    (out / "shorter-side.json").write_text(json.dumps(resized, indent=2) + "\n")


SYNTHETIC_Q, SYNTHETIC_STRIDE = 9, 4


def make_synthetic(out_root: Path, force: bool = False) -> Path:
    """A hand-built BagNet-contract model: patch logits = ±(mean of the patch's pixels)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    import numpy as np

    from .export import file_entry

    out = out_root / "synthetic-brightness"
    if (out / "bagnet.json").exists() and (out / "model.onnx").exists() and not force:
        return out
    q = SYNTHETIC_Q
    weight = np.full((2, 3, q, q), 1.0 / (3 * q * q), dtype=np.float32)
    weight[1] *= -1
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "weight"], ["maps"], kernel_shape=[q, q], strides=[SYNTHETIC_STRIDE] * 2),
         helper.make_node("Transpose", ["maps"], ["patch_logits"], perm=[0, 2, 3, 1])],
        "synthetic-brightness",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("patch_logits", TensorProto.FLOAT, ["batch", "rows", "cols", 2])],
        [numpy_helper.from_array(weight, "weight")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="bagnet-elements")
    onnx.checker.check_model(model)
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(model, out / "model.onnx")
    manifest = {
        "formatVersion": 1, "name": "synthetic-brightness", "arch": "synthetic", "patchSize": q,
        "stride": SYNTHETIC_STRIDE, "offset": 0,
        "input": {"channels": 3, "mean": [0, 0, 0], "std": [1, 1, 1], "resize": {"mode": "none"}},
        "labels": ["bright", "dark"], "files": {"fp32": file_entry(out / "model.onnx")},
        "metrics": {"dataset": "none", "top1": None, "note": "a hand-built test model: patch logit = mean brightness"},
        "provenance": {"tool": "bagnet_tools.fixtures", "recipe": {"fixture": "synthetic-brightness", "version": RECIPE_VERSION}},
    }
    (out / "bagnet.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def make_broken_variant(out_root: Path) -> Path:
    """The default model's manifest with its int8 file's checksum broken (the file itself is fine),
    for the fallback to fp32 (test/precision.test.ts). Its files stay in ``models/default``."""
    default = Path(__file__).resolve().parents[1] / "default"
    manifest = json.loads((default / "bagnet.json").read_text())
    out = out_root / "precision"
    out.mkdir(parents=True, exist_ok=True)
    for entry in manifest["files"].values():
        entry["url"] = f"../../default/{entry['url']}"
    manifest["files"]["int8"]["sha256"] = "0" * 64
    (out / "broken-int8.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out / "broken-int8.json"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "generated")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--precisions", action="store_true",
                        help="also the fp16 and int8 files of the named BagNet fixtures (precisions.json)")
    parser.add_argument("names", nargs="*", default=[*FIXTURES, "synthetic-brightness", "broken-int8"])
    args = parser.parse_args(argv)
    for name in args.names:
        if name == "broken-int8":
            print(make_broken_variant(args.out))
        elif name == "synthetic-brightness":
            print(make_synthetic(args.out, args.force))
        else:
            out = make(name, args.out, args.force)
            if args.precisions:
                write_precisions(out, json.loads((out / "bagnet.json").read_text()))
            print(out)


if __name__ == "__main__":
    main()
