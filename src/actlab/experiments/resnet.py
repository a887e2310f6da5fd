"""A pre-activation residual network with batch normalization (He et al. 2016, "Identity Mappings in
Deep Residual Networks"), sized for the small inputs the comparisons train on.

It lets a comparison ask how an activation behaves where batch normalization sets the scale of
every activation's input and identity shortcuts carry the signal past it — the setting of most
modern convolutional networks — rather than in the plain stacks of :func:`.models.mlp` and
:func:`.models.cnn`, where the activation's own gain and saturation decide whether depth trains.

Layout (``w`` = ``width``, ``d`` = ``depth``)::

    stem conv (no bias)
    stage 1: d blocks of width w                       (stride 1)
    stage 2: d blocks of width 2w, the first stride 2
    stage 3: d blocks of width 4w, the first stride 2  (signals only)
    BN -> activation -> global average pool -> Linear

A 1-D signal of length L >= 16 (MNIST-1D: 40) runs through 1-D convolutions in three stages (lengths
L, ⌈L/2⌉, ⌈L/4⌉); an 8×8 image (digits, given flat as 64 values) through 2-D convolutions in two
stages (8×8, 4×4), since a third would leave 2×2 maps.  Each block is BN -> act -> 3-conv -> BN ->
act -> 3-conv added to its shortcut: the identity, or where the width or stride changes a 1-conv
projection of the block's pre-activated input (the first activation is shared by both paths, as
in the paper's projection units).  The activation sites, each its own :class:`actlab.torch.Activation`
module so that monitors and activation swaps see every one, number ``2 * depth * stages + 1``
(:func:`activation_sites`).

Initialisation: PyTorch's defaults (Kaiming-uniform convolutions and Linear, BN weight 1 and bias
0).  Convolutions carry no bias, since a batch normalization follows each one.  A caller that
wants every convolution drawn for its activation applies :func:`actlab.torch.init.init_`.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..errors import ActlabError
from ..torch import Activation


def _layout(shape: tuple[int, ...]) -> tuple[int, tuple[int, ...]] | None:
    """(spatial dimensions, the (N, 1, ...) shape an input is unflattened to), or None if unsupported."""
    if len(shape) == 1 and shape[0] == 64:  # digits: 8 × 8 images, given flat
        return 2, (1, 8, 8)
    if len(shape) == 1 and shape[0] >= 16:  # a 1-D signal
        return 1, (1, shape[0])
    return None


def stages_for(shape: tuple[int, ...]) -> int:
    """How many stages the network has for inputs of ``shape``: 3 for a signal, 2 for an 8×8 image."""
    layout = _layout(tuple(shape))
    if layout is None:
        raise _bad_shape(tuple(shape))
    return 3 if layout[0] == 1 else 2


def activation_sites(shape: tuple[int, ...], depth: int) -> int:
    """The number of activation modules in ``resnet(shape, ..., depth=depth)``: two per block and the final one."""
    return 2 * depth * stages_for(shape) + 1


def _bad_shape(shape: tuple[int, ...]) -> ActlabError:
    return ActlabError(
        f"the resnet model takes a signal (shape (L,), L >= 16) or an 8×8 image (shape (64,)); "
        f"inputs of shape {shape} are neither (use --model mlp)"
    )


class PreActBlock(nn.Module):
    """BN -> act -> conv -> BN -> act -> conv, plus the shortcut.

    The shortcut is the identity when ``inputs == outputs`` and ``stride == 1``; otherwise a
    1-wide convolution of stride ``stride`` applied to the block's input after its first BN and
    activation (``self.shortcut``; None for the identity).
    """

    def __init__(self, dims: int, inputs: int, outputs: int, stride: int, activation: str) -> None:
        super().__init__()
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        norm = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        # registered in the order of the forward pass, so that activation sites are listed in it
        self.bn1 = norm(inputs)
        self.act1 = Activation(activation)
        self.conv1 = conv(inputs, outputs, 3, stride=stride, padding=1, bias=False)
        self.bn2 = norm(outputs)
        self.act2 = Activation(activation)
        self.conv2 = conv(outputs, outputs, 3, padding=1, bias=False)
        changes = stride != 1 or inputs != outputs
        self.shortcut = conv(inputs, outputs, 1, stride=stride, bias=False) if changes else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.act1(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(a)
        return self.conv2(self.act2(self.bn2(self.conv1(a)))) + skip


def resnet(shape: tuple[int, ...], classes: int, activation: str, *, depth: int = 2, width: int = 32) -> nn.Sequential:
    """A pre-activation ResNet for inputs of ``shape`` (see the module's docstring for its layout).

    ``depth`` residual blocks per stage (>= 1), ``width`` channels in the first stage (>= 1),
    doubling at each later stage.  The result takes flat inputs ``(N, *shape)`` and returns
    ``(N, classes)`` logits; its children are ``unflatten``, ``stem``, ``stage1``…, ``bn``,
    ``act``, ``pool``, ``flatten``, ``head``, each stage an ``nn.Sequential`` of :class:`PreActBlock`.
    """
    shape = tuple(shape)
    layout = _layout(shape)
    if layout is None:
        raise _bad_shape(shape)
    if not isinstance(depth, int) or depth < 1:
        raise ActlabError(f"the resnet model needs depth >= 1 residual blocks per stage; got {depth!r}")
    if not isinstance(width, int) or width < 1:
        raise ActlabError(f"the resnet model needs width >= 1 channels; got {width!r}")
    dims, unflat = layout
    conv = nn.Conv1d if dims == 1 else nn.Conv2d
    norm = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
    pool = nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1)
    stem_kernel = 5 if dims == 1 else 3
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["unflatten"] = nn.Unflatten(1, unflat)
    layers["stem"] = conv(1, width, stem_kernel, padding=stem_kernel // 2, bias=False)
    channels = width
    for stage in range(stages_for(shape)):
        outputs = width * 2**stage
        blocks = [
            PreActBlock(dims, channels if b == 0 else outputs, outputs, 2 if stage > 0 and b == 0 else 1, activation)
            for b in range(depth)
        ]
        layers[f"stage{stage + 1}"] = nn.Sequential(*blocks)
        channels = outputs
    layers["bn"] = norm(channels)
    layers["act"] = Activation(activation)
    layers["pool"] = pool
    layers["flatten"] = nn.Flatten()
    layers["head"] = nn.Linear(channels, classes)
    return nn.Sequential(layers)
