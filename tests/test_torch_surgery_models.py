"""Model surgery on tiny Hugging Face models built from configs (random weights, nothing downloaded)."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
tf = pytest.importorskip("transformers")
from torch import nn  # noqa: E402
from transformers import activations as hf  # noqa: E402

import actlab.torch as at  # noqa: E402

SMALL = {"vocab_size": 50, "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0}
DECODER = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 2}


def build(name: str) -> tuple[nn.Module, str, type]:
    """A tiny model, the catalog entry its activations compute, and their class."""
    torch.manual_seed(0)
    if name == "bert":
        cfg = tf.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, **SMALL)
        return tf.BertModel(cfg, add_pooling_layer=False), "gelu", hf.GELUActivation
    if name == "gpt2":
        return (
            tf.GPT2Model(tf.GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=16, **SMALL)),
            "gelu_tanh",
            hf.NewGELUActivation,
        )
    if name == "llama":
        return tf.LlamaModel(tf.LlamaConfig(num_key_value_heads=1, **DECODER, **SMALL)), "silu", hf.SiLUActivation
    if name == "t5":
        cfg = tf.T5Config(
            d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=2, feed_forward_proj="gated-gelu", **SMALL
        )
        return tf.T5EncoderModel(cfg), "gelu_tanh", hf.NewGELUActivation
    cfg = tf.CLIPTextConfig(max_position_embeddings=16, **DECODER, **SMALL)
    return tf.CLIPTextModel(cfg), "quick_gelu", hf.QuickGELUActivation


def run(model: nn.Module, ids: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    model.zero_grad()
    out = model(input_ids=ids).last_hidden_state
    out.sum().backward()
    return out.detach(), [p.grad.detach().clone() for p in model.parameters() if p.grad is not None]


IDS = torch.randint(0, 50, (2, 7), generator=torch.Generator().manual_seed(1))
# Where the same kernel runs (F.gelu, F.silu) the swapped model is the original bit for bit; where
# transformers writes the formula out in Python (NewGELU, QuickGELU) they round differently.
SAME_KERNEL = {"bert", "llama"}


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama", "t5", "clip"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_swapping_for_the_same_function_keeps_outputs_and_gradients(name: str, dtype: torch.dtype) -> None:
    model, entry, cls = build(name)
    original = model.to(dtype).eval()
    found = at.find_activations(original)
    assert len(found) == 2 and all(type(m) is cls for _, m in found)
    swapped = copy.deepcopy(original)
    replaced = at.replace_activations(swapped, entry, entry)
    assert [p for p, _, _ in replaced] == [p for p, _ in found]
    assert all(isinstance(new, at.Activation) and new.name == entry for _, _, new in replaced)
    y0, g0 = run(original, IDS)
    y1, g1 = run(swapped, IDS)
    if name in SAME_KERNEL:
        assert torch.equal(y0, y1) and all(torch.equal(a, b) for a, b in zip(g0, g1, strict=True))
    else:
        rtol = 1e-5 if dtype == torch.float32 else 1e-12
        torch.testing.assert_close(y1, y0, rtol=rtol, atol=rtol)
        scale = max(float(a.abs().max()) for a in g0)  # a gradient near 0 is compared on the scale of all
        for a, b in zip(g0, g1, strict=True):
            torch.testing.assert_close(b, a, rtol=rtol, atol=rtol * scale)


def test_the_foreign_class_is_matched_by_class_too() -> None:
    model, _, _ = build("gpt2")
    replaced = at.replace_activations(model, hf.NewGELUActivation, "gelu_tanh")  # it returned [] before
    assert len(replaced) == 2


def test_retargeting_changes_every_site() -> None:
    model, _, _ = build("bert")
    model.eval()
    y0 = model(input_ids=IDS).last_hidden_state
    replaced = at.replace_activations(model, "gelu", "silu")
    assert len(replaced) == 2 and not any(isinstance(m, hf.GELUActivation) for m in model.modules())
    assert [m.name for _, m in at.find_activations(model)] == ["silu", "silu"]
    assert not torch.allclose(model(input_ids=IDS).last_hidden_state, y0)


def test_every_act2cls_class_is_recognised_or_says_why() -> None:
    seen = {}
    for key in hf.ACT2CLS:
        module = hf.ACT2FN[key]
        seen[key] = at.catalog_entry(module)
    assert (
        seen["gelu_new"] == seen["gelu_fast"] == seen["gelu_accurate"] == seen["gelu_pytorch_tanh"] == ("gelu_tanh", {})
    )
    assert seen["gelu"] == seen["gelu_python"] == ("gelu", {})
    assert seen["silu"] == ("silu", {}) and seen["quick_gelu"] == ("quick_gelu", {}) and seen["relu2"] == ("relu2", {})
    assert seen["linear"] == ("identity", {}) and seen["mish"] == ("mish", {})
    assert seen["xielu"][0] == "xielu"
    assert seen["laplace"] == ("laplace", {"mu": 0.707107, "sigma": 0.282095})  # forward's defaults
    assert seen["sqrtsoftplus"] == ("sqrtsoftplus", {})
    missing = {k for k, v in seen.items() if v is None}
    assert missing == {"gelu_10"}
    why = at.unrecognised()
    assert "transformers.activations.ClippedGELUActivation" in why
    assert not any(c in k for k in why for c in ("LaplaceActivation", "SqrtSoftplusActivation"))
    for key in hf.ACT2CLS:  # every recognised name is one actlab.get knows
        if key not in missing:
            assert at.get(key).name == at.get(seen[key][0]).name or key in (
                "swish",
                "relu",
                "leaky_relu",
                "prelu",
                "xielu",
            )


def test_xielu_keeps_its_learned_values_as_parameters() -> None:
    xielu = hf.XIELUActivation(alpha_p_init=1.3, alpha_n_init=0.9, beta=0.5)  # parameters in bfloat16
    net = nn.Sequential(xielu)
    x = torch.linspace(-30, 30, 601)
    before = xielu(x).detach()
    ((_, _, new),) = at.replace_activations(net, "xielu", "xielu")
    assert new.learned == ("alpha_p", "alpha_n") and len(list(net.parameters())) == 2
    assert float(new.alpha_p.detach()) == pytest.approx(1.3, abs=0.01) and float(new.alpha_n.detach()) == pytest.approx(
        0.9, abs=0.01
    )
    torch.testing.assert_close(new(x), before, rtol=1e-5, atol=1e-6)
