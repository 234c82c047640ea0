"""PyTorch CPU time of one BagNet-33 forward pass at 224x224 (the authors' architecture), for `npm run bench`.

Prints one JSON line: {"bagnet33_224_pytorch_ms": median, "runs": n, "threads": t}.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import torch

from .arch import IMAGENET_CONFIGS, build
from .fixtures import randomize


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    model = randomize(build(IMAGENET_CONFIGS["bagnet33"]), seed=33)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    times = []
    with torch.no_grad():
        model.pooled_logits(x)  # warm-up
        for _ in range(runs):
            started = time.perf_counter()
            model.pooled_logits(x)
            times.append((time.perf_counter() - started) * 1000)
    print(json.dumps({"bagnet33_224_pytorch_ms": round(statistics.median(times), 1), "runs": runs, "threads": threads}))


if __name__ == "__main__":
    main()
