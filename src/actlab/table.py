"""The comparison table: range, minimum, gradient behaviour, measured speed, typical use and where
PyTorch's default kernel differs from exact, for every activation, computed from the catalog, the
analysis, a benchmark and a measurement (:mod:`actlab.torch.gaps`) — never typed by hand.

``actlab table`` prints it as Markdown, CSV or JSON; the lab report shows the same rows.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

FORMATS = ("markdown", "csv", "json")
SPEED_PASS = "forward_backward"
BACKENDS = ("numpy", "torch", "jax")
LABELS = {"numpy": "NumPy", "torch": "PyTorch", "jax": "JAX"}
OPTIONAL = ("jax",)
"""Backends whose speed column is shown only when the benchmark measured them (a JAX run is asked for)."""


def _speed_column(backend: str) -> tuple[str, str]:
    return f"speed_{backend}", f"time / ReLU ({LABELS[backend]})"


COLUMNS = (
    ("name", "activation"),
    ("kind", "kind"),
    ("range", "range"),
    ("minimum", "minimum"),
    ("gradient", "gradient behaviour"),
    *(_speed_column(b) for b in BACKENDS if b not in OPTIONAL),
    ("uses", "typical use"),
    ("torch_default", "PyTorch default vs exact"),
)
"""The columns of every table; :func:`columns` adds those of the optional backends a benchmark measured."""


def columns(table: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """(key, header) of the table's columns: :data:`COLUMNS`, with the speed column of an optional backend
    after the others where the rows carry it (:func:`rows` gives it when the benchmark measured that backend)."""
    extra = [_speed_column(b) for b in OPTIONAL if any(f"speed_{b}" in r for r in table)]
    last = max(i for i, (k, _) in enumerate(COLUMNS) if k.startswith("speed_"))
    return [*COLUMNS[: last + 1], *extra, *COLUMNS[last + 1 :]]


def measured_backends(result: dict[str, Any] | None) -> list[str]:
    """The backends with speed columns: every one but the optional ones, and those where ``result`` holds ratios."""
    return [b for b in BACKENDS if b not in OPTIONAL or speed_ratios(result, b)]


def _num(v: float) -> str:
    if v == math.inf:
        return "∞"
    if v == -math.inf:
        return "−∞"
    text = f"{v:.6g}"
    return "0" if text == "-0" else text.replace("-", "−")


def exact_range(p: Any) -> str:
    """The range from the computed extrema: a bracket where the bound is attained, a parenthesis where not."""
    left = "[" if p.infimum.at is not None and math.isfinite(p.infimum.value) else "("
    right = "]" if p.supremum.at is not None and math.isfinite(p.supremum.value) else ")"
    return f"{left}{_num(p.infimum.value)}, {_num(p.supremum.value)}{right}"


def interval(iv: Any) -> str:
    """A declared interval in the table's notation (∞, −)."""
    left = "[" if iv.lo_closed and math.isfinite(iv.lo) else "("
    right = "]" if iv.hi_closed and math.isfinite(iv.hi) else ")"
    return f"{'≈' if iv.approx else ''}{left}{_num(iv.lo)}, {_num(iv.hi)}{right}"


def minimum(act: Any, p: Any) -> str:
    """The lowest value and where it is attained; or the limit it approaches, and on which side."""
    import numpy as np

    if p.infimum.at is not None and math.isfinite(p.infimum.value):
        return f"{_num(p.infimum.value)} at x = {_num(p.infimum.at)}"
    if not math.isfinite(p.infimum.value):
        return "none (unbounded below)"
    ends = act(np.array([-math.inf, math.inf]))
    side = " as x → −∞" if ends[0] == p.infimum.value else " as x → +∞" if ends[1] == p.infimum.value else ""
    return f"none (→ {_num(p.infimum.value)}{side})"


def gradient_behaviour(act: Any, p: Any) -> str:
    """Vanishing, saturating, dead zone, smooth or kinked: read off the computed properties."""
    import numpy as np

    from .catalog.spec import DISCONTINUOUS, SMOOTH

    parts = []
    if p.lipschitz < 1 - 1e-9:
        parts.append(f"vanishing: f′ ≤ {p.lipschitz:.3g}")
    if p.dead_fraction > 0:
        parts.append(f"dead zone: f′ = 0 on {100 * p.dead_fraction:.3g}% of N(0, 1)")
    far = np.abs(act.derivative(np.array([-100.0, 100.0])))
    left, right = (bool(0 < d < 1e-3) for d in far)
    if left and right:
        parts.append("saturates at both ends")
    elif left or right:
        parts.append(f"saturates as x → {'−∞' if left else '+∞'}")
    if not math.isfinite(p.lipschitz):
        parts.append("f′ unbounded")
    if p.smoothness >= SMOOTH:
        parts.append("smooth")
    else:
        where = ", ".join(_num(k) for k in p.kinks)
        if p.smoothness == DISCONTINUOUS:
            parts.append(f"jumps at x = {where}")
        else:
            parts.append(f"C{p.smoothness}, kink{'s' if len(p.kinks) > 1 else ''} at x = {where}")
    return "; ".join(parts)


# --- speed --------------------------------------------------------------------------------


def _bench_module() -> Any:
    from . import bench

    return bench


def load_or_run_bench(
    path: str | Path | None = None,
    *,
    run_settings: dict[str, Any] | None = None,
    progress: Callable[..., Any] | None = None,
    announce: bool = False,
) -> dict[str, Any]:
    """``path`` if given; else ``actlab-bench.json`` if it exists; else a quick benchmark, saved there for next
    time (where the current folder takes files: it is a cache, so a folder that does not only loses the saving,
    with a note on stderr).  ``announce``: say on stderr, before it starts, that a measurement is starting."""
    import sys

    from ._io import OutputError, check_file

    bench = _bench_module()
    if path is not None:
        return bench.load(path)
    default = Path(bench.DEFAULT_PATH)
    outdated = default.exists() and _outdated(default)
    if default.exists() and not outdated:  # a file of an earlier schema is measured again
        return bench.load(default)
    try:
        check_file(default.absolute())
        unsaved = None
    except OutputError as exc:
        unsaved = str(exc)
    if announce:
        why = f"{default} is from an earlier actlab" if outdated else f"no {default} here"
        keep = f"cannot save it: {unsaved}" if unsaved else f"saved to {default} for next time"
        message = f"actlab: {why}: measuring speed now ({MEASURING}; {keep}; --bench FILE reads a saved one)"
        print(message, file=sys.stderr)
    elif unsaved:
        print(f"actlab: note: the speed measured now is not saved: {unsaved}", file=sys.stderr)
    settings = dict(bench.QUICK) if run_settings is None else dict(run_settings)
    result = bench.run(progress=progress, **settings)
    if not unsaved:
        try:
            bench.save(result, default)
        except OutputError as exc:  # the table is still printed
            print(f"actlab: note: the speed measured now is not saved: {exc}", file=sys.stderr)
    return result


MEASURING = "about a minute, more while PyTorch compiles its kernels for the first time on this machine"
"""How long the quick benchmark of ``actlab table`` takes, as stated before it starts."""


def _outdated(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh).get("schema") in _bench_module().OLD_SCHEMAS
    except (OSError, ValueError, AttributeError):
        return False  # unreadable: bench.load says why


def speed_ratios(result: dict[str, Any] | None, backend: str, pass_: str = SPEED_PASS) -> dict[str, float]:
    """Time per element relative to ReLU's, per activation, as the benchmark measured it: each a
    :class:`actlab.bench.Ratio` (a float, the median of the rounds, with its interval ``lo``–``hi``)."""
    from .errors import ActlabError

    if not result or backend not in result.get("config", {}).get("backends", BACKENDS):
        return {}
    try:
        return dict(_bench_module().speed_vs_relu(result, backend=backend, pass_=pass_))
    except ActlabError:  # relu not measured on this backend: no ratios to give
        return {}


# --- rows and formats ---------------------------------------------------------------------


def rows(bench: dict[str, Any] | None = None, names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One row per catalog activation (or per name in ``names``), every value computed."""
    from .analysis import properties
    from .catalog import registry
    from .catalog.spec import Elementwise
    from .numpy import get

    specs = registry.specs() if names is None else [registry.spec(n) for n in names]
    speeds = {b: speed_ratios(bench, b) for b in measured_backends(bench)}
    out = []
    for spec in specs:
        row: dict[str, Any] = {"name": spec.name, "kind": spec.kind}
        if isinstance(spec, Elementwise):
            act = get(spec.name)
            p = properties(act)
            row.update(range=exact_range(p), minimum=minimum(act, p), gradient=gradient_behaviour(act, p))
        else:
            row.update(range=interval(spec.output_range()), minimum="-", gradient=_vector_gradient(spec))
        for b in speeds:
            ratio = speeds[b].get(spec.name)
            row[f"speed_{b}"] = None if ratio is None else float(ratio)
            lo, hi = getattr(ratio, "lo", None), getattr(ratio, "hi", None)
            row[f"speed_{b}_interval"] = None if lo is None or hi is None else [lo, hi]
        row["uses"] = "; ".join(spec.uses)
        row["torch_default"] = torch_default_text(spec.name)
        out.append(row)
    return out


# --- PyTorch's default (native) kernels against exact ---------------------------------------


def native_gaps(name: str, params: dict[str, Any] | None = None) -> Any:
    """What :func:`actlab.torch.gaps.gaps` measured for ``name``'s native PyTorch kernel; None when there is no
    such kernel at these parameters, or PyTorch is not installed."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return None
    from .torch.gaps import gaps

    return gaps(name, **(params or {}))


def torch_default_text(name: str) -> str:
    """The table's cell: the measured differences in a few words; "-" where PyTorch's default path runs the
    catalog's own formulas (no native kernel) or PyTorch is not installed."""
    g = native_gaps(name)
    return "-" if g is None else g.summary()


def _vector_gradient(spec: Any) -> str:
    if spec.kind == "gated":
        return f"value × {spec.gate}(gate): the gate's gradient behaviour on one half"
    if spec.kind == "pooled":
        return "gradient to the largest piece only; piecewise linear"
    return "Jacobian of the whole vector; saturates as one input dominates"


def speed_text(v: float | None, interval: Sequence[float] | None = None, spread: str | None = None) -> str:
    """A time ratio as text: ``"1.52×"``, or ``"≈ 1"`` where its interval (``v.lo``–``v.hi`` of a
    :class:`actlab.bench.Ratio`, or ``interval``) holds 1; ``spread`` as in :meth:`actlab.bench.Ratio.text`."""
    if v is None or not math.isfinite(v):
        return "-"
    lo, hi = interval if interval is not None else (getattr(v, "lo", None), getattr(v, "hi", None))
    return _bench_module().Ratio(float(v), lo, hi).text(spread=spread)


def _speed_cell(row: dict[str, Any], key: str) -> str:
    return speed_text(row[key], row.get(f"{key}_interval"))


def cells(row: dict[str, Any], cols: Sequence[tuple[str, str]] | None = None) -> list[str]:
    """The row's cells as text, in the order of ``cols`` (default: :func:`columns` of this row)."""
    return [_speed_cell(row, k) if k.startswith("speed_") else str(row[k]) for k, _ in cols or columns([row])]


def to_markdown(table: list[dict[str, Any]]) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    cols = columns(table)
    header = [h for _, h in cols]
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---:" if k.startswith("speed_") else "---" for k, _ in cols) + "|")
    lines += ["| " + " | ".join(esc(c) for c in cells(r, cols)) + " |" for r in table]
    return "\n".join(lines)


def to_csv(table: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    cols = columns(table)
    writer.writerow([k for k, _ in cols])
    for r in table:
        writer.writerow([_csv_cell(r, k) for k, _ in cols])
    return buf.getvalue()


def _csv_cell(row: dict[str, Any], key: str) -> Any:
    v = row[key]
    if v is None:
        return ""
    if key.startswith("speed_") and _speed_cell(row, key) == "≈ 1":  # not told apart from ReLU
        return "≈ 1"
    return v


def to_json(table: list[dict[str, Any]]) -> str:
    clean = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()} for r in table]
    return json.dumps(clean, indent=2, ensure_ascii=False)


def render(table: list[dict[str, Any]], fmt: str) -> str:
    return {"markdown": to_markdown, "csv": to_csv, "json": to_json}[fmt](table)


# --- command ------------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    import sys

    from ._progress import bar, reporter

    with bar(1, "measuring speed", delay=0.5) as b:  # drawn only when a benchmark runs (no actlab-bench.json yet)
        result = load_or_run_bench(
            args.bench, progress=reporter(b, "measuring speed (no actlab-bench.json yet): "), announce=True
        )
    text = render(rows(result), "json" if args.json else args.format)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "table",
        help="the comparison table (range, minimum, gradient behaviour, speed, use), computed",
        description="The comparison table of every activation: exact range and minimum, gradient behaviour, "
        "speed measured against ReLU on this machine (forward + backward), typical use. Speed comes from "
        "--bench FILE, else actlab-bench.json, else a quick benchmark run now (and saved there).",
    )
    p.add_argument("--format", choices=FORMATS, default="markdown", help="markdown (default), csv or json")
    p.add_argument("--bench", metavar="FILE", help="benchmark results to read (default: actlab-bench.json)")
    p.add_argument("--json", action="store_true", help="the same as --format json")
    p.set_defaults(run=_run)
