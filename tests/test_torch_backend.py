"""actlab.torch: every catalog entry as a differentiable PyTorch function and module.

One generic operator serves the whole catalog; these tests hold it to the NumPy
reference, to gradcheck, to torch.compile(fullgraph=True) and torch.export, and to
keeping only the input for backward.
"""

from __future__ import annotations

import numpy as np
import pytest

import actlab

from .conftest import ALL_DEFAULTS, ELEMENTWISE, VECTOR, is_elementwise

torch = pytest.importorskip("torch")
import actlab.torch as at  # noqa: E402

EXTREMES = np.concatenate(
    [
        [-np.inf, np.inf, np.nan, 0.0, 5e-324, -5e-324, 1e4, -1e4, 1e300, -1e300],
        np.linspace(-40, 40, 401),
    ]
)


def _module(act: actlab.Activation) -> at.Activation:
    return at.get(act.name, **act.params)


@pytest.mark.parametrize("act", ELEMENTWISE)
def test_float64_value_and_gradient_equal_the_reference(act: actlab.Activation) -> None:
    x = torch.tensor(EXTREMES, requires_grad=True)
    y = _module(act)(x)
    np.testing.assert_allclose(y.detach().numpy(), act(EXTREMES), rtol=1e-10, atol=1e-15)
    (g,) = torch.autograd.grad(y.sum(), x)
    np.testing.assert_allclose(g.numpy(), act.derivative(EXTREMES), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("act", VECTOR)
def test_vector_kinds_value_and_gradient(act: actlab.Activation) -> None:
    x = np.random.default_rng(3).standard_normal((4, 12, 12))
    xt = torch.tensor(x, requires_grad=True)
    y = _module(act)(xt)
    np.testing.assert_allclose(y.detach().numpy(), act(x), rtol=1e-12)
    g = np.random.default_rng(4).standard_normal(y.shape)
    (v,) = torch.autograd.grad(y, xt, torch.from_numpy(g))
    np.testing.assert_allclose(v.numpy(), act.vjp(x, g), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("act", ALL_DEFAULTS)
def test_gradcheck(act: actlab.Activation) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 12, dtype=torch.float64, generator=gen) * 2
    if is_elementwise(act):  # keep clear of the kinks, where a finite difference straddles them
        for kink in act.spec.kink_points(act.bound):
            x = torch.where((x - kink.x).abs() < 1e-3, x + 1e-2, x)
    x.requires_grad_()
    module = _module(act)
    assert torch.autograd.gradcheck(module, (x,))


@pytest.mark.parametrize("name", ["gelu", "mish", "silu", "softplus", "softmax", "swiglu", "snake"])
def test_gradgradcheck(name: str) -> None:
    x = torch.randn(2, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    assert torch.autograd.gradgradcheck(at.get(name), (x,))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("act", ALL_DEFAULTS)
def test_narrow_dtypes(act: actlab.Activation, dtype: torch.dtype) -> None:
    x = np.random.default_rng(5).uniform(-6, 6, (3, 12)).astype(np.float32)
    xt = torch.tensor(x, dtype=dtype, requires_grad=True)
    y = _module(act)(xt)
    assert y.dtype == dtype
    y.sum().backward()
    assert xt.grad is not None and xt.grad.dtype == dtype
    tol = {torch.float16: 2e-3, torch.bfloat16: 2e-2, torch.float32: 1e-5}[dtype]
    reference = act(xt.detach().to(torch.float64).numpy())
    np.testing.assert_allclose(y.detach().to(torch.float64).numpy(), reference, rtol=tol, atol=tol)


def test_backward_saves_only_the_input() -> None:
    saved: list[int] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t.numel() * t.element_size())
        return t

    x = torch.randn(1000, requires_grad=True)
    for name in ("mish", "swish_beta", "gelu_tanh", "xielu", "snake"):
        saved.clear()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            at.apply(x, name).sum().backward()
        assert sum(saved) == x.numel() * x.element_size(), name


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # inside inductor
def test_compile_fullgraph_and_export() -> None:
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 12),
        at.get("mish"),
        torch.nn.Linear(12, 12),
        at.get("swish_beta", beta=1.5),
        at.get("swiglu"),
        torch.nn.Linear(6, 3),
        at.get("log_softmax"),
    )
    x = torch.randn(5, 4)
    compiled = torch.compile(net, fullgraph=True)
    torch.testing.assert_close(compiled(x), net(x))
    exported = torch.export.export(net, (x,))
    torch.testing.assert_close(exported.module()(x), net(x))


@pytest.mark.parametrize("act", ELEMENTWISE[::2] + ELEMENTWISE[1::2])
def test_a_small_mlp_trains(act: actlab.Activation) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(128, 4, generator=gen)
    y = torch.sin(x.sum(1, keepdim=True))
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 32), _module(act), torch.nn.Linear(32, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0]


def test_modules_show_their_parameters_and_refuse_bad_input() -> None:
    assert repr(at.get("leaky_relu", negative_slope=0.1)) == "Activation(name='leaky_relu', negative_slope=0.1)"
    with pytest.raises(actlab.UnknownActivationError, match="did you mean"):
        at.get("gelo")
    with pytest.raises(actlab.InvalidParameterError, match=r"\(0, inf\)"):
        at.get("softmax", temperature=0)
    with pytest.raises(actlab.ShapeError, match="odd"):
        at.get("glu")(torch.ones(3))
    with pytest.raises(TypeError, match="floating-point"):
        at.apply(torch.ones(3, dtype=torch.int64), "relu")
