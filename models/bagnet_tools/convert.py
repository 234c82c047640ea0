"""Convert the authors' published BagNet checkpoints into a bagnet-elements model folder.

    /usr/bin/python3 -m bagnet_tools.convert bagnet32-2ddd53ed.pth.tar --out models/bagnet33-imagenet

The checkpoints (from github.com/wielandbrendel/bag-of-local-features-models):
``bagnet8-34f4ccd2.pth.tar`` (BagNet-9), ``bagnet16-105524de.pth.tar`` (BagNet-17) and
``bagnet32-2ddd53ed.pth.tar`` (BagNet-33). ``--arch auto`` (the default) tells them apart by their
shapes. The state dict must match the architecture key for key and shape for shape; a ``module.``
prefix (DataParallel) and missing ``num_batches_tracked`` buffers are tolerated. On any mismatch the
command names the keys and shapes and writes nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path

import torch

from .arch import IMAGENET_CONFIGS, BagNet, build
from .export import write_model_folder
from .precisions import PRECISIONS, add_precisions, folder_images, synthetic_images

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
KNOWN_CHECKPOINTS = {
    "bagnet8-34f4ccd2.pth.tar": "bagnet9",
    "bagnet16-105524de.pth.tar": "bagnet17",
    "bagnet32-2ddd53ed.pth.tar": "bagnet33",
}
_LIST_LIMIT = 8


class CheckpointError(Exception):
    """The file is not a usable checkpoint for the requested BagNet; the message says why."""


def imagenet_labels() -> list[str]:
    from torchvision.models._meta import _IMAGENET_CATEGORIES
    return list(_IMAGENET_CATEGORIES)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Load a checkpoint's tensors (never executing pickled code), without the ``module.`` prefix."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated zip/pickle, wrong format, unsafe content...
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint "
                              f"({type(error).__name__}: {str(error).strip()[:200]})") from error
    if isinstance(loaded, Mapping) and "state_dict" in loaded and isinstance(loaded["state_dict"], Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping) or not loaded:
        raise CheckpointError(f"{path}: expected a state dict (a mapping of names to tensors), got {type(loaded).__name__}")
    state: dict[str, torch.Tensor] = {}
    for key, value in loaded.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{path}: entry {key!r} is not a named tensor ({type(value).__name__})")
        state[key[len("module."):] if key.startswith("module.") else key] = value
    return state


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_LIST_LIMIT])
    return shown + (f" … and {len(items) - _LIST_LIMIT} more" if len(items) > _LIST_LIMIT else "")


def _shape(shape: torch.Size | tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def mismatches(state: Mapping[str, torch.Tensor], model: BagNet) -> list[str]:
    """Every way ``state`` differs from ``model``'s state dict, as human-readable lines."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k}: checkpoint {_shape(state[k].shape)}, model {_shape(expected[k].shape)}"
             for k in expected if k in state and state[k].shape != expected[k].shape]
    problems = []
    if wrong:
        problems.append(f"{len(wrong)} shape mismatch(es): {_listing(wrong)}")
    if missing:
        problems.append(f"{len(missing)} missing key(s): {_listing(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {_listing(unexpected)}")
    return problems


def detect_arch(state: Mapping[str, torch.Tensor]) -> str:
    """The ImageNet BagNet whose keys and shapes the state dict matches exactly."""
    for name, config in IMAGENET_CONFIGS.items():
        if not mismatches(state, build(config)):
            return name
    # No exact match: report against the closest architecture.
    best = min(IMAGENET_CONFIGS, key=lambda n: len(" ".join(mismatches(state, build(IMAGENET_CONFIGS[n])))))
    problems = mismatches(state, build(IMAGENET_CONFIGS[best]))
    raise CheckpointError("the state dict is not a BagNet-9, -17 or -33 checkpoint; compared with "
                          f"{best}: " + "; ".join(problems))


def load_checkpoint(path: Path, arch: str = "auto") -> tuple[BagNet, str]:
    state = read_state_dict(path)
    if arch == "auto":
        arch = detect_arch(state)
    if arch not in IMAGENET_CONFIGS:
        raise CheckpointError(f"unknown architecture {arch!r}; choose one of {', '.join(IMAGENET_CONFIGS)} or auto")
    model = build(IMAGENET_CONFIGS[arch])
    problems = mismatches(state, model)
    if problems:
        raise CheckpointError(f"{path.name} does not match {arch}: " + "; ".join(problems))
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(value)
    model.load_state_dict(state, strict=True)
    return model.eval(), arch


def convert(checkpoint: Path, out: Path, arch: str = "auto", name: str | None = None, force: bool = False,
            precisions: tuple[str, ...] = PRECISIONS, calibration: str = "synthetic", calibration_images: int = 32) -> dict:
    """The model folder of an authors' checkpoint, with its fp16 and int8 files (``precisions``; int8
    calibrated on ``calibration``: "synthetic", or a folder of images preprocessed as the manifest says)."""
    model, arch = load_checkpoint(checkpoint, arch)
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    fields = {
        "name": name or f"{arch}-imagenet",
        "labels": imagenet_labels(),
        "input_spec": {
            "channels": 3,
            "mean": IMAGENET_MEAN,
            "std": IMAGENET_STD,
            "resize": {"mode": "shorter-side", "size": 256, "crop": 224},
        },
        "metrics": {
            "dataset": "ImageNet (ILSVRC2012) validation",
            "top1": None,
            "note": "not measured by the converter (the ImageNet validation set is not available here); "
                    "see Brendel & Bethge, ICLR 2019, for the authors' figures",
        },
        "provenance": {
            "source": "Brendel & Bethge, ICLR 2019, published weights "
                      "(github.com/wielandbrendel/bag-of-local-features-models)",
            "tool": "bagnet_tools.convert",
            "checkpoint": {"file": checkpoint.name, "sha256": digest},
        },
    }

    def variants(folder: Path) -> None:
        if not precisions:
            return
        manifest = json.loads((folder / "bagnet.json").read_text())
        if calibration == "synthetic":
            images, source = synthetic_images(manifest, calibration_images, seed=0), "synthetic"
        else:
            images, source = folder_images(manifest, Path(calibration), calibration_images), str(calibration)
        add_precisions(folder, images, dataset=f"{source} (the calibration images; ImageNet accuracy not measured)",
                       calibration_source=f"{source}, {len(images)} images", precisions=precisions)

    write_model_folder(out, model, fields, force=force, extra=variants)
    return json.loads((out / "bagnet.json").read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="the authors' .pth.tar file")
    parser.add_argument("--out", type=Path, required=True, help="model folder to create")
    parser.add_argument("--arch", default="auto", choices=["auto", *IMAGENET_CONFIGS])
    parser.add_argument("--name", help="model name in the manifest (default: <arch>-imagenet)")
    parser.add_argument("--force", action="store_true", help="replace an existing folder")
    parser.add_argument("--precisions", nargs="*", default=list(PRECISIONS), choices=PRECISIONS,
                        help="smaller files to write beside fp32 (default: fp16 int8; none: fp32 only)")
    parser.add_argument("--calibration", default="synthetic",
                        help="int8 calibration: 'synthetic' (smooth random images) or a folder of images (JPEG, PNG)")
    parser.add_argument("--calibration-images", type=int, default=32)
    args = parser.parse_args(argv)
    try:
        manifest = convert(args.checkpoint, args.out, args.arch, args.name, args.force, tuple(args.precisions),
                           args.calibration, args.calibration_images)
    except (CheckpointError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}/bagnet.json and {', '.join(f['url'] for f in manifest['files'].values())} "
          f"({manifest['arch']}, q={manifest['patchSize']}, {len(manifest['labels'])} classes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
