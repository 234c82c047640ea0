"""Train several patch sizes at once on one GPU, with as many epochs as a time budget allows.

    python3 -m bagnet_tools.train_sweep --patch-sizes 5 9 13 17 21 --width 32 --budget 360 --out runs

A lent GPU comes for minutes, so the epoch count is chosen before training: every run first trains
``PROBE_STEPS`` steps side by side (the real contention), then all runs start together with the
largest epoch count whose slowest run fits ``--budget`` seconds (at most ``--max-epochs``). The
chosen count is an ordinary ``--epochs`` argument of ``train_fashion``, so each run's metrics hold a
recipe that reproduces it. Each run ends with ``train_fashion``'s BatchNorm recalibration and test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROBE_STEPS = 60
STEPS_PER_EPOCH = (60_000 - 5_000) // 128  # train_fashion's defaults: 5,000 held out, batch 128


def launch(patch_size: int, width: int, epochs: int, out: Path, extra: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, "-u", "-m", "bagnet_tools.train_fashion", "--patch-size", str(patch_size),
           "--width", str(width), "--epochs", str(epochs), "--out", str(out), *extra]
    out.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(cmd, stdout=(out.parent / f"{out.name}.out").open("w"), stderr=subprocess.STDOUT)


def wait_all(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"{' '.join(p.args)} failed with {p.returncode}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--patch-sizes", type=int, nargs="+", required=True)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--budget", type=float, default=300, help="seconds of training for the slowest run")
    p.add_argument("--min-epochs", type=int, default=12)
    p.add_argument("--max-epochs", type=int, default=40)
    p.add_argument("--epochs", type=int, default=0, help="skip the probe and train this many epochs")
    p.add_argument("--seed", type=int, default=0, help="passed on to the runs")
    p.add_argument("--limit-train", type=int, default=0, help="passed on to the runs (smoke tests)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)

    epochs = args.epochs or probe_epochs(args)
    extra = ["--seed", str(args.seed)] + (["--limit-train", str(args.limit_train)] if args.limit_train else [])
    name = f"w{args.width}-e{epochs}" + (f"-s{args.seed}" if args.seed else "")
    started = time.time()
    wait_all([launch(q, args.width, epochs, args.out / f"q{q}-{name}", extra) for q in args.patch_sizes])
    print(json.dumps({"wall_seconds": round(time.time() - started, 1)}), flush=True)
    for q in args.patch_sizes:
        metrics = json.loads((args.out / f"q{q}-{name}" / "metrics.json").read_text())
        print(json.dumps({"patchSize": q, "epochs": epochs, "seed": args.seed, "top1_test": metrics["top1_test"],
                          "top1_val": metrics["top1_val"], "parameters": metrics["parameters"],
                          "train_seconds": metrics["train_seconds"]}), flush=True)


def probe_epochs(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as probe_dir:
        probes = [launch(q, args.width, 1, Path(probe_dir) / f"q{q}", ["--limit-train", str(PROBE_STEPS * 128)])
                  for q in args.patch_sizes]
        wait_all(probes)
        step_seconds = max(json.loads((Path(probe_dir) / f"q{q}" / "log.jsonl").read_text().splitlines()[0])["seconds"]
                           for q in args.patch_sizes) / PROBE_STEPS
    epoch_seconds = step_seconds * STEPS_PER_EPOCH
    epochs = max(args.min_epochs, min(args.max_epochs, int(args.budget // epoch_seconds)))
    print(json.dumps({"probe_step_seconds": round(step_seconds, 4), "epoch_seconds_estimate": round(epoch_seconds, 1),
                      "epochs": epochs}), flush=True)
    return epochs

if __name__ == "__main__":
    main()
