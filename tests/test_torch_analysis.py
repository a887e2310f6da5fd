"""Init helpers and random deep networks: the mean-field predictions, watched in PyTorch."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import actlab.torch.init as init  # noqa: E402
from actlab.analysis import MeanField  # noqa: E402
from actlab.torch.deepnet import linear_collapse, simulate  # noqa: E402


def test_init_helpers() -> None:
    assert init.calculate_gain("gelu") == pytest.approx(1.5335304411955348, rel=1e-9)
    assert init.calculate_gain(nn.ReLU()) == pytest.approx(math.sqrt(2), rel=1e-12)
    assert init.calculate_gain(nn.LeakyReLU(0.2)) == pytest.approx(math.sqrt(2 / 1.04), rel=1e-12)
    w = torch.empty(2000, 500)
    torch.manual_seed(0)
    init.kaiming_normal_(w, "silu")
    assert w.std().item() == pytest.approx(init.calculate_gain("silu") / math.sqrt(500), rel=0.01)
    init.kaiming_uniform_(w, "mish", mode="fan_out")
    assert w.std().item() == pytest.approx(init.calculate_gain("mish", "fan_out") / math.sqrt(2000), rel=0.01)
    net = nn.Sequential(nn.Linear(400, 300), nn.SELU(), nn.Linear(300, 10))
    init.init_(net, "selu")
    assert net[0].weight.std().item() == pytest.approx(1 / math.sqrt(400), rel=0.02)
    assert net[0].bias.abs().max().item() == 0.0
    with pytest.raises(ValueError):
        init.calculate_gain("relu", mode="sideways")
    with pytest.raises(TypeError):
        init.calculate_gain(nn.Linear(2, 2))


def test_wide_network_follows_the_mean_field() -> None:
    sim = simulate("tanh", width=1000, depth=8, sigma_w2=1.5, sigma_b2=0.05, batch=256)
    predicted = MeanField.of("tanh", 1.5, 0.05).layers(1.5 + 0.05, 7)
    for measured, expected in zip(sim.variances(), predicted):
        assert measured == pytest.approx(expected, rel=0.05)


def test_the_phenomena() -> None:
    sigmoid = simulate("sigmoid", width=300, depth=25, batch=64)
    grads = sigmoid.grad_norms()
    assert grads[0] < 1e-10 * grads[-1]  # vanishing gradients
    selu = simulate("selu", width=500, depth=30, batch=64, input_mean=2.0, input_std=3.0)
    assert selu.layers[0].variance > 5
    assert abs(selu.layers[-1].mean) < 0.1 and selu.layers[-1].variance == pytest.approx(1.0, abs=0.1)
    relu = simulate("relu", width=1000, depth=20, sigma_w2=2.0, batch=64)
    assert all(0.5 < v / relu.layers[0].variance < 2 for v in relu.variances())  # He init holds the variance
    assert linear_collapse() < 1e-12
