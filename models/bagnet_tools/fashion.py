"""Fashion-MNIST data and the small BagNets trained on it.

The geometry is the ImageNet BagNet scaled to 28x28 grayscale images: unpadded convolutions, 3x3
only where the receptive field needs it, a per-patch linear classifier, logits = mean of the map.
Total stride 2 (one strided layer), so the patch sizes are 5, 9, 13, 17, 21 and a 28x28 image gives
a 12x12, 10x10, 8x8, 6x6 or 4x4 evidence map.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

from .arch import BagNetConfig, small_config

# Debian's dataset-fashion-mnist; FASHION_MNIST_DIR points elsewhere (a GPU machine without the package).
DATA_DIR = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))

LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

# Statistics of the 60,000 training images, pixels scaled to [0, 1].
MEAN = 0.2860
STD = 0.3530

def fashion_config(patch_size: int, width: int = 24) -> BagNetConfig:
    """A three-layer BagNet for 28x28 grayscale input with the given patch size."""
    return small_config(patch_size, width, in_channels=1, num_classes=len(LABELS))


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_split(split: str, data_dir: Path = DATA_DIR) -> tuple[np.ndarray, np.ndarray]:
    """Images ``uint8 [N, 28, 28]`` and labels ``int64 [N]`` of ``train`` or ``test``."""
    prefix = {"train": "train", "test": "t10k"}[split]
    images = _read_idx(data_dir / f"{prefix}-images-idx3-ubyte.gz")
    labels = _read_idx(data_dir / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{split}: {images.shape[0]} images but {labels.shape[0]} labels")
    return images, labels


def normalise(images: np.ndarray) -> np.ndarray:
    """uint8 ``[N, H, W]`` -> float32 ``[N, 1, H, W]`` as the manifest's preprocessing does."""
    return ((images.astype(np.float32) / 255.0 - MEAN) / STD)[:, None]
