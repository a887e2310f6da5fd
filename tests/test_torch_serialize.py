"""actlab.torch modules pickle, deep-copy, save and cross process boundaries by reference to the
catalog; the custom operators' fake kernels give the real kernels' layouts; TorchScript is refused."""

from __future__ import annotations

import copy
import io
import multiprocessing
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import actlab
import actlab.torch as at
from actlab.catalog import registry
from actlab.torch import _ops

from .test_user_entries import cube_gate


def _variants() -> list[Any]:
    """Every catalog entry × {default, exact, learnable (shared), learnable per channel}."""
    out = []
    for spec in registry.specs():
        if not registry.is_builtin(spec.name):
            continue
        out.append(pytest.param(spec.name, {}, id=f"{spec.name}-default"))
        out.append(pytest.param(spec.name, {"exact": True}, id=f"{spec.name}-exact"))
        if any(q.learnable for q in spec.params) and getattr(spec, "param_derivatives", None):
            out.append(pytest.param(spec.name, {"learnable": True}, id=f"{spec.name}-learnable"))
            kw = {"learnable": True, "num_parameters": 3}
            out.append(pytest.param(spec.name, kw, id=f"{spec.name}-learnable3"))
    return out


def _trained(act: at.Activation) -> at.Activation:
    """Move every learnable parameter off its initial value, as training would."""
    with torch.no_grad():
        for i, p in enumerate(act.parameters()):
            p.add_(0.125 * (i + 1) * torch.linspace(0.5, 1.0, p.numel()).reshape(p.shape))
    return act


def _model(name: str, kw: dict[str, Any]) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 4), _trained(at.Activation(name, **kw))).double()


def _input() -> torch.Tensor:
    return torch.randn(2, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


def _same(a: nn.Module, b: nn.Module) -> None:
    assert type(a) is type(b) and repr(a) == repr(b)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    x = _input()
    ya, yb = a(x), b(x)
    assert torch.equal(ya, yb)
    # the loaded model trains as the original: the same gradients, bit for bit
    ga = torch.autograd.grad(ya.sum(), list(a.parameters()))
    gb = torch.autograd.grad(yb.sum(), list(b.parameters()))
    assert all(torch.equal(u, v) for u, v in zip(ga, gb))


@pytest.mark.parametrize(("name", "kw"), _variants())
def test_every_entry_pickles_copies_and_saves(name: str, kw: dict[str, Any]) -> None:
    model = _model(name, kw)
    act = model[1]
    _same(model, pickle.loads(pickle.dumps(model)))
    _same(model, copy.deepcopy(model))
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    _same(model, loaded)
    back = loaded[1]
    assert (back.name, back.path, back.exact, back.learned) == (act.name, act.path, act.exact, act.learned)
    assert back.params == act.params and back.num_parameters == act.num_parameters
    assert {k: v.tolist() for k, v in back.values().items()} == {k: v.tolist() for k, v in act.values().items()}


def test_state_dict_loads_with_weights_only() -> None:
    act = _trained(at.Activation("swish_beta", learnable=True, num_parameters=3, beta=1.5))
    buffer = io.BytesIO()
    torch.save(act.state_dict(), buffer)
    buffer.seek(0)
    fresh = at.Activation("swish_beta", learnable=True, num_parameters=3, beta=1.5)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    x = _input().float()
    assert torch.equal(fresh(x), act(x))
    assert torch.equal(fresh.beta, act.beta)


@pytest.mark.parametrize(
    "layer",
    ["maxout", "ffn_elementwise", "ffn_gated", "glu", "reglu", "geglu", "swiglu", "bilinear", "softmax", "log_softmax"],
)
def test_layers_pickle(layer: str) -> None:
    torch.manual_seed(0)
    model = {
        "maxout": lambda: at.Maxout(4, 3, pieces=3),
        "ffn_elementwise": lambda: at.GatedFFN(4, 6, activation="squareplus"),
        "ffn_gated": lambda: at.GatedFFN(4, 6, activation="swiglu"),
        "glu": lambda: at.GLU(dim=-1),
        "reglu": lambda: at.ReGLU(),
        "geglu": lambda: at.GeGLU(),
        "swiglu": lambda: at.SwiGLU(dim=-1, exact=True),
        "bilinear": lambda: at.Bilinear(),
        "softmax": lambda: at.Softmax(dim=1, temperature=0.5),
        "log_softmax": lambda: at.LogSoftmax(dim=-1, exact=True),
    }[layer]()
    x = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(2))
    for back in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert type(back) is type(model) and repr(back) == repr(model)
        assert torch.equal(back(x), model(x))


def test_user_entry_pickles_and_names_its_plugin_when_missing() -> None:
    actlab.register(cube_gate())
    try:
        act = at.Activation("cube_gate")
        data = pickle.dumps(nn.Sequential(act))
        x = _input()
        assert torch.equal(pickle.loads(data)(x), act(x))
    finally:
        actlab.unregister("cube_gate")
    with pytest.raises(actlab.UnknownActivationError, match=r"^unknown activation 'cube_gate'; load its plugin first"):
        pickle.loads(data)


def test_model_crosses_a_spawned_process() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(4, 8),
        at.Activation("gelu"),  # native
        at.Activation("squareplus", exact=True),  # generic
        _trained(at.Activation("swish_beta", learnable=True, num_parameters=3)),  # learned, per channel
        at.SwiGLU(),  # gated: 8 -> 4
    )
    x = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(3))
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        # the model itself goes through the pool's pickling; the child returns its output
        y = pool.apply(_call_model, (model, x))
    assert torch.equal(y, model(x))


def _call_model(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x)


@pytest.mark.filterwarnings("ignore:.torch.jit.script. is deprecated:DeprecationWarning")
def test_torchscript_is_refused_with_the_alternatives() -> None:
    message = r"^actlab activations do not support TorchScript \(squareplus\); use torch.compile or torch.export$"
    with pytest.raises(TypeError, match=message):
        torch.jit.script(at.Activation("squareplus"))
    with pytest.raises(TypeError, match="do not support TorchScript"):
        torch.jit.script(nn.Sequential(nn.Linear(4, 8), at.GatedFFN(8, 4)))


# -- layouts: the real kernels keep the input's, the fake kernels say the same -----------------------

_OPS_CASES = [
    pytest.param("squareplus", {}, "", False, id="elementwise"),
    pytest.param("gelu", {}, "", True, id="elementwise-exact"),
    pytest.param("swish_beta", {}, "beta", False, id="learned-per-channel"),
    pytest.param("swiglu", {"dim": -1}, "", True, id="gated"),
    pytest.param("softmax", {"dim": 1}, "", False, id="axis"),
    pytest.param("maxout", {"pieces": 2, "dim": -1}, "", False, id="pooled"),
]


def _layouts() -> dict[str, torch.Tensor]:
    base = torch.randn(2, 4, 6, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    return {
        "contiguous": base,
        "channels_last": base.to(memory_format=torch.channels_last),
        "transposed": base.transpose(2, 3),
        "sliced": base[..., ::2],
        "channels_last_sliced": base.to(memory_format=torch.channels_last)[..., ::2],
    }


@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "transposed", "sliced", "channels_last_sliced"])
@pytest.mark.parametrize(("name", "params", "learned", "wide"), _OPS_CASES)
def test_opcheck_every_custom_op(name: str, params: dict[str, Any], learned: str, wide: bool, layout: str) -> None:
    """The schema, the autograd registration and the fake kernels (strides included) of apply, vjp,
    param_grads and backward, on dense, channels_last and non-contiguous inputs."""
    spec = registry.spec(name)
    x = _layouts()[layout].requires_grad_()
    encoded = _ops.encode(spec, params)
    weights = [torch.linspace(0.5, 2.0, 4, dtype=torch.float64).reshape(1, 4, 1, 1).requires_grad_()] if learned else []
    static = (name, encoded, learned, wide)
    torch.library.opcheck(_ops.apply_op, (x, weights, *static))
    y = _ops.apply_op(x, weights, *static)
    g = torch.randn(y.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    if layout.startswith("channels_last"):
        g = g.to(memory_format=torch.channels_last)
    torch.library.opcheck(_ops.vjp_op, (x, weights, g, *static))
    if learned:  # first-order only: no autograd of their own, so their inputs take no gradient here
        plain = (x.detach(), [w.detach() for w in weights], g, *static)
        torch.library.opcheck(_ops.param_grads_op, plain)
        torch.library.opcheck(_ops.backward_op, plain)


@pytest.mark.parametrize("name", ["squareplus", "gelu"])
def test_channels_last_input_gives_channels_last_output(name: str) -> None:
    x = torch.randn(2, 4, 3, 5).to(memory_format=torch.channels_last).requires_grad_()
    act = at.Activation(name, exact=True)
    y = act(x)
    assert y.is_contiguous(memory_format=torch.channels_last)
    (gx,) = torch.autograd.grad(y, x, torch.ones_like(y))
    assert gx.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(y, act(x.contiguous()))


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # inside inductor
def test_fused_kernel_keeps_the_layout() -> None:
    """The compiled (fused) kernel's result is laid out as the fake kernel says."""
    before = _ops.FUSE_MIN_NUMEL
    _ops.set_fusion(1)
    try:
        x = torch.randn(2, 4, 3, 5).to(memory_format=torch.channels_last)
        with torch.no_grad(), _ops.compiling_expected():
            y = _ops.apply_op(x, [], "squareplus", _ops.encode(registry.spec("squareplus"), {}), "", False)
    finally:
        _ops.set_fusion(before if before >= 0 else None)
    assert y.stride() == torch.empty_like(x).stride()
    torch.testing.assert_close(y, at.Activation("squareplus")(x.contiguous()))  # fused: within an ulp or so


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # inside inductor
def test_compiled_training_step_on_channels_last() -> None:
    """Conv2d -> exact GELU (the generic path) -> Conv2d, one fullgraph-compiled training step."""
    torch.manual_seed(0)
    block = nn.Sequential(nn.Conv2d(3, 4, 1), at.Activation("gelu", exact=True), nn.Conv2d(4, 2, 1))
    block = block.to(memory_format=torch.channels_last)
    eager = copy.deepcopy(block)
    x = torch.randn(2, 3, 5, 5).to(memory_format=torch.channels_last)

    def step(model: Any) -> torch.Tensor:
        loss = model(x).square().mean()
        loss.backward()  # a compiled model's backward graph is compiled too (AOTAutograd)
        return loss

    loss = step(torch.compile(block, fullgraph=True))
    expected = step(eager)
    torch.testing.assert_close(loss, expected)
    for p, q in zip(block.parameters(), eager.parameters()):
        torch.testing.assert_close(p.grad, q.grad)


def test_functional_pickles_by_name() -> None:
    from actlab.torch import functional as AF

    f = pickle.loads(pickle.dumps(AF.swish_beta))
    assert f is AF.swish_beta and AF.swish is AF.silu  # an alias finds its entry's function
    x = _input()
    assert torch.equal(f(x, beta=1.5), AF.apply(x, "swish_beta", beta=1.5))


_LOAD_EXPORTED = """
import sys, torch
try:
    torch.export.load(sys.argv[1])
except Exception as exc:
    print("without:", type(exc).__name__)
import actlab.torch
program = torch.export.load(sys.argv[1])
torch.save(program.module()(torch.load(sys.argv[2])), sys.argv[3])
"""


def test_exported_program_loads_once_actlab_torch_is_imported(tmp_path: Path) -> None:
    """torch.export saves a model; the loading process must import actlab.torch (which registers the
    operators) first: without it the loader's error names the operator and says it is not registered."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), at.Activation("squareplus"), at.Activation("gelu", exact=True))
    x = torch.randn(2, 4)
    torch.export.save(torch.export.export(model, (x,)), tmp_path / "model.pt2")
    torch.save(x, tmp_path / "x.pt")
    run = subprocess.run(
        [sys.executable, "-c", _LOAD_EXPORTED, *(str(tmp_path / f) for f in ("model.pt2", "x.pt", "y.pt"))],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "without: RuntimeError" in run.stdout
    assert "failed to resolve torch.ops.actlab.apply.default to an operator" in run.stderr
    assert "custom op is not registered" in run.stderr
    assert torch.equal(torch.load(tmp_path / "y.pt"), model(x))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch deprecates its TorchScript exporter
def test_onnx_export_is_refused_in_one_line() -> None:
    # the TorchScript-based exporter (dynamo=False) meets the generic operator: actlab's refusal, not
    # torch's "unrecognized namespace"
    from actlab.torch._ops import ONNX_REFUSAL

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), at.get("mish", exact=True))
    with pytest.raises(Exception, match=r"has no ONNX form; export the model with torch\.export") as info:
        torch.onnx.export(model, (torch.randn(2, 4),), io.BytesIO(), dynamo=False)
    assert ONNX_REFUSAL.split("{")[0] in str(info.value)
