"""Model surgery on tiny transformers and timm models: what is found, swapped, and what changes.

The models are the compatibility tests' (``tests/compat/test_models.py``: built from small configs,
random weights, nothing downloaded). Each model's activation modules are swapped for actlab's module
computing the same function, and the swapped model is compared with the original on the same input,
in float32 and float64: the largest |Δ| of the output, and of the parameters' gradients over the
largest gradient. 0 means the same kernel runs (F.gelu, F.silu, F.hardswish); where a library writes
the formula out in Python (GPT-2's and T5's NewGELUActivation, CLIP's QuickGELUActivation) the two
round differently. Then the swapped float32 model goes through one ``torch.compile(fullgraph=True)``
forward and backward, ``torch.export`` (saved and loaded), and ``torch.save``/``torch.load``; each
column says "ok" with the largest |Δ| from eager, or the first line of the error.

    python benchmarks/model_surgery.py        # transformers models; timm's too where timm imports
    .venv-compat/bin/python benchmarks/model_surgery.py   # after `make compat`: all of them
"""

from __future__ import annotations

import copy
import io
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import actlab.torch as at

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.compat.test_models import CASES, build, run, swap_for_the_same


def _diffs(name: str, dtype: torch.dtype) -> tuple[int, int, float, float]:
    """(found, swapped, max |Δ| output, max |Δ| gradient / max |gradient|): each site swapped for its own function."""
    case = CASES[name]
    original = build(name, dtype)
    swapped = copy.deepcopy(original)
    found = len(at.find_activations(original))
    n = len(swap_for_the_same(swapped))
    y0, g0 = run(case, original, dtype)
    y1, g1 = run(case, swapped, dtype)
    dy = float((y0 - y1).abs().max())
    dg = max(float((a - b).abs().max()) for a, b in zip(g0, g1, strict=True))
    return found, n, dy, dg / max(float(a.abs().max()) for a in g0)


def _attempt(fn: Any) -> str:
    try:
        return f"ok ({fn():.2g})"
    except Exception as exc:  # the table reports what fails, in one line
        return f"fails: {type(exc).__name__}: {str(exc).splitlines()[0][:60]}"


def _paths(name: str) -> tuple[str, str, str]:
    """compile, export and save/load of the swapped float32 model: ok (max |Δ| from eager) or the error."""
    case = CASES[name]
    model = build(name)
    swap_for_the_same(model)
    eager, _ = run(case, model, torch.float32)

    def compiled() -> float:
        y, _ = run(case, torch.compile(model, fullgraph=True), torch.float32)
        torch._dynamo.reset()
        return float((y - eager).abs().max())

    with torch.no_grad():
        ref = case.output(model(**case.inputs(torch.float32)))

    def exported() -> float:
        with torch.no_grad():
            buf = io.BytesIO()
            torch.export.save(torch.export.export(model, (), case.inputs(torch.float32)), buf)
            buf.seek(0)
            y = case.output(torch.export.load(buf).module()(**case.inputs(torch.float32)))
        return float((y - ref).abs().max())

    def saved() -> float:
        buf = io.BytesIO()
        torch.save(model, buf)
        buf.seek(0)
        with torch.no_grad():
            y = case.output(torch.load(buf, weights_only=False)(**case.inputs(torch.float32)))
        return float((y - ref).abs().max())

    return _attempt(compiled), _attempt(exported), _attempt(saved)


def main() -> None:
    grad = "max |Δ∇|/max |∇|"
    print(
        f"| model | classes → entries | found | swapped | max |Δ| f32 | max |Δ| f64 | {grad} f32 | {grad} f64 "
        "| compile (fullgraph, fwd+bwd) | export + load | save + load |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---|---|---|")
    for name in CASES:
        try:
            model = build(name)
        except pytest.skip.Exception as exc:  # its library is not installed here
            print(f"| {name} | not run: {exc} |")
            continue
        pairs = sorted({f"{type(m).__name__} → {at.catalog_entry(m)[0]}" for _, m in at.find_activations(model)})
        found, n, dy32, dg32 = _diffs(name, torch.float32)
        _, _, dy64, dg64 = _diffs(name, torch.float64)
        paths = " | ".join(_paths(name))
        print(
            f"| {name} | {', '.join(pairs)} | {found} | {n} | {dy32:.2g} | {dy64:.2g} | {dg32:.2g} | {dg64:.2g} "
            f"| {paths} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
