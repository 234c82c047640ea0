"""Labelled images for training: a folder with one sub-folder per class, or a CSV of ``path,label``.

PNG, JPEG, WebP, BMP and GIF are read with PIL; DICOM (``.dcm``, ``.dicom``) through
:mod:`bagnet_tools.dicom_pixels`, the pipeline the viewer plugin applies (every frame an image). Each
image is then brought to the model's input exactly as the browser will (the manifest's resize policy,
PIL's bilinear filter as ``src/core/resample.ts``; transparent pixels over the manifest's background).

Bad data stops the run before anything is written, with every problem listed: unreadable files
(``skip_bad`` leaves them out instead), classes with too few images, images of different sizes when
nothing resizes them, a CSV without its ``path`` or ``label`` column.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from .dicom_pixels import DicomPixelError, Window, read_images

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}
DICOM_SUFFIXES = {".dcm", ".dicom"}
LISTED = 12  # problems printed before "… and N more"


class DatasetError(ValueError):
    """Data the trainer cannot use, with what to do about it."""


@dataclass
class Dataset:
    labels: list[str]
    images: np.ndarray  # uint8 [N, C, H, W], as the browser hands them to the model (before normalising)
    targets: np.ndarray  # int64 [N]
    sources: list[str]  # file (and frame) of each image
    files: np.ndarray  # int64 [N]: which file each image came from (the frames of one file stay together)
    skipped: list[str] = field(default_factory=list)  # "path: reason" of files left out (--skip-bad)
    dicom: bool = False  # whether any image came from DICOM

    def counts(self) -> dict[str, int]:
        found = Counter(self.targets.tolist())
        return {label: found.get(k, 0) for k, label in enumerate(self.labels)}


def _listing(items: list[str]) -> str:
    shown = "\n  ".join(items[:LISTED])
    return f"\n  {shown}" + (f"\n  … and {len(items) - LISTED} more" if len(items) > LISTED else "")


def scan_folder(root: Path) -> tuple[list[str], list[tuple[Path, str]]]:
    """``root/<class>/<image>``: the labels are the sub-folder names, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DatasetError(f"{root} has no class folders: put each class's images in a folder named after it")
    items = [(path, name) for name in classes for path in sorted((root / name).rglob("*"))
             if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES | DICOM_SUFFIXES]
    return classes, items


def scan_csv(path: Path) -> tuple[list[str], list[tuple[Path, str]]]:
    """Rows of ``path,label`` (a header names the columns; paths relative to the CSV's folder)."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        missing = [c for c in ("path", "label") if c not in columns]
        if missing:
            raise DatasetError(f"{path} has no {' or '.join(repr(c) for c in missing)} column "
                               f"(its header is {', '.join(reader.fieldnames or []) or 'empty'}): the first row must name "
                               "the columns, e.g. path,label")
        rows = [{k.strip().lower(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    blank = [f"row {i + 2}" for i, row in enumerate(rows) if not row["path"] or not row["label"]]
    if blank:
        raise DatasetError(f"{path}: rows without a path or a label:{_listing(blank)}")
    labels = sorted({row["label"] for row in rows})
    return labels, [(path.parent / row["path"], row["label"]) for row in rows]


def _resized(image: Image.Image, resize: dict[str, Any]) -> Image.Image:
    """The browser's resize plan (src/core/preprocess.ts resizePlan, as torchvision's Resize and CenterCrop)."""
    mode = resize["mode"]
    if mode == "stretch":
        return image.resize((resize["width"], resize["height"]), Image.BILINEAR)
    if mode == "shorter-side":
        size, (width, height) = resize["size"], image.size
        scaled_long = (size * max(width, height)) // min(width, height)
        scaled = (size, scaled_long) if width <= height else (scaled_long, size)
        image = image.resize(scaled, Image.BILINEAR)
        crop = resize.get("crop")
        if crop:
            left, top = round((scaled[0] - crop) / 2), round((scaled[1] - crop) / 2)  # Python rounds halves to even
            image = image.crop((left, top, left + crop, top + crop))
        return image
    return image


def _as_model_image(image: Image.Image, channels: int, background: tuple[int, int, int]) -> Image.Image:
    image = ImageOps.exif_transpose(image)  # the browser decodes with the image's own orientation
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit gray: the browser keeps the high byte (as it does for 16-bit PNGs), not a clipped low one.
        image = Image.fromarray((np.asarray(image, dtype=np.int64) >> 8).clip(0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (*background, 255))
        flat.alpha_composite(rgba)
        image = flat
    return image.convert("L" if channels == 1 else "RGB")


def read_file(path: Path, channels: int, resize: dict[str, Any], window: Window,
              background: tuple[int, int, int] = (0, 0, 0)) -> list[np.ndarray]:
    """The model images (uint8 C×H×W) of one file: one per DICOM frame."""
    if path.suffix.lower() in DICOM_SUFFIXES:
        pictures = [Image.fromarray(gray) for gray in read_images(path, window)]
    else:
        with Image.open(path) as opened:
            opened.load()
            pictures = [opened.copy()]
    out = []
    for picture in pictures:
        image = _resized(_as_model_image(picture, channels, background), resize)
        pixels = np.asarray(image, dtype=np.uint8)
        out.append(pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1))
    return out


def load(items: list[tuple[Path, str]], labels: list[str], *, channels: int, resize: dict[str, Any],
         window: Window = "file", skip_bad: bool = False, min_per_class: int = 2,
         background: tuple[int, int, int] = (0, 0, 0)) -> Dataset:
    index = {label: k for k, label in enumerate(labels)}
    images, targets, sources, files, bad = [], [], [], [], []
    dicom = False
    for number, (path, label) in enumerate(items):
        try:
            read = read_file(path, channels, resize, window, background)
        except (OSError, DicomPixelError, ValueError, SyntaxError) as error:
            bad.append(f"{path}: {error}")
            continue
        dicom |= path.suffix.lower() in DICOM_SUFFIXES
        for frame, image in enumerate(read):
            images.append(image)
            targets.append(index[label])
            files.append(number)
            sources.append(f"{path}" + (f" (frame {frame + 1})" if len(read) > 1 else ""))
    if bad and not skip_bad:
        raise DatasetError(f"{len(bad)} file(s) could not be read (--skip-bad leaves them out):{_listing(bad)}")
    counts = Counter(targets)
    few = [f"{label}: {counts.get(k, 0)}" for k, label in enumerate(labels) if counts.get(k, 0) < min_per_class]
    if few:
        raise DatasetError(f"every class needs at least {min_per_class} images; these have fewer:{_listing(few)}")
    sizes = Counter(image.shape[1:] for image in images)
    if len(sizes) > 1:
        examples = [f"{h}×{w}: {n} images, e.g. {sources[[i.shape[1:] for i in images].index((h, w))]}"
                    for (h, w), n in sizes.most_common()]
        raise DatasetError(f"the images have different sizes after --resize {resize['mode']}; choose --resize stretch "
                           f"(e.g. --input-size 64) or shorter-side with --crop:{_listing(examples)}")
    if not images:
        raise DatasetError("no images found (PNG, JPEG, WebP, BMP, GIF or DICOM)")
    return Dataset(labels, np.stack(images), np.array(targets, dtype=np.int64), sources, np.array(files, dtype=np.int64), bad, dicom)


def split(dataset: Dataset, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A stratified split by file (the frames of a multi-frame DICOM stay on one side): (training
    indices, validation indices), about ``fraction`` of each class's files for validation."""
    if not 0 < fraction < 1:
        raise DatasetError(f"--val-split must be between 0 and 1 (exclusive), got {fraction}")
    rng = np.random.default_rng(seed)
    fit, val, short = [], [], []
    for k, label in enumerate(dataset.labels):
        files = rng.permutation(np.unique(dataset.files[dataset.targets == k]))
        n_val = max(1, round(fraction * len(files)))
        if len(files) - n_val < 1:
            short.append(f"{label}: {len(files)} file(s)")
            continue
        val.extend(np.flatnonzero(np.isin(dataset.files, files[:n_val]) & (dataset.targets == k)))
        fit.extend(np.flatnonzero(np.isin(dataset.files, files[n_val:]) & (dataset.targets == k)))
    if short:
        raise DatasetError(f"a class needs files for both training and validation; these have too few:{_listing(short)}")
    return np.sort(np.array(fit, dtype=np.int64)), np.sort(np.array(val, dtype=np.int64))
