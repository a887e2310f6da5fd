"""The pre-activation ResNet: shapes, activation sites, blocks, gradient flow, shortcuts, bad input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from actlab.errors import ActlabError
from actlab.experiments.models import build
from actlab.experiments.resnet import PreActBlock, activation_sites, resnet, stages_for
from actlab.torch import Activation
from actlab.torch.surgery import find_activations


def _blocks(model: nn.Module) -> list[PreActBlock]:
    return [m for m in model.modules() if isinstance(m, PreActBlock)]


@pytest.mark.parametrize(("shape", "dims"), [((40,), 1), ((16,), 1), ((64,), 2)])
def test_logits_for_signals_and_digits(shape, dims):
    torch.manual_seed(0)
    model = resnet(shape, 10, "relu", depth=1, width=4)
    assert model(torch.randn(3, *shape)).shape == (3, 10)
    conv = nn.Conv1d if dims == 1 else nn.Conv2d
    assert isinstance(model.stem, conv)
    assert all(isinstance(b.conv1, conv) for b in _blocks(model))


def test_stages_widths_and_strides():
    model = resnet((40,), 10, "relu", depth=1, width=4)
    assert [name for name, _ in model.named_children()] == [
        "unflatten", "stem", "stage1", "stage2", "stage3", "bn", "act", "pool", "flatten", "head",
    ]  # fmt: skip
    assert [b.conv2.out_channels for b in _blocks(model)] == [4, 8, 16]
    assert [b.conv1.stride for b in _blocks(model)] == [(1,), (2,), (2,)]
    assert model.head.in_features == 16
    digits = resnet((64,), 10, "relu", depth=1, width=4)
    assert [b.conv2.out_channels for b in _blocks(digits)] == [4, 8]
    assert stages_for((40,)) == 3 and stages_for((64,)) == 2


@pytest.mark.parametrize("shape", [(40,), (64,)])
@pytest.mark.parametrize("depth", [1, 3])
def test_activation_sites_match_the_docstring(shape, depth):
    model = resnet(shape, 10, "gelu", depth=depth, width=2)
    sites = find_activations(model)
    assert len(sites) == activation_sites(shape, depth) == 2 * depth * stages_for(shape) + 1
    assert all(isinstance(m, Activation) and m.name == "gelu" for _, m in sites)
    assert len({id(m) for _, m in sites}) == len(sites)  # each site its own module


def test_depth_sets_the_number_of_blocks_per_stage():
    for depth in (1, 2, 4):
        model = resnet((40,), 10, "relu", depth=depth, width=2)
        assert len(_blocks(model)) == 3 * depth
        assert all(len(getattr(model, f"stage{s}")) == depth for s in (1, 2, 3))


@pytest.mark.parametrize("shape", [(40,), (64,)])
def test_gradient_reaches_the_stem(shape):
    torch.manual_seed(0)
    model = resnet(shape, 10, "tanh", depth=2, width=4)
    loss = nn.functional.cross_entropy(model(torch.randn(8, *shape)), torch.arange(8) % 10)
    loss.backward()
    grad = model.stem.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_a_block_with_a_zero_last_conv_is_the_identity():
    torch.manual_seed(0)
    model = resnet((40,), 10, "relu", depth=2, width=4)
    block = model.stage1[1]
    assert block.shortcut is None
    x = torch.randn(5, 4, 40)
    assert not torch.allclose(block(x), x)  # the residual path is not zero to begin with
    nn.init.zeros_(block.conv2.weight)
    assert torch.equal(block(x), x)


def test_a_changing_block_projects_its_preactivated_input():
    torch.manual_seed(0)
    model = resnet((40,), 10, "relu", depth=1, width=4)
    block = model.stage2[0]
    assert isinstance(block.shortcut, nn.Conv1d) and block.shortcut.stride == (2,)
    model.eval()  # batch norm from its running statistics, so the expected value is fixed
    nn.init.zeros_(block.conv2.weight)
    x = torch.randn(5, 4, 40)
    out = block(x)
    assert out.shape == (5, 8, 20)
    torch.testing.assert_close(out, block.shortcut(torch.relu(block.bn1(x))))


@pytest.mark.parametrize("shape", [(2,), (15,), (8, 8), (1, 40)])
def test_other_shapes_are_refused_in_one_line(shape):
    expected = r"resnet model takes a signal \(shape \(L,\), L >= 16\) or an 8×8 image \(shape \(64,\)\)"
    with pytest.raises(ActlabError, match=expected) as e:
        resnet(shape, 10, "relu")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(("depth", "width", "what"), [(0, 4, "depth >= 1"), (1, 0, "width >= 1")])
def test_sizes_below_one_are_refused(depth, width, what):
    with pytest.raises(ActlabError, match=what):
        resnet((40,), 10, "relu", depth=depth, width=width)


def test_models_build_knows_resnet():
    model = build("resnet", (40,), 10, "silu", 2, 4)
    assert len(_blocks(model)) == 6
    assert {m.name for _, m in find_activations(model)} == {"silu"}
    with pytest.raises(ActlabError, match="resnet"):
        build("resnet", (3,), 2, "relu", 1, 4)
