"""A linear classifier on the raw pixels (multinomial logistic regression): the floor a network must beat.

Chapter 8 trains it with the same recipe as the networks: a student or a teacher that ends worse than this
has not learned the task, and its comparison is void.
"""
from __future__ import annotations

from torch import nn

from bannb.models.layers import check_int


class LinearClassifier(nn.Module):
    """Flatten a `in_channels`×`image_size`×`image_size` image, then one affine map to the class logits."""

    def __init__(self, image_size: int, in_channels: int = 3, num_classes: int = 10):
        super().__init__()
        for name, value in (("image_size", image_size), ("in_channels", in_channels), ("num_classes", num_classes)):
            check_int(name, value)
        self.image_size = image_size
        self.fc = nn.Linear(in_channels * image_size * image_size, num_classes)

    def forward(self, x):
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            raise ValueError(f"linear-{self.image_size} takes {self.image_size}×{self.image_size} images, "
                             f"got {tuple(x.shape[-2:])}; use linear-{x.shape[-1]}")
        return self.fc(x.flatten(1))


def linear_classifier(image_size: int, in_channels: int = 3, num_classes: int = 10) -> LinearClassifier:
    return LinearClassifier(image_size, in_channels, num_classes)
