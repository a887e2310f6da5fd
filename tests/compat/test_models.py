"""actlab.torch inside real models of transformers and timm: swap, compare, compile, export, save.

Tiny models built from configs (random weights, nothing downloaded). Each model's activation modules
are found and swapped for actlab's modules computing the same functions; then the swapped model must
give the original's outputs and gradients (bit for bit where the same PyTorch kernel runs, in float32
and float64), train one step under ``torch.compile(fullgraph=True)``, go through ``torch.export`` and
its save/load, through ``torch.save``/``torch.load``, and retarget every site to another function.

`make compat` runs this module (marker ``compat``) in ``.venv-compat``, whose torch and torchvision
timm can import together; without timm (or transformers) their models are skipped.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import actlab.torch as at  # noqa: E402

pytestmark = [
    pytest.mark.compat,
    # Inductor, compiling these models' attention, imports a torch module that still uses script_method
    pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"),
]


@dataclass(frozen=True)
class Case:
    """A tiny model of a library, the input it takes and how to read its output."""

    library: str
    make: Callable[[], nn.Module]
    inputs: Callable[[torch.dtype], dict[str, Any]]
    output: Callable[[Any], torch.Tensor]
    same_kernel: bool
    """True where the library's activation modules call the PyTorch kernel actlab's native path calls
    (the swapped model is then the original bit for bit); False where the library writes the formula
    out in Python (NewGELU, QuickGELU), which rounds differently."""


def _hf() -> Any:
    return pytest.importorskip("transformers")


def _timm() -> Any:
    return pytest.importorskip("timm")


SMALL = {"vocab_size": 50, "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0}
DECODER = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 2}
IDS = torch.randint(0, 50, (2, 7), generator=torch.Generator().manual_seed(1))
IMAGES = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))


def _text(dtype: torch.dtype) -> dict[str, Any]:
    return {"input_ids": IDS}


def _hidden(out: Any) -> torch.Tensor:
    return out.last_hidden_state


def _image(dtype: torch.dtype) -> dict[str, Any]:
    return {"x": IMAGES.to(dtype)}


def _tensor(out: Any) -> torch.Tensor:
    return out


CASES: dict[str, Case] = {
    "bert": Case(
        "transformers",
        lambda: _hf().BertModel(
            _hf().BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, **SMALL),
            add_pooling_layer=False,
        ),
        _text,
        _hidden,
        True,
    ),
    "gpt2": Case(
        "transformers",
        lambda: _hf().GPT2Model(
            _hf().GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=16, use_cache=False, **SMALL)
        ),
        _text,
        _hidden,
        False,
    ),
    "llama": Case(
        "transformers",
        lambda: _hf().LlamaModel(_hf().LlamaConfig(num_key_value_heads=1, use_cache=False, **DECODER, **SMALL)),
        _text,
        _hidden,
        True,
    ),
    "qwen2": Case(
        "transformers",
        lambda: _hf().Qwen2Model(_hf().Qwen2Config(num_key_value_heads=1, use_cache=False, **DECODER, **SMALL)),
        _text,
        _hidden,
        True,
    ),
    "t5": Case(
        "transformers",
        lambda: _hf().T5EncoderModel(
            _hf().T5Config(
                d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=2, feed_forward_proj="gated-gelu", **SMALL
            )
        ),
        _text,
        _hidden,
        False,
    ),
    "clip_text": Case(
        "transformers",
        lambda: _hf().CLIPTextModel(_hf().CLIPTextConfig(max_position_embeddings=16, **DECODER, **SMALL)),
        _text,
        _hidden,
        False,
    ),
    "convnext": Case("timm", lambda: _timm().create_model("convnext_atto", num_classes=10), _image, _tensor, True),
    "mobilenetv3": Case(
        "timm", lambda: _timm().create_model("mobilenetv3_small_050", num_classes=10), _image, _tensor, True
    ),
    "vit": Case(
        "timm",
        lambda: _timm().create_model(
            "vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2, num_classes=10, dynamic_img_size=False
        ),
        _image,
        _tensor,
        True,
    ),
}


def build(name: str, dtype: torch.dtype = torch.float32) -> nn.Module:
    torch.manual_seed(0)
    return CASES[name].make().to(dtype).eval()


def swap_for_the_same(model: nn.Module, **kwargs: Any) -> list[tuple[str, nn.Module, nn.Module]]:
    """Every activation site swapped for actlab's module computing its function (what surgery keeps)."""
    entries = {at.catalog_entry(m)[0] for _, m in at.find_activations(model)}
    return [r for name in sorted(entries) for r in at.replace_activations(model, name, name, **kwargs)]


def run(case: Case, model: nn.Module, dtype: torch.dtype) -> tuple[torch.Tensor, list[torch.Tensor]]:
    model.zero_grad()
    y = case.output(model(**case.inputs(dtype)))
    y.float().square().mean().backward()
    return y.detach(), [p.grad.detach().clone() for p in model.parameters() if p.grad is not None]


def _close(got: torch.Tensor, want: torch.Tensor, rtol: float, scale: float | None = None) -> None:
    atol = rtol * (scale if scale is not None else max(1.0, float(want.abs().max())))
    torch.testing.assert_close(got, want, rtol=rtol, atol=atol)


NAMES = sorted(CASES)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_swap_keeps_outputs_and_gradients(name: str, dtype: torch.dtype) -> None:
    case = CASES[name]
    original = build(name, dtype)
    found = at.find_activations(original)
    assert found, f"{name}: no activation module recognised"
    swapped = copy.deepcopy(original)
    replaced = swap_for_the_same(swapped)
    assert sorted(p for p, _, _ in replaced) == sorted(p for p, _ in found)
    assert all(isinstance(m, at.Activation) for _, m in at.find_activations(swapped))
    y0, g0 = run(case, original, dtype)
    y1, g1 = run(case, swapped, dtype)
    if case.same_kernel:
        assert torch.equal(y0, y1) and all(torch.equal(a, b) for a, b in zip(g0, g1, strict=True))
    else:
        rtol = 1e-5 if dtype == torch.float32 else 1e-12
        _close(y1, y0, rtol)
        scale = max(float(a.abs().max()) for a in g0)  # a gradient near 0 is compared on the scale of all
        for a, b in zip(g0, g1, strict=True):
            _close(b, a, rtol, scale)


@pytest.mark.parametrize("name", NAMES)
def test_compiled_training_step_export_and_save(name: str) -> None:
    case = CASES[name]
    model = build(name)
    swap_for_the_same(model)
    eager_y, eager_g = run(case, model, torch.float32)
    # one compiled forward and backward, the whole graph (actlab's modules never break it)
    compiled = torch.compile(model, fullgraph=True)
    y, g = run(case, compiled, torch.float32)
    _close(y, eager_y, 1e-4)
    scale = max(float(a.abs().max()) for a in eager_g)
    for a, b in zip(eager_g, g, strict=True):
        _close(b, a, 1e-4, scale)
    torch._dynamo.reset()
    # torch.export, saved and loaded (the custom ops resolve because actlab.torch is imported)
    with torch.no_grad():
        ref = case.output(model(**case.inputs(torch.float32)))  # attention may take another kernel without grad
        program = torch.export.export(model, (), case.inputs(torch.float32))
        buf = io.BytesIO()
        torch.export.save(program, buf)
        buf.seek(0)
        loaded = torch.export.load(buf).module()
        # the exported graph may decompose the library's own Python formulas (T5's NewGELU) differently
        _close(case.output(loaded(**case.inputs(torch.float32))), ref, 1e-6)
        # the whole model pickled with torch.save, actlab's modules by their catalog names
        buf = io.BytesIO()
        torch.save(model, buf)
        buf.seek(0)
        again = torch.load(buf, weights_only=False)
        assert torch.equal(case.output(again(**case.inputs(torch.float32))), ref)


@pytest.mark.parametrize("name", NAMES)
def test_retargeting_changes_every_site(name: str) -> None:
    model = build(name)
    sites = [p for p, _ in at.find_activations(model)]
    entries = {at.catalog_entry(m)[0] for _, m in at.find_activations(model)}
    target = "mish" if "silu" in entries else "silu"
    replaced = [r for e in sorted(entries) for r in at.replace_activations(model, e, target)]
    assert sorted(p for p, _, _ in replaced) == sorted(sites)
    assert all(at.catalog_entry(m)[0] == target for _, m in at.find_activations(model))
    case = CASES[name]
    y = case.output(model(**case.inputs(torch.float32)))
    assert torch.isfinite(y).all()


def test_exact_generic_path_trains_compiled_on_channels_last() -> None:
    # ConvNeXt's depthwise convolutions hand the activation channels_last tensors: the generic path's
    # fake kernels must give the layout the real kernels give, or Inductor's stride checks fail
    model = build("convnext").to(memory_format=torch.channels_last)
    replaced = swap_for_the_same(model, exact=True)
    assert replaced and all(new.path == "generic" for _, _, new in replaced)
    case = CASES["convnext"]
    eager_y, eager_g = run(case, model, torch.float32)
    y, g = run(case, torch.compile(model, fullgraph=True), torch.float32)
    _close(y, eager_y, 1e-4)
    scale = max(float(a.abs().max()) for a in eager_g)
    for a, b in zip(eager_g, g, strict=True):
        _close(b, a, 1e-4, scale)
    torch._dynamo.reset()
