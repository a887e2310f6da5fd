"""actlab.torch: every catalog entry as a differentiable PyTorch function and module.

The exact (generic) path is held to the NumPy reference on extreme inputs; the native
kernels to the reference on ordinary inputs (their far-tail gaps are measured by
actlab.torch.gaps, tested in test_torch_gaps.py); both to gradcheck, torch.compile(fullgraph=True) and torch.export;
the generic path to keeping only its input for backward.
"""

from __future__ import annotations

import numpy as np
import pytest

import actlab

from .conftest import ALL_DEFAULTS, ELEMENTWISE, VECTOR, is_elementwise

torch = pytest.importorskip("torch")
import actlab.torch as at  # noqa: E402
from actlab.torch.native import NATIVE, native_for  # noqa: E402

EXTREMES = np.concatenate(
    [
        [-np.inf, np.inf, np.nan, 0.0, 5e-324, -5e-324, 1e4, -1e4, 1e300, -1e300],
        np.linspace(-40, 40, 401),
    ]
)
ORDINARY = np.concatenate([np.linspace(-20, 20, 4001), np.logspace(-8, 1, 50), -np.logspace(-8, 1, 50)])


def module(act: actlab.Activation, **kwargs: object) -> at.Activation:
    return at.get(act.name, **act.params, **kwargs)


def value_and_grad(m: torch.nn.Module, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xt = torch.tensor(x, requires_grad=True)
    y = m(xt)
    (g,) = torch.autograd.grad(y.sum(), xt)
    return y.detach().numpy(), g.numpy()


@pytest.mark.parametrize("act", ELEMENTWISE)
def test_exact_path_equals_the_reference_everywhere(act: actlab.Activation) -> None:
    y, g = value_and_grad(module(act, exact=True), EXTREMES)
    np.testing.assert_allclose(y, act(EXTREMES), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(g, act.derivative(EXTREMES), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("act", ELEMENTWISE)
def test_default_path_equals_the_reference_on_ordinary_inputs(act: actlab.Activation) -> None:
    m = module(act)
    assert m.path == ("native" if native_for(act.name, act.bound) else "generic")
    y, g = value_and_grad(m, ORDINARY)
    np.testing.assert_allclose(y, act(ORDINARY), rtol=1e-10, atol=1e-15)
    kinks = [k.x for k in act.spec.kink_points(act.bound)]
    ok = np.all([ORDINARY != k for k in kinks], axis=0) if kinks else np.ones(ORDINARY.shape, bool)
    # native derivatives: hardsigmoid's 1/6 is rounded to float32; gelu_tanh's 1 - tanh² flushes its tail
    np.testing.assert_allclose(
        g[ok], act.derivative(ORDINARY)[ok], rtol=1e-7, atol=1e-11 if m.path == "native" else 1e-15
    )


@pytest.mark.parametrize("name", sorted(n for n in NATIVE if actlab.spec(n).kind == "elementwise"))
def test_native_kernels_share_the_knee_decisions(name: str) -> None:
    act = actlab.get(name)
    for kink in act.spec.kink_points(act.bound):
        x = torch.tensor([kink.x], dtype=torch.float64, requires_grad=True)
        at.get(name)(x).sum().backward()
        assert x.grad.item() == pytest.approx(kink.derivative, rel=1e-7), kink.rule


def test_native_softmax_differs_on_fully_masked_rows_exact_does_not() -> None:
    x = torch.tensor([[-np.inf, -np.inf], [0.0, 1.0]], dtype=torch.float64)
    assert torch.isnan(at.Softmax()(x)[0]).all()  # PyTorch's kernel
    assert torch.equal(at.Softmax(exact=True)(x)[0], torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(at.Softmax()(x)[1], at.Softmax(exact=True)(x)[1])


@pytest.mark.parametrize("act", VECTOR)
@pytest.mark.parametrize("exact", [False, True])
def test_vector_kinds_value_and_gradient(act: actlab.Activation, exact: bool) -> None:
    x = np.random.default_rng(3).standard_normal((4, 12, 12))
    xt = torch.tensor(x, requires_grad=True)
    y = module(act, exact=exact)(xt)
    np.testing.assert_allclose(y.detach().numpy(), act(x), rtol=1e-12)
    g = np.random.default_rng(4).standard_normal(y.shape)
    (v,) = torch.autograd.grad(y, xt, torch.from_numpy(g))
    np.testing.assert_allclose(v.numpy(), act.vjp(x, g), rtol=1e-10, atol=1e-14)


def _away_from_kinks(act: actlab.Activation, x: torch.Tensor) -> torch.Tensor:
    if is_elementwise(act):  # a finite difference straddling a kink is not a derivative
        for kink in act.spec.kink_points(act.bound):
            x = torch.where((x - kink.x).abs() < 1e-3, x + 1e-2, x)
    return x


@pytest.mark.parametrize("act", ALL_DEFAULTS)
@pytest.mark.parametrize("exact", [False, True])
def test_gradcheck(act: actlab.Activation, exact: bool) -> None:
    x = torch.randn(2, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2
    x = _away_from_kinks(act, x).requires_grad_()
    assert torch.autograd.gradcheck(module(act, exact=exact), (x,))


@pytest.mark.parametrize("name", ["gelu", "mish", "silu", "softplus", "softmax", "swiglu", "snake", "swish_beta"])
def test_gradgradcheck(name: str) -> None:
    x = torch.randn(2, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    assert torch.autograd.gradgradcheck(at.get(name, exact=True), (x,))


LEARNABLE = [s.name for s in actlab.specs("elementwise") if any(q.learnable for q in s.params)]


@pytest.mark.parametrize("name", LEARNABLE)
@pytest.mark.parametrize("channels", [1, 3])
def test_learnable_parameters(name: str, channels: int) -> None:
    m = at.get(name, learnable=True, num_parameters=channels).double()
    params = list(m.parameters())
    assert params and all(p.shape == (channels,) for p in params)
    x = _away_from_kinks(
        actlab.get(name), torch.randn(4, 3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    )
    x.requires_grad_()
    assert torch.autograd.gradcheck(lambda t, *w: m(t), (x, *params))
    # the initial values reproduce the fixed activation
    torch.testing.assert_close(m(x), at.get(name, exact=True)(x))
    # a state_dict round trip keeps the values
    with torch.no_grad():
        for p in params:
            p.add_(0.1 * torch.arange(channels, dtype=p.dtype))
    twin = at.get(name, learnable=True, num_parameters=channels).double()
    twin.load_state_dict(m.state_dict())
    torch.testing.assert_close(twin(x), m(x))


def test_constraints_hold_during_training() -> None:
    for name, key in (("swish_beta", "beta"), ("celu", "alpha"), ("snake", "alpha")):
        m = at.get(name, learnable=True)
        opt = torch.optim.SGD(m.parameters(), lr=100.0)
        for _ in range(20):  # push the parameter hard towards negative values
            opt.zero_grad()
            (m.values()[key].sum() * 1e3 + m(torch.linspace(-3, 3, 50)).sum()).backward()
            opt.step()
        value = m.values()[key].item()
        assert value in actlab.spec(name).param(key).domain, (name, value)
        assert torch.isfinite(m(torch.linspace(-3, 3, 5))).all()
    x = at.get("xielu", learnable=True)
    assert (x.values()["alpha_n"] > x._static["beta"]).all()
    with pytest.raises(actlab.InvalidParameterError, match="not learnable"):
        at.get("gelu", learnable=("approximate",))
    with pytest.raises(actlab.InvalidParameterError, match="no learnable"):
        at.get("relu", learnable=True)
    with pytest.raises(actlab.InvalidParameterError, match="starts above"):
        at.get("swish_beta", learnable=True, beta=0.0)
    with pytest.raises(ValueError, match="dim 1"):
        at.get("snake", learnable=True, num_parameters=4)(torch.randn(2, 3))


def test_a_user_learnable_activation_in_a_few_lines() -> None:
    spec = actlab.Elementwise(
        name="scaled_tanh",
        title="Scaled tanh",
        summary="a tanh(x) with a learnable amplitude a",
        formula=r"a\tanh x",
        derivative_formula=r"a(1 - \tanh^2 x)",
        year=None,
        uses=("a test",),
        params=(actlab.Param("a", 1.0, "amplitude", learnable=True),),
        forward=lambda x, p, xp: p.a * xp.tanh(x),
        derivative=lambda x, p, xp: p.a * (1 - xp.tanh(x) ** 2),
        param_derivatives={"a": lambda x, p, xp: xp.tanh(x)},
        monotonic=True,
        zero_centred=True,
    )
    actlab.register(spec)
    try:
        m = at.get("scaled_tanh", learnable=True, a=2.0).double()
        x = torch.randn(5, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t, *w: m(t), (x, *m.parameters()))
    finally:
        actlab.unregister("scaled_tanh")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("act", ALL_DEFAULTS)
def test_narrow_dtypes(act: actlab.Activation, dtype: torch.dtype) -> None:
    x = np.random.default_rng(5).uniform(-6, 6, (3, 12)).astype(np.float32)
    for exact in (False, True):
        xt = torch.tensor(x, dtype=dtype, requires_grad=True)
        y = module(act, exact=exact)(xt)
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
    for name in ("mish", "swish_beta", "gelu_tanh", "xielu", "snake", "squareplus", "quick_gelu"):
        saved.clear()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            at.get(name, exact=True)(x).sum().backward()
        assert sum(saved) == x.numel() * x.element_size(), name
    saved.clear()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        at.get("swish_beta", learnable=True)(x).sum().backward()
    assert sum(saved) <= (x.numel() + 2) * x.element_size()  # the input, the parameter and its softplus


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # inside inductor
def test_compile_fullgraph_and_export() -> None:
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 12),
        at.get("mish", exact=True),
        torch.nn.Linear(12, 12),
        at.get("swish_beta", learnable=True, beta=1.5),
        at.SwiGLU(),
        torch.nn.Linear(6, 6),
        at.get("star_relu", learnable=True, num_parameters=6),
        at.LogSoftmax(temperature=2.0),
    )
    x = torch.randn(5, 4)
    compiled = torch.compile(net, fullgraph=True)
    torch.testing.assert_close(compiled(x), net(x))
    loss = compiled(x).sum()
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())
    exported = torch.export.export(net, (x,))
    torch.testing.assert_close(exported.module()(x), net(x))


def _train(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 25) -> list[float]:
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _hidden(act: actlab.Activation, width: int) -> tuple[torch.nn.Module, int]:
    """The activation module and the width that comes out of it."""
    pieces = {"gated": 2, "pooled": act.params.get("pieces", 1)}.get(act.kind, 1)
    if act.kind == "axis":
        return at.get(act.name, **{**act.params, "dim": 1}), width
    return at.get(act.name, **{**act.params, **({"dim": 1} if "dim" in act.params else {})}), width // pieces


@pytest.mark.parametrize("act", ALL_DEFAULTS)
def test_small_mlp_and_cnn_train(act: actlab.Activation) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(96, 8, generator=gen)
    y = (x[:, :4].sum(1) > 0).long() + (x[:, 4:].sum(1) > 0).long()
    torch.manual_seed(0)
    h, out = _hidden(act, 24)
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 24), h, torch.nn.Linear(out, 3))
    losses = _train(mlp, x, y)
    assert np.isfinite(losses).all() and losses[-1] < losses[0]

    images = torch.randn(32, 1, 8, 8, generator=gen)
    labels = (images[:, 0, :4].mean((1, 2)) > images[:, 0, 4:].mean((1, 2))).long()
    torch.manual_seed(0)
    h, out = _hidden(act, 6)
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 3, padding=1),
        h,
        torch.nn.AdaptiveAvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(out * 4, 2),
    )
    losses = _train(cnn, images, labels)
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_functional_namespace_is_the_catalog() -> None:
    from actlab.torch import functional as AF

    x = torch.linspace(-2, 2, 5, dtype=torch.float64)
    torch.testing.assert_close(AF.gelu(x), torch.nn.functional.gelu(x))
    torch.testing.assert_close(AF.swish_beta(x, beta=2.0), x * torch.sigmoid(2 * x))
    torch.testing.assert_close(AF.LeakyReLU(x, negative_slope=0.2), torch.nn.functional.leaky_relu(x, 0.2))
    assert set(actlab.names()) <= set(dir(AF))
    with pytest.raises(AttributeError, match="did you mean"):
        AF.gelo  # noqa: B018


def test_layers() -> None:
    x = torch.randn(3, 8)
    assert at.GatedFFN(8, 16)(x).shape == (3, 8)
    assert isinstance(at.GatedFFN(8, 16, "gelu").act, at.GeGLU) or at.GatedFFN(8, 16, "gelu").act.name == "geglu"
    assert at.GatedFFN(8, 16, "mish")(x).shape == (3, 8)
    with pytest.raises(actlab.InvalidParameterError):
        at.GatedFFN(8, 16, "softmax")
    assert at.Maxout(8, 5, pieces=3)(x).shape == (3, 5)
    with pytest.raises(actlab.InvalidParameterError):
        at.Maxout(8, 5, pieces=0)
    assert at.SwiGLU()(x).shape == (3, 4) and at.GLU(dim=0)(torch.randn(4, 2)).shape == (2, 2)
    with pytest.raises(actlab.ShapeError, match="odd"):
        at.ReGLU()(torch.randn(2, 5))
    with pytest.raises(actlab.ShapeError, match="multiple"):
        at.get("maxout", pieces=3)(torch.randn(2, 5))
    with pytest.raises(actlab.InvalidParameterError, match=r"\(0, inf\)"):
        at.Softmax(temperature=0.0)
    p = at.Softmax(dim=1, temperature=0.5)(x)
    torch.testing.assert_close(p, torch.softmax(x / 0.5, dim=1))


def test_modules_show_their_parameters_and_refuse_bad_input() -> None:
    assert repr(at.get("leaky_relu", negative_slope=0.1)) == "Activation(name='leaky_relu', negative_slope=0.1)"
    with pytest.raises(actlab.UnknownActivationError, match="did you mean"):
        at.get("gelo")
    with pytest.raises(TypeError, match="floating-point"):
        at.get("mish", exact=True)(torch.ones(3, dtype=torch.int64))


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # inside inductor
@pytest.mark.parametrize("name", ["xielu", "geglu", "tanhshrink"])
def test_fused_kernels_equal_the_op_by_op_formulas(name: str) -> None:
    """Large float32 inputs run a torch.compile'd kernel of the formula: same values, gradients and NaN."""
    from actlab.torch import _ops

    x = torch.randn(2, _ops.FUSE_MIN_NUMEL, generator=torch.Generator().manual_seed(9)) * 4
    x[0, :3] = torch.tensor([float("nan"), float("inf"), -float("inf")])
    learnable = {"learnable": True} if name == "xielu" else {}
    m = at.get(name, exact=True, **learnable)
    results = []
    for fuse in (True, False):
        _ops.set_fusion(_ops.FUSE_MIN_NUMEL if fuse else None)
        try:
            xg = x.clone().requires_grad_()
            y = m(xg)
            y.backward(torch.ones_like(y))
            results.append((y.detach(), xg.grad, [p.grad.clone() for p in m.parameters()]))
            m.zero_grad()
        finally:
            _ops.set_fusion(1 << 16)
    (y1, g1, p1), (y2, g2, p2) = results
    torch.testing.assert_close(y1, y2, rtol=1e-5, atol=1e-5, equal_nan=True)
    torch.testing.assert_close(g1, g2, rtol=1e-5, atol=1e-5, equal_nan=True)
    for a, b in zip(p1, p2):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-3, equal_nan=True)  # sums of 131072 float32 terms


def test_submodules_are_attributes_of_actlab_torch():
    import actlab.torch as at

    assert callable(at.init.kaiming_normal_) and callable(at.deepnet.simulate) and callable(at.recipes.dying_relu)
    assert {"init", "deepnet", "recipes"} <= set(dir(at))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        at.nothing  # noqa: B018


def test_learnable_parameter_reads_as_its_value_and_repr_follows_training():
    m = at.get("swish_beta", learnable=True, beta=1.5)
    assert [n for n, _ in m.named_parameters()] == ["beta_raw"]  # the stored number is not β
    assert m.beta.item() == pytest.approx(1.5, rel=1e-6)
    opt = torch.optim.SGD(m.parameters(), lr=0.5)
    for _ in range(3):
        opt.zero_grad()
        m(torch.linspace(-3, 3, 64)).sum().backward()
        opt.step()
    beta = m.values()["beta"].item()
    assert beta != pytest.approx(1.5, rel=1e-3)
    assert m.beta.item() == beta and f"beta={float(f'{beta:.7g}')!r}" in repr(m)
    prelu = at.get("prelu", learnable=True, num_parameters=2)  # unconstrained: stored under its own name
    assert [n for n, _ in prelu.named_parameters()] == ["weight"] and "weight=[0.25, 0.25]" in repr(prelu)
