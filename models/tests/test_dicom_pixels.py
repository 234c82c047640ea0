"""bagnet_tools.dicom_pixels against pydicom's own modality and VOI LUT functions (an independent
reading of PS3.3 C.11), on DICOM files written here: the browser plugin's tests then hold the plugin
to this module pixel for pixel."""

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_voi_lut
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from bagnet_tools.dicom_pixels import DicomPixelError, read_images, voi_linear


def write_dicom(path: Path, frames: np.ndarray, *, signed: bool = False, photometric: str = "MONOCHROME2",
                bits: int = 16, **elements) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    frames = np.asarray(frames)
    ds.NumberOfFrames = len(frames)
    ds.Rows, ds.Columns = frames.shape[1:3]
    ds.SamplesPerPixel = 3 if photometric == "RGB" else 1
    if photometric == "RGB":
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1 if signed else 0
    for key, value in elements.items():
        setattr(ds, key, value)
    dtype = {8: np.uint8, 16: np.int16 if signed else np.uint16}[bits]
    ds.PixelData = frames.astype(dtype).tobytes()
    ds.save_as(path, write_like_original=False)
    return path


def pydicom_gray(path: Path) -> list[np.ndarray]:
    """What pydicom's LUT functions give, scaled to 8 bits (test/cornerstone's former reference)."""
    ds = pydicom.dcmread(path)
    out = []
    pixels = ds.pixel_array
    for stored in (pixels[None] if int(ds.get("NumberOfFrames", 1)) == 1 else pixels):
        modality = apply_modality_lut(stored, ds).astype(np.float64)
        if "WindowCenter" in ds:
            voi = apply_voi_lut(modality, ds, index=0, prefer_lut=False)
            bits = int(ds.BitsStored)
            low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if ds.PixelRepresentation else (0, 2 ** bits - 1)
            if "RescaleSlope" in ds:
                slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
                low, high = low * slope + intercept, high * slope + intercept
            v = (voi - low) / (high - low)
        else:
            v = (modality - modality.min()) / max(modality.max() - modality.min(), 1)
        gray = np.rint(255 * np.clip(v, 0, 1)).astype(int)
        out.append(255 - gray if ds.PhotometricInterpretation == "MONOCHROME1" else gray)
    return out


rng = np.random.default_rng(5)
CASES = {
    "ct-signed-window": dict(frames=rng.integers(-1024, 2000, (1, 20, 24)), signed=True, RescaleSlope="1",
                             RescaleIntercept="-0", WindowCenter="40", WindowWidth="400"),
    "mr-slope-no-window": dict(frames=rng.integers(0, 4000, (1, 16, 16)), RescaleSlope="0.5", RescaleIntercept="10"),
    "monochrome1": dict(frames=rng.integers(0, 4096, (1, 12, 12)), photometric="MONOCHROME1", WindowCenter="2048",
                        WindowWidth="4096"),
    "multi-frame": dict(frames=rng.integers(0, 1024, (3, 10, 10)), WindowCenter="512", WindowWidth="1024"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_pydicom(tmp_path, name):
    path = write_dicom(tmp_path / f"{name}.dcm", **CASES[name])
    ours = read_images(path)
    theirs = pydicom_gray(path)
    assert len(ours) == len(theirs) == len(CASES[name]["frames"])
    for a, b in zip(ours, theirs):
        assert a.dtype == np.uint8 and a.shape == b.shape
        assert np.abs(a.astype(int) - b).max() <= 1  # pydicom rounds halves to even, the browser up


def test_fixed_window_and_rgb(tmp_path):
    path = write_dicom(tmp_path / "ct.dcm", np.array([[[-1000, 0, 39, 40, 240, 3000]]]), signed=True,
                       WindowCenter="-600", WindowWidth="1500")
    # A fixed window given on the command line overrides the file's.
    assert read_images(path, window=(40, 400))[0].tolist() == [[0, 102, 127, 128, 255, 255]]  # (m − 39.5) / 399 + 0.5, × 255
    rgb = np.arange(2 * 3 * 3).reshape(1, 2, 3, 3) * 10
    path = write_dicom(tmp_path / "rgb.dcm", rgb, photometric="RGB", bits=8)
    assert read_images(path)[0].tolist() == rgb[0].tolist()


def test_voi_linear_edges():
    values = np.array([-0.5 - 99.5, -0.5 - 99.5 + 1e-9, 99, 99.5, 100])
    assert voi_linear(values, 0, 200).tolist() == pytest.approx([0, 0.5 - 99.5 / 199, (99 + 0.5) / 199 + 0.5, 1, 1], abs=1e-8)


def test_bad_files(tmp_path):
    (tmp_path / "text.dcm").write_text("not dicom")
    with pytest.raises(DicomPixelError, match="not a readable DICOM file"):
        read_images(tmp_path / "text.dcm")
    path = write_dicom(tmp_path / "hsv.dcm", np.zeros((1, 2, 2)), photometric="HSV")
    with pytest.raises(DicomPixelError, match='unsupported photometric interpretation "HSV"'):
        read_images(path)
