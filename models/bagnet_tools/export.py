"""Export a BagNet to the project's model format: a folder with ``bagnet.json`` and ONNX file(s).

ONNX contract: input ``input`` float32 ``[N, C, H, W]`` (N, H, W dynamic), output ``patch_logits``
float32 ``[N, rows, cols, classes]`` (N, rows, cols dynamic), opset 17.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import onnx
import torch
from torch import nn

from .arch import BagNet
from .stages import export_stages, link_weights

OPSET = 17
FORMAT_VERSION = 1
ONNX_FILE = "model.onnx"


class InferenceGraph(nn.Module):
    """The same patch map as ``model``, with less arithmetic, for export: the stem's 1x1 and kxk
    convolutions have nothing between them, so one kxk convolution (weights multiplied out) does both
    (a BagNet-33 at 224: 1.8 of its 16 GMAC; the default model: 3.4 of its 33 M).
    """

    def __init__(self, model: BagNet) -> None:
        super().__init__()
        self.model = model
        # Both stem convolutions are bias-free (arch.BagNet), so the product is the whole story.
        fused = torch.einsum("omhw,mi->oihw", model.conv2.weight.detach().double(),
                             model.conv1.weight.detach()[:, :, 0, 0].double())
        self.stem = nn.Conv2d(model.conv1.in_channels, model.conv2.out_channels, kernel_size=model.conv2.kernel_size,
                              bias=False)
        self.stem.weight.data.copy_(fused.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        model = self.model
        return model.fc(model.layers(model.relu(model.bn1(self.stem(x)))).permute(0, 2, 3, 1))


def conv_macs(run, module: torch.nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of every convolution of ``module`` that ``run(x)`` calls, counted from the real outputs."""
    total = 0

    def count(conv, _inputs, output):
        nonlocal total
        total += output.numel() * conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]

    hooks = [m.register_forward_hook(count) for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        run(x)
    for hook in hooks:
        hook.remove()
    return total


def export_onnx(model: BagNet, path: Path, example_size: tuple[int, int] | None = None) -> None:
    """Write ``model`` (in eval mode) as ONNX with dynamic batch and spatial sizes (as its InferenceGraph)."""
    config = model.config
    height, width = example_size or (max(2 * config.patch_size, 32),) * 2
    example = torch.zeros(1, config.in_channels, height, width)
    model = model.eval()
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            InferenceGraph(model).eval(), example, buffer,
            input_names=["input"], output_names=["patch_logits"],
            dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"},
                          "patch_logits": {0: "batch", 1: "rows", 2: "cols"}},
            opset_version=OPSET, do_constant_folding=True,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(proto)
    proto.producer_name = "bagnet-elements"
    path.write_bytes(proto.SerializeToString())


def file_entry(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return {"url": path.name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def make_manifest(*, name: str, model: BagNet, labels: list[str], input_spec: dict[str, Any],
                  files: dict[str, dict[str, Any]], metrics: dict[str, Any],
                  provenance: dict[str, Any]) -> dict[str, Any]:
    config = model.config
    if len(labels) != config.num_classes:
        raise ValueError(f"{len(labels)} labels for a model with {config.num_classes} classes")
    return {
        "formatVersion": FORMAT_VERSION,
        "name": name,
        "arch": f"bagnet{config.patch_size}",
        "patchSize": config.patch_size,
        "stride": config.total_stride,
        "offset": 0,
        "input": input_spec,
        "labels": labels,
        "files": files,
        "metrics": metrics,
        "provenance": {
            "createdAt": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
            "torch": torch.__version__,
            "onnxOpset": OPSET,
            "config": config.to_json(),
            **provenance,
        },
    }


def write_model_folder(out: Path, model: BagNet, manifest_fields: dict[str, Any], *, force: bool = False,
                       extra: Callable[[Path], None] | None = None) -> dict[str, Any]:
    """Export ONNX and the manifest into ``out`` atomically: nothing appears there on failure.

    ``manifest_fields`` are :func:`make_manifest`'s keyword arguments without ``files`` and
    ``model``. ``extra(folder)`` may add files (samples) before the folder is moved into place.
    A model of stride 4 or more also gets its stages for exact maps (``stages.py``), listed in the
    manifest's ``stages``.
    """
    out = Path(out)
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists (pass --force to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        export_onnx(model, staging / ONNX_FILE)
        manifest = make_manifest(model=model, files={"fp32": file_entry(staging / ONNX_FILE)}, **manifest_fields)
        if model.config.total_stride > 2:  # at stride 2 the stages share little: shift by shift is as fast
            stages = export_stages(model.eval(), InferenceGraph(model).stem, staging, OPSET)
            link_weights(stages, staging / ONNX_FILE)
            # externalData: the file whose bytes the stage's weights point into (the worker mounts it).
            manifest["stages"] = [{**file_entry(path), "externalData": ONNX_FILE} for path in stages]
        (staging / "bagnet.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        if extra is not None:
            extra(staging)
        os.chmod(staging, 0o755)
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            staging.rename(out)
            shutil.rmtree(old)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest
