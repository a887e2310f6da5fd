"""The activation monitor: statistics per activation layer while a real model trains."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import actlab.torch as at  # noqa: E402
from actlab.torch.monitor import ActivationMonitor  # noqa: E402


def _net(activation: str, bias: float = 0.0) -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 64), at.get(activation), nn.Linear(64, 64), at.get(activation), nn.Linear(64, 2))
    with torch.no_grad():
        net[0].bias.fill_(bias)
        net[2].bias.fill_(bias)
    return net


def test_dead_relu_units_are_found_and_leaky_units_are_not() -> None:
    x = torch.randn(256, 10, generator=torch.Generator().manual_seed(1))
    for name, dead in (("relu", True), ("leaky_relu", False), ("elu", False)):
        net = _net(name, bias=-4.0)  # strongly negative biases: most ReLU units never fire
        with ActivationMonitor(net, window=4) as mon:
            for _ in range(4):
                net(x).sum().backward()
                mon.step()
        first = mon.summary()[0]
        if dead:
            assert first.dead_fraction > 0.5 and first.zero_fraction > 0.9
        else:
            assert first.dead_fraction == 0.0
        assert len(mon.history) == 4 and mon.history_array("dead_fraction").shape == (4, 2)
        assert all(math.isfinite(s.grad_norm) for s in mon.summary())


def test_statistics_and_saturation() -> None:
    net = _net("tanh")
    x = 5 * torch.randn(512, 10, generator=torch.Generator().manual_seed(2))
    with ActivationMonitor(net) as mon:
        y = net(x)
    s = mon.summary()[0]
    out = torch.tanh(net[0](x)).detach()
    assert s.mean == pytest.approx(float(out.mean()), rel=1e-6, abs=1e-9)
    assert s.std == pytest.approx(float(out.std(unbiased=False)), rel=1e-5)
    pre = net[0](x).detach()
    expected = float(((1 - torch.tanh(pre) ** 2).abs() < 0.01).double().mean())
    assert s.saturated_fraction == pytest.approx(expected, abs=1e-12)
    assert math.isnan(s.grad_norm)  # no backward pass yet
    y.sum().backward()


def test_hooks_are_removed_and_nested_models_are_found() -> None:
    net = nn.ModuleDict({"body": nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 4), nn.GELU()))})
    mon = ActivationMonitor(net["body"])
    with mon:
        net["body"](torch.randn(5, 3))
    assert [layer.path for layer in mon.layers] == ["1", "2.1"]
    n = len(mon.layers[0].batches)
    net["body"](torch.randn(5, 3))
    assert len(mon.layers[0].batches) == n  # nothing recorded once removed
    assert "dead" in mon.table()
    with pytest.raises(ValueError, match="no activation"):
        ActivationMonitor(nn.Linear(2, 2)).attach()
    with pytest.raises(ValueError, match="window"):
        ActivationMonitor(net, window=0)


def test_convolutional_channels() -> None:
    net = nn.Sequential(nn.Conv2d(1, 4, 3), at.get("relu"))
    with torch.no_grad():
        net[0].bias.copy_(torch.tensor([-100.0, 0.0, 0.0, -100.0]))
    with ActivationMonitor(net) as mon:
        net(torch.randn(8, 1, 6, 6))
    assert mon.summary()[0].dead_fraction == pytest.approx(0.5)


def test_dying_relu_recipe() -> None:
    from actlab.torch.recipes import dying_relu

    runs = dying_relu()
    relu = runs["relu"]["dead"][:, 1]
    assert relu[-1] > 0.25 and relu[-1] > 3 * relu[0]  # ReLU units die during training (9% -> 30%)
    for name in ("leaky_relu", "elu"):
        assert (runs[name]["dead"] == 0).all()
        loss = runs[name]["loss"]
        assert np.isfinite(loss).all() and loss[-1] < loss[0]
