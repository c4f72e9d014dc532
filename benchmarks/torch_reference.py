"""The PyTorch side of ``bench_vs_pytorch.py``: the same networks and the authors' MFD loss.

Nothing here is used by the package; it exists so that mfdjax's training step can be
timed against the PyTorch step that the MFD authors' code runs, on the same machine.

* :class:`ResNet`: torchvision's ResNet definition ("v1.5": stride on the 3x3 conv of
  the bottleneck; 1x1 conv + BN projection shortcut; kaiming-normal fan-out init; BN
  gamma 1, beta 0), written out here because torchvision cannot be installed beside the
  CPU wheel of torch on this machine. Stems as in :mod:`mfdjax.models.resnet`:
  ``"cifar"`` (3x3 stride-1 conv, no max-pool) and ``"cifar_pool"`` (the same conv, then
  the 3x3 stride-2 max-pool). ``forward`` returns ``(logits, [stage0, ..., stage4])``,
  the five maps the MFD paper decorrelates (stem output, then each residual stage).
* :func:`authors_mfd`: a line-by-line transcription of ``NewDecorrelationBetweenDim1``
  from the authors' repository (github.com/lovelyemperor/MFD, ``mfd/utils.py``), NCHW:
  per-(channel, position) batch mean, centring, ``X X^T / P``, norms ``sqrt(sum / P)``,
  the product of norms clamped at 1e-12, the mean of the squared off-diagonal entries.
  Kept as written (including its ``reshape`` copy after ``permute``), because its cost is
  what a user of that code pays.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["ResNet", "authors_mfd", "build"]


def authors_mfd(input2: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """The MFD loss of one NCHW map, as the authors' ``NewDecorrelationBetweenDim1``."""
    input2 = input2.view(input2.size(0), input2.size(1), -1)        # (B, C, P)
    input2 = input2.permute(1, 0, 2)                                 # (C, B, P)
    input_avg = torch.mean(input2, dim=1, keepdim=True)              # (C, 1, P)
    input_sub = input2 - input_avg
    flat = input_sub.reshape(input_sub.size(0), -1)                  # (C, B*P), a copy
    gram = torch.mm(flat, flat.T) / input_sub.size(2)
    norms = torch.sum(flat.pow(2), dim=1, keepdim=True)
    norms = pow(norms / input_avg.size(2), 0.5)
    denom = torch.mm(norms, norms.T).clamp(min=1e-12)
    res = gram / denom
    loss = torch.sum(pow(res, 2)) - torch.sum(pow(res.diagonal(), 2))
    loss = loss / max((res.size(0) - 1) * res.size(0), 1e-12)
    return scale * loss


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


class _Basic(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int):
        super().__init__()
        self.conv1, self.bn1 = _conv(cin, planes, 3, stride), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = _conv(planes, planes, 3), nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(_conv(cin, planes, 1, stride), nn.BatchNorm2d(planes))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int):
        super().__init__()
        out = planes * 4
        self.conv1, self.bn1 = _conv(cin, planes, 1), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = _conv(planes, planes, 3, stride), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = _conv(planes, out, 1), nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(_conv(cin, out, 1, stride), nn.BatchNorm2d(out))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    """torchvision's ResNet with a CIFAR stem; ``forward`` also returns the five stage maps."""

    def __init__(self, block: str, stage_sizes, widths, stem_width: int, num_classes: int,
                 in_channels: int = 3, stem: str = "cifar"):
        super().__init__()
        if stem not in ("cifar", "cifar_pool"):
            raise ValueError(f"`stem` must be 'cifar' or 'cifar_pool', got {stem!r}.")
        blk = {"basic": _Basic, "bottleneck": _Bottleneck}[block]
        self.conv1, self.bn1 = _conv(in_channels, stem_width, 3), nn.BatchNorm2d(stem_width)
        self.pool = nn.MaxPool2d(3, 2, 1) if stem == "cifar_pool" else None
        stages, cin = [], stem_width
        for i, (n, w) in enumerate(zip(stage_sizes, widths)):
            blocks = []
            for b in range(n):
                blocks.append(blk(cin, w, 2 if (b == 0 and i > 0) else 1))
                cin = w * blk.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        if self.pool is not None:
            x = self.pool(x)
        feats = [x]
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)), feats


def build(net: str, num_classes: int, in_channels: int) -> ResNet:
    """``resnet50`` (CIFAR stem) or ``resnet_cifar_small`` (the default job's network)."""
    if net == "resnet50":
        return ResNet("bottleneck", (3, 4, 6, 3), (64, 128, 256, 512), 64, num_classes,
                      in_channels, stem="cifar")
    if net == "resnet_cifar_small":
        return ResNet("basic", (1, 1, 1, 1), (16, 32, 64, 128), 16, num_classes,
                      in_channels, stem="cifar_pool")
    raise ValueError(f"`net` must be 'resnet50' or 'resnet_cifar_small', got {net!r}.")
