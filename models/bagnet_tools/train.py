"""Train (or fine-tune) a BagNet on your own labelled images and write a model folder the elements load.

    cd models
    /usr/bin/python3 -m bagnet_tools.train --data ~/my-images --out ../public/models/mine
    /usr/bin/python3 -m bagnet_tools.train --csv labels.csv --arch imagenet --patch-size 17 \\
        --init bagnet17.pth.tar --channels 3 --input-size 224 --time-budget 3600 --out mine
    /usr/bin/python3 -m bagnet_tools.train --data scans/ --window 40,400 --patch-sizes 9 13 17 --out scans-model

``--data DIR`` holds one folder per class (PNG, JPEG, WebP, BMP, GIF, DICOM); ``--csv FILE`` lists
``path,label`` rows (paths relative to the CSV). DICOM pixels go through ``dicom_pixels`` (the viewer
plugin's pipeline: modality LUT, the file's VOI window or ``--window C,W``, MONOCHROME1 inverted; every
frame an image), and the manifest's ``input.dicom`` says so, for the viewer to do the same.

The folder gets ``bagnet.json`` (labels, preprocessing exactly as the browser applies it, validation
metrics, provenance), ``model.onnx`` and its exact-map stages, the fp16/int8 variants
(``precisions``), ``samples/`` with their Python logits (``samples.json``), and ``MODEL_CARD.md``.
Work in progress (``resume.pt`` after each epoch, the trained checkpoints) lives in ``<out>.training/``:
``--resume`` continues an interrupted run with the same arguments. ``--patch-sizes`` trains one model
per q and keeps the best on validation, with the accuracy-over-q table and plot in the card.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .arch import IMAGENET_CONFIGS, SMALL_KERNEL3, BagNet, BagNetConfig, build, count_parameters, small_config
from .convert import IMAGENET_MEAN, IMAGENET_STD, read_state_dict
from .datasets import DICOM_SUFFIXES, Dataset, DatasetError, load, read_file, scan_csv, scan_folder, split
from .dicom_pixels import manifest_entry
from .export import write_model_folder

RESUME_FILE = "resume.pt"
SAMPLES_PER_CLASS = 2
RECALIBRATION_IMAGES = 20_000


class TrainingError(Exception):
    """A run that cannot go on (a checkpoint that does not fit, a resume with other arguments)."""


# ---------------------------------------------------------------- the loop (shared with train_fashion)

@dataclasses.dataclass(frozen=True)
class Recipe:
    """How one model is fitted (everything that shapes the result is here, for resumes and the card)."""

    epochs: int = 30
    time_budget: float = 0.0  # seconds; when set, the schedule runs on elapsed time and `epochs` is a cap
    batch_size: int = 64
    lr: float = 0.05
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    shift: int = 2  # random translation, pixels each way
    flip: bool = False
    pad: str = "reflect"  # how shifted-in pixels are filled: "reflect" or "zeros" (a black background)
    seed: int = 0


def learning_rate(progress: float, peak: float) -> float:
    """One cycle: 15% linear warm-up from peak/25, then cosine down to 0 (progress in [0, 1])."""
    warm = 0.15
    if progress < warm:
        return peak * (0.04 + 0.96 * progress / warm)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warm) / (1 - warm))))


def augment(batch: torch.Tensor, recipe: Recipe, generator: torch.Generator) -> torch.Tensor:
    """Random flips and shifts of uint8 [B, C, H, W] (the same shift for every channel of an image)."""
    n, _, h, w = batch.shape
    if recipe.flip:
        flip = torch.rand(n, generator=generator) < 0.5
        batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
    s = recipe.shift
    if s <= 0:
        return batch
    padded = F.pad(batch.float(), (s,) * 4, mode="reflect" if recipe.pad == "reflect" else "constant")
    dy = torch.randint(0, 2 * s + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * s + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :]
    return padded[torch.arange(n)[:, None, None, None], torch.arange(batch.shape[1])[None, :, None, None], rows, cols]


class Normaliser:
    """uint8 [B, C, H, W] → the model's float input, as the manifest's mean and std say."""

    def __init__(self, mean: list[float], std: list[float]) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32)[None, :, None, None]
        self.std = torch.tensor(std, dtype=torch.float32)[None, :, None, None]

    def __call__(self, batch: torch.Tensor, device: str = "cpu") -> torch.Tensor:
        x = (batch.float() / 255.0 - self.mean) / self.std
        return x.to(device).contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def predict(model: BagNet, images: torch.Tensor, normalise: Normaliser, device: str, batch: int = 500) -> torch.Tensor:
    """Image logits [N, classes] (the mean of the patch logits)."""
    model.eval()
    out = [model(normalise(images[i:i + batch], device)).mean(dim=(1, 2)).cpu() for i in range(0, len(images), batch)]
    return torch.cat(out) if out else torch.zeros(0)


@torch.no_grad()
def recalibrate_batchnorm(model: BagNet, images: torch.Tensor, normalise: Normaliser, device: str, batch: int = 500) -> None:
    """Exact BatchNorm statistics of the final weights over ``images`` ("precise BN"): the stem's
    momentum of 0.001 (the authors') leaves its running statistics far behind the training."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over every batch
    model.train()
    for start in range(0, len(images), batch):
        model(normalise(images[start:start + batch], device))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.eval()


def fit(model: BagNet, images: torch.Tensor, targets: torch.Tensor, normalise: Normaliser, recipe: Recipe, *,
        device: str, work: Path, resume: bool = False, identity: dict[str, Any] | None = None,
        evaluate: Callable[[BagNet], float] | None = None, stop_after: int = 0,
        augmentation: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None) -> dict[str, Any]:
    """SGD (Nesterov) with one learning-rate cycle: torch's OneCycleLR over ``recipe.epochs`` (momentum
    cycled too), or, with ``recipe.time_budget``, :func:`learning_rate` of the elapsed share of the budget.

    Saves ``work/resume.pt`` after every epoch (atomically); ``resume`` continues from it when
    ``identity`` (what shapes the result) is the same. ``evaluate(model)`` (validation top-1) is logged
    per epoch in ``work/log.jsonl``. Returns ``{epochs, seconds, stopped}``.
    """
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    model.to(device).to(memory_format=torch.channels_last)
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": recipe.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=recipe.lr, momentum=0.9, nesterov=True)
    steps_per_epoch = max(1, len(images) // recipe.batch_size)
    total_steps = steps_per_epoch * recipe.epochs
    scheduler = None if recipe.time_budget else torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.lr, epochs=recipe.epochs, steps_per_epoch=steps_per_epoch, pct_start=0.15)
    identity = {"recipe": dataclasses.asdict(recipe), **(identity or {})}
    work.mkdir(parents=True, exist_ok=True)
    log = work / "log.jsonl"
    epoch, step, spent = 0, 0, 0.0
    if resume and (work / RESUME_FILE).exists():
        state = torch.load(work / RESUME_FILE, map_location="cpu")
        if state["identity"] != identity:
            changed = sorted(k for k in set(identity) | set(state["identity"]) if identity.get(k) != state["identity"].get(k))
            raise TrainingError(f"--resume needs the interrupted run's arguments; these differ: {', '.join(changed)}")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        epoch, step, spent = state["epoch"], state["step"], state["seconds"]
        print(json.dumps({"resumed_after_epoch": epoch}), flush=True)
    else:
        log.write_text("")
    augmentation = augmentation or (lambda batch, g: augment(batch, recipe, g))
    started = time.time() - spent

    def progress() -> float:
        by_steps = step / max(1, total_steps)
        return max(by_steps, (time.time() - started) / recipe.time_budget) if recipe.time_budget else by_steps

    stopped = ""
    while epoch < recipe.epochs and progress() < 1:
        model.train()
        epoch_start = time.time()
        order = torch.randperm(len(images), generator=generator)
        loss_sum, correct, seen = 0.0, 0, 0
        for i in range(steps_per_epoch):
            if progress() >= 1:
                break
            if scheduler is None:
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(progress(), recipe.lr)
            index = order[i * recipe.batch_size:(i + 1) * recipe.batch_size]
            x = normalise(augmentation(images[index], generator), device)
            y = targets[index].to(device)
            logits = model(x).mean(dim=(1, 2))
            loss = F.cross_entropy(logits, y, label_smoothing=recipe.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            step += 1
            loss_sum += loss.item() * len(index)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(index)
        epoch += 1
        record = {"epoch": epoch, "train_loss": round(loss_sum / max(seen, 1), 4), "train_acc": round(correct / max(seen, 1), 4),
                  "seconds": round(time.time() - epoch_start, 1)}
        if evaluate is not None:
            record["val_acc"] = round(evaluate(model), 4)
        print(json.dumps(record), flush=True)
        with log.open("a") as f:
            f.write(json.dumps(record) + "\n")
        torch.save({"identity": identity, "epoch": epoch, "step": step, "seconds": time.time() - started,
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None},
                   work / (RESUME_FILE + ".tmp"))
        (work / (RESUME_FILE + ".tmp")).replace(work / RESUME_FILE)  # never a half-written file
        if stop_after and epoch == stop_after and epoch < recipe.epochs:
            stopped = f"stopped after epoch {epoch}: continue with --resume"
            break
    return {"epochs": epoch, "steps": step, "seconds": round(time.time() - started, 1), "stopped": stopped}


# ---------------------------------------------------------------- models and checkpoints

def model_config(arch: str, patch_size: int, width: int, channels: int, classes: int) -> BagNetConfig:
    if arch == "small":
        return small_config(patch_size, width, channels, classes)
    name = f"bagnet{patch_size}"
    if name not in IMAGENET_CONFIGS:
        raise TrainingError(f"the ImageNet geometry has q = 9, 17 or 33, not {patch_size}")
    return dataclasses.replace(IMAGENET_CONFIGS[name], in_channels=channels, num_classes=classes)


def initialise_from(model: BagNet, checkpoint: Path) -> int:
    """Load an authors'-format checkpoint into ``model``: every tensor strictly but the classifier
    (``fc``, re-initialised for the new classes). Returns how many tensors were loaded."""
    state = {k: v for k, v in read_state_dict(checkpoint).items() if not k.startswith("fc.")}
    own = {k: v for k, v in model.state_dict().items() if not k.startswith("fc.")}
    problems = []
    missing = sorted(k for k in own if k not in state and not k.endswith("num_batches_tracked"))
    unexpected = sorted(k for k in state if k not in own)
    if missing:
        problems.append(f"missing {len(missing)}: {', '.join(missing[:6])}{' …' if len(missing) > 6 else ''}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)}: {', '.join(unexpected[:6])}{' …' if len(unexpected) > 6 else ''}")
    for key in sorted(set(state) & set(own)):
        if tuple(state[key].shape) != tuple(own[key].shape):
            problems.append(f"{key} is {list(state[key].shape)} in the checkpoint, {list(own[key].shape)} in the model")
    if problems:
        raise TrainingError(f"{checkpoint.name} does not fit bagnet{model.config.patch_size} with "
                            f"{model.config.in_channels} input channels: " + "; ".join(problems))
    loaded = len(state)
    for key, value in own.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(value)
    result = model.load_state_dict(state, strict=False)
    assert sorted(result.missing_keys) == ["fc.bias", "fc.weight"] and not result.unexpected_keys, result
    return loaded


# ---------------------------------------------------------------- data

def parse_size(text: str) -> tuple[int, int]:
    """"64" or "96x64" (width x height)."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: use N or WxH") from None
    if len(values) not in (1, 2) or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: use N or WxH")
    return (values[0], values[-1])


def parse_window(text: str):
    if text == "file":
        return "file"
    try:
        center, width = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: use 'file' or CENTER,WIDTH (e.g. 40,400)") from None
    if width < 1:
        raise argparse.ArgumentTypeError(f"window width must be at least 1, got {width}")
    return (center, width)


def resize_policy(args: argparse.Namespace) -> dict[str, Any]:
    if args.resize == "none":
        return {"mode": "none"}
    width, height = args.input_size
    if args.resize == "stretch":
        return {"mode": "stretch", "width": width, "height": height}
    return {"mode": "shorter-side", "size": width, **({"crop": args.crop} if args.crop else {})}


def guess_channels(items: list[tuple[Path, str]]) -> int:
    """1 when every file looked at is grayscale (DICOM, or PIL modes L/LA/I/1), else 3."""
    for path, _ in items[:: max(1, len(items) // 64)]:
        if path.suffix.lower() in DICOM_SUFFIXES:
            continue
        try:
            with Image.open(path) as image:
                if image.mode not in ("L", "LA", "I", "I;16", "1"):
                    return 3
        except OSError:
            continue
    return 1


def read_data(args: argparse.Namespace, channels: int, resize: dict[str, Any]) -> tuple[Dataset, np.ndarray, np.ndarray, str]:
    """The dataset, the training and validation indices, and a description of the split."""
    labels, items = scan_folder(args.data) if args.data else scan_csv(args.csv)
    val_items: list[tuple[Path, str]] = []
    if args.val_data or args.val_csv:
        val_labels, val_items = scan_folder(args.val_data) if args.val_data else scan_csv(args.val_csv)
        unknown = sorted(set(val_labels) - set(labels))
        if unknown:
            raise DatasetError(f"the validation data has classes the training data lacks: {', '.join(unknown)}")
    common = dict(channels=channels, resize=resize, window=args.window, skip_bad=args.skip_bad)
    dataset = load(items, labels, min_per_class=args.min_per_class, **common)
    if val_items:
        held = load(val_items, labels, min_per_class=0, **common)
        if held.images.shape[1:] != dataset.images.shape[1:]:
            raise DatasetError(f"validation images are {held.images.shape[1:]} after preprocessing, training images "
                               f"{dataset.images.shape[1:]}: use --resize stretch")
        first = len(dataset.targets)
        dataset = Dataset(labels, np.concatenate([dataset.images, held.images]), np.concatenate([dataset.targets, held.targets]),
                          dataset.sources + held.sources, np.concatenate([dataset.files, held.files + len(items)]),
                          dataset.skipped + held.skipped, dataset.dicom or held.dicom)
        fit_idx, val_idx = np.arange(first), np.arange(first, len(dataset.targets))
        how = f"validation: {args.val_data or args.val_csv}"
    else:
        fit_idx, val_idx = split(dataset, args.val_split, args.seed)
        how = f"validation: {args.val_split:.0%} of each class, held out (seed {args.seed})"
    return dataset, fit_idx, val_idx, how


# ---------------------------------------------------------------- the command

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="a folder with one sub-folder of images per class")
    source.add_argument("--csv", type=Path, help="a CSV with path,label columns (paths relative to it)")
    val = p.add_mutually_exclusive_group()
    val.add_argument("--val-split", type=float, default=0.2, help="fraction of each class held out for validation")
    val.add_argument("--val-data", type=Path, help="a validation folder (same layout as --data)")
    val.add_argument("--val-csv", type=Path, help="a validation CSV")
    p.add_argument("--out", type=Path, required=True, help="the model folder to write")
    p.add_argument("--force", action="store_true", help="replace an existing model folder")
    p.add_argument("--name", help="the model's name (default: the folder's name)")
    p.add_argument("--arch", choices=["small", "imagenet"], default="small",
                   help="small: our Fashion-MNIST geometry (stride 2, q 5-21, --width); imagenet: the authors' ResNet-50 "
                        "geometry (stride 8, q 9/17/33)")
    p.add_argument("--patch-size", type=int, default=9, help="q: the patch each evidence cell sees")
    p.add_argument("--patch-sizes", type=int, nargs="+", help="train one model per q; keep the best on validation")
    p.add_argument("--width", type=int, default=24, help="small geometry: stem width (layers use 1x, 2x, 4x)")
    p.add_argument("--input-size", type=parse_size, default=(64, 64), help="N or WxH (default 64)")
    p.add_argument("--resize", choices=["stretch", "shorter-side", "none"], default="stretch",
                   help="how the browser brings an image to the input size (stretch: to WxH; shorter-side: scale the "
                        "shorter side to N, then --crop; none: as it is)")
    p.add_argument("--crop", type=int, default=0, help="shorter-side: centre crop to this square")
    p.add_argument("--channels", type=int, choices=[1, 3], help="1 (grayscale) or 3 (RGB); default: 1 if the data are gray")
    p.add_argument("--window", type=parse_window, default="file",
                   help="DICOM VOI window: 'file' (the image's own) or CENTER,WIDTH")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--time-budget", type=float, default=0, help="seconds of training (per patch size); epochs cap it")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--shift", type=int, help="random translation in pixels (default: input size / 16)")
    p.add_argument("--flip", action="store_true", help="random horizontal flips (not for lateralised images)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", type=Path, help="fine-tune from the authors' checkpoint (--arch imagenet; the classifier is new)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from <out>.training/")
    p.add_argument("--stop-after", type=int, default=0, help="stop after this epoch (continue later with --resume)")
    p.add_argument("--skip-bad", action="store_true", help="leave out unreadable files instead of stopping")
    p.add_argument("--min-per-class", type=int, default=5)
    p.add_argument("--precisions", nargs="*", default=["fp16", "int8"], choices=["fp16", "int8"])
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    if args.init and args.arch != "imagenet":
        p.error("--init takes the authors' ImageNet checkpoints: add --arch imagenet")
    if args.patch_sizes and args.init:
        p.error("--init fixes the patch size: use --patch-size")
    return args


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "class"


def confusion(targets: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (targets, predicted), 1)
    return matrix


def train_one(q: int, args: argparse.Namespace, dataset: Dataset, fit_idx: np.ndarray, val_idx: np.ndarray,
              normalise: Normaliser, recipe: Recipe, work: Path, identity: dict[str, Any]) -> dict[str, Any]:
    """Train (or resume, or reuse a finished) model for patch size q; its checkpoint and metrics."""
    run = work / f"q{q}"
    done = run / "checkpoint.pt"
    config = model_config(args.arch, q, args.width, dataset.images.shape[1], len(dataset.labels))
    # A finished model is reused only for the very same run (data, geometry and recipe).
    finished = {"recipe": dataclasses.asdict(recipe), "config": config.to_json(), **identity}
    if args.resume and done.exists():
        saved = torch.load(done, map_location="cpu")
        if saved["identity"] == finished:
            print(json.dumps({"patchSize": q, "reused": str(done)}), flush=True)
            return saved
    torch.manual_seed(args.seed)  # the initial weights too: a run repeats exactly
    model = build(config)
    loaded = initialise_from(model, args.init) if args.init else 0
    images = torch.from_numpy(dataset.images)
    targets = torch.from_numpy(dataset.targets)
    fit_x, fit_y = images[fit_idx], targets[fit_idx]
    val_x, val_y = images[val_idx], targets[val_idx]

    def val_accuracy(m: BagNet) -> float:
        return float((predict(m, val_x, normalise, args.device).argmax(1) == val_y).float().mean())

    print(json.dumps({"patchSize": q, "parameters": count_parameters(model), "train_images": len(fit_x),
                      "val_images": len(val_x), "initialised_tensors": loaded}), flush=True)
    summary = fit(model, fit_x, fit_y, normalise, recipe, device=args.device, work=run, resume=args.resume,
                  identity=identity, evaluate=val_accuracy, stop_after=args.stop_after)
    if summary["stopped"]:
        return {"stopped": summary["stopped"]}
    before = val_accuracy(model)
    # A seeded sample of every class (the training images are in class order).
    sample = torch.randperm(len(fit_x), generator=torch.Generator().manual_seed(args.seed))[:RECALIBRATION_IMAGES]
    recalibrate_batchnorm(model, fit_x[sample], normalise, args.device)
    logits = predict(model, val_x, normalise, args.device)
    predicted = logits.argmax(1).numpy()
    model = model.cpu().to(memory_format=torch.contiguous_format)
    metrics = {
        "patchSize": q, "top1_val": float((predicted == val_y.numpy()).mean()), "top1_val_before_bn_recalibration": before,
        "parameters": count_parameters(model), "epochs": summary["epochs"], "train_seconds": summary["seconds"],
        "confusion": confusion(val_y.numpy(), predicted, len(dataset.labels)).tolist(),
        "initialised_tensors": loaded,
    }
    saved = {"identity": finished, "config": config.to_json(), "state_dict": model.state_dict(), "metrics": metrics}
    torch.save(saved, run / "checkpoint.pt.tmp")
    (run / "checkpoint.pt.tmp").replace(done)
    print(json.dumps({k: metrics[k] for k in ("patchSize", "top1_val", "epochs", "train_seconds")}), flush=True)
    return saved


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args, argv if argv is not None else sys.argv[1:])
    except (DatasetError, TrainingError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace, argv: list[str]) -> int:
    if args.device == "cpu":
        torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    out = args.out.resolve()
    if out.exists() and not args.force:
        raise FileExistsError(f"{args.out} exists (pass --force to replace it)")
    sizes = args.patch_sizes or [args.patch_size]
    if args.arch == "small":
        bad = [q for q in sizes if q not in SMALL_KERNEL3]
        if bad:
            raise TrainingError(f"the small geometry has q in {sorted(SMALL_KERNEL3)}, not {bad}")
    labels, items = scan_folder(args.data) if args.data else scan_csv(args.csv)
    channels = args.channels or (3 if args.init else guess_channels(items))
    resize = resize_policy(args)
    started = time.time()
    dataset, fit_idx, val_idx, how = read_data(args, channels, resize)
    height, width = dataset.images.shape[2:]
    too_small = [q for q in sizes if q > min(height, width)]
    if too_small:
        raise TrainingError(f"patches of q = {too_small} do not fit the {width}×{height} input: choose a smaller q or a "
                            "larger --input-size")
    print(json.dumps({"classes": dataset.counts(), "skipped": len(dataset.skipped), "input": [channels, height, width],
                      "read_seconds": round(time.time() - started, 1)}), flush=True)
    if args.init:
        mean, std = IMAGENET_MEAN[:channels] if channels == 3 else [float(np.mean(IMAGENET_MEAN))], \
            IMAGENET_STD[:channels] if channels == 3 else [float(np.mean(IMAGENET_STD))]
    else:
        # Per-channel statistics of the training images, summed in chunks (the set may be large).
        total, squares, count = np.zeros(channels), np.zeros(channels), 0
        for start in range(0, len(fit_idx), 1024):
            chunk = dataset.images[fit_idx[start:start + 1024]].astype(np.float64) / 255.0
            total += chunk.sum(axis=(0, 2, 3))
            squares += (chunk ** 2).sum(axis=(0, 2, 3))
            count += chunk.shape[0] * chunk.shape[2] * chunk.shape[3]
        mean_values = total / count
        mean = [round(float(v), 4) for v in mean_values]
        std = [round(max(float(v), 1e-3), 4) for v in np.sqrt(np.maximum(squares / count - mean_values ** 2, 0))]
    normalise = Normaliser(mean, std)
    recipe = Recipe(epochs=args.epochs, time_budget=args.time_budget, batch_size=args.batch_size, lr=args.lr,
                    weight_decay=args.weight_decay, label_smoothing=args.label_smoothing,
                    shift=args.shift if args.shift is not None else max(1, min(height, width) // 16),
                    flip=args.flip, seed=args.seed)
    # What a resumed run must share with the interrupted one (besides the recipe).
    identity = {"arch": args.arch, "width": args.width, "channels": channels, "resize": resize, "labels": dataset.labels,
                "images": len(dataset.targets), "data": hashlib.sha256("\n".join(dataset.sources).encode()).hexdigest(), "val": [int(i) for i in val_idx[:50]], "window": list(args.window)
                if args.window != "file" else "file", "init": str(args.init or ""), "mean": mean, "std": std}
    work = out.with_name(out.name + ".training")
    runs = {}
    for q in sizes:
        runs[q] = train_one(q, args, dataset, fit_idx, val_idx, normalise, recipe, work, identity)
        if "stopped" in runs[q]:
            print(json.dumps({"stopped": runs[q]["stopped"], "resume": f"add --resume to the same command"}), flush=True)
            return 0
    best_q = max(sizes, key=lambda q: (runs[q]["metrics"]["top1_val"], -q))
    best = runs[best_q]
    model = build(BagNetConfig(**best["config"]))
    model.load_state_dict(best["state_dict"], strict=True)
    model.eval()
    input_spec: dict[str, Any] = {"channels": channels, "mean": mean, "std": std, "resize": resize, "background": [0, 0, 0]}
    if dataset.dicom:
        input_spec["dicom"] = manifest_entry(args.window)
    data_source = str(args.data or args.csv)
    metrics = best["metrics"]
    command = "python3 -m bagnet_tools.train " + " ".join(shlex.quote(a) for a in argv)
    init_digest = hashlib.sha256(args.init.read_bytes()).hexdigest() if args.init else None
    fields = {
        "name": args.name or args.out.name,
        "labels": dataset.labels,
        "input_spec": input_spec,
        "metrics": {"dataset": f"{data_source} ({how})", "top1": metrics["top1_val"], "images": len(val_idx),
                    "perClass": per_class(metrics["confusion"], dataset.labels)},
        "provenance": {
            "source": f"trained by bagnet_tools.train on {data_source}",
            "tool": "bagnet_tools.train",
            "command": command,
            "training": {"train_images": len(fit_idx), "val_images": len(val_idx), "classes": dataset.counts(),
                         "skipped": dataset.skipped, "epochs": metrics["epochs"], "train_seconds": metrics["train_seconds"],
                         "device": torch.cuda.get_device_name(torch.device(args.device)) if args.device.startswith("cuda") else args.device,
                         "torch": str(torch.__version__), "python": platform.python_version(),
                         "top1_val_before_bn_recalibration": metrics["top1_val_before_bn_recalibration"]},
            "recipe": {**dataclasses.asdict(recipe), "arch": args.arch, "patchSizes": sizes, "width": args.width},
            **({"init": {"file": args.init.name, "sha256": init_digest, "tensors": metrics["initialised_tensors"]}}
               if args.init else {}),
            **({"patchSizes": {str(q): runs[q]["metrics"]["top1_val"] for q in sizes}} if len(sizes) > 1 else {}),
        },
    }
    images = torch.from_numpy(dataset.images)

    def extra(folder: Path) -> None:
        write_samples(folder, model, dataset, val_idx, normalise, resize)
        if args.precisions:
            from .precisions import add_precisions

            rng = np.random.default_rng(args.seed)
            calibration_idx = rng.permutation(fit_idx)[:500]
            to_array = lambda idx: normalise(images[idx]).contiguous().numpy()  # noqa: E731
            add_precisions(folder, to_array(calibration_idx), evaluation=to_array(val_idx), labels=dataset.targets[val_idx],
                           dataset=f"{data_source}, validation", calibration_source=f"{len(calibration_idx)} training images",
                           precisions=tuple(args.precisions),
                           load_pixels=lambda path: normalise(torch.from_numpy(read_sample(path, channels, resize)[None])).numpy())
        manifest = json.loads((folder / "bagnet.json").read_text())
        (folder / "MODEL_CARD.md").write_text(model_card(manifest, dataset, fit_idx, val_idx, how, runs, best_q, args, command))
        if len(sizes) > 1:
            (folder / "accuracy-over-q.svg").write_text(accuracy_plot({q: runs[q]["metrics"]["top1_val"] for q in sizes}))

    manifest = write_model_folder(out, model, fields, force=args.force, extra=extra)
    print(json.dumps({"out": str(args.out), "patchSize": best_q, "top1_val": metrics["top1_val"],
                      "onnx_bytes": manifest["files"]["fp32"]["bytes"], "seconds": round(time.time() - started, 1)}), flush=True)
    return 0


def per_class(matrix: list[list[int]], labels: list[str]) -> dict[str, float | None]:
    return {label: (row[k] / sum(row) if sum(row) else None) for k, (label, row) in enumerate(zip(labels, matrix))}


def read_sample(path: Path, channels: int, resize: dict[str, Any]) -> np.ndarray:
    """A sample PNG as the browser will give it to the model (its resize policy applied again)."""
    return np.array(read_file(path, channels, resize, "file")[0], dtype=np.uint8)


def write_samples(folder: Path, model: BagNet, dataset: Dataset, val_idx: np.ndarray, normalise: Normaliser,
                  resize: dict[str, Any]) -> None:
    """The first validation images of each class as PNG, with the logits of the PNG read back (what a user gets)."""
    (folder / "samples").mkdir()
    entries = []
    channels = dataset.images.shape[1]
    for k, label in enumerate(dataset.labels):
        for index in [i for i in val_idx if dataset.targets[i] == k][:SAMPLES_PER_CLASS]:
            name = f"{len(entries):02d}-{_slug(label)}.png"
            image = dataset.images[index]
            Image.fromarray(image[0] if channels == 1 else image.transpose(1, 2, 0)).save(folder / "samples" / name)
            pixels = torch.from_numpy(read_sample(folder / "samples" / name, channels, resize)[None])
            with torch.no_grad():
                logits = model(normalise(pixels)).mean(dim=(1, 2))[0].double()
            entries.append({"file": f"samples/{name}", "label": label, "labelIndex": k, "source": dataset.sources[index],
                            "predicted": int(logits.argmax()), "logits": [float(v) for v in logits]})
    (folder / "samples.json").write_text(json.dumps(entries, indent=1) + "\n")


def accuracy_plot(accuracy: dict[int, float]) -> str:
    """Validation top-1 over patch size, as an SVG line chart (Fig. 1B of the paper, for this data)."""
    w, h, left, bottom, top, right = 360, 220, 48, 36, 16, 16
    qs = sorted(accuracy)
    lo = min(0.5, min(accuracy.values()))
    x = lambda q: left + (w - left - right) * (qs.index(q) / max(1, len(qs) - 1))  # noqa: E731
    y = lambda a: top + (h - top - bottom) * (1 - (a - lo) / (1 - lo))  # noqa: E731
    points = " ".join(f"{x(q):.1f},{y(accuracy[q]):.1f}" for q in qs)
    ticks = "".join(f'<text x="{x(q):.1f}" y="{h - bottom + 16}" text-anchor="middle">{q}</text>' for q in qs)
    yticks = "".join(f'<text x="{left - 6}" y="{y(a) + 4:.1f}" text-anchor="end">{a:.0%}</text>'
                     f'<line x1="{left}" x2="{w - right}" y1="{y(a):.1f}" y2="{y(a):.1f}" stroke="#ddd"/>'
                     for a in np.linspace(lo, 1, 3))
    dots = "".join(f'<circle cx="{x(q):.1f}" cy="{y(accuracy[q]):.1f}" r="3"/>' for q in qs)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">'
            f'<title>Validation top-1 over patch size q</title>{yticks}'
            f'<polyline points="{points}" fill="none" stroke="#1f6feb" stroke-width="2"/>{dots}{ticks}'
            f'<text x="{(w + left) / 2}" y="{h - 4}" text-anchor="middle">patch size q (pixels)</text></svg>\n')


def model_card(manifest: dict[str, Any], dataset: Dataset, fit_idx: np.ndarray, val_idx: np.ndarray, how: str,
               runs: dict[int, dict[str, Any]], best_q: int, args: argparse.Namespace, command: str) -> str:
    labels = dataset.labels
    metrics = runs[best_q]["metrics"]
    fit_counts = np.bincount(dataset.targets[fit_idx], minlength=len(labels))
    val_counts = np.bincount(dataset.targets[val_idx], minlength=len(labels))
    spec = manifest["input"]
    lines = [
        f"# Model card: {manifest['name']}",
        "",
        f"A BagNet-{best_q} ({args.arch} geometry, stride {manifest['stride']}) that classifies "
        f"{len(labels)} classes from {spec['channels'] == 1 and 'grayscale' or 'RGB'} images. Its logits are the mean "
        f"of the scores of {best_q}×{best_q}-pixel patches, so its evidence map is an exact account of each decision.",
        "",
        f"Made {manifest['provenance']['createdAt']} by `{command}`.",
        "",
        "## Data",
        "",
        f"Source: `{args.data or args.csv}`; {how}. Images after preprocessing: {spec['channels']}×"
        f"{dataset.images.shape[2]}×{dataset.images.shape[3]} (resize `{json.dumps(spec['resize'])}`).",
    ]
    if "dicom" in spec:
        lines.append(f"DICOM: modality LUT, VOI window {spec['dicom']['window']!r}, MONOCHROME1 inverted "
                     "(`bagnet_tools.dicom_pixels`, the viewer plugin's pipeline); every frame an image.")
    if dataset.skipped:
        lines.append(f"Left out (unreadable, `--skip-bad`): {len(dataset.skipped)} file(s).")
    lines += ["", "| class | training | validation |", "|---|---:|---:|"]
    lines += [f"| {label} | {fit_counts[k]} | {val_counts[k]} |" for k, label in enumerate(labels)]
    lines += [f"| **all** | {fit_counts.sum()} | {val_counts.sum()} |", "", "## Recipe", ""]
    recipe = manifest["provenance"]["recipe"]
    lines.append(", ".join(f"{k} {v}" for k, v in recipe.items() if k not in ("patchSizes",)) + ".")
    lines.append(f"Normalisation: mean {spec['mean']}, std {spec['std']}. BatchNorm statistics recomputed on the "
                 f"training images after training. {metrics['epochs']} epochs in {metrics['train_seconds']} s on "
                 f"{manifest['provenance']['training']['device']}.")
    if args.init:
        lines.append(f"Fine-tuned from `{args.init.name}` ({metrics['initialised_tensors']} tensors loaded; the classifier "
                     "re-initialised).")
    lines += ["", "## Accuracy", "", f"Validation top-1: **{metrics['top1_val']:.4f}** on {len(val_idx)} images "
              f"({metrics['top1_val_before_bn_recalibration']:.4f} before the BatchNorm recalibration).", "",
              "Confusion on the validation images (rows: true class, columns: predicted):", "",
              "| true \\ predicted | " + " | ".join(labels) + " | accuracy |",
              "|---|" + "---:|" * (len(labels) + 1)]
    for k, (label, row) in enumerate(zip(labels, metrics["confusion"])):
        total = sum(row)
        lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + f" | {row[k] / total if total else float('nan'):.3f} |")
    if len(runs) > 1:
        lines += ["", "## Accuracy over patch size", "", "| q | validation top-1 | epochs | seconds |", "|---:|---:|---:|---:|"]
        lines += [f"| {q}{' (kept)' if q == best_q else ''} | {runs[q]['metrics']['top1_val']:.4f} | "
                  f"{runs[q]['metrics']['epochs']} | {runs[q]['metrics']['train_seconds']} |" for q in sorted(runs)]
        lines += ["", "![validation top-1 over q](accuracy-over-q.svg)",
                  "", "The model kept is the one with the best validation top-1 (the smaller q on a tie)."]
    variants = {k: v for k, v in manifest["files"].items() if k != "fp32"}
    if variants:
        lines += ["", "## Smaller files", "", "| file | bytes | top-1 agreement with fp32 | top-1 |", "|---|---:|---:|---:|"]
        lines.append(f"| fp32 | {manifest['files']['fp32']['bytes']} | 1 | {metrics['top1_val']:.4f} |")
        for name, entry in variants.items():
            m = entry.get("metrics", {})
            lines.append(f"| {name} | {entry['bytes']} | {m.get('agreement', float('nan')):.4f} | {m.get('top1', float('nan')):.4f} |")
    lines += [
        "", "## Intended use", "",
        f"Classifying images like those in `{args.data or args.csv}` into {', '.join(labels)}, with the evidence map "
        "showing which patches drove each decision; for exploring and explaining this data set, not for decisions "
        "about people.",
        "", "## Limitations", "",
        f"- Measured only on held-out images of the same source ({len(val_idx)} images): expect lower accuracy on "
        "images from other devices, sites, populations or preprocessing.",
        f"- Each evidence cell sees {best_q}×{best_q} pixels of the {dataset.images.shape[3]}×{dataset.images.shape[2]} "
        "input: the model cannot use shapes or arrangements larger than that, and counts evidence wherever it appears.",
        "- The evidence map explains the model, not the world: a confident patch can be a shortcut (a marker, a "
        "watermark, a border) that the data happened to correlate with the class.",
        "- Not a medical device. Trained and validated without clinical review.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
