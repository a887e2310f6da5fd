"""Model surgery: finding and replacing activation modules anywhere in a model."""

from __future__ import annotations

import copy
from collections.abc import Callable

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


class MyReLU(nn.ReLU):
    """A subclass computing the same function: recognised as relu."""


class TwiceReLU(nn.ReLU):
    """A subclass whose forward computes another function: never taken for a ReLU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * torch.relu(x)


def _timm_like(name: str, forward: Callable[[torch.Tensor], torch.Tensor], base: type = nn.Module) -> type:
    """A class under timm's qualified name (timm itself is not installed here), computing ``forward``."""
    return type(name, (base,), {"forward": lambda self, x: forward(x), "__module__": "timm.layers.activations"})


def test_subclasses_are_recognised_only_when_they_compute_the_same() -> None:
    assert at.catalog_entry(MyReLU(inplace=True)) == ("relu", {})  # checked on a copy of the input
    assert at.catalog_entry(TwiceReLU()) is None
    assert "TwiceReLU" in " ".join(at.unrecognised()) and "relu" in " ".join(at.unrecognised().values())
    net = nn.Sequential(MyReLU(), TwiceReLU())
    assert [p for p, _, _ in at.replace_activations(net, "relu", "gelu")] == ["0"]
    assert isinstance(net[1], TwiceReLU)


def test_timm_classes_are_mapped_by_qualified_name_and_checked() -> None:
    swish = _timm_like("Swish", lambda x: x * torch.sigmoid(x))
    assert at.catalog_entry(swish()) == ("silu", {})
    assert at.catalog_entry(_timm_like("Sigmoid", lambda x: x.sigmoid_())()) == ("sigmoid", {})  # in place
    wrong = _timm_like("HardSigmoid", lambda x: torch.clamp(x / 5 + 0.5, 0, 1))  # not PyTorch's x/6 + 1/2
    assert at.catalog_entry(wrong()) is None
    prelu = type("PReLU", (nn.PReLU,), {"__module__": "timm.layers.activations"})
    m = prelu(3, init=0.1)
    assert at.catalog_entry(m) == ("prelu", {"weight": pytest.approx(0.1)})


def test_register_module_class_by_class_and_by_name() -> None:
    class Square(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(x) ** 2

    assert at.catalog_entry(Square()) is None
    at.register_module_class(Square, "relu_squared")
    assert at.catalog_entry(Square()) == ("relu2", {})

    shifted = type("Shifted", (nn.Module,), {"forward": lambda self, x: torch.nn.functional.elu(x, 0.5)})
    shifted.__module__ = "otherlib.acts"
    at.register_module_class("otherlib.acts.Shifted", "elu", params_of=lambda m: {"alpha": 0.5})
    assert at.catalog_entry(shifted()) == ("elu", {"alpha": 0.5})
    at.register_module_class("otherlib.acts.Liar", "elu")  # computes relu: refused when met
    liar = type("Liar", (nn.ReLU,), {"__module__": "otherlib.acts"})
    assert at.catalog_entry(liar()) is None
    with pytest.raises(actlab.UnknownActivationError):
        at.register_module_class(Square, "sqaure")
    with pytest.raises(TypeError, match=r"nn\.Module subclass"):
        at.register_module_class(3, "relu")  # type: ignore[arg-type]


def test_a_nan_is_forgiven_only_where_the_exact_value_is_below_the_tolerance() -> None:
    class RootSoftplus(nn.Module):  # softplus(x).sqrt(): its gradient is 0·inf = NaN at x = -1000
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.softplus(x).sqrt()

    class NaNBelowZero(nn.Module):  # NaN where the exact f' is far above the tolerance
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.nn.functional.softplus(x).sqrt()
            return torch.where(x < -5, y * torch.nan, y)

    at.register_module_class(RootSoftplus, "sqrtsoftplus")
    at.register_module_class(NaNBelowZero, "sqrtsoftplus")
    assert at.catalog_entry(RootSoftplus()) == ("sqrtsoftplus", {})
    assert at.catalog_entry(NaNBelowZero()) is None
    assert "sqrtsoftplus gives" in at.unrecognised()[at.foreign.qualname(NaNBelowZero)]


def test_swapping_for_the_same_entry_keeps_the_parameters() -> None:
    torch.manual_seed(0)
    prelu = nn.PReLU(4)
    with torch.no_grad():
        prelu.weight.copy_(torch.tensor([0.1, -0.2, 0.3, 0.7]))
    net = nn.Sequential(
        nn.LeakyReLU(0.2),
        nn.ELU(alpha=0.5),
        nn.GELU(approximate="tanh"),
        nn.Conv2d(4, 4, 1),
        prelu,
        nn.Softplus(2.0, 10.0),
    )
    x = torch.randn(2, 4, 3, 3, dtype=torch.float32)
    before = net(x)
    n_params = sum(p.numel() for p in net.parameters())
    at.replace_activations(net, lambda m: at.catalog_entry(m) is not None, lambda old: old)  # a no-op
    for old, name in ((nn.LeakyReLU, "leaky_relu"), (nn.ELU, "elu"), (nn.GELU, "gelu"), (nn.PReLU, "prelu")):
        assert len(at.replace_activations(net, old, name)) == 1
    at.replace_activations(net, nn.Softplus, "softplus")
    assert net[0].params == {"negative_slope": 0.2} and net[1].params == {"alpha": 0.5}
    assert net[2].params == {"approximate": "tanh"} and net[5].params == {"beta": 2.0, "threshold": 10.0}
    assert net[4].learned == ("weight",) and net[4].weight.tolist() == pytest.approx([0.1, -0.2, 0.3, 0.7])
    assert sum(p.numel() for p in net.parameters()) == n_params  # the PReLU's four weights still train
    assert torch.equal(net(x), before)  # the same kernels run: bit for bit
    # parameters asked for override what is kept; another entry starts from its defaults
    at.replace_activations(net, "leaky_relu", "leaky_relu", negative_slope=0.3)
    assert net[0].params == {"negative_slope": 0.3}
    at.replace_activations(net, "elu", "celu")
    assert net[1].params == {"alpha": 1.0}


def test_a_learnable_actlab_module_swapped_again_keeps_its_learned_value() -> None:
    act = at.get("swish_beta", learnable=True, num_parameters=3, beta=1.5)
    with torch.no_grad():
        act.beta_raw.add_(torch.tensor([0.0, 0.5, -0.5]))
    learned = act.beta.detach().clone()
    net = nn.Sequential(act)
    ((_, _, new),) = at.replace_activations(net, "swish_beta", "swish_beta", exact=True)
    assert new.exact and new.learned == ("beta",)
    assert torch.allclose(new.beta, learned, rtol=1e-6)
    x = torch.randn(2, 3, 5)
    assert torch.allclose(new(x), act(x), rtol=1e-5, atol=1e-6)


def test_names_match_the_function_computed() -> None:
    net = nn.Sequential(nn.GELU(), nn.GELU(approximate="tanh"), at.get("gelu_tanh"), at.get("gelu", approximate="tanh"))
    assert [p for p, _ in at.find_activations(net)] == ["0", "1", "2", "3"]
    assert [p for p, _, _ in at.replace_activations(copy.deepcopy(net), "gelu_tanh", "silu")] == ["1", "2", "3"]
    assert [p for p, _, _ in at.replace_activations(copy.deepcopy(net), "gelu", "silu")] == ["0"]


def test_classes_and_predicates_apply_to_any_module() -> None:
    class Scale(nn.Module):  # not an activation actlab knows
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 3 * x

    net = nn.Sequential(nn.Linear(2, 2), Scale(), nn.Sequential(Scale(), nn.ReLU()))
    assert [p for p, _, _ in at.replace_activations(net, Scale, "tanh")] == ["1", "2.0"]
    swapped = at.replace_activations(net, lambda m: isinstance(m, nn.Sequential), nn.Identity)
    assert [p for p, _, _ in swapped] == ["2"]  # nothing inside a replaced module is swapped too


def test_an_instance_is_copied_to_each_site_and_a_misfit_refused() -> None:
    net = nn.Sequential(nn.ReLU(), nn.Linear(2, 2), nn.ReLU())
    proto = at.get("prelu", learnable=True)
    at.replace_activations(net, "relu", proto)
    assert net[0] is not net[2] and net[0] is not proto and len(list(net.parameters())) == 4
    for bad in ("swiglu", "maxout", "softmax"):
        with pytest.raises(ValueError, match=f"^{bad} is .* prelu at '0' is elementwise"):
            at.replace_activations(net, "prelu", bad)
    assert isinstance(net[0], at.Activation) and net[0].name == "prelu"  # nothing was changed
    gated = nn.Sequential(at.SwiGLU())
    with pytest.raises(ValueError, match=r"^maxout is pooled and swiglu at '0' is gated"):
        at.replace_activations(gated, "swiglu", "maxout")
    assert at.replace_activations(gated, "swiglu", "geglu")[0][2].name == "geglu"  # gated for gated
    with pytest.raises(TypeError, match=r"returned int, not an nn\.Module"):
        at.replace_activations(net, "prelu", lambda old: 3)
    with pytest.raises(TypeError, match="go with an activation name"):
        at.replace_activations(net, "prelu", nn.ReLU, negative_slope=0.1)
    with pytest.raises(actlab.InvalidParameterError):
        at.replace_activations(net, "prelu", "leaky_relu", negative_slop=0.1)


def test_inspecting_a_prelu_does_not_warn() -> None:
    # pytest runs with filterwarnings=error: a warning here fails the test
    assert at.catalog_entry(nn.PReLU(2, init=0.5)) == ("prelu", {"weight": 0.5})


@pytest.mark.parametrize("module", ["actlab.torch.surgery", "actlab.torch.foreign"])
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_a_module_used_at_several_sites_is_replaced_at_each_and_stays_shared() -> None:
    prelu = nn.PReLU()
    net = nn.Sequential(nn.Linear(2, 2), prelu, nn.Linear(2, 2), prelu)
    replaced = at.replace_activations(net, "prelu", "prelu")
    assert [p for p, _, _ in replaced] == ["1", "3"]
    assert net[1] is net[3] and isinstance(net[1], at.Activation)
    assert sum(p.numel() for p in net.parameters()) == 2 * 6 + 1  # one shared weight, as before
