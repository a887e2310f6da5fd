"""The ``actlab`` command: list, show and evaluate the catalog's activations, and measure their accuracy.

Every subcommand has ``--help`` and ``--json``.  Bad input — an unknown name, a bad
parameter, a number that does not parse — prints one line to stderr and exits 2.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import math
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from . import __version__
from ._text import table as _table
from .catalog import registry
from .catalog.spec import DISCONTINUOUS, SMOOTH, Elementwise, Spec, resolve
from .errors import ActlabError, suggest
from .numpy import Activation, get

SAMPLE_POINTS = (-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0)
SAMPLE_VECTOR = (2.0, 1.0, 0.1, -1.0)
DTYPES = ("float16", "float32", "float64")


class UsageError(ActlabError):
    """A command line that cannot be acted on."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors, and -1e3, -inf and -nan read as numbers, not options."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-(\d|\.\d|inf(inity)?$|nan$)", re.IGNORECASE)

    def error(self, message: str) -> Any:  # argparse's own exits print usage + message
        raise UsageError(f"{self.prog}: {message}")


# --- formatting ----------------------------------------------------------------------------


def _jsonable(v: Any) -> Any:
    """Plain JSON: non-finite floats as the strings "inf", "-inf", "nan"; arrays as lists."""
    if isinstance(v, np.ndarray):
        return [_jsonable(u) for u in v.tolist()]
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else ("nan" if math.isnan(f) else ("inf" if f > 0 else "-inf"))
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, dict):
        return {k: _jsonable(u) for k, u in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(u) for u in v]
    return v


def _emit_json(obj: Any) -> None:
    print(json.dumps(_jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False))


def _smoothness(k: int) -> str:
    if k == DISCONTINUOUS:
        return "discontinuous"
    return "C∞ (smooth)" if k >= SMOOTH else f"C{k}"


def _params_text(spec: Spec) -> str:
    return ", ".join(f"{q.name}={q.default!r}" for q in spec.params) or "-"


def _describe(spec: Spec, act: Activation | None = None, *, compute: bool = True) -> dict[str, Any]:
    """Everything the catalog knows of one activation, as plain data (the JSON of `show`).

    ``act`` binds the parameters (the defaults when None).  A built-in entry's declared facts are
    tested against computation and are given as they are.  A user's entry (:func:`registry.is_builtin`
    is False) gets what is computed from its formulas (``compute``; `list` skips it to stay fast),
    the declarations that differ from the field defaults under ``declared``, those the computation
    contradicts under ``contradicted``, and ``accuracy: null``: nothing declared by default is stated.
    """
    p = act.bound if act is not None else spec.defaults()
    out: dict[str, Any] = {
        "name": spec.name,
        "title": spec.title,
        "summary": spec.summary,
        "kind": spec.kind,
        "builtin": registry.is_builtin(spec.name),
        "aliases": list(spec.aliases),
        "formula": spec.formula_text(p),
        "derivative": spec.derivative_text(p),
        "parameters": [
            {
                "name": q.name,
                "default": q.default,
                "valid": q.describe(),
                "doc": q.doc,
                "learnable": q.learnable,
            }
            for q in spec.params
        ],
        "range": spec.output_range(p).as_dict(),
        "year": spec.year,
        "paper": None
        if spec.paper is None
        else {"title": spec.paper.title, "authors": spec.paper.authors, "year": spec.paper.year, "url": spec.paper.url},
        "uses": list(spec.uses),
        "notes": list(spec.notes),
    }
    if not out["builtin"]:  # a user's range is shown where it is declared or computed, never by default
        declared = _declared_range(spec, p)
        out["range"] = None if declared is None else {**declared.as_dict(), "declared": True}
    if isinstance(spec, Elementwise) and not out["builtin"]:
        out.update(_user_facts(spec, act if act is not None else get(spec.name), compute))
        if _is_formula(spec):
            from .formula import facts

            out["formula_activation"] = facts.describe(spec, measure=compute, act=act)
    elif isinstance(spec, Elementwise):
        r = spec.output_range(p)
        out["properties"] = {
            "monotonic": bool(resolve(spec.monotonic, p)),
            "smoothness": _smoothness(resolve(spec.smoothness, p)),
            "bounded_below": r.bounded_below,
            "bounded_above": r.bounded_above,
            "zero_centred": bool(resolve(spec.zero_centred, p)),
            "self_gated": spec.self_gated,
        }
        out["kinks"] = [{"x": k.x, "derivative": k.derivative, "rule": k.rule} for k in spec.kink_points(p)]
        out["float64_accuracy_ulps"] = {w: spec.float64_ulps.get(w, 4.0) for w in ("f", "f'")}
    return out


def _is_formula(spec: Spec) -> bool:
    """True for a formula activation (without importing SymPy for other entries)."""
    return hasattr(spec, "formula_source")


_DECLARABLE = ("range", "monotonic", "smoothness", "zero_centred", "self_gated", "kinks", "float64_ulps")


def _declarations(spec: Elementwise, p: Any) -> dict[str, Any]:
    """The facts a user's entry declares: those whose field differs from the dataclass default
    (a field left at its default was never stated, so it is not shown as a fact)."""
    import dataclasses

    defaults = {
        f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        for f in dataclasses.fields(Elementwise)
        if f.name in _DECLARABLE
    }
    out: dict[str, Any] = {}
    for name in _DECLARABLE:
        raw = getattr(spec, name)
        if not callable(raw) and raw == defaults[name]:
            continue
        if name == "range":
            out[name] = _declared_range(spec, p)
        elif name == "kinks":
            out[name] = spec.kink_points(p)
        elif name == "smoothness":
            out[name] = int(resolve(raw, p))
        elif name == "float64_ulps":
            out[name] = dict(raw)
        else:
            out[name] = bool(resolve(raw, p))
    return out


def _odd(act: Activation) -> bool:
    """f(-x) = -f(x) on the scan grid of :mod:`actlab.analysis.properties` (x in [-32, 32], step 1/128)."""
    from .analysis.properties import SPAN, STEP

    x = np.arange(0.0, SPAN + STEP / 2, STEP)
    with np.errstate(all="ignore"):
        y, y_neg = np.asarray(act(x), dtype=float), np.asarray(act(-x), dtype=float)
    both = np.isfinite(y) & np.isfinite(y_neg)
    # an odd formula may round its two halves differently: a few ulp of slack
    slack = 8 * np.finfo(float).eps * np.maximum(np.abs(y), np.abs(y_neg)) + 1e-300
    return bool(np.array_equal(np.isfinite(y), np.isfinite(y_neg)) and np.all(np.abs(y + y_neg)[both] <= slack[both]))


def _user_facts(spec: Elementwise, act: Activation, compute: bool) -> dict[str, Any]:
    """What `show` states of a user's elementwise entry: computed facts, declarations marked, contradictions."""
    from .catalog.spec import Interval

    declared = _declarations(spec, act.bound)
    facts: dict[str, Any] = {
        "computed": compute,
        "declared": {
            k: (v.as_dict() if k == "range" else [_kink(x) for x in v] if k == "kinks" else v)
            for k, v in declared.items()
        },
        "contradicted": [],
        "accuracy": None,
    }
    if "smoothness" in declared:
        facts["declared"]["smoothness"] = _smoothness(declared["smoothness"])
    if not compute:
        facts["range"] = None if "range" not in declared else {**facts["declared"]["range"], "declared": True}
        keys = ("monotonic", "smoothness", "zero_centred", "self_gated")
        facts["properties"] = {k: facts["declared"][k] for k in keys if k in declared}
        facts["kinks"] = facts["declared"].get("kinks", [])
        return facts

    from .analysis.properties import properties

    pr = properties(act)
    lo, hi = pr.infimum, pr.supremum

    def rounded(v: float) -> bool:
        return not math.isfinite(v) or v == round(v, 6)

    computed = Interval(
        lo.value,
        hi.value,
        lo_closed=lo.at is not None,
        hi_closed=hi.at is not None,
        approx=not (rounded(lo.value) and rounded(hi.value)),
    )
    facts["range"] = {**computed.as_dict(), "infimum_at": lo.at, "supremum_at": hi.at}
    odd = _odd(act)
    facts["properties"] = {
        "monotonic": pr.monotonic,
        "smoothness": _smoothness(pr.smoothness),
        "bounded_below": math.isfinite(lo.value),
        "bounded_above": math.isfinite(hi.value),
        "zero_centred": odd,
    }
    if "self_gated" in declared:  # nothing computes it: it is shown as declared
        facts["properties"]["self_gated"] = declared["self_gated"]
    with np.errstate(all="ignore"):
        facts["kinks"] = [
            {"x": x, "derivative": float(act.derivative(x)), "rule": "found by the scan"} for x in pr.kinks
        ]
    found = {"monotonic": pr.monotonic, "smoothness": pr.smoothness, "zero_centred": odd}
    for key, value in found.items():
        if key not in declared:
            continue
        # the scan sees jumps of f, f' and f'' (classes -1, 0, 1): C2 and above look smooth to it
        if (min(declared[key], 2) != min(value, 2)) if key == "smoothness" else declared[key] != value:
            shown = _smoothness if key == "smoothness" else bool
            facts["contradicted"].append({"property": key, "declared": shown(declared[key]), "computed": shown(value)})
    if "range" in declared:
        r = declared["range"]
        slack = 1e-3 if r.approx else 1e-9
        for end in (lo, hi):
            inside = end.value in r or any(
                math.isfinite(b) and abs(end.value - b) <= slack * max(1.0, abs(b)) for b in (r.lo, r.hi)
            )
            if not inside and not (math.isinf(end.value) and end.at is None and end.value in (r.lo, r.hi)):
                where = f"at x = {end.at:.6g}" if end.at is not None else "as x → ±∞"
                facts["contradicted"].append(
                    {"property": "range", "declared": str(r), "computed": f"f reaches {end.value:.6g} {where}"}
                )
    for k in declared.get("kinks", ()):
        if not any(abs(k.x - x) <= 2**-6 for x in pr.kinks):
            facts["contradicted"].append(
                {"property": "kinks", "declared": f"x = {k.x:g}", "computed": "no jump of f, f' or f'' there"}
            )
    return facts


def _kink(k: Any) -> dict[str, Any]:
    return {"x": k.x, "derivative": k.derivative, "rule": k.rule}


def _user_lines(d: dict[str, Any]) -> list[tuple[str, str]]:
    """The range, properties, kinks and accuracy lines of `show` for a user's elementwise entry."""
    declared, contradicted = d["declared"], {c["property"]: c for c in d["contradicted"]}

    def mark(key: str) -> str:
        if key in contradicted:
            declared_value = contradicted[key]["declared"]
            shown = _yes(declared_value) if isinstance(declared_value, bool) else declared_value
            return f"(computed; CONTRADICTS the declared {shown})"
        return "(computed, as declared)" if key in declared else "(computed)"

    out: list[tuple[str, str]] = []
    r = d["range"]
    if r is not None and d["computed"]:
        notes = ["computed"]
        if "range" in declared:
            notes.append(f"declared {declared['range']['text']}")
        for side, at in (("minimum", r["infimum_at"]), ("maximum", r["supremum_at"])):
            if at is not None:
                notes.append(f"{side} at x = {at:.6g}")
        out.append(("range", f"{r['text']} ({'; '.join(notes)})"))
        if "range" in contradicted:
            out.append(
                (
                    "",
                    f"CONTRADICTED: declared {contradicted['range']['declared']}, "
                    f"but {contradicted['range']['computed']}",
                )
            )
    elif r is not None:
        out.append(("range", f"{r['text']} (declared)"))
    pr = d["properties"]
    parts = []
    if d["computed"]:
        parts.append(f"monotonic: {_yes(pr['monotonic'])} {mark('monotonic')}")
        parts.append(f"{pr['smoothness']} {mark('smoothness')}")
        parts.append(f"bounded below: {_yes(pr['bounded_below'])}, above: {_yes(pr['bounded_above'])} (computed)")
        parts.append(f"zero-centred: {_yes(pr['zero_centred'])} {mark('zero_centred')}")
        if "self_gated" in pr:
            parts.append(f"self-gated: {_yes(pr['self_gated'])} (declared; not computed)")
    else:
        labels = {"monotonic": "monotonic", "zero_centred": "zero-centred", "self_gated": "self-gated"}
        for key, value in pr.items():
            parts.append(f"{value} (declared)" if key == "smoothness" else f"{labels[key]}: {_yes(value)} (declared)")
    if parts:
        out.append(("properties", "; ".join(parts)))
    for i, k in enumerate(d["kinks"]):
        out.append(("kinks" if i == 0 else "", f"x = {k['x']:g}: f' = {k['derivative']:.6g} ({k['rule']})"))
    if d["computed"]:
        for k in declared.get("kinks", ()):
            status = (
                "CONTRADICTED: no jump found there"
                if any(c["property"] == "kinks" and c["declared"] == f"x = {k['x']:g}" for c in d["contradicted"])
                else "found"
            )
            out.append(
                (
                    "kinks" if not d["kinks"] and k is declared["kinks"][0] else "",
                    f"x = {k['x']:g}: f' = {k['derivative']:.6g} ({k['rule']}) (declared; {status})",
                )
            )
    if "formula_activation" in d:
        from .formula import facts

        return out + facts.lines(d["formula_activation"])
    if "float64_ulps" in declared:
        stated = ", ".join(f"{w} ≤ {u:g}" for w, u in declared["float64_ulps"].items())
        out.append(
            (
                "accuracy",
                f"declared float64 bound {stated} ulp × max(1, κ); not measured: "
                f"`actlab accuracy {d['name']} --quick` measures it in seconds",
            )
        )
    else:
        out.append(("accuracy", f"not measured: `actlab accuracy {d['name']} --quick` measures it in seconds"))
    return out


def _yes(b: bool) -> str:
    return "yes" if b else "no"


def _torch_default(spec: Spec, act: Activation) -> dict[str, Any] | None:
    """Where PyTorch's default (native) kernel differs from exact, as measured (None: no such kernel, or no
    PyTorch): the lines a reader sees, and each finding as data."""
    from .table import native_gaps

    g = native_gaps(spec.name, act.params)
    if g is None:
        return None
    return {
        "same": g.same,
        "dtypes": list(g.dtypes),
        "differences": g.lines(),
        "not_measured": list(g.skipped),
        "findings": [
            {"dtype": f.dtype, "what": f.what, "kind": f.kind, "x": f.x, "got": f.got, "exact": f.exact, "ulp": f.ulp}
            | ({"row": f.row} if f.row else {})
            for f in g.findings
        ],
    }


def _show_text(spec: Spec, act: Activation) -> str:
    d = _describe(spec, act)
    names = spec.name + (f"; aliases: {', '.join(spec.aliases)}" if spec.aliases else "")
    lines = [f"{spec.title}  ({names})", spec.summary, ""]
    field = "{:<12}{}".format
    lines.append(field("kind", spec.kind))
    lines.append(field("formula", d["formula"]))
    lines.append(field("derivative", d["derivative"]))
    if spec.params:
        for i, q in enumerate(spec.params):
            lines.append(field("parameters" if i == 0 else "", f"{q.name} = {q.default!r}: {q.doc} ({q.describe()})"))
    if "computed" in d:
        lines += [field(k, v) for k, v in _user_lines(d)]
    elif d["builtin"]:
        lines.append(field("range", d["range"]["text"]))
    elif d["range"] is not None:
        lines.append(field("range", f"{d['range']['text']} (declared)"))
    if "properties" in d and "computed" not in d:
        pr = d["properties"]
        lines.append(
            field(
                "properties",
                f"monotonic: {_yes(pr['monotonic'])}; {pr['smoothness']}; "
                f"bounded below: {_yes(pr['bounded_below'])}, above: {_yes(pr['bounded_above'])}; "
                f"zero-centred: {_yes(pr['zero_centred'])}; self-gated: {_yes(pr['self_gated'])}",
            )
        )
        for i, k in enumerate(d["kinks"]):
            lines.append(field("kinks" if i == 0 else "", f"x = {k['x']:g}: f' = {k['derivative']:.6g} ({k['rule']})"))
    if "float64_accuracy_ulps" in d:
        f_ulps, df_ulps = d["float64_accuracy_ulps"].values()
        lines.append(
            field("accuracy", f"float16/32: ≤ 1 ulp; float64: f ≤ {f_ulps:g}, f' ≤ {df_ulps:g} ulp × max(1, κ)")
        )
    gaps = _torch_default(spec, act)
    if gaps is not None:
        dtypes = ", ".join(gaps["dtypes"])
        if gaps["same"]:
            same = f"default (native) kernel: no difference from exact on the grid, ±inf, NaN ({dtypes})"
            lines.append(field("PyTorch", same))
        else:
            lines.append(field("PyTorch", "default (native) kernel, measured against the exact NumPy reference:"))
            lines += [field("", line) for line in gaps["differences"]]
        lines += [field("", f"not measured in {why}") for why in gaps["not_measured"]]
    lines.append(field("year", spec.year if spec.year is not None else "-"))
    if spec.paper is not None:
        lines.append(field("paper", spec.paper.cite()))
    lines.append(field("uses", "; ".join(spec.uses)))
    for i, note in enumerate(spec.notes):
        lines.append(field("notes" if i == 0 else "", note))
    lines.append("")
    if isinstance(spec, Elementwise):
        xs = np.array(SAMPLE_POINTS)
        rows = [(f"{x:g}", f"{y:.10g}", f"{dy:.10g}") for x, y, dy in zip(xs, act(xs), act.derivative(xs))]
        lines.append(_table(rows, ("x", "f(x)", "f'(x)")))
    else:
        x = np.array(SAMPLE_VECTOR)
        lines.append(f"f({np.array2string(x)}) = {np.array2string(act(x), precision=6)}")
        lines.append("Jacobian (rows: outputs, columns: inputs):")
        lines.append(np.array2string(act.jacobian(x), precision=6))
    return "\n".join(lines)


# --- commands ------------------------------------------------------------------------------


def _cmd_list(args: argparse.Namespace) -> int:
    specs = registry.specs(args.kind)
    if args.json:  # a user's entry: its declarations only (computing its properties takes a show)
        _emit_json([_describe(s, compute=False) for s in specs])
        return 0
    rows = [(s.name, s.kind, _params_text(s), _list_range(s), str(s.year or "-"), ", ".join(s.aliases)) for s in specs]
    print(_table(rows, ("name", "kind", "parameters", "range", "year", "aliases")))
    print(f"\n{len(specs)} activations. `actlab show NAME` tells more of one.")
    return 0


def _list_range(spec: Spec) -> str:
    """The range column of `list`: a user's entry shows a range only where it declares one."""
    if registry.is_builtin(spec.name):
        return str(spec.output_range())
    declared = _declared_range(spec, spec.defaults())
    return f"{declared} (declared)" if declared is not None else "not declared"


def _declared_range(spec: Spec, p: Any) -> Any:
    """The range a spec declares, or None where it left the field at its default (every real number)."""
    from .catalog.spec import REAL

    return None if not callable(spec.range) and spec.range == REAL else spec.output_range(p)


def _parse_params(spec: Spec, items: Sequence[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--param takes NAME=VALUE; got {item!r}")
        params[key.strip()] = spec.param(key.strip()).parse(text, spec.name)
    return params


def _cmd_define(args: argparse.Namespace) -> int:
    from .formula import user

    if args.list:
        entries = {n: {"formula": s.text, "params": dict(s.params), "learnable": list(s.learnable)}
                   for n, s in user.saved().items()}  # fmt: skip
        if args.json:
            _emit_json({"file": str(user.path()), "formulas": entries})
        elif not entries:
            print(f"the user catalog ({user.path()}) holds no formula; `actlab define NAME FORMULA` adds one")
        else:
            rows = [
                (n, e["formula"], ", ".join(f"{k}={v:g}" for k, v in e["params"].items())) for n, e in entries.items()
            ]
            print(_table(rows, ("name", "formula", "parameters")))
            print(f"\n{user.path()}")
        return 0
    if args.name is None:
        raise UsageError("define needs NAME and FORMULA (or --list, or NAME --remove)")
    if args.remove:
        file = user.remove(args.name)
        print(f"removed {args.name} from {file}")
        return 0
    if args.formula is None:
        raise UsageError(f"define {args.name} needs the formula, e.g. actlab define {args.name} 'x*sigmoid(x)'")
    from .formula import define

    name = args.name.strip().lower()
    if registry.is_builtin(name) if name in registry.names(aliases=True) else False:
        raise UsageError(f"{name} is one of the catalog's own activations; choose another name")
    params: dict[str, float] = {}
    for item in args.param:
        key, sep, text = item.partition("=")
        try:
            params[key.strip()] = float(text)
        except ValueError:
            raise UsageError(f"--param takes NAME=NUMBER; got {item!r}") from None
        if not sep or not key.strip():
            raise UsageError(f"--param takes NAME=NUMBER; got {item!r}")
    probe = define(args.formula, params=params, learnable=False, stabilise=not args.as_written, register=False)
    fixed = set(args.fixed)
    unknown = fixed - {q.name for q in probe.params}
    if unknown:
        raise UsageError(f"--fixed {sorted(unknown)[0]}: the formula has no such parameter")
    learnable = tuple(q.name for q in probe.params if q.name not in fixed)
    spec = define(args.formula, name, params, learnable=learnable, stabilise=not args.as_written, replace=True)
    file = user.save(name, spec.formula_source)
    if args.json:
        _emit_json({"file": str(file), **_describe(spec, get(spec.name))})
    else:
        print(_show_text(spec, get(spec.name)))
        print(f"\nsaved as {name} in {file}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    spec = registry.spec(args.name)
    act = get(spec.name, **_parse_params(spec, args.param))
    if args.json:
        d = _describe(spec, act)
        if isinstance(spec, Elementwise):
            xs = np.array(SAMPLE_POINTS)
            d["values"] = {"x": xs, "f": act(xs), "df": act.derivative(xs)}
        else:
            x = np.array(SAMPLE_VECTOR)
            d["values"] = {"x": x, "f": act(x), "jacobian": act.jacobian(x)}
        gaps = _torch_default(spec, act)
        if gaps is not None:
            d["pytorch_default"] = gaps
        _emit_json(d)
    else:
        print(_show_text(spec, act))
    return 0


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"cannot read {text!r} as a number") from None


def _cmd_eval(args: argparse.Namespace) -> int:
    spec = registry.spec(args.name)
    act = get(spec.name, **_parse_params(spec, args.param))
    x = np.array([_number(t) for t in args.x], dtype=args.dtype)
    if isinstance(spec, Elementwise):
        y = act.derivative(x) if args.derivative else act(x)
        label = "f'(x)" if args.derivative else "f(x)"
        if args.json:
            _emit_json({"name": spec.name, "params": act.params, "dtype": args.dtype, "x": x, label: y})
        else:
            print(_table([(str(a), str(b)) for a, b in zip(x, y)], ("x", label)))
        return 0
    y = act.jacobian(x) if args.derivative else act(x)
    label = "jacobian" if args.derivative else "f(x)"
    if args.json:
        _emit_json({"name": spec.name, "params": act.params, "dtype": args.dtype, "x": x, label: y})
    else:
        print(f"{label} = {np.array2string(y, precision=17 if args.dtype == 'float64' else 8)}")
    return 0


def _worst_record(w: Any) -> dict[str, Any]:
    """One accuracy measurement (an ``accuracy.Worst``) as a JSON record."""
    return {
        "name": w.name,
        "dtype": w.dtype,
        "what": w.what,
        "max_ulp": w.ulp,
        "max_ulp_at": w.ulp_x,
        "max_ulp_per_condition": w.scaled,
        "max_ulp_per_condition_at": w.scaled_x,
        "bound": w.bound,
        "bound_is_default": w.default_bound,
        "points": w.points,
        "nonfinite_points": w.nonfinite,
        "nonfinite_nearest_zero": w.nonfinite_x,
        "passed": w.passed,
    }


def _nonfinite_line(w: Any) -> str:
    """What a measurement with ±inf/NaN results where the exact value is finite means, in one line."""
    what = "f′" if w.what == "f'" else "f"
    return (
        f"{w.name} {w.dtype}: {what} is ±inf or NaN at {w.nonfinite} of {w.points} points where its exact value is "
        f"finite (nearest 0: x = {w.nonfinite_x:.6g}): an intermediate result of the formula overflows there "
        f"(inf·0 and inf − inf give NaN); its max ulp is inf"
    )


def _with_progress(names: list[str] | None, dtypes: Sequence[str], measure: Any) -> Iterator[Any]:
    """What ``measure(name)`` yields for each activation in turn, under a progress bar of one step per
    activation and dtype (on a terminal only), whose description is the activation being measured."""
    from ._progress import bar

    names = names or list(registry.names())
    with bar(len(names) * len(dtypes), unit="measurement") as b:
        for name in names:
            b.set_description_str(f"accuracy of {name}")
            seen: set[str] = set()
            for item in measure(name):
                yield item
                if item.dtype not in seen:  # one step per dtype, however many measurements it takes
                    seen.add(item.dtype)
                    b.update(1)
            b.update(len(dtypes) - len(seen))  # dtypes an entry has none of (a vector kind in --fast)


def _cmd_accuracy(args: argparse.Namespace) -> int:
    from . import accuracy

    names = [registry.spec(n).name for n in args.names] or None
    if args.quick and args.dense:
        raise UsageError("--quick (a coarse grid) and --dense (a denser one) exclude each other")
    if args.backend == "torch":
        if args.fast:
            raise UsageError(
                "--fast is the NumPy backend's fast mode; --backend torch without --exact measures its default kernels"
            )
        if args.quick:
            raise UsageError("--quick is for the NumPy and JAX backends")
        return _accuracy_torch(args, names)
    if args.backend == "jax":
        if args.fast or args.exact:
            flag = "--fast" if args.fast else "--exact"
            raise UsageError(f"{flag} is for another backend; --backend jax measures actlab.jax as it runs")
        return _accuracy_jax(args, names)
    if args.exact:
        raise UsageError("--exact is for --backend torch (the NumPy backend is always exact)")
    if "bfloat16" in args.dtype:
        raise UsageError("NumPy has no bfloat16; measure it with --backend torch or --backend jax")
    rows, records, failed, notes, defaults = [], [], 0, [], False
    for w in _with_progress(
        names,
        args.dtype,
        lambda n: accuracy.report([n], args.dtype, dense=args.dense, fast=args.fast, quick=args.quick),
    ):
        records.append(_worst_record(w))
        failed += not w.passed and not args.fast
        defaults = defaults or w.default_bound
        if w.nonfinite:
            notes.append(_nonfinite_line(w))
        if not args.json:
            rows.append(
                (
                    w.name,
                    w.dtype,
                    w.what,
                    f"{w.ulp:.3g}",
                    f"{w.ulp_x:.6g}",
                    f"{w.scaled:.3g}",
                    f"{w.bound:g}" + (" (default)" if w.default_bound else ""),
                    "-" if args.fast else "ok" if w.passed else "FAIL",
                )
            )
    header = ("name", "dtype", "of", "max ulp", "at x", "max ulp/max(1,κ)", "bound", "")
    footer = (
        "ulp: error in units in the last place against mpmath at 50 digits. κ = |x g'/g| is the "
        "condition number of the function g evaluated; float64 passes when ulp/max(1,κ) <= bound, "
        "float16/32 when ulp <= 1."
        + (" --fast: measured only (the fast mode trades these bounds for speed)." if args.fast else "")
        + (
            " (default): the catalog's default bound, which this entry does not state; it is judged "
            "against it, not against a bound of its own."
            if defaults
            else ""
        )
        + (" --quick: a coarse grid (about a fifth of the points); the full grid is the default." if args.quick else "")
    )
    return _accuracy_out(args, records, rows, header, notes, footer, failed)


def _accuracy_out(
    args: argparse.Namespace,
    records: list[dict[str, Any]],
    rows: list[tuple[str, ...]],
    header: tuple[str, ...],
    notes: list[str],
    footer: str,
    failed: int,
) -> int:
    """The end of every ``actlab accuracy``: the records as JSON, or the table, its notes and what it measured;
    exit 1 when a bound that is held failed."""
    if args.json:
        _emit_json(records)
    else:
        print(_table(rows, header))
        for line in notes:
            print(line)
        print("\n" + footer)
    return 1 if failed else 0


def _error(w: Any) -> float:
    """The figure of an ``accuracy.Worst`` held against its bound: ulp/max(1, κ) in float64, ulp otherwise."""
    return w.scaled if w.dtype == "float64" else w.ulp


def _cell(ws: Sequence[Any] | None, i: int) -> str:
    """The i-th measurement's :func:`_error` for a table cell, "-" where there is none."""
    return "-" if ws is None or i >= len(ws) else f"{_error(ws[i]):.3g}"


def _accuracy_torch(args: argparse.Namespace, names: list[str] | None) -> int:
    from . import accuracy

    try:
        import torch  # noqa: F401
    except ImportError:
        raise UsageError("--backend torch needs PyTorch: pip install 'actlab[torch]'") from None

    rows, records, failed = [], [], 0
    from .torch._ops import compiling_expected

    def measured(name: str) -> Iterator[accuracy.TorchRow]:
        with compiling_expected():  # the fused kernels measured compile; the bar names the activation at work
            yield from accuracy.torch_report([name], args.dtype, exact=args.exact, dense=args.dense)

    for r in _with_progress(names, args.dtype, measured):
        worst = max(r.measurements, key=_error)
        enforced = args.exact or r.kernel == "float64"  # the default float32 kernels are measured only
        failed += enforced and not r.passed
        for fused, ws in ((False, r.unfused), (True, r.fused)):
            for w in ws or ():
                records.append({**_worst_record(w), "kernel": r.kernel, "fused": fused, "copies_agree": r.copies_agree})
        if not args.json:
            status = ("ok" if r.passed else "FAIL") if enforced else "-"
            rows.append(
                (
                    r.name,
                    r.dtype,
                    r.kernel,
                    _cell(r.unfused, 0),
                    _cell(r.unfused, 1),
                    _cell(r.fused, 0),
                    _cell(r.fused, 1),
                    f"{worst.ulp_x if r.dtype != 'float64' else worst.scaled_x:.6g}",
                    f"{worst.bound:g}",
                    status + ("" if r.copies_agree else " (copies differ)"),
                )
            )
    header = ("name", "dtype", "kernel", "f", "f'", "fused f", "fused f'", "worst at x", "bound", "")
    footer = (
        "actlab.torch" + (" with exact=True" if args.exact else "") + " against mpmath at 50 digits, in ulp "
        "(float64: ulp/max(1,κ)); f' through autograd's backward. kernel: native (PyTorch's own), or the "
        "working precision of the catalog formula. fused: the grid repeated past the fusion threshold "
        "(the compiled kernel; '-' where nothing is fused); '(copies differ)' if its copies did not all "
        "give the same bits (the worse is shown). Bounds are enforced for float64 kernels "
        "(exact=True, float64 input); the float32 kernels and native ones are measured only."
    )
    return _accuracy_out(args, records, rows, header, [], footer, failed)


def _flush_line(dtypes: Sequence[str]) -> str:
    """What XLA does with subnormals in the working types of ``dtypes``, as measured now."""
    from . import accuracy

    working = sorted({"float64" if d == "float64" else "float32" for d in dtypes if accuracy.flush_limit(d)})
    said = []
    for work in working:
        inputs, results = accuracy.xla_flushes_subnormals(work)
        said.append(
            f"{work}: subnormal inputs {'read as 0' if inputs else 'kept'}, "
            f"subnormal results {'returned as 0' if results else 'kept'}"
        )
    return ("XLA here (measured): " + "; ".join(said) + ".") if said else ""


def _accuracy_jax(args: argparse.Namespace, names: list[str] | None) -> int:
    """``actlab accuracy --backend jax``: actlab.jax against the oracle (``accuracy.jax_report``)."""
    from . import accuracy

    try:
        import jax  # noqa: F401
    except ImportError:
        raise UsageError("--backend jax needs JAX: pip install 'actlab[jax]'") from None

    def measured(name: str) -> Iterable[accuracy.JaxRow]:
        return accuracy.jax_report([name], args.dtype, dense=args.dense, quick=args.quick)

    rows, records, notes, failed = [], [], [], 0
    for r in _with_progress(names, args.dtype, measured):
        failed += not r.passed
        for zone, ws in (("normal", r.measured), ("subnormal", r.subnormal)):
            for w in ws:
                held = r.enforced and zone == "normal"  # "passed" is the verdict only where it is held
                extra = {"computed_in": r.working, "zone": zone, "enforced": held, "special": list(r.special)}
                records.append({**_worst_record(w), **extra})
        notes += [f"{r.name} {r.dtype}: {s}" for s in r.special]
        notes += [_nonfinite_line(w) for w in r.measured if w.nonfinite]
        if not args.json:
            worst = max(r.measured, key=_error)
            status = ("ok" if r.passed else "FAIL") if r.enforced else ("FAIL" if r.special else "-")
            rows.append(
                (
                    r.name,
                    r.dtype,
                    r.working,
                    _cell(r.measured, 0),
                    _cell(r.measured, 1),
                    f"{worst.ulp_x if r.dtype != 'float64' else worst.scaled_x:.6g}",
                    f"{worst.bound:g}" if r.enforced else "-",
                    _cell(r.subnormal, 0),
                    _cell(r.subnormal, 1),
                    "ok" if not r.special else f"{len(r.special)} wrong",
                    status,
                )
            )
    header = ("name", "dtype", "computed in", "f", "f'", "worst at x", "bound", "subnormal f", "subnormal f'")
    header += ("±inf, NaN", "")
    footer = (
        "actlab.jax against mpmath at 50 digits, in ulp (float64: ulp/max(1,κ)); f and f' under jax.jit, f' as "
        "jax.vmap(jax.grad(f)) (the catalog's derivative). float16 and bfloat16 are computed in float32 and rounded "
        "once (held to 1 ulp), float64 in float64 (64-bit types on for the measurement; held to twice the NumPy "
        "reference's bound, as XLA's float64 exp and expm1 are up to 1.3 and 3.4 ulp off where NumPy's are within "
        "0.5 and 0.7). float32 is "
        "computed in float32 (XLA's exp, tanh, erfc) and measured only. subnormal: the points where x is below the "
        "working type's smallest normal or the exact value below 2^7 times it, measured apart and not held to the "
        "bounds, as XLA on CPU reads subnormal inputs as 0 and flushes subnormal results, intermediate ones "
        "included (x·σ(x) with σ(x) subnormal), to 0. ±inf, NaN: f and f' at -inf, +inf "
        "and NaN against the exact limits and NaN (a wrong one fails the row). "
        + _flush_line(args.dtype)
        + (" --quick: a coarse grid (about a fifth of the points)." if args.quick else "")
    )
    return _accuracy_out(args, records, rows, header, notes, footer, failed)


def _elementwise(name: str, params: Sequence[str]) -> Activation:
    spec = registry.spec(name)
    if not isinstance(spec, Elementwise):
        raise UsageError(f"{spec.name} is not elementwise (kind: {spec.kind}); this analysis is for elementwise ones")
    return get(spec.name, **_parse_params(spec, params))


def _fmt_extremum(e: Any) -> str:
    return f"{e.value:.10g}" + (f" at x = {e.at:.10g}" if e.at is not None else " (approached at ±inf)")


def _cmd_analyze(args: argparse.Namespace) -> int:
    from .analysis import Float64RangeError, MeanField, gains, properties
    from .analysis.selfnorm import self_normalizing_scaling

    act = _elementwise(args.name, args.param)
    p = properties(act)
    g = gains(act)
    weight = g["forward"] * g["forward"]
    if not sys.float_info.min <= weight < math.inf:
        raise Float64RangeError(
            f"{act!r}: the forward gain squared, {g['forward']:g}², is outside float64's normal range, "
            "so the propagation at that gain cannot be computed (`actlab gain` prints the gains alone)"
        )
    mf = MeanField(act, weight, 0.0).depth_scales()
    sn = self_normalizing_scaling(act)
    data = {"properties": p.as_dict(), "gains": g, "propagation_at_forward_gain": mf, "self_normalizing": sn}
    if args.json:
        _emit_json(data)
        return 0
    rows = [
        ("infimum", _fmt_extremum(p.infimum)),
        ("supremum", _fmt_extremum(p.supremum)),
        ("monotonic", _yes(p.monotonic)),
        ("kinks found", ", ".join(f"{k:g}" for k in p.kinks) or "none"),
        ("continuity", _smoothness(p.smoothness)),
        ("E[f(z)], E[f(z)²]", f"{p.mean:.10g}, {p.second_moment:.10g}"),
        ("E[f'(z)], E[f'(z)²]", f"{p.mean_derivative:.10g}, {p.derivative_second_moment:.10g}"),
        ("dead fraction", f"{p.dead_fraction:.6g}  (f' = 0, z ~ N(0, 1))"),
        ("saturated fraction", f"{p.saturated_fraction:.6g}  (|f'| < 0.01)"),
        ("Lipschitz constant", f"{p.lipschitz:.10g}"),
        ("gain (forward)", f"{g['forward']:.10g}"),
        ("gain (backward)", f"{g['backward']:.10g}"),
        ("q*, χ₁ at that gain", f"{_scale(mf['q_star'], '.6g')}, {_scale(mf['chi1'], '.6g')}"),
        (
            "self-normalizing",
            f"{sn['scale']:.10g}·f(x) {'−' if sn['shift'] < 0 else '+'} {abs(sn['shift']):.10g}: " + sn["status"],
        ),
    ]
    print(f"{act!r}")
    print(_table(rows, ("property", "value")))
    print("\nz ~ N(0, 1); gains keep the forward / backward second moment (weights N(0, gain²/fan)).")
    return 0


def _cmd_gain(args: argparse.Namespace) -> int:
    from .analysis.gains import MOMENT_CLAUSE, TORCH_CONVENTIONS, TORCH_GAINS, gains

    act = _elementwise(args.name, args.param)
    g = gains(act)
    torch_gain = TORCH_GAINS.get(act.name, (None, None))[1] if not act.params else None
    differs = torch_gain is not None and not math.isclose(torch_gain, g["forward"], rel_tol=1e-9)
    note = f"{TORCH_CONVENTIONS[act.name]}; {MOMENT_CLAUSE}" if differs and act.name in TORCH_CONVENTIONS else None
    data = {"name": act.name, "params": act.params, **g, "torch_calculate_gain": torch_gain, "torch_note": note}
    if args.json:
        _emit_json(data)
    else:
        line = f"{act!r}: forward gain {g['forward']:.10g}, backward gain {g['backward']:.10g}"
        print(line + (f" (torch.nn.init.calculate_gain: {torch_gain:.10g})" if torch_gain is not None else ""))
        if note:
            print(note + ".")
    return 0


MAX_DEPTH = 10_000
"""The deepest `propagate` goes: far beyond any depth scale that a finite χ gives (one quadrature a layer)."""


def _scale(v: float, fmt: str) -> str:
    """A number of the propagation table: ∞ where a depth scale diverges, - where it is undefined."""
    if math.isnan(v):
        return "-"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    return format(v, fmt)


def _cmd_propagate(args: argparse.Namespace) -> int:
    from .analysis import MeanField

    if not 1 <= args.depth <= MAX_DEPTH:
        raise UsageError(f"--depth must be a whole number of layers from 1 to {MAX_DEPTH}; got {args.depth}")
    for value, flag, lowest in (
        (args.sigma_w2, "--sigma-w2", "> 0"),
        (args.sigma_b2, "--sigma-b2", ">= 0"),
        (args.q0, "--q0", "> 0"),
    ):
        if not (math.isfinite(value) and (value >= 0 if lowest == ">= 0" else value > 0)):
            raise UsageError(f"{flag} must be a finite number {lowest}; got {value:g}")
    out = []
    for name in args.names:
        act = _elementwise(name, args.param)
        mf = MeanField(act, args.sigma_w2, args.sigma_b2)
        qs = mf.layers(args.q0, args.depth)
        out.append({"name": act.name, "variances": qs, **mf.depth_scales()})
    if args.json:
        _emit_json(out)
        return 0
    print(f"σ_w² = {args.sigma_w2:g}, σ_b² = {args.sigma_b2:g}, q⁰ = {args.q0:g}")
    rows = [
        (
            r["name"],
            _scale(r["q_star"], ".6g"),
            _scale(r["chi1"], ".6g"),
            _scale(r["xi_q"], ".4g"),
            _scale(r["xi_c"], ".4g"),
            _scale(r["variances"][-1], ".6g"),
        )
        for r in out
    ]
    print(_table(rows, ("activation", "q*", "χ₁", "ξ_q", "ξ_c", f"q at layer {args.depth}")))
    cells = [c for r in rows for c in r[3:5]]
    if "∞" in cells:
        print("∞: the depth scale diverges (χ = 1, the edge of chaos: deviations neither shrink nor grow).")
    if "-" in cells:
        print("-: no depth scale (q* = ∞: the variance grows without bound).")
    return 0


def _check_outputs(db: str, figures: str | None) -> None:
    """Where compare writes, checked before any training: the results file's folder must exist; the
    figures folder is created later if its parent exists (the rule of :mod:`actlab._io`)."""
    from ._io import check_file, check_folder

    check_file(db, "--db")
    if figures:
        check_folder(figures, "--figures")


def _compare_names(text: str, model: str = "mlp") -> tuple[list[str], list[str]]:
    """The canonical names of ``--activations``, each once, and a note on each name given more than once."""
    from .experiments.api import activation_names
    from .formula.source import split_names

    given = split_names(text)
    if not given:
        raise UsageError("--activations needs at least one name (comma-separated, e.g. relu,gelu)")
    names = activation_names(given, model)
    canonical: dict[str, list[str]] = {}
    for n in given:
        canonical.setdefault(registry.spec(n).name, []).append(n)
    notes = [
        f"actlab: note: {name} is given {len(spellings)} times ({', '.join(spellings)}); training it once"
        for name, spellings in canonical.items()
        if len(spellings) > 1
    ]
    return names, notes


def _is_import_path(text: str) -> bool:
    return ":" in text and all(part.isidentifier() for part in text.replace(":", ".").split("."))


def _check_compare(args: argparse.Namespace) -> list[str]:
    """Every check of ``actlab compare``'s arguments, before PyTorch is imported or a file is written;
    returns the activations' canonical names (each once: a repeat is trained once, and said so)."""
    import importlib.util

    from .experiments.api import baseline_name
    from .experiments.datasets import DATASETS, NEEDS
    from .experiments.runner import BUILTIN_MODELS, DEVICE_FORMAT, DEVICES, OPTIMIZERS, PRECISIONS

    names, notes = _compare_names(args.activations, args.model)
    baseline_name(args.baseline, names)
    if args.dataset not in DATASETS and not _is_import_path(args.dataset):
        hint = suggest(args.dataset, DATASETS)
        raise UsageError(
            f"unknown dataset {args.dataset!r}{hint}; choose from {', '.join(DATASETS)} or give package.module:loader"
        )
    if args.model not in BUILTIN_MODELS and not _is_import_path(args.model):
        hint = suggest(args.model, BUILTIN_MODELS)
        raise UsageError(
            f"unknown model {args.model!r}{hint}; choose from {', '.join(BUILTIN_MODELS)} "
            "or give package.module:factory"
        )
    if args.optimizer not in OPTIMIZERS and not _is_import_path(args.optimizer):
        hint = suggest(args.optimizer, OPTIMIZERS)
        raise UsageError(f"unknown optimizer {args.optimizer!r}{hint}; choose from {', '.join(OPTIMIZERS)}")
    for value, what in (
        (args.seeds, "--seeds"),
        (1 if args.epochs is None else args.epochs, "--epochs"),
        (1 if args.depth is None else args.depth, "--depth"),
        (1 if args.width is None else args.width, "--width"),
        (args.batch_size, "--batch-size"),
        (args.workers, "--workers"),
    ):
        if value < 1:
            raise UsageError(f"{what} must be a positive integer; got {value}")
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise UsageError(f"--lr must be a positive learning rate (e.g. 1e-3); got {args.lr:g}")
    if not DEVICE_FORMAT.fullmatch(args.device):  # its availability is checked once PyTorch is imported
        raise UsageError(f"--device must be {DEVICES}; got {args.device!r}")
    if args.precision not in PRECISIONS:
        raise UsageError(
            f"--precision must be {', '.join(PRECISIONS)} (float32, bfloat16, float16); got {args.precision!r}"
        )
    if importlib.util.find_spec("torch") is None:
        raise UsageError("compare trains with PyTorch: pip install 'actlab[torch,experiments]'")
    module, package = NEEDS.get(args.dataset, (None, None))
    if module is not None and importlib.util.find_spec(module) is None:
        raise UsageError(f"the {args.dataset} dataset needs {package}: pip install 'actlab[experiments]'")
    if args.figures and importlib.util.find_spec("matplotlib") is None:
        raise UsageError("--figures needs matplotlib: pip install 'actlab[experiments]'")
    from .experiments.executors import check_executor

    try:  # Ray installed, and a cluster answering at --address (Ray itself would retry for minutes)
        check_executor(args.executor, args.address, "--executor", "--address")
    except ActlabError as exc:
        raise UsageError(str(exc)) from None
    local = registry.unshippable(names) if args.workers > 1 or args.executor == "ray" else []
    if local:  # the same refusal the sweep makes, here before anything is printed or created
        from .experiments.runner import unshippable_message

        raise UsageError(unshippable_message(local))
    _check_outputs(db=args.db, figures=args.figures)
    for note in notes:  # after every check: a command that fails prints its one line only
        print(note, file=sys.stderr)
    return names


def _cmd_compare(args: argparse.Namespace) -> int:
    names = _check_compare(args)  # all of it before PyTorch is imported or --db is created

    from ._progress import bar
    from .experiments import ResultsStore
    from .experiments.api import execute, preflight, prepare
    from .experiments.runner import check_precision_on, resolve_device

    if args.executor != "ray" or args.address is None:  # a cluster's machines resolve the device where they train
        check_precision_on(resolve_device(args.device), args.precision)  # a device or precision this machine lacks
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # --model/--dataset package.module:name from the current folder
    plan = prepare(
        args.model, args.dataset, names, seeds=args.seeds, epochs=args.epochs, baseline=args.baseline,
        optimizer=args.optimizer, lr=args.lr, batch_size=args.batch_size, depth=args.depth, width=args.width,
        tag=args.tag, task=args.task, precision=args.precision,
    )  # fmt: skip
    preflight(plan.todo[0])  # a model and data that do not fit: one line, before anything is announced or --db made
    with ResultsStore(args.db) as store:
        pending = plan.pending(store)
        if not args.json:
            print(_compare_plan(args, names, len(plan.todo), pending), file=sys.stderr, flush=True)

        with bar(pending, "starting", unit="run", tick=1.0) as b:

            def running(configs: list[Any]) -> None:
                at_work = ", ".join(f"{c.activation} seed {c.seed}" for c in configs)
                b.set_description_str(f"training {at_work}")

            result = execute(
                plan, store, workers=args.workers, device=args.device, keep_checkpoints=args.keep_checkpoints,
                progress=lambda i, total, c: b.update(), running=running, executor=args.executor,
                address=args.address,
            )  # fmt: skip
    if args.figures:
        from .experiments.figures import comparison_figures

        comparison_figures(result, args.figures)
    if args.json:
        _emit_json({"ran": result.ran, "skipped": len(plan.todo) - result.ran, **result.as_dict()})
        return 0
    failed = sum(len(r["failed_seeds"]) for r in result.rows())
    print(
        f"{result.title()}: {_runs(result.ran)} trained, {len(plan.todo) - result.ran} already in {args.db}"
        + (f", {failed} diverged or failed" if failed else "")
    )
    print(result.text())
    return 0


def _compare_plan(args: argparse.Namespace, names: list[str], total: int, pending: int) -> str:
    """What compare is about to do, in one line: how many runs, of what, where, and what is already done."""
    acts = f"{len(names)} activation{'s' if len(names) > 1 else ''}"
    seeds = f"{args.seeds} seed{'s' if args.seeds > 1 else ''}"
    runs = _runs(total)
    workers = min(args.workers, pending)
    where = "in this process" if workers <= 1 else f"with {workers} worker processes"
    if args.executor == "ray":
        cpus = f"{workers} CPU{'s' if workers > 1 else ''}"
        where = f"on the Ray cluster at {args.address}" if args.address else f"on a local Ray instance of {cpus}"
    if pending == 0:
        every = "the one run" if total == 1 else f"all {runs}"
        return f"{every} ({acts} × {seeds}) already in {args.db}; nothing to train"
    if pending < total:
        return (
            f"{total - pending} of {total} runs already in {args.db}; "
            f"training the other {pending} on {args.dataset} {where}..."
        )
    return f"training {runs} ({acts} × {seeds}) on {args.dataset} {where}..."


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def _cmd_results(args: argparse.Namespace) -> int:
    import csv
    from pathlib import Path

    from .experiments import ResultsStore
    from .experiments.comparison import comparisons
    from .experiments.runner import final_metric

    if not Path(args.db).exists():
        raise UsageError(f"no results file {args.db}; `actlab compare` writes one")
    with ResultsStore(args.db) as store:
        runs = list(store.runs())
        groups = comparisons(store) if runs and not args.runs else []
    if args.runs:
        flat = [
            {
                "setting": _setting(r["config"]),
                **r["config"],
                "status": r["status"],
                "final_metric": final_metric(r["result"]),
                "metric": r["result"].get("metric", "accuracy"),
                "seconds": r["result"].get("seconds", (r["result"].get("final") or {}).get("seconds")),
                "error": r["result"].get("error", ""),
                "key": r["key"],
            }
            for r in runs
        ]
        if args.json:
            _emit_json(runs)
        elif args.csv:
            _write_csv(csv, flat)
        else:
            rows = [
                (r["dataset"], r["model"], r["activation"], r["seed"], r["epochs"], r["status"], _metric(r))
                for r in flat
            ]
            print(_table(rows, ("dataset", "model", "activation", "seed", "epochs", "status", "final metric")))
            print(f"\n{len(flat)} runs in {args.db}")
        return 0
    if args.json:
        _emit_json([g.as_dict() for g in groups])
    elif args.csv:
        _write_csv(
            csv,
            [
                {"setting": g.setting, "title": g.title(), **{k: v for k, v in row.items() if k != "failed_seeds"},
                 "failed_seeds": " ".join(map(str, row["failed_seeds"]))}
                for g in groups
                for row in g.rows()
            ],
        )  # fmt: skip
    else:
        for i, g in enumerate(groups):
            if i:
                print()
            print(f"{g.title()} [{g.setting}]")
            print(g.text())
        print(f"\n{len(runs)} runs in {len(groups)} comparison{'s' if len(groups) != 1 else ''} in {args.db}")
    return 0


def _setting(config: dict[str, Any]) -> str:
    from .experiments.runner import setting_key

    return setting_key(config)


def _metric(row: dict[str, Any]) -> str:
    v = row["final_metric"]
    return "-" if not math.isfinite(v) else f"{v:.4f}"


def _write_csv(csv: Any, rows: list[dict[str, Any]]) -> None:
    """Rows as CSV on stdout: lists as JSON, NaN as an empty cell."""
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    writer = csv.DictWriter(sys.stdout, fieldnames=fields or ["setting"])
    writer.writeheader()

    def cell(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return json.dumps(v)
        if isinstance(v, float) and not math.isfinite(v):
            return ""
        return "" if v is None else v

    writer.writerows({k: cell(v) for k, v in row.items()} for row in rows)


def _cmd_plot(args: argparse.Namespace) -> int:
    from .viz import check_output, plot_activations

    specs = [registry.spec(n) for n in args.names]
    check_output(args.output, "-o")  # before any drawing
    params: dict[str, dict[str, Any]] = {s.name: {} for s in specs}
    for item in args.param:
        key, sep, text = item.partition("=")
        if not sep:
            raise UsageError(f"--param takes NAME=VALUE; got {item!r}")
        takers = [s for s in specs if key in {q.name for q in s.params}]
        if not takers:
            raise UsageError(f"none of {', '.join(s.name for s in specs)} has a parameter {key!r}")
        for s in takers:
            params[s.name][key] = s.param(key).parse(text, s.name)
    acts = [get(s.name, **params[s.name]) for s in specs]
    path = plot_activations(acts, args.output, derivative=args.derivative, x_range=tuple(args.range), grid=args.grid)
    if args.json:
        _emit_json({"written": str(path)})
    else:
        print(f"wrote {path}")
    return 0


def _cmd_recommend(args: argparse.Namespace) -> int:
    from .guide import recommend

    r = recommend(
        args.arch,
        args.role,
        args.task,
        mobile=args.mobile,
        deep=args.deep,
        self_normalizing=args.self_normalizing,
        accuracy_first=args.accuracy_first,
        results=args.db,
    )
    if args.json:
        _emit_json(r.as_dict())
        return 0
    print(f"use {r.choice}" + (f" (alternatives: {', '.join(r.alternatives)})" if r.alternatives else ""))
    for reason in r.reasons:
        print(f"  - {reason}")
    for req in r.requirements:
        print(f"  requires: {req}")
    return 0


PLUGIN_HELP = (
    "load PLUGIN first, a module that registers activations: a module name (importable, or NAME.py in the "
    "current folder) or the path of a .py file; repeatable, before or after the command"
)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="actlab",
        description="The laboratory for neural-network activation functions.",
    )
    parser.add_argument("--version", action="version", version=f"actlab {__version__}")
    parser.add_argument("--plugin", action="append", default=[], metavar="PLUGIN", help=PLUGIN_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("list", help="the catalog as a table", description="List the catalog of activations.")
    p.add_argument("--kind", choices=["elementwise", "axis", "gated", "pooled"], help="only this kind")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_list)

    p = sub.add_parser(
        "show",
        help="formula, derivative, parameters, properties, paper and values of one activation",
        description="Show everything the catalog knows of one activation, and — with PyTorch installed — where "
        "PyTorch's default (native) kernel for it differs from exact, as measured now (actlab.torch.gaps).",
    )
    p.add_argument("name", help="activation name or alias (any case)")
    p.add_argument("--param", "-p", action="append", default=[], metavar="K=V", help="set a parameter")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_show)

    p = sub.add_parser(
        "define",
        help="name a formula activation and keep it in the user catalog",
        description="Define an activation from a formula in x and named parameters (e.g. x*sigmoid(beta*x)), "
        "keep it under NAME in the user catalog (a JSON file: $ACTLAB_FORMULAS, else "
        "~/.config/actlab/formulas.json) so that later commands and worker processes see it, and show it. "
        "A formula's text is also accepted wherever an activation name is, without defining it.",
    )
    p.add_argument("name", nargs="?", help="the new activation's name (lower case letters, digits and _)")
    p.add_argument("formula", nargs="?", help="the formula, e.g. 'x*tanh(softplus(x))'")
    p.add_argument("--param", "-p", action="append", default=[], metavar="K=V", help="a parameter's default")
    p.add_argument("--fixed", action="append", default=[], metavar="K", help="a parameter that is not learnable")
    p.add_argument("--as-written", action="store_true", help="evaluate as written, without the stabilising rewrites")
    p.add_argument("--list", action="store_true", help="list the user catalog")
    p.add_argument("--remove", action="store_true", help="remove NAME from the user catalog")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_define)

    p = sub.add_parser(
        "eval",
        help="evaluate an activation (or its derivative) at given points",
        description="Evaluate an activation at the numbers X (a vector, for softmax, gated and maxout).",
    )
    p.add_argument("name", help="activation name or alias")
    p.add_argument("x", nargs="+", metavar="X", help="numbers; inf, -inf and nan are accepted")
    p.add_argument("--derivative", "-d", action="store_true", help="f'(x) (the Jacobian for vector kinds)")
    p.add_argument("--param", "-p", action="append", default=[], metavar="K=V", help="set a parameter")
    p.add_argument("--dtype", choices=DTYPES, default="float64", help="floating-point type (default float64)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_eval)

    p = sub.add_parser(
        "accuracy",
        help="measure f and f' against mpmath at 50 digits (slow: minutes for the whole catalog)",
        description=(
            "Measure the NumPy reference (or, with --backend torch or jax, actlab.torch or actlab.jax) against an "
            "mpmath oracle; "
            "exits 1 if a bound is broken."
        ),
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="activations (default: all)")
    p.add_argument(
        "--dtype",
        nargs="+",
        choices=(*DTYPES, "bfloat16"),
        default=["float32", "float64"],
        help="dtypes to measure (bfloat16: --backend torch or jax)",
    )
    p.add_argument("--dense", action="store_true", help="add 8001 points on [-40, 40] (much slower)")
    p.add_argument(
        "--quick", action="store_true", help="a coarse grid, about a fifth of the points: seconds for one entry"
    )
    p.add_argument("--fast", action="store_true", help="measure the fast mode (float16/32 computed in their own type)")
    p.add_argument(
        "--backend",
        choices=("numpy", "torch", "jax"),
        default="numpy",
        help="numpy (the reference), torch: actlab.torch op by op and fused, or jax: actlab.jax (default numpy)",
    )
    p.add_argument(
        "--exact",
        action="store_true",
        help="with --backend torch: exact=True (default: native kernels where they exist)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_accuracy)

    p = sub.add_parser(
        "analyze", help="computed properties, gains, propagation and self-normalization of one activation"
    )
    p.add_argument("name", help="activation name or alias (elementwise)")
    p.add_argument("--param", "-p", action="append", default=[], metavar="K=V", help="set a parameter")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_analyze)

    p = sub.add_parser("gain", help="the init gains that keep the forward and backward second moments")
    p.add_argument("name", help="activation name or alias (elementwise)")
    p.add_argument("--param", "-p", action="append", default=[], metavar="K=V", help="set a parameter")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_gain)

    p = sub.add_parser("propagate", help="mean-field variance through depth, q*, χ₁ and depth scales")
    p.add_argument("names", nargs="+", metavar="NAME", help="activations (elementwise)")
    p.add_argument("--depth", type=int, default=20, help=f"layers, 1 to {MAX_DEPTH} (default 20)")
    p.add_argument("--sigma-w2", type=float, default=1.0, help="weight variance × fan-in, > 0 (default 1)")
    p.add_argument("--sigma-b2", type=float, default=0.0, help="bias variance, >= 0 (default 0)")
    p.add_argument("--q0", type=float, default=1.0, help="input variance, > 0 (default 1)")
    p.add_argument("--param", "-p", action="append", default=[], metavar="K=V", help="set a parameter")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_propagate)

    p = sub.add_parser(
        "compare",
        help="train the same model with several activations and seeds on real data (resumable)",
        description="Train one model per activation and seed (paired: a seed's runs share the initial draw and the "
        "minibatch order) and test each activation against the baseline; finished runs are kept in --db and skipped "
        "on a re-run.",
    )
    p.add_argument(
        "--dataset",
        default="moons",
        help="mnist1d, digits, spirals, moons (default), or package.module:loader, a function returning the data",
    )
    p.add_argument(
        "--model", default="mlp", help="mlp (default), cnn, or package.module:factory (activation module -> model)"
    )
    p.add_argument("--activations", default="relu,gelu,silu,tanh", help="comma-separated names")
    p.add_argument("--baseline", help="the activation the others are tested against (default: the first)")
    p.add_argument("--seeds", type=int, default=5, help="seeds per activation (default 5)")
    p.add_argument("--epochs", type=int, help="epochs per run (default: 10; the ResNet 20, the transformer 3)")
    p.add_argument(
        "--depth",
        type=int,
        help="size of a built-in model: the MLP's hidden layers (default 3), the ResNet's blocks per stage (1), "
        "the transformer's layers (2)",
    )
    p.add_argument(
        "--width",
        type=int,
        help="the MLP's units (default 64), the CNN's channels (64), the ResNet's first channels (16), the "
        "transformer's model width (128)",
    )
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--optimizer", default="adam", help="adam (default), adamw, sgd, or package.module:function")
    p.add_argument(
        "--task",
        choices=["classification", "regression", "language_model"],
        help="what to train and measure (default: what the targets imply)",
    )
    p.add_argument("--tag", default="", help="your code's version: runs of another tag are not taken for this one's")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument(
        "--device", default="auto", help="auto (default: cuda, else mps, else cpu), cpu, cuda, cuda:N or mps"
    )
    p.add_argument(
        "--precision",
        default="32",
        help="32 (default, float32), bf16 or 16: the forward pass autocast to bfloat16 or float16",
    )
    p.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local: worker processes here (default); ray: one Ray task per run, 1 CPU each (pip install "
        "'actlab[cluster]'), on a local Ray instance of --workers CPUs or the cluster at --address",
    )
    p.add_argument(
        "--address",
        metavar="HOST:PORT",
        help="a running Ray cluster's head (ray start --head prints it, e.g. 10.0.0.5:6379); with --executor ray, "
        "as many runs at work as it has CPUs",
    )
    p.add_argument("--db", default="actlab-results.sqlite", help="results file (default ./actlab-results.sqlite)")
    p.add_argument(
        "--keep-checkpoints",
        action="store_true",
        help="keep finished runs' checkpoints (runs of 3+ epochs save one per epoch in DB.checkpoints and resume "
        "from it when killed)",
    )
    p.add_argument(
        "--figures", metavar="DIR", help="write learning_curves.png, differences.png and metric_vs_seconds.png there"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_compare)

    p = sub.add_parser("recommend", help="which activation for a layer, with computed reasons")
    p.add_argument("--arch", choices=["mlp", "cnn", "transformer", "rnn"])
    p.add_argument("--role", choices=["hidden", "gate", "state", "output"], default="hidden")
    p.add_argument("--task", choices=["binary", "multiclass", "multilabel", "regression"], help="for output layers")
    p.add_argument("--mobile", action="store_true", help="cheap to compute")
    p.add_argument("--deep", action="store_true", help="a deep network")
    p.add_argument("--self-normalizing", action="store_true", help="no normalization layers (SELU)")
    p.add_argument("--accuracy-first", action="store_true", help="accuracy over speed (CNNs)")
    p.add_argument("--db", default="actlab-results.sqlite", help="results file whose comparisons to cite, if present")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_recommend)

    p = sub.add_parser("plot", help="figures of f and f' (overlay or small multiples)")
    p.add_argument("names", nargs="+", metavar="NAME", help="elementwise activations")
    p.add_argument("--output", "-o", required=True, help="FILE.png, FILE.svg or FILE.pdf")
    p.add_argument("--derivative", "-d", action="store_true", help="also f'")
    p.add_argument("--range", nargs=2, type=float, default=[-5.0, 5.0], metavar=("A", "B"), help="x from A to B")
    p.add_argument("--grid", action="store_true", help="one panel per activation")
    p.add_argument(
        "--param", "-p", action="append", default=[], metavar="K=V", help="set a parameter (all that have it)"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_plot)

    p = sub.add_parser(
        "results", help="the comparisons in the results store with their paired statistics; export them or the runs"
    )
    p.add_argument("--db", default="actlab-results.sqlite")
    p.add_argument("--runs", action="store_true", help="the runs themselves, one row each, instead of the statistics")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="CSV on stdout")
    fmt.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(run=_cmd_results)

    # -- commands defined in their own modules: each adds its parser below, one line each --
    importlib.import_module("actlab.table").add_parser(sub)
    importlib.import_module("actlab.report").add_parser(sub)
    importlib.import_module("actlab.search.command").add_parser(sub)
    importlib.import_module("actlab.bench").add_parser(sub)
    _accept_plugins_after_command(sub)
    return parser


def _accept_plugins_after_command(sub: Any) -> None:
    """Give every subcommand its own ``--plugin`` (``actlab show --plugin m NAME``).

    It has its own destination: argparse copies a subcommand's defaults over the values
    given before the command, and both lists are wanted (:func:`_load_plugins`).
    """
    for command in sub.choices.values():
        command.add_argument(
            "--plugin", action="append", default=[], dest="plugin_after", metavar="PLUGIN", help=PLUGIN_HELP
        )


def _load_plugins(args: argparse.Namespace) -> None:
    """Load the plugins named before and after the command, in that order (each once)."""
    for target in [*args.plugin, *getattr(args, "plugin_after", [])]:
        registry.load_plugin(target)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv``; returns the exit status: 0, 1 (a measured bound broken), 2 (bad input,
    or an output the system refused: one line on stderr, no traceback) or 130 (Ctrl-C: one line saying what
    is kept)."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        _load_plugins(args)
        if args.command is None:
            parser.print_help()
            return 0
        return int(args.run(args))
    except (ActlabError, TypeError, ValueError) as exc:
        return _error_line(str(exc))
    except BrokenPipeError:  # `actlab list | head`
        return 0
    except OSError as exc:  # a file the system refused (outputs are checked first; this is what remains)
        return _error_line(_os_error_text(exc))
    except KeyboardInterrupt as exc:  # Ctrl-C: what is kept (errors.Interrupted says), not a traceback
        print(f"actlab: interrupted: {exc}" if str(exc) else "actlab: interrupted", file=sys.stderr)
        return 130


def _error_line(message: str) -> int:
    """Print ``actlab: error: MESSAGE`` (its first line) on stderr; the exit status of bad input, 2."""
    if not message.startswith("actlab"):
        message = f"actlab: error: {message}"
    print(message.splitlines()[0] if message else "actlab: error", file=sys.stderr)
    return 2


def _os_error_text(exc: OSError) -> str:
    """An ``OSError`` as the path and the reason: ``/a/b: Permission denied``.  One without a path that a
    write gives (every file actlab writes names its path, so this is the standard output: ``actlab list >
    /dev/full``) says so, and the rest of the output is dropped so that exit does not fail on it again."""
    reason = exc.strerror or str(exc)
    paths = [p for p in (exc.filename, getattr(exc, "filename2", None)) if p is not None]
    if paths:
        return f"{' -> '.join(map(str, paths))}: {reason}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return f"cannot write the output: {reason}"
    return reason


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
