"""The study the OHIF end-to-end test opens: one series of three slices (three of the default model's
sample images as 16-bit MONOCHROME2 slices with a window over them), and what the model must answer
for each slice, computed here independently of the browser: the pixels by bagnet_tools.dicom_pixels
(the plugin's pipeline), the logits by onnxruntime-node.

Without a rescale: OHIF 3.13.2's loader (Cornerstone 5.6.8, DICOMweb from Orthanc) gave 64 where the
modality value is 0 for stored = 4·gray + 1000 with slope 0.25 and intercept −250 (12 bits stored), in
its display too; the plugin's own tests (Cornerstone 5.14, WADO-URI) cover rescaled data.

    /usr/bin/python3 test/ohif/make_study.py build/ohif/study
"""

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "models"))

from bagnet_tools.dicom_pixels import read_images  # noqa: E402
from bagnet_tools.ort_node import run_onnx  # noqa: E402
from bagnet_tools.shapes import write_dicom  # noqa: E402  (the shapes data set's DICOM writer)

SAMPLES = ["14-sneaker", "18-ankle-boot", "16-bag"]
STUDY = "2.25.31415926535897932384626433832795"
SERIES = STUDY + ".1"


def main() -> int:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((ROOT / "models/default/bagnet.json").read_text())
    expected = []
    for i, name in enumerate(SAMPLES):
        gray = np.asarray(Image.open(ROOT / "models/default/samples" / f"{name}.png").convert("L"))
        path = out / f"slice-{i + 1}.dcm"
        uid = f"{SERIES}.{i + 1}"
        write_dicom(path, gray, monochrome1=False, study=STUDY, series=SERIES, instance=uid, number=i + 1, rescale=False)
        gray_in = read_images(path)[0]
        pixels = gray_in.astype(np.float32) / 255.0
        x = ((pixels - manifest["input"]["mean"][0]) / manifest["input"]["std"][0])[None, None]
        logits = run_onnx(ROOT / "models/default" / manifest["files"]["fp32"]["url"], x.astype(np.float32)).output.astype(np.float64).mean(axis=(1, 2))[0]
        expected.append({"file": path.name, "sopInstanceUID": uid, "label": manifest["labels"][int(logits.argmax())],
                         "logits": [float(v) for v in logits], "pixels": gray_in.ravel().tolist()})
    (out / "expected.json").write_text(json.dumps({"study": STUDY, "series": SERIES, "slices": expected}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
