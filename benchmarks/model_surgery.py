"""Model surgery on tiny Hugging Face models: what is found, what is swapped, and what changes.

Each model is built from a small config (random weights, nothing downloaded), its activation
modules swapped for actlab's module computing the same function (the catalog entry each one is
recognised as), and the swapped model compared with the original on the same input, in float32
and float64: the largest |Δ| of the output, and of the parameters' gradients (of the output's sum)
over the largest gradient.  0 means the same kernel runs (F.gelu, F.silu); where transformers
writes the formula out in Python (GPT-2's and T5's NewGELUActivation, CLIP's QuickGELUActivation)
the two round differently.

    python benchmarks/model_surgery.py      # needs transformers
"""

from __future__ import annotations

import copy

import torch
from torch import nn

import actlab.torch as at


def models() -> dict[str, tuple[nn.Module, str]]:
    """Tiny models of each family, with the catalog entry their activations compute."""
    import transformers as tf

    small = {"vocab_size": 50}
    return {
        "BERT": (
            tf.BertModel(
                tf.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, **small)
            ),
            "gelu",
        ),
        "GPT-2": (
            tf.GPT2Model(
                tf.GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=16, bos_token_id=0, eos_token_id=0, **small)
            ),
            "gelu_tanh",
        ),
        "Llama": (
            tf.LlamaModel(
                tf.LlamaConfig(
                    hidden_size=32,
                    intermediate_size=37,
                    num_hidden_layers=2,
                    num_attention_heads=2,
                    num_key_value_heads=1,
                    **small,
                )
            ),
            "silu",
        ),
        "Qwen2": (
            tf.Qwen2Model(
                tf.Qwen2Config(
                    hidden_size=32,
                    intermediate_size=37,
                    num_hidden_layers=2,
                    num_attention_heads=2,
                    num_key_value_heads=1,
                    **small,
                )
            ),
            "silu",
        ),
        "T5 (encoder)": (
            tf.T5EncoderModel(
                tf.T5Config(
                    d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=2, feed_forward_proj="gated-gelu", **small
                )
            ),
            "gelu_tanh",
        ),
        "CLIP text": (
            tf.CLIPTextModel(
                tf.CLIPTextConfig(
                    hidden_size=32,
                    intermediate_size=37,
                    num_hidden_layers=2,
                    num_attention_heads=2,
                    max_position_embeddings=16,
                    bos_token_id=0,
                    eos_token_id=0,
                    pad_token_id=0,
                    **small,
                )
            ),
            "quick_gelu",
        ),
    }


def _run(model: nn.Module, ids: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    model.zero_grad()
    out = model(input_ids=ids).last_hidden_state
    out.sum().backward()
    return out.detach(), [p.grad.detach().clone() for p in model.parameters() if p.grad is not None]


def compare(model: nn.Module, entry: str, dtype: torch.dtype) -> tuple[int, int, float, float]:
    """(found, swapped, max |Δ| output, max |Δ| gradient / max |gradient|) of swapping ``entry`` for itself."""
    torch.manual_seed(0)
    original = copy.deepcopy(model).to(dtype).eval()
    swapped = copy.deepcopy(original)
    found = len(at.find_activations(original))
    n = len(at.replace_activations(swapped, entry, entry))
    ids = torch.randint(0, 50, (2, 7), generator=torch.Generator().manual_seed(1))
    y0, g0 = _run(original, ids)
    y1, g1 = _run(swapped, ids)
    dy = float((y0 - y1).abs().max())
    dg = max(float((a - b).abs().max()) for a, b in zip(g0, g1, strict=True))
    scale = max(float(a.abs().max()) for a in g0)
    return found, n, dy, dg / scale


def main() -> None:
    torch.manual_seed(0)
    grad = "max |Δ∇| / max |∇|"
    print(f"| model | activation class | found | swapped | max |Δ| f32 | max |Δ| f64 | {grad} f32 | {grad} f64 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for label, (model, entry) in models().items():
        classes = sorted({type(m).__name__ for _, m in at.find_activations(model)})
        found, n, dy32, dg32 = compare(model, entry, torch.float32)
        _, _, dy64, dg64 = compare(model, entry, torch.float64)
        print(
            f"| {label} | {', '.join(classes)} → {entry} | {found} | {n} "
            f"| {dy32:.2g} | {dy64:.2g} | {dg32:.2g} | {dg64:.2g} |"
        )


if __name__ == "__main__":
    main()
