"""Train a small BagNet on Fashion-MNIST, reproducibly (seeded), on CPU or GPU.

    /usr/bin/python3 -m bagnet_tools.train_fashion --patch-size 13 --epochs 12 --out runs/q13

Writes ``<out>/checkpoint-trained.pt`` (the weights as trained), ``<out>/checkpoint.pt`` (after
BatchNorm recalibration, see ``finalize``), ``<out>/metrics.json`` (validation and test top-1,
timings, the full recipe) and ``<out>/log.jsonl`` (one line per epoch).
``--finalize <out>`` redoes only the last step on an existing run. A run saves ``<out>/resume.pt``
after every epoch; ``--resume`` continues an interrupted run from there with the same arguments (the
random generator's state included, so the result is the run that was not interrupted). 5,000 training
images (a seeded split) are held out for validation, so picking a model never looks at the test set.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

from . import train
from .arch import BagNet, BagNetConfig, build, count_parameters
from .fashion import MEAN, STD, fashion_config, load_split
from .train import Normaliser

TRANSLATE = 2  # pixels of random shift each way (the background is black, so pad with 0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--patch-size", type=int, required=True, help="5, 9, 13, 17 or 21")
    p.add_argument("--width", type=int, default=24, help="stem width; layers use 1x, 2x, 4x")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1, help="peak learning rate (one-cycle)")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--val-size", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--limit-train", type=int, default=0, help="use only this many training images (smoke tests)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--resume", action="store_true", help="continue from <out>/resume.pt (same arguments)")
    p.add_argument("--stop-after", type=int, default=0,
                   help="stop after this epoch, leaving resume.pt to continue from (time-boxed machines)")
    return p.parse_args(argv)


# Arguments that may differ between an interrupted run and its continuation.
RESUME_FREE = {"resume", "stop_after", "threads", "device"}
NORMALISE = Normaliser([MEAN], [STD])


def evaluate(model: BagNet, images: torch.Tensor, labels: torch.Tensor, device: str) -> float:
    """Top-1 of uint8 [N, 28, 28] images."""
    return float((train.predict(model, images[:, None], NORMALISE, device, batch=1000).argmax(1) == labels).float().mean())


def main(argv: list[str] | None = None) -> dict:
    """The Fashion-MNIST recipe on the shared trainer (``bagnet_tools.train.fit``)."""
    args = parse_args(argv)
    if args.device == "cpu":
        # Debian's torch starts with one OpenMP thread; use every core unless told otherwise.
        torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    train_images, train_labels = load_split("train")
    test_images = load_split("test")[0]
    order = rng.permutation(len(train_images))
    val_idx, fit_idx = order[:args.val_size], order[args.val_size:]
    if args.limit_train:
        fit_idx = fit_idx[:args.limit_train]
    fit_x, fit_y = torch.from_numpy(train_images[fit_idx].copy()), torch.from_numpy(train_labels[fit_idx])
    val_x, val_y = torch.from_numpy(train_images[val_idx].copy()), torch.from_numpy(train_labels[val_idx])

    config = fashion_config(args.patch_size, args.width)
    model = build(config)
    full_recipe = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    recipe = train.Recipe(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                          label_smoothing=args.label_smoothing, shift=TRANSLATE, flip=True, pad="zeros", seed=args.seed)
    # What a resumed run must repeat: the arguments that shape the result.
    identity = {k: v for k, v in full_recipe.items() if k not in RESUME_FREE}
    try:
        summary = train.fit(model, fit_x[:, None], fit_y, NORMALISE, recipe, device=args.device, work=args.out,
                            resume=args.resume, identity=identity, stop_after=args.stop_after,
                            evaluate=lambda m: evaluate(m, val_x, val_y, args.device))
    except train.TrainingError as error:
        raise SystemExit(str(error)) from None
    if summary["stopped"]:
        print(json.dumps({"stopped_after_epoch": summary["epochs"], "resume": f"--resume --out {args.out}"}), flush=True)
        return {"stopped_after_epoch": summary["epochs"]}

    model = model.cpu().to(memory_format=torch.contiguous_format)
    metrics = {
        "dataset": "Fashion-MNIST",
        "patchSize": config.patch_size,
        "test_images": len(test_images),
        "val_images": len(val_x),
        "train_images": len(fit_x),
        "parameters": count_parameters(model),
        "train_seconds": summary["seconds"],
        "device": args.device if args.device == "cpu" else torch.cuda.get_device_name(),
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "recipe": full_recipe,
        "config": config.to_json(),
    }
    torch.save({"state_dict": model.state_dict(), "config": config.to_json(), "metrics": metrics},
               args.out / TRAINED_CHECKPOINT)
    return finalize(args.out)


TRAINED_CHECKPOINT = "checkpoint-trained.pt"
RECALIBRATION_IMAGES = 20_000


def finalize(run: Path) -> dict:
    """Recalibrate BatchNorm on training images, then measure validation and test top-1.

    Deterministic and idempotent: it always starts from the trained checkpoint.
    """
    trained = run / TRAINED_CHECKPOINT
    if not trained.exists():  # a run made before finalize existed saved only checkpoint.pt
        shutil.copyfile(run / "checkpoint.pt", trained)
    saved = torch.load(trained, map_location="cpu")
    metrics = dict(saved["metrics"])
    args = metrics["recipe"]
    model = build(BagNetConfig(**saved["config"]))
    model.load_state_dict(saved["state_dict"], strict=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = model.to(device).to(memory_format=torch.channels_last).eval()
    train_images, train_labels = load_split("train")
    test_images, test_labels = load_split("test")
    order = np.random.default_rng(args["seed"]).permutation(len(train_images))
    val_idx, fit_idx = order[:args["val_size"]], order[args["val_size"]:]
    if args.get("limit_train"):
        fit_idx = fit_idx[:args["limit_train"]]
    val_x, val_y = torch.from_numpy(train_images[val_idx].copy()), torch.from_numpy(train_labels[val_idx])
    test_x, test_y = torch.from_numpy(test_images.copy()), torch.from_numpy(test_labels)
    before = evaluate(model, val_x, val_y, device)
    train.recalibrate_batchnorm(model, torch.from_numpy(train_images[fit_idx[:RECALIBRATION_IMAGES]].copy())[:, None],
                                NORMALISE, device)
    metrics.update({
        "top1_val_before_bn_recalibration": before,
        "top1_val": evaluate(model, val_x, val_y, device),
        "top1_test": evaluate(model, test_x, test_y, device),
        "bn_recalibration_images": min(RECALIBRATION_IMAGES, len(fit_idx)),
    })
    model = model.cpu().to(memory_format=torch.contiguous_format)
    torch.save({"state_dict": model.state_dict(), "config": saved["config"], "metrics": metrics}, run / "checkpoint.pt")
    (run / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps({"patchSize": metrics["patchSize"], "top1_test": metrics["top1_test"], "top1_val": metrics["top1_val"],
                      "top1_val_before_bn_recalibration": before}), flush=True)
    return metrics

if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--finalize":
        finalize(Path(sys.argv[2]))  # recalibrate and measure an existing run
    else:
        main()
