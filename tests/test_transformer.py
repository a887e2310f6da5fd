"""The transformer language model and its byte-level text: the Python standard library's source."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from actlab.errors import ActlabError
from actlab.experiments import datasets, models
from actlab.experiments.text import MODULES, VALIDATION_EVERY, pystdlib, pystdlib_identity, stdlib_dir
from actlab.experiments.transformer import FeedForward, gated_hidden, parameter_count, transformer
from actlab.torch import Activation, GatedFFN

CONTEXT = 16


def small(activation: str, width: int = 32, depth: int = 2) -> torch.nn.Module:
    torch.manual_seed(0)
    return transformer((CONTEXT,), 256, activation, depth=depth, width=width, heads=4)


@pytest.mark.parametrize("width", [64, 128])
def test_gated_and_elementwise_variants_have_the_same_parameters_within_one_percent(width: int) -> None:
    counts = {
        a: parameter_count(transformer((128,), 256, a, depth=2, width=width))
        for a in ("relu", "gelu", "swiglu", "geglu", "reglu")
    }
    assert counts["relu"] == counts["gelu"]
    for gated in ("swiglu", "geglu", "reglu"):
        assert abs(counts[gated] - counts["relu"]) / counts["relu"] < 0.01, counts


def test_gated_hidden_width_is_eight_thirds_of_the_model_width_in_multiples_of_eight() -> None:
    assert gated_hidden(128) == 344  # 8·128/3 = 341.3
    assert gated_hidden(96) == 256
    assert gated_hidden(1) == 8


@pytest.mark.parametrize("activation", ["relu", "swiglu"])
def test_the_output_at_a_position_does_not_depend_on_later_tokens(activation: str) -> None:
    model = small(activation).eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (2, CONTEXT), generator=g)
    t = 6
    changed = x.clone()
    changed[:, t + 1 :] = torch.randint(0, 256, (2, CONTEXT - t - 1), generator=g)
    with torch.no_grad():
        a, b = model(x), model(changed)
    torch.testing.assert_close(a[:, : t + 1], b[:, : t + 1])
    assert not torch.allclose(a[:, t + 1 :], b[:, t + 1 :])  # later positions do see them


@pytest.mark.parametrize("activation", ["gelu", "geglu"])
def test_scores_every_token_at_every_position_for_any_length_up_to_the_context(activation: str) -> None:
    model = small(activation)
    assert model(torch.zeros(3, CONTEXT, dtype=torch.long)).shape == (3, CONTEXT, 256)
    assert model(torch.zeros(3, 5, dtype=torch.long)).shape == (3, 5, 256)
    with pytest.raises(ActlabError, match="T ≤ 16"):
        model(torch.zeros(1, CONTEXT + 1, dtype=torch.long))


def test_the_feed_forward_blocks_hold_the_activation_module() -> None:
    relu = small("relu", depth=3)
    ffns = [m for m in relu.modules() if isinstance(m, FeedForward)]
    assert len(ffns) == 3 and all(isinstance(f.act, Activation) and f.act.name == "relu" for f in ffns)
    assert ffns[0].up.out_features == 4 * 32
    swiglu = small("swiglu", depth=3)
    gated = [m for m in swiglu.modules() if isinstance(m, GatedFFN)]
    assert len(gated) == 3 and all(isinstance(g.act, Activation) and g.act.name == "swiglu" for g in gated)
    assert gated[0].down.in_features == gated_hidden(32)
    assert not any(isinstance(m, FeedForward) for m in swiglu.modules())


def test_the_output_head_is_not_tied_to_the_token_embedding() -> None:
    model = small("relu")
    assert model.head.weight.data_ptr() != model.tokens.weight.data_ptr()


def test_learns_a_repeating_text() -> None:
    model = small("swiglu")
    x = (torch.arange(CONTEXT + 1) % 5).repeat(4, 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(10):
        loss = torch.nn.functional.cross_entropy(model(x[:, :-1]).reshape(-1, 256), x[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: transformer((4, 4), 256, "relu"), "shape \\(context,\\)"),
        (lambda: transformer((16,), 256, "relu", width=30, heads=4), "multiple of its heads"),
        (lambda: transformer((16,), 0, "relu"), "vocab must be a positive integer"),
        (lambda: transformer((16,), 256, "softmax"), "elementwise or gated activation; softmax is axis"),
    ],
)
def test_bad_settings_are_one_clear_error(call, message: str) -> None:
    with pytest.raises(ActlabError, match=message):
        call()


def test_the_built_in_models_take_gated_activations_in_the_transformer_only() -> None:
    model = models.build("transformer", (CONTEXT,), 200, "reglu", 1, 32)
    assert model.head.out_features == 256  # byte tokens: never fewer than 256
    assert models.MODELS["transformer"] is transformer
    with pytest.raises(ActlabError, match="reglu is gated"):
        models.build("mlp", (CONTEXT,), 10, "reglu", 1, 32)


def test_pystdlib_is_next_byte_prediction_in_windows_of_the_context() -> None:
    x, y, xt, yt = pystdlib(context=64)
    assert x.dtype == y.dtype == xt.dtype == yt.dtype == torch.int64
    assert x.shape == y.shape and xt.shape == yt.shape and x.shape[1] == 64
    assert torch.equal(x[:, 1:], y[:, :-1]) and torch.equal(xt[:, 1:], yt[:, :-1])
    assert 0 <= int(min(x.min(), xt.min())) and int(max(x.max(), xt.max())) <= 255
    identity = pystdlib_identity()
    assert len(x) == identity["train_bytes"] // 65 and len(xt) == identity["validation_bytes"] // 65
    assert 1_000_000 < identity["train_bytes"] < 3_000_000 and 100_000 < identity["validation_bytes"] < 600_000
    assert pystdlib(context=64) is pystdlib(context=64)  # cached per process


def test_pystdlib_splits_by_file_and_names_its_text_by_a_hash_of_the_bytes() -> None:
    identity = pystdlib_identity()
    assert identity["modules"] == [m for m in MODULES if m not in identity["missing"]]
    assert len(identity["modules"]) >= 60 and list(MODULES) == sorted(MODULES)
    texts = {m: (Path(stdlib_dir()) / f"{m}.py").read_bytes() for m in identity["modules"]}
    valid = [m for i, m in enumerate(MODULES, 1) if i % VALIDATION_EVERY == 0 and m in texts]
    train = [m for m in identity["modules"] if m not in valid]
    train_bytes, valid_bytes = b"".join(texts[m] for m in train), b"".join(texts[m] for m in valid)
    assert identity["sha256"] == hashlib.sha256(train_bytes + valid_bytes).hexdigest()
    x, y, xt, _ = pystdlib(context=32)
    windows = b"".join(bytes(x[i].tolist()) + bytes([int(y[i, -1])]) for i in range(3))
    assert windows == train_bytes[: 3 * 33]  # consecutive, non-overlapping windows of context + 1 bytes
    assert bytes(xt[0].tolist()) == valid_bytes[:32]


def test_the_seed_moves_where_the_windows_start() -> None:
    x0 = pystdlib(seed=0, context=32)[0]
    x5 = pystdlib(seed=5, context=32)[0]
    assert torch.equal(x5[0, :27], x0[0, 5:])
    assert torch.equal(pystdlib(seed=33, context=32)[0], x0)  # offsets repeat every window


def test_pystdlib_is_a_built_in_dataset_and_refuses_a_bad_context() -> None:
    x, *_ = datasets.load("pystdlib")
    assert x.shape[1] == 128
    with pytest.raises(ActlabError, match="context must be a positive number of bytes"):
        pystdlib(context=0)


def test_a_seed_draws_every_weight_of_the_same_path_alike_whatever_the_activation() -> None:
    """The runner's transformer keeps GPT-2's initialisation, drawn per module path: relu and swiglu runs of
    one seed share every weight outside the feed-forward blocks' differently shaped layers."""
    from actlab.experiments.runner import RunConfig, build_model, dataset

    data = dataset("pystdlib", 64)
    models = {
        (a, s): build_model(RunConfig("pystdlib", "transformer", a, s, depth=1, width=32), data)
        for a in ("relu", "swiglu")
        for s in (0, 1)
    }
    relu, swiglu = models[("relu", 0)].state_dict(), models[("swiglu", 0)].state_dict()
    shared = [k for k in relu if k in swiglu and relu[k].shape == swiglu[k].shape and "ffn" not in k]
    assert "tokens.weight" in shared and "head.weight" in shared and "blocks.0.attn.out.weight" in shared
    for k in shared:
        assert torch.equal(relu[k], swiglu[k]), k
    other = models[("relu", 1)].state_dict()
    assert not torch.equal(relu["tokens.weight"], other["tokens.weight"])
    assert abs(float(relu["tokens.weight"].std()) - 0.02) < 0.002  # GPT-2's scale, not PyTorch's default N(0, 1)
