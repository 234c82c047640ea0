"""Package the best trained Fashion-MNIST BagNet (patch size <= 13) as the shipped default model.

    /usr/bin/python3 -m bagnet_tools.make_default --runs runs --out default --force

Picks the run with the best *validation* top-1 among patch sizes <= ``--max-patch`` and models that
cost at most ``--max-multiply-adds`` per 28x28 image (the test set is only reported, never used to
choose), exports ONNX + ``bagnet.json``, and writes 20 sample test
images (the first two of each class in the test set, whatever the model predicts for them) with
the PyTorch evaluation of each in ``samples.json``, which the browser test reproduces.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .arch import BagNet, BagNetConfig, build
from .export import InferenceGraph, conv_macs, write_model_folder
from .fashion import LABELS, MEAN, STD, load_split, normalise
from .precisions import add_fashion_precisions

SAMPLES_PER_CLASS = 2
# The default model answers every demo, test and pool benchmark, so it stays light: at 29.8 M
# multiply-adds per image the pool's batching speedup for 16 requests is 2.2-2.3 (issue 3 asks for
# >= 2); the width-32 q = 13 model (52.9 M) measured 1.72 and 1.95 in the same benchmark.
DEFAULT_MAX_MULTIPLY_ADDS = 35_000_000


def load_run(run: Path) -> tuple[BagNet, dict]:
    checkpoint = torch.load(run / "checkpoint.pt", map_location="cpu")
    config = BagNetConfig(**checkpoint["config"])
    model = build(config)
    model.load_state_dict(checkpoint["state_dict"], strict=True)
    return model.eval(), checkpoint["metrics"]


def multiply_adds(config: BagNetConfig) -> int:
    """Convolution multiply-adds of the exported graph for one 28x28 image."""
    graph = InferenceGraph(build(config).eval())
    return conv_macs(graph, graph, torch.zeros(1, config.in_channels, 28, 28))


def pick_run(runs: Path, max_patch: int, max_multiply_adds: float) -> Path:
    candidates = []
    for metrics_path in sorted(runs.glob("*/metrics.json")):
        metrics = json.loads(metrics_path.read_text())
        if metrics["patchSize"] <= max_patch and multiply_adds(BagNetConfig(**metrics["config"])) <= max_multiply_adds:
            candidates.append((metrics["top1_val"], -metrics["patchSize"], metrics_path.parent))
    if not candidates:
        raise SystemExit(f"no finished run with patch size <= {max_patch} and <= {max_multiply_adds:.3g} "
                         f"multiply-adds under {runs}")
    return max(candidates)[2]


def slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def write_samples(folder: Path, model: BagNet) -> None:
    images, labels = load_split("test")
    samples_dir = folder / "samples"
    samples_dir.mkdir()
    entries = []
    for class_index, label in enumerate(LABELS):
        for test_index in np.flatnonzero(labels == class_index)[:SAMPLES_PER_CLASS]:
            name = f"{len(entries):02d}-{slug(label)}.png"
            Image.fromarray(images[test_index], mode="L").save(samples_dir / name)
            # Evaluate exactly what a user gets: the PNG read back from disk.
            pixels = np.asarray(Image.open(samples_dir / name).convert("L"))
            with torch.no_grad():
                logits = model(torch.from_numpy(normalise(pixels[None]))).mean(dim=(1, 2))[0]
            entries.append({
                "file": f"samples/{name}",
                "label": label,
                "labelIndex": class_index,
                "testIndex": int(test_index),
                "predicted": int(logits.argmax()),
                "logits": [float(v) for v in logits],
            })
    (folder / "samples.json").write_text(json.dumps(entries, indent=1) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--run", type=Path, help="use this run instead of picking one")
    parser.add_argument("--max-patch", type=int, default=13)
    parser.add_argument("--max-multiply-adds", type=float, default=DEFAULT_MAX_MULTIPLY_ADDS,
                        help="per 28x28 image, in the exported graph")
    parser.add_argument("--name", help="model name (default: bagnet<q>-fashion-mnist)")
    parser.add_argument("--out", type=Path, default=Path("default"))
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--fp32-only", action="store_true", help="without the fp16 and int8 files (bagnet_tools.precisions)")
    args = parser.parse_args(argv)
    run = args.run or pick_run(args.runs, args.max_patch, args.max_multiply_adds)
    model, metrics = load_run(run)
    q = model.config.patch_size
    fields = {
        "name": args.name or f"bagnet{q}-fashion-mnist",
        "labels": LABELS,
        "input_spec": {"channels": 1, "mean": [MEAN], "std": [STD],
                       "resize": {"mode": "stretch", "width": 28, "height": 28},
                       # Fashion-MNIST garments lie on black: transparent pixels become black too.
                       "background": [0, 0, 0]},
        "metrics": {"dataset": "Fashion-MNIST test", "top1": metrics["top1_test"],
                    "images": metrics["test_images"],
                    "note": f"validation top-1 {metrics['top1_val']:.4f} on {metrics['val_images']} held-out "
                            "training images (used to pick this model)"},
        "provenance": {
            "source": "trained by bagnet-elements on Fashion-MNIST (Debian package dataset-fashion-mnist)",
            "tool": "bagnet_tools.train_fashion, then bagnet_tools.make_default",
            "command": f"python3 -m bagnet_tools.train_fashion --patch-size {q} "
                       f"--width {metrics['recipe']['width']} --epochs {metrics['recipe']['epochs']} "
                       f"--seed {metrics['recipe']['seed']} --out runs/{run.name}",
            "training": {k: metrics[k] for k in ("train_images", "val_images", "top1_val", "parameters",
                                                 "train_seconds", "device", "torch", "top1_val_before_bn_recalibration",
                                                 "bn_recalibration_images") if k in metrics},
            "recipe": metrics["recipe"],
        },
    }
    def extra(folder: Path) -> None:
        write_samples(folder, model)
        if not args.fp32_only:
            add_fashion_precisions(folder)  # fp16 and int8, measured on the 10,000 test images

    manifest = write_model_folder(args.out, model, fields, force=args.force, extra=extra)
    print(json.dumps({"run": str(run), "name": manifest["name"], "top1_test": metrics["top1_test"],
                      "onnx_bytes": manifest["files"]["fp32"]["bytes"]}))


if __name__ == "__main__":
    main()
