"""What the model must receive for each DICOM fixture, computed independently of the plugin with
pydicom's own modality and VOI LUT functions (DICOM PS3.3 C.11.1 and C.11.2.1.2.1, LINEAR):

    modality = apply_modality_lut(stored)
    voi      = apply_voi_lut(modality)           # window from the dataset, else the full range
    v        = (voi - ymin) / (ymax - ymin)      # pydicom's output range for the stored bit depth
    gray     = round(255 * v), inverted (255 - gray) for MONOCHROME1

Writes build/dicom/expected.json: {name: {frames: [[gray, ...]], rows, columns}} (grayscale files only).
"""

import json
import sys
from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_voi_lut


def expected(ds: pydicom.Dataset) -> list[list[int]]:
    frames = ds.pixel_array
    if int(getattr(ds, "NumberOfFrames", 1)) == 1:
        frames = frames[None]
    out = []
    for stored in frames:
        modality = apply_modality_lut(stored, ds).astype(np.float64)
        if "WindowCenter" in ds and "WindowWidth" in ds:
            voi = apply_voi_lut(modality, ds, index=0, prefer_lut=False)
            bits = int(ds.BitsStored)
            # pydicom's LINEAR output range: [0, 2**bits - 1] (signed for PixelRepresentation 1), rescaled.
            if int(ds.PixelRepresentation) == 1:
                y_min, y_max = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
            else:
                y_min, y_max = 0, 2 ** bits - 1
            if "RescaleSlope" in ds and "RescaleIntercept" in ds:  # pydicom rescales the range too
                slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
                y_min, y_max = y_min * slope + intercept, y_max * slope + intercept
            v = (voi - y_min) / (y_max - y_min)
        else:
            # No window: the full range of modality values maps to [0, 1].
            low, high = modality.min(), modality.max()
            v = (modality - low) / max(high - low, 1)
        gray = np.rint(255 * np.clip(v, 0, 1)).astype(int)
        if ds.PhotometricInterpretation == "MONOCHROME1":
            gray = 255 - gray
        out.append(gray.ravel().tolist())
    return out


def main() -> None:
    folder = Path(sys.argv[1])
    result = {}
    for path in sorted(folder.glob("*.dcm")):
        if path.stem.startswith("bad-"):
            continue
        ds = pydicom.dcmread(path)
        result[path.stem] = {"rows": int(ds.Rows), "columns": int(ds.Columns), "frames": expected(ds)}
    (folder / "expected.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
