"""A small "official repository" style network, built by an entry-point function."""

from __future__ import annotations

import torch
from torch import nn


class TinyNet(nn.Module):
    """Conv-BN-ReLU x2, global pooling, linear head: enough structure for conversion tests."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(inplace=True),
            nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


def build(num_classes: int = 1000) -> TinyNet:
    return TinyNet(num_classes)


def not_a_module() -> str:
    return "this entry point returns a string"
