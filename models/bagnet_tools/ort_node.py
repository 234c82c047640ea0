"""Run an ONNX model with onnxruntime-node (the repository's npm dependency) from Python."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RUNNER = Path(__file__).with_name("ort_run.mjs")


@dataclass
class OrtResult:
    output: np.ndarray | None
    input_names: list[str]
    output_names: list[str]
    ranges: dict[str, tuple[float, float]] | None = None


def run_onnx(model_path: Path | str, batch: np.ndarray, threads: int = 0,
             int64: dict[str, list[int]] | None = None, *, slice_size: int | None = None,
             minmax: bool = False, optimized: Path | None = None,
             optimize: bool = True) -> OrtResult:
    """Feed ``batch`` (float32 NCHW) to the model's first input (and ``int64``'s 1-D inputs by name);
    return its first output. ``slice_size`` runs the batch that many at a time; ``minmax`` returns every
    output's (min, max) instead (``output`` is then None); ``optimized`` receives the graph onnxruntime
    ran, after its fusions (to check which kernels it chose); ``optimize=False`` runs the graph as written."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH: onnxruntime-node is needed to run ONNX models here")
    batch = np.ascontiguousarray(batch, dtype="<f4")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "input.bin").write_bytes(batch.tobytes())
        request = {
            "model": str(Path(model_path).resolve()),
            "input": {"file": str(tmp_path / "input.bin"), "dims": list(batch.shape)},
            "output": str(tmp_path / "output.bin"),
            "threads": threads,
            "int64": int64 or {},
            **({"batch": slice_size} if slice_size else {}),
            **({"minmax": True} if minmax else {}),
            **({} if optimize else {"level": "disabled"}),
            **({"optimized": str(Path(optimized).resolve())} if optimized else {}),
        }
        (tmp_path / "request.json").write_text(json.dumps(request))
        done = subprocess.run([node, str(RUNNER), str(tmp_path / "request.json")],
                              capture_output=True, text=True, cwd=RUNNER.parent)
        if done.returncode != 0:
            raise RuntimeError(f"onnxruntime-node failed: {done.stderr.strip()[-2000:]}")
        reply = json.loads(done.stdout.strip().splitlines()[-1])
        output = None if minmax else np.fromfile(tmp_path / "output.bin", dtype="<f4").reshape(reply["dims"])
    ranges = {name: (float(lo), float(hi)) for name, (lo, hi) in reply["ranges"].items()} if minmax else None
    return OrtResult(output=output, input_names=reply["inputNames"], output_names=reply["outputNames"], ranges=ranges)
