"""A labelled data set made from scratch, for the trainer's tests and the README's walk-through: classes
that differ only in the *shape* of a small object (same gray level, same size box), placed at random on
textured noise, written as PNG and DICOM (16-bit MONOCHROME2 with a window that gives the PNG's gray
back, and some MONOCHROME1), with each object's box in ``boxes.json``.

    python3 -m bagnet_tools.shapes --out ../build/shapes-data [--per-class 300] [--trained ../build/trained/shapes]

``--trained`` also trains the test model on it (the command the tests time) unless that folder exists.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 32
BOX = 7
INK = 215
SHAPES = {
    "frame": lambda y, x: (y == 0) | (y == BOX - 1) | (x == 0) | (x == BOX - 1),
    "plus": lambda y, x: (y == BOX // 2) | (x == BOX // 2),
    "cross": lambda y, x: (y == x) | (y == BOX - 1 - x),
}
# The trained fixture: small geometry, q = 9 (an object is 7×7), 32×32 gray input; 14 epochs, or fewer if they
# would take more than the 3 minutes (170 s of training).
TRAIN_ARGS = ["--patch-size", "9", "--width", "16", "--input-size", str(SIZE), "--epochs", "14", "--batch-size", "32",
              "--lr", "0.08", "--shift", "2", "--seed", "0", "--precisions", "int8", "--time-budget", "170"]


def texture(rng: np.random.Generator) -> np.ndarray:
    coarse = rng.uniform(50, 150, size=(SIZE // 4 + 2, SIZE // 4 + 2))
    smooth = np.asarray(Image.fromarray(coarse.astype(np.float32), mode="F").resize((SIZE + 8, SIZE + 8), Image.BILINEAR))
    return np.clip(smooth[4:4 + SIZE, 4:4 + SIZE] + rng.normal(0, 18, (SIZE, SIZE)), 0, 255)


def image(shape: str, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """uint8 SIZE×SIZE and the object's box [x, y, width, height]."""
    pixels = texture(rng)
    top, left = (int(v) for v in rng.integers(1, SIZE - BOX - 1, size=2))
    y, x = np.mgrid[0:BOX, 0:BOX]
    mask = SHAPES[shape](y, x)
    pixels[top:top + BOX, left:left + BOX][mask] = INK
    return np.rint(pixels).astype(np.uint8), [left, top, BOX, BOX]


def write_dicom(path: Path, gray: np.ndarray, monochrome1: bool, *, study: str | None = None, series: str | None = None,
                instance: str | None = None, number: int = 1, rescale: bool = True) -> None:
    """16-bit DICOM whose pipeline (modality LUT, its window, MONOCHROME1) gives ``gray`` back; optionally
    one slice (``number``, 1 mm apart) of a given study and series."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = instance or generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study or generate_uid(), series or generate_uid()
    ds.PatientName, ds.PatientID, ds.StudyDescription = "BagNet^Test", "bagnet-test", "BagNet test study"
    ds.StudyDate, ds.SeriesNumber, ds.InstanceNumber = "20261130", 1, number
    ds.ImagePositionPatient, ds.ImageOrientationPatient = [0, 0, float(number)], [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing, ds.SliceThickness = [1, 1], 1
    ds.Rows, ds.Columns = gray.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    # stored = 4·gray + 1000 (rescaled back by the slope and intercept; or the gray itself without
    # `rescale`), window [0, 255]: the PNG's gray again.
    ds.WindowCenter, ds.WindowWidth = "128", "256"
    stored = ((255 - gray) if monochrome1 else gray).astype(np.uint16)
    if rescale:
        ds.RescaleSlope, ds.RescaleIntercept = "0.25", "-250"
        stored = stored * 4 + 1000
    ds.PixelData = stored.tobytes()
    ds.save_as(path, write_like_original=False)
    assert pydicom.dcmread(path).pixel_array.shape == gray.shape


def make(out: Path, per_class: int = 300, seed: int = 0, dicom_every: int = 4) -> Path:
    """``out/<shape>/NNNN.png`` (every ``dicom_every``-th one ``.dcm``) and ``out/boxes.json``."""
    rng = np.random.default_rng(seed)
    boxes = {}
    for shape in SHAPES:
        (out / shape).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            gray, box = image(shape, rng)
            if dicom_every and i % dicom_every == dicom_every - 1:
                name = f"{shape}/{i:04d}.dcm"
                write_dicom(out / name, gray, monochrome1=i % (2 * dicom_every) == 2 * dicom_every - 1)
            else:
                name = f"{shape}/{i:04d}.png"
                Image.fromarray(gray).save(out / name)
            boxes[name] = box
    (out / "boxes.json").write_text(json.dumps(boxes) + "\n")
    return out


def train_fixture(data: Path, model: Path) -> float:
    """Train the test model on ``data`` into ``model`` (replacing it); returns the seconds it took."""
    started = time.time()
    subprocess.run([sys.executable, "-m", "bagnet_tools.train", "--data", str(data), "--out", str(model), "--force",
                    *TRAIN_ARGS], check=True, cwd=Path(__file__).resolve().parent.parent)
    return time.time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-class", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trained", type=Path, help="also train the test model into this folder (if it is not there)")
    args = parser.parse_args(argv)
    if not (args.out / "boxes.json").exists():
        make(args.out, args.per_class, args.seed)
    if args.trained and not (args.trained / "bagnet.json").exists():
        print(json.dumps({"trained": str(args.trained), "seconds": round(train_fixture(args.out, args.trained), 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
