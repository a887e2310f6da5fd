"""The examples in the README and in the docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

import actlab
import actlab.catalog
import actlab.numpy

ROOT = Path(__file__).resolve().parents[1]


def test_readme_examples() -> None:
    result = doctest.testfile(str(ROOT / "README.md"), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 3 and result.failed == 0


DOCTESTED = [actlab, actlab.catalog, actlab.numpy, "actlab.guide", "actlab.torch"]
DOCTESTED += [
    "actlab.formula.parse",
    "actlab.formula.core",
    "actlab.learnable",
    "actlab.catalog.registry",
    "actlab._text",
]
DOCTESTED += ["actlab.analysis.gains"]


@pytest.mark.parametrize("module", DOCTESTED)
def test_docstring_examples(module: object) -> None:
    if isinstance(module, str):
        if module == "actlab.torch":
            pytest.importorskip("torch")
        module = importlib.import_module(module)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)  # type: ignore[arg-type]
    assert result.attempted > 0 and result.failed == 0


def _block(after: str) -> str:
    text = (ROOT / "README.md").read_text()
    return text.split(after, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_register_example_runs() -> None:
    try:
        exec(compile(_block("### Your own activation"), "README.md", "exec"), {})
        assert actlab.get("cube_gate")(0.0) == 0.0
    finally:
        actlab.unregister("cube_gate")


def test_readme_learnable_example_runs() -> None:
    torch = pytest.importorskip("torch")
    scope: dict[str, object] = {}
    try:
        exec(compile(_block("A learnable activation of your own"), "README.md", "exec"), scope)
        layer = scope["layer"]
        x = torch.randn(4, requires_grad=True)
        layer(x).sum().backward()  # type: ignore[operator]
        assert [n for n, _ in layer.named_parameters()] == ["a"]  # type: ignore[attr-defined]
    finally:
        actlab.unregister("scaled_tanh")


def test_readme_own_model_example_runs_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's residual MLP through ``compare``: trained, stored, tested against ReLU (fewer seeds
    and epochs here than the README's, which are the closing numbers' command)."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    code = _block("### Your own model and data")
    assert "seeds=5, epochs=20" in code
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(code.replace("seeds=5, epochs=20", "seeds=2, epochs=1"), "README.md", "exec"), scope)
    result = scope["result"]
    rows = {r["activation"]: r for r in scope["rows"]}  # type: ignore[union-attr]
    assert list(rows) == ["relu", "gelu", "silu", "tanh"] and rows["relu"]["baseline"]
    assert all(r["finished"] == 2 for r in rows.values()) and 0.1 < rows["gelu"]["mean"] <= 1.0
    assert rows["tanh"]["verdict"] in {"better", "worse", "no detectable difference"}
    assert (tmp_path / "residual.sqlite").exists() and result.ran == 8  # type: ignore[attr-defined]
    again = scope["compare"](  # type: ignore[operator]
        scope["ResidualMLP"], scope["load"]("digits"), ["relu", "gelu", "silu", "tanh"], seeds=2, epochs=1, lr=3e-3,
        db="residual.sqlite",
    )  # fmt: skip
    assert again.ran == 0 and again.rows() == result.rows()  # type: ignore[attr-defined]
