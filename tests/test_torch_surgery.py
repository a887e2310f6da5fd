"""Model surgery: finding and replacing activation modules anywhere in a model."""

from __future__ import annotations

import pytest

import actlab

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import actlab.torch as at  # noqa: E402


class Block(nn.Module):
    """A torchvision-style block that keeps its activation as an attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.act = nn.ReLU(inplace=True)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x)) * self.gate(x)


def model() -> nn.Module:
    return nn.Sequential(
        Block(),
        nn.ModuleList([nn.GELU(), nn.LeakyReLU(0.2), at.get("mish")]),
        nn.ModuleDict({"first": nn.ReLU(), "second": nn.Tanh(), "norm": nn.BatchNorm2d(3)}),
        nn.Identity(),
    )


def test_find_activations_everywhere() -> None:
    found = {path: type(m).__name__ for path, m in at.find_activations(model())}
    assert found == {
        "0.act": "ReLU",
        "0.gate": "Sigmoid",
        "1.0": "GELU",
        "1.1": "LeakyReLU",
        "1.2": "Activation",
        "2.first": "ReLU",
        "2.second": "Tanh",
    }
    assert at.catalog_entry(nn.LeakyReLU(0.2)) == ("leaky_relu", {"negative_slope": 0.2})
    assert at.catalog_entry(nn.GELU(approximate="tanh")) == ("gelu", {"approximate": "tanh"})
    assert at.catalog_entry(nn.BatchNorm2d(3)) is None


def test_replace_by_name_type_and_predicate() -> None:
    net = model()
    replaced = at.replace_activations(net, "relu", "gelu")
    assert [p for p, _, _ in replaced] == ["0.act", "2.first"]
    assert net[0].act.name == "gelu" and net[2]["first"].name == "gelu"
    assert net[0](torch.randn(2, 3, 4, 4)).shape == (2, 3, 4, 4)

    replaced = at.replace_activations(
        net, nn.LeakyReLU, lambda old: at.get("leaky_relu", negative_slope=old.negative_slope * 2)
    )
    assert net[1][1].params == {"negative_slope": 0.4} and len(replaced) == 1

    replaced = at.replace_activations(net, lambda m: isinstance(m, (nn.Tanh, nn.Sigmoid)), nn.Hardtanh)
    assert {p for p, _, _ in replaced} == {"0.gate", "2.second"} and isinstance(net[2]["second"], nn.Hardtanh)

    replaced = at.replace_activations(net, "GELU", lambda old: at.get("silu"))
    assert {p for p, _, _ in replaced} == {"0.act", "1.0", "2.first"}
    assert not at.replace_activations(net, "relu", "gelu")  # nothing left to replace


def test_swapping_into_a_real_model_keeps_it_working() -> None:
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    at.replace_activations(net, nn.ReLU, lambda old: at.get("swish_beta", learnable=True))
    assert sum(p.numel() for p in net.parameters()) == 4 * 8 + 8 + 8 * 8 + 8 + 8 * 2 + 2 + 2
    net(torch.randn(3, 4)).sum().backward()


def test_bad_arguments() -> None:
    with pytest.raises(actlab.UnknownActivationError, match="did you mean"):
        at.replace_activations(model(), "relu", "gelo")
    with pytest.raises(actlab.UnknownActivationError):
        at.replace_activations(model(), "rleu", "gelu")
    with pytest.raises(TypeError):
        at.replace_activations(model(), 3, "gelu")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        at.replace_activations(model(), "relu", 3)  # type: ignore[arg-type]
