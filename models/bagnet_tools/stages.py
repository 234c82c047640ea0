"""The network cut where its resolution halves, for exact full-resolution maps.

The exact map needs the patch logits of every pixel's patch. Shift-and-stitch runs the whole
network once per shift (stride² times), but a layer at stride s computes the same values for
shifts that agree modulo s: only the layers after the last halving differ between all shifts.
So the network is exported in stages, each ending just before a strided convolution:

- stage 0: the stem and everything at stride 1, up to the first strided block's 1x1 convolution;
- stage i: that block's strided convolution and shortcut, then everything up to the next strided
  block's 1x1 convolution (stride 2^i);
- the last stage: the rest, then the linear classifier for the classes asked for only (``classes``
  input), so the exact map of a target class never computes the other 999.

A stage boundary carries the strided block's input (for its shortcut) and its first 1x1
convolution's output (for its strided convolution) as one tensor, concatenated along channels.
Stage i + 1 fed stage i's output cropped by 0 or 1 row and column (one row and column shorter, so
every phase has the same shape) gives phase (dy, dx) of the finer grid: unpadded convolutions and
top-left residual crops commute with cropping. The worker (src/worker/model-host.ts) runs stage 0
once, stage 1 for 4 phases, stage 2 for 16, ..., and the last stage for every shift.

Stage ONNX contract: input ``input`` float32 ``[N, C, H, W]`` (N, H, W dynamic) → ``output`` (the
last stage: inputs ``input`` and ``classes`` int64 ``[K]`` → ``patch_logits`` ``[N, rows, cols, K]``).

The stages hold no weights of their own: every weight is ONNX external data that points at the same
bytes inside the whole network's file (``link_weights``), which the worker already has. So exact
maps cost no second download of the model (a BagNet-33's stages were 72 MB), only their graphs.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import onnx
import torch
from torch import nn

from .arch import BagNet, Bottleneck


class StridedBlockHead(nn.Module):
    """A strided block's 1x1 convolution; outputs [its input, its output] along channels."""

    def __init__(self, block: Bottleneck) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.block
        return torch.cat([x, b.relu(b.bn1(b.conv1(x)))], dim=1)


class StridedBlockTail(nn.Module):
    """The rest of a strided block, from ``StridedBlockHead``'s concatenated output."""

    def __init__(self, block: Bottleneck) -> None:
        super().__init__()
        self.block = block
        self.inplanes = block.conv1.in_channels

    def forward(self, joined: torch.Tensor) -> torch.Tensor:
        b = self.block
        x, h = joined[:, :self.inplanes], joined[:, self.inplanes:]
        out = b.bn3(b.conv3(b.relu(b.bn2(b.conv2(h)))))
        rows, cols = out.shape[-2], out.shape[-1]
        step = b.conv2.stride[0]
        return b.relu(out + b.downsample(x[:, :, :(rows - 1) * step + 1, :(cols - 1) * step + 1]))


class Stage(nn.Module):
    def __init__(self, modules: list[nn.Module]) -> None:
        super().__init__()
        self.body = nn.Sequential(*modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class LastStage(Stage):
    def __init__(self, modules: list[nn.Module], fc: nn.Linear) -> None:
        super().__init__(modules)
        self.fc = fc

    def forward(self, x: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        features = self.body(x).permute(0, 2, 3, 1)
        # The weight as the whole network's export stores it (transposed), so the bytes are shared.
        return features @ self.fc.weight.t().index_select(1, classes) + self.fc.bias.index_select(0, classes)


class Stem(nn.Module):
    """The stem as exported (one fused convolution, see export.InferenceGraph)."""

    def __init__(self, fused: nn.Conv2d, model: BagNet) -> None:
        super().__init__()
        self.conv, self.bn, self.relu = fused, model.bn1, model.relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


def split_stages(model: BagNet, fused_stem: nn.Conv2d) -> list[nn.Module]:
    """The stages of ``model`` (eval mode), one more than the number of strided blocks."""
    blocks = [block for index in range(1, model.num_layers + 1) for block in getattr(model, f"layer{index}")]
    stages: list[list[nn.Module]] = [[Stem(fused_stem, model)]]
    for block in blocks:
        stride = block.conv2.stride[0]
        if stride == 1:
            stages[-1].append(block)
            continue
        if stride != 2 or block.downsample is None:
            raise ValueError(f"stages need stride-2 blocks with a shortcut convolution, got stride {stride}")
        stages[-1].append(StridedBlockHead(block))
        stages.append([StridedBlockTail(block)])
    *body, last = stages
    return [Stage(modules).eval() for modules in body] + [LastStage(last, model.fc).eval()]


def export_stages(model: BagNet, fused_stem: nn.Conv2d, folder: Path, opset: int) -> list[Path]:
    """Write ``stage<i>.onnx`` for every stage into ``folder``; returns their paths in order."""
    config = model.config
    size = max(2 * config.patch_size, 32)
    x = torch.zeros(1, config.in_channels, size, size)
    paths = []
    stages = split_stages(model, fused_stem)
    with torch.no_grad():
        for index, stage in enumerate(stages):
            last = index == len(stages) - 1
            args = (x, torch.tensor([0, 1], dtype=torch.int64)) if last else (x,)
            names = ["input", "classes"] if last else ["input"]
            output = "patch_logits" if last else "output"
            dynamic = {"input": {0: "batch", 2: "height", 3: "width"},
                       output: {0: "batch", 1: "rows", 2: "cols", 3: "classes"} if last else {0: "batch", 2: "height", 3: "width"}}
            if last:
                dynamic["classes"] = {0: "classes"}
            buffer = io.BytesIO()
            torch.onnx.export(stage, args, buffer, input_names=names, output_names=[output], dynamic_axes=dynamic,
                              opset_version=opset, do_constant_folding=True)
            proto = onnx.load_from_string(buffer.getvalue())
            onnx.checker.check_model(proto)
            proto.producer_name = "bagnet-elements"
            path = folder / f"stage{index}.onnx"
            path.write_bytes(proto.SerializeToString())
            paths.append(path)
            if not last:
                x = stage(x)
    return paths


def link_weights(stage_paths: list[Path], whole_path: Path, min_bytes: int = 256) -> int:
    """Point every weight of the stage files at identical bytes inside the whole model's file.

    A tensor's ``raw_data`` is stored verbatim in a serialized ONNX file, so each weight of the whole
    model lies at some offset of ``whole_path``; a stage weight with the same bytes becomes external
    data (location: that file's name, offset, length). Both files come from the same modules, so
    every weight has its twin; one that does not (or is tiny) stays in the stage. The whole file is
    read and searched once for all stages. Returns the bytes moved out of the stage files.
    """
    whole_bytes = whole_path.read_bytes()
    whole = onnx.load_from_string(whole_bytes)
    offsets: dict[bytes, tuple[int, int]] = {}
    position = 0
    for tensor in whole.graph.initializer:  # serialized in order: each search starts where the last ended
        raw = tensor.raw_data
        if len(raw) < min_bytes:
            continue
        found = whole_bytes.find(raw, position)
        if found < 0:
            found = whole_bytes.find(raw)
        if found >= 0:
            offsets.setdefault(hashlib.sha256(raw).digest(), (found, len(raw)))
            position = found + len(raw)
    moved = 0
    for stage_path in stage_paths:
        stage = onnx.load(str(stage_path))
        for tensor in stage.graph.initializer:
            raw = tensor.raw_data
            if len(raw) < min_bytes or (twin := offsets.get(hashlib.sha256(raw).digest())) is None:
                continue
            offset, length = twin
            assert whole_bytes[offset:offset + length] == raw
            tensor.ClearField("raw_data")
            tensor.data_location = onnx.TensorProto.EXTERNAL
            del tensor.external_data[:]
            for key, value in (("location", whole_path.name), ("offset", str(offset)), ("length", str(length))):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value
            moved += length
        stage_path.write_bytes(stage.SerializeToString())
    return moved
