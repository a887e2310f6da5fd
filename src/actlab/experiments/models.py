"""The models a comparison trains: an MLP of any depth and width, a small CNN, a pre-activation ResNet
and a decoder-only transformer language model."""

from __future__ import annotations

from torch import nn

from ..catalog import registry
from ..errors import ActlabError
from ..torch import Activation
from .resnet import resnet
from .transformer import transformer


def mlp(in_features: int, classes: int, activation: str, *, depth: int = 3, width: int = 64) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units, each followed by the activation."""
    layers: list[nn.Module] = []
    size = in_features
    for _ in range(depth):
        layers += [nn.Linear(size, width), Activation(activation)]
        size = width
    layers.append(nn.Linear(size, classes))
    return nn.Sequential(*layers)


def cnn(shape: tuple[int, ...], classes: int, activation: str, *, width: int = 32) -> nn.Sequential:
    """Three convolutions (1-D for sequences such as MNIST-1D, 2-D for 8×8 digits) and a linear head."""
    if len(shape) == 1 and shape[0] == 64:  # digits: 8 × 8 images
        return nn.Sequential(
            nn.Unflatten(1, (1, 8, 8)),
            nn.Conv2d(1, width, 3, padding=1), Activation(activation),
            nn.Conv2d(width, width, 3, padding=1, stride=2), Activation(activation),
            nn.Conv2d(width, width, 3, padding=1), Activation(activation),
            nn.Flatten(), nn.Linear(width * 16, classes),
        )  # fmt: skip
    if len(shape) == 1 and shape[0] >= 16:  # a 1-D signal
        length = shape[0]
        return nn.Sequential(
            nn.Unflatten(1, (1, length)),
            nn.Conv1d(1, width, 5, padding=2), Activation(activation),
            nn.Conv1d(width, width, 3, padding=1, stride=2), Activation(activation),
            nn.Conv1d(width, width, 3, padding=1, stride=2), Activation(activation),
            nn.Flatten(), nn.Linear(width * ((length + 3) // 4), classes),
        )  # fmt: skip
    raise ActlabError(
        f"the cnn model needs a signal or an 8×8 image; inputs of shape {shape} are neither (use --model mlp)"
    )


MODELS = {"mlp": mlp, "cnn": cnn, "resnet": resnet, "transformer": transformer}


def build(model: str, shape: tuple[int, ...], classes: int, activation: str, depth: int, width: int) -> nn.Module:
    spec = registry.spec(activation)
    if spec.kind != "elementwise" and not (model == "transformer" and spec.kind == "gated"):
        raise ActlabError(
            f"compare trains elementwise activations (gated ones too in a transformer); {spec.name} is {spec.kind}"
        )
    if model == "mlp":
        return mlp(shape[0], classes, spec.name, depth=depth, width=width)
    if model == "cnn":
        return cnn(shape, classes, spec.name, width=width)
    if model == "resnet":
        return resnet(shape, classes, spec.name, depth=depth, width=width)
    if model == "transformer":  # byte tokens: 256 at least, as an input may hold a byte that no target does
        return transformer(shape, max(classes, 256), spec.name, depth=depth, width=width)
    raise ActlabError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
