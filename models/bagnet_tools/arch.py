"""BagNet architectures (Brendel & Bethge, ICLR 2019).

The ImageNet models follow the authors' ``bagnets/pytorchnet.py`` exactly, so their published
checkpoints load with ``strict=True``: same module names, unpadded convolutions, the residual
branch cropped at the bottom/right (a downsampling shortcut runs on the cropped input: the same
values as the authors' crop after it, with less work), ``fc`` 2048 -> classes.

One generalisation (widths, input channels, strides, where the 3x3 convolutions sit) lets the
same code build the small Fashion-MNIST BagNets. The *patch logit map* is ``fc`` applied to every
spatial feature: ``[N, rows, cols, classes]``; the image logits are its spatial mean. Both are
linear, so the mean of the map equals the pooled logits exactly (up to float rounding).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

import torch
from torch import nn


class Bottleneck(nn.Module):
    """ResNet bottleneck with an unpadded middle convolution (1x1 or 3x3)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, kernel_size: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=kernel_size, stride=stride, padding=0, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        # The unpadded main branch is smaller: keep the residual's top-left part, as the authors do. They
        # compute the shortcut everywhere and crop it; cropping its input first gives the same values
        # with less work (a 1x1 convolution: output i reads input i·stride only).
        if self.conv2.kernel_size == (1, 1) and self.conv2.stride == (1, 1):
            # Same size: no crop (an exported crop would copy the tensor in every run).
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))
        rows, cols = out.shape[-2], out.shape[-1]
        if self.downsample is None:
            return self.relu(out + x[:, :, :rows, :cols])
        step = self.downsample[0].stride[0]
        return self.relu(out + self.downsample(x[:, :, :(rows - 1) * step + 1, :(cols - 1) * step + 1]))


@dataclass(frozen=True)
class BagNetConfig:
    """Everything that defines a BagNet's shape (recorded in each manifest's provenance)."""

    layers: Sequence[int] = (3, 4, 6, 3)
    strides: Sequence[int] = (2, 2, 2, 1)
    # Number of leading blocks per layer whose middle convolution is 3x3 (the rest are 1x1).
    kernel3: Sequence[int] = (1, 1, 1, 1)
    widths: Sequence[int] = (64, 128, 256, 512)
    stem_width: int = 64
    # Kernel of the stem's second convolution (the authors use 3).
    stem_kernel: int = 3
    in_channels: int = 3
    num_classes: int = 1000

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in asdict(self).items()}

    @property
    def total_stride(self) -> int:
        stride = 1
        for s in self.strides:
            stride *= s
        return stride

    @property
    def patch_size(self) -> int:
        return receptive_field(self)

    def map_size(self, height: int, width: int) -> tuple[int, int]:
        """Patch-map size for an input size: one cell per stride step where a full patch fits."""
        q, s = self.patch_size, self.total_stride
        if height < q or width < q:
            return (0, 0)
        return ((height - q) // s + 1, (width - q) // s + 1)


IMAGENET_CONFIGS: dict[str, BagNetConfig] = {
    "bagnet9": BagNetConfig(kernel3=(1, 1, 0, 0)),
    "bagnet17": BagNetConfig(kernel3=(1, 1, 1, 0)),
    "bagnet33": BagNetConfig(kernel3=(1, 1, 1, 1)),
}


# The small geometry (our Fashion-MNIST models): three layers, one stride of 2, 3x3 convolutions only
# where the patch size needs them. Number of 3x3 blocks per layer for each patch size (the stem's 3x3
# and the strided 3x3 give q = 5; every further 3x3 sits after the stride and adds 4).
SMALL_KERNEL3 = {
    5: (1, 0, 0),
    9: (1, 1, 0),
    13: (1, 1, 1),
    17: (1, 2, 1),
    21: (1, 2, 2),
}


def small_config(patch_size: int, width: int = 24, in_channels: int = 1, num_classes: int = 10) -> BagNetConfig:
    """A three-layer BagNet for small images (stride 2) with the given patch size."""
    if patch_size not in SMALL_KERNEL3:
        raise ValueError(f"patch size must be one of {sorted(SMALL_KERNEL3)} for the small geometry, got {patch_size}")
    config = BagNetConfig(
        layers=(2, 2, 2),
        strides=(2, 1, 1),
        kernel3=SMALL_KERNEL3[patch_size],
        widths=(width, 2 * width, 4 * width),
        stem_width=width,
        in_channels=in_channels,
        num_classes=num_classes,
    )
    assert config.patch_size == patch_size, (config.patch_size, patch_size)
    return config


class BagNet(nn.Module):
    """A BagNet whose ``forward`` returns the patch logit map ``[N, rows, cols, classes]``."""

    def __init__(self, config: BagNetConfig) -> None:
        super().__init__()
        self.config = config
        self.inplanes = config.stem_width
        self.conv1 = nn.Conv2d(config.in_channels, config.stem_width, kernel_size=1, stride=1, padding=0, bias=False)
        self.conv2 = nn.Conv2d(config.stem_width, config.stem_width, kernel_size=config.stem_kernel,
                               stride=1, padding=0, bias=False)
        self.bn1 = nn.BatchNorm2d(config.stem_width, momentum=0.001)
        self.relu = nn.ReLU(inplace=True)
        for index, (planes, blocks, stride, kernel3) in enumerate(
                zip(config.widths, config.layers, config.strides, config.kernel3), start=1):
            setattr(self, f"layer{index}", self._make_layer(planes, blocks, stride, kernel3))
        self.num_layers = len(config.widths)
        self.fc = nn.Linear(config.widths[-1] * Bottleneck.expansion, config.num_classes)

    def _make_layer(self, planes: int, blocks: int, stride: int, kernel3: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * Bottleneck.expansion),
            )
        layers = [Bottleneck(self.inplanes, planes, stride, downsample, kernel_size=3 if kernel3 > 0 else 1)]
        self.inplanes = planes * Bottleneck.expansion
        for i in range(1, blocks):
            layers.append(Bottleneck(self.inplanes, planes, kernel_size=3 if i < kernel3 else 1))
        return nn.Sequential(*layers)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.relu(self.bn1(self.conv2(self.conv1(x)))))

    def layers(self, x: torch.Tensor) -> torch.Tensor:
        """Everything between the stem and the classifier."""
        for index in range(1, self.num_layers + 1):
            x = getattr(self, f"layer{index}")(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).permute(0, 2, 3, 1))

    def pooled_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The authors' ``avg_pool=True`` path: average the features, then apply ``fc``."""
        return self.fc(self.features(x).mean(dim=(2, 3)))


def receptive_field(config: BagNetConfig) -> int:
    """Patch size q, counted block by block (independent of ``BagNetConfig.patch_size``'s shortcut)."""
    field_size, jump = 1, 1
    field_size += (config.stem_kernel - 1) * jump
    for blocks, stride, kernel3 in zip(config.layers, config.strides, config.kernel3):
        for i in range(blocks):
            kernel = 3 if i < kernel3 else 1
            field_size += (kernel - 1) * jump
            if i == 0:
                jump *= stride
    return field_size


def build(config: BagNetConfig) -> BagNet:
    return BagNet(config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

