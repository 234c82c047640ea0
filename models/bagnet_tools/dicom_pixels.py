"""The DICOM pixel pipeline: stored values → the 8-bit image a BagNet trains on and sees in the viewer.

The one Python definition of what the Cornerstone3D plugin does in the browser
(``src/plugins/cornerstone/pixels.ts``), operation for operation in float64, so the two agree pixel
for pixel (the plugin's tests compare them on the DICOM fixtures; ``models/tests/test_dicom_pixels.py``
checks this module against pydicom's own LUT functions):

1. Modality LUT (PS3.3 C.11.1): ``m = stored · RescaleSlope + RescaleIntercept``.
2. VOI LUT, LINEAR (C.11.2.1.2.1), window centre c and width w: ``m ≤ c − 0.5 − (w−1)/2 → 0``,
   ``m > c − 0.5 + (w−1)/2 → 1``, else ``(m − (c − 0.5)) / (w − 1) + 0.5``. The window is the file's
   first Window Center/Width (``window="file"``; the full range of modality values when it has none)
   or a fixed ``(center, width)``.
3. MONOCHROME1 inverted after the VOI (the model always sees black = low).
4. ``round(255 · v)``, rounding halves up as JavaScript's ``Math.round`` does.

RGB files pass through as 8-bit RGB. Every frame of a multi-frame file is an image of its own.

    python3 -m bagnet_tools.dicom_pixels build/dicom   # writes build/dicom/expected*.json for the plugin's tests
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Sequence, Union

import numpy as np

# "file": the image's own VOI window; (center, width): a fixed one.
Window = Union[str, Sequence[float]]

GRAYSCALE = {"MONOCHROME1", "MONOCHROME2"}
COLOR = {"RGB", "YBR_FULL", "YBR_FULL_422"}


class DicomPixelError(ValueError):
    """A file the pipeline cannot turn into an image (with the reason, for the user)."""


def voi_linear(values: np.ndarray, center: float, width: float) -> np.ndarray:
    if width < 1:
        raise DicomPixelError(f"window width must be at least 1, got {width}")
    lower = center - 0.5 - (width - 1) / 2
    upper = center - 0.5 + (width - 1) / 2
    if width == 1:
        return np.where(values <= lower, 0.0, 1.0)
    inside = (values - (center - 0.5)) / (width - 1) + 0.5
    return np.where(values <= lower, 0.0, np.where(values > upper, 1.0, inside))


def window_for_range(lower: float, upper: float) -> tuple[float, float]:
    """The window mapping modality values [lower, upper] exactly onto [0, 1]."""
    width = max(1.0, upper - lower + 1)
    return lower + 0.5 + (width - 1) / 2, width


def _first(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)) or (hasattr(value, "__len__") and not isinstance(value, str)):
        value = value[0] if len(value) else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def file_window(ds, modality: np.ndarray) -> tuple[float, float]:
    """The dataset's first Window Center/Width, else the full range of ``modality``."""
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if center is not None and width is not None and width >= 1:
        return center, width
    if modality.size == 0:
        raise DicomPixelError("the image has no pixels")
    return window_for_range(float(modality.min()), float(modality.max()))


def frames(ds) -> np.ndarray:
    """Stored values, frame first: [frames, rows, columns(, samples)] (signedness applied by pydicom)."""
    try:
        pixels = ds.pixel_array
    except Exception as error:  # pydicom raises many types for missing decoders and damaged data
        raise DicomPixelError(f"cannot decode the pixel data: {error}") from error
    samples = int(ds.get("SamplesPerPixel", 1))
    single = pixels.ndim == (3 if samples > 1 else 2)
    return pixels[None] if single else pixels


def frame_to_image(ds, stored: np.ndarray, window: Window = "file", invert_monochrome1: bool = True) -> np.ndarray:
    """One frame → uint8 [rows, columns] (grayscale) or [rows, columns, 3] (RGB)."""
    pi = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    samples = int(ds.get("SamplesPerPixel", 1))
    if pi in GRAYSCALE:
        if samples != 1:
            raise DicomPixelError(f"{pi} needs 1 sample per pixel, the image has {samples}")
        slope = float(ds.get("RescaleSlope", 1) or 1)
        intercept = float(ds.get("RescaleIntercept", 0) or 0)
        modality = stored.astype(np.float64) * slope + intercept
        center, width = file_window(ds, modality) if window == "file" else (float(window[0]), float(window[1]))
        v = voi_linear(modality, center, width)
        if pi == "MONOCHROME1" and invert_monochrome1:
            v = 1 - v
        return np.floor(255 * v + 0.5).astype(np.uint8)
    if pi in COLOR and samples in (3, 4):
        if pi != "RGB":
            from pydicom.pixel_data_handlers.util import convert_color_space

            stored = convert_color_space(stored, pi, "RGB")
        return np.asarray(stored[..., :3], dtype=np.uint8)
    raise DicomPixelError(f'unsupported photometric interpretation "{pi}" ({samples} samples per pixel): '
                          "use MONOCHROME1, MONOCHROME2 or RGB")


def read_images(path: Path, window: Window = "file", invert_monochrome1: bool = True) -> list[np.ndarray]:
    """Every frame of a DICOM file as the model's 8-bit image."""
    import pydicom

    try:
        ds = pydicom.dcmread(path)
    except Exception as error:
        raise DicomPixelError(f"not a readable DICOM file: {error}") from error
    if "PixelData" not in ds:
        raise DicomPixelError("the file has no pixel data")
    return [frame_to_image(ds, frame, window, invert_monochrome1) for frame in frames(ds)]


def manifest_entry(window: Window, invert_monochrome1: bool = True) -> dict:
    """The manifest's ``input.dicom``: how a viewer must preprocess DICOM for this model."""
    return {"window": "file" if window == "file" else [float(window[0]), float(window[1])],
            "invertMonochrome1": invert_monochrome1}


def expected(folder: Path, window: Window = "file", invert_monochrome1: bool = True) -> dict:
    """{name: {rows, columns, frames}} of the grayscale DICOM files in ``folder`` (the plugin tests' reference)."""
    result = {}
    for path in sorted(folder.glob("*.dcm")):
        if path.stem.startswith("bad-"):
            continue
        images = read_images(path, window, invert_monochrome1)
        if images[0].ndim != 2:
            continue  # grayscale only: the tests compare one channel
        result[path.stem] = {"rows": int(images[0].shape[0]), "columns": int(images[0].shape[1]),
                             "frames": [image.ravel().tolist() for image in images]}
    return result


def main(argv: list[str] | None = None) -> int:
    """Writes ``expected.json`` (the files' own windows) and ``expected-40-400-uninverted.json`` (a fixed
    window, MONOCHROME1 kept: what a model whose manifest says so gets)."""
    folder = Path((argv or sys.argv[1:])[0])
    (folder / "expected.json").write_text(json.dumps(expected(folder)))
    (folder / "expected-40-400-uninverted.json").write_text(json.dumps(expected(folder, (40, 400), False)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
