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
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .arch import BagNet, BagNetConfig, build, count_parameters
from .fashion import MEAN, STD, fashion_config, load_split

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


RESUME_FILE = "resume.pt"
# Arguments that may differ between an interrupted run and its continuation.
RESUME_FREE = {"resume", "stop_after", "threads", "device"}


def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flip and a random shift of up to TRANSLATE pixels, on uint8 [B, 28, 28]."""
    n, h, w = batch.shape
    flip = torch.rand(n, generator=generator) < 0.5
    batch = torch.where(flip[:, None, None], batch.flip(-1), batch)
    padded = F.pad(batch, (TRANSLATE,) * 4)
    dy = torch.randint(0, 2 * TRANSLATE + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * TRANSLATE + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]
    cols = (dx[:, None] + torch.arange(w))[:, None, :]
    return padded[torch.arange(n)[:, None, None], rows, cols]


def to_input(batch_uint8: torch.Tensor, device: str) -> torch.Tensor:
    x = (batch_uint8.float().div_(255.0).sub_(MEAN).div_(STD))[:, None]
    return x.to(device).contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def evaluate(model: BagNet, images: torch.Tensor, labels: torch.Tensor, device: str) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(images), 1000):
        logits = model(to_input(images[start:start + 1000], device)).mean(dim=(1, 2))
        correct += (logits.argmax(1).cpu() == labels[start:start + 1000]).sum().item()
    return correct / len(images)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.device == "cpu":
        # Debian's torch starts with one OpenMP thread; use every core unless told otherwise.
        torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    generator = torch.Generator().manual_seed(args.seed)

    train_images, train_labels = load_split("train")
    test_images, test_labels = load_split("test")
    order = rng.permutation(len(train_images))
    val_idx, fit_idx = order[:args.val_size], order[args.val_size:]
    if args.limit_train:
        fit_idx = fit_idx[:args.limit_train]
    fit_x, fit_y = torch.from_numpy(train_images[fit_idx].copy()), torch.from_numpy(train_labels[fit_idx])
    val_x, val_y = torch.from_numpy(train_images[val_idx].copy()), torch.from_numpy(train_labels[val_idx])
    test_x, test_y = torch.from_numpy(test_images.copy()), torch.from_numpy(test_labels)

    config = fashion_config(args.patch_size, args.width)
    model = build(config).to(args.device).to(memory_format=torch.channels_last)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": args.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=args.lr, momentum=0.9, nesterov=True)
    steps_per_epoch = len(fit_x) // args.batch_size
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, epochs=args.epochs,
                                                    steps_per_epoch=steps_per_epoch, pct_start=0.15)
    args.out.mkdir(parents=True, exist_ok=True)
    log_path = args.out / "log.jsonl"
    full_recipe = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    # What a resumed run must repeat: the arguments that shape the result.
    recipe = {k: v for k, v in full_recipe.items() if k not in RESUME_FREE}
    first_epoch, spent = 0, 0.0
    if args.resume:
        state = torch.load(args.out / RESUME_FILE)
        if state["recipe"] != recipe:
            changed = sorted(k for k in recipe if state["recipe"].get(k) != recipe[k])
            raise SystemExit(f"--resume needs the interrupted run's arguments; these differ: {', '.join(changed)}")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        first_epoch, spent = state["epoch"], state["seconds"]
        print(json.dumps({"resumed_after_epoch": first_epoch}), flush=True)
    else:
        log_path.write_text("")
    started = time.time() - spent
    for epoch in range(first_epoch, args.epochs):
        model.train()
        epoch_start = time.time()
        perm = torch.randperm(len(fit_x), generator=generator)
        loss_sum, correct, seen = 0.0, 0, 0
        for step in range(steps_per_epoch):
            idx = perm[step * args.batch_size:(step + 1) * args.batch_size]
            x = to_input(augment(fit_x[idx], generator), args.device)
            y = fit_y[idx].to(args.device)
            logits = model(x).mean(dim=(1, 2))
            loss = F.cross_entropy(logits, y, label_smoothing=args.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(idx)
        val_acc = evaluate(model, val_x, val_y, args.device)
        record = {"epoch": epoch + 1, "train_loss": round(loss_sum / seen, 4), "train_acc": round(correct / seen, 4),
                  "val_acc": round(val_acc, 4), "seconds": round(time.time() - epoch_start, 1)}
        print(json.dumps(record), flush=True)
        with log_path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        torch.save({"recipe": recipe, "epoch": epoch + 1, "seconds": time.time() - started, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "generator": generator.get_state()}, args.out / (RESUME_FILE + ".tmp"))
        (args.out / (RESUME_FILE + ".tmp")).replace(args.out / RESUME_FILE)  # never a half-written file
        if args.stop_after and epoch + 1 == args.stop_after and epoch + 1 < args.epochs:
            print(json.dumps({"stopped_after_epoch": epoch + 1, "resume": f"--resume --out {args.out}"}), flush=True)
            return {"stopped_after_epoch": epoch + 1}

    model = model.cpu().to(memory_format=torch.contiguous_format)
    metrics = {
        "dataset": "Fashion-MNIST",
        "patchSize": config.patch_size,
        "test_images": len(test_x),
        "val_images": len(val_x),
        "train_images": len(fit_x),
        "parameters": count_parameters(model),
        "train_seconds": round(time.time() - started, 1),
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


@torch.no_grad()
def recalibrate_batchnorm(model: BagNet, images: torch.Tensor, device: str, batch_size: int = 500) -> None:
    """Replace BatchNorm running statistics by exact averages over ``images`` (no augmentation).

    The stem's BatchNorm keeps the authors' momentum of 0.001, so its running statistics lag far
    behind weights that change during training; averaging afresh at the end makes evaluation use
    statistics of the final weights ("precise BN").
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all batches
    model.train()
    for start in range(0, len(images), batch_size):
        model(to_input(images[start:start + batch_size], device))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.eval()


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
    recalibrate_batchnorm(model, torch.from_numpy(train_images[fit_idx[:RECALIBRATION_IMAGES]].copy()), device)
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
