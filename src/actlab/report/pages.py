"""The report's pages: the index (catalog table, decision guide, speed), one page per activation,
the phenomena and the experiments.  Each function computes what it shows and returns HTML.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np

from .. import table as comparison
from ..bench import OWN_IMPL
from ..catalog import registry
from ..catalog.spec import DISCONTINUOUS, REAL, SMOOTH, Elementwise, Spec
from ..numpy import get
from .html import Markup, definitions, esc, external, figure, link, page, render, table, tag

SAMPLE_POINTS = (-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0)
SAMPLE_VECTOR = (2.0, 1.0, 0.1, -1.0)
PATHS: dict[str, list[tuple[str, tuple[float, ...], tuple[float, ...]]]] = {
    # a 1-D path a + x·b through the input space of a vector kind; the figure shows output 0 along it
    "axis": [("first output, inputs (x, 1, −1)", (0.0, 1.0, -1.0), (1.0, 0.0, 0.0))],
    "gated": [("value x, gate x", (0.0, 0.0), (1.0, 1.0)), ("value 1, gate x", (1.0, 0.0), (0.0, 1.0))],
    "pooled": [("pieces (x, −x)", (0.0, 0.0), (1.0, -1.0)), ("pieces (x, x/2)", (0.0, 0.0), (1.0, 0.5))],
}
OVERLAY = ("gelu", "silu", "mish")


def page_name(name: str) -> str:
    """The file of an activation's page (catalog names are ``[a-z][a-z0-9_]*``, safe as file names)."""
    return f"activations/{name}.html"


def _num(v: float, digits: int = 6) -> str:
    if isinstance(v, float) and math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if isinstance(v, float) and math.isnan(v):
        return "-"
    text = f"{v:.{digits}g}"
    return "0" if text == "-0" else text.replace("-", "−")


def _smoothness(k: int) -> str:
    return "discontinuous" if k == DISCONTINUOUS else ("C∞ (smooth)" if k >= SMOOTH else f"C{k}")


def _yes(b: bool) -> str:
    return "yes" if b else "no"


def _failed(what: str, exc: Exception) -> Markup:
    return tag("p", f"{what} could not be computed: {type(exc).__name__}: {exc}", class_="warning")


# --- index ---------------------------------------------------------------------------------


def catalog_table(rows: list[dict[str, Any]], root: str = "") -> Markup:
    cols = comparison.columns(rows)
    header = [h for _, h in cols]
    numeric = [i for i, (k, _) in enumerate(cols) if k.startswith("speed_")]
    body = []
    for r in rows:
        cells: list[object] = comparison.cells(r, cols)
        cells[0] = link(root + page_name(r["name"]), tag("code", r["name"]))
        body.append(cells)
    return table(
        header,
        body,
        numeric=numeric,
        caption="Range and minimum from the computed extrema ([ ] attained, ( ) approached); gradient behaviour from "
        "the computed derivative (dead zone and saturation under z ~ N(0, 1)); speed: forward + backward time of "
        "actlab's implementation over ReLU's, measured on this machine side by side in rounds (the median of the "
        "rounds; ≈ 1 where its 95% interval holds 1)."
        " PyTorch default vs exact: where the native kernel actlab.torch runs by default differs from the exact "
        "reference, measured in float16/32/64 (details on each activation's page).",
        class_="catalog",
    )


def _command(kwargs: dict[str, Any]) -> str:
    parts = ["actlab recommend"]
    for k, v in kwargs.items():
        flag = "--" + k.replace("_", "-")
        parts.append(flag if v is True else f"{flag} {v}")
    return " ".join(parts)


def name_link(name: str, root: str, linked: Collection[str]) -> Markup:
    """A link to an activation's page when the report has one; the name as text otherwise."""
    return link(root + page_name(name), tag("code", name)) if name in linked else tag("code", name)


def guide_cards(
    recommendations: list[tuple[str, str, dict[str, Any], Any]], linked: Collection[str], root: str = ""
) -> Markup:
    cards = []
    for group, label, kwargs, r in recommendations:
        alternatives = (
            tag("span", " — or ", *_commas([name_link(a, root, linked) for a in r.alternatives]), class_="note")
            if r.alternatives
            else None
        )
        cards.append(
            tag(
                "div",
                tag("h3", f"{group}: {label}"),
                tag("div", tag("span", name_link(r.choice, root, linked), class_="choice"), alternatives),
                tag(
                    "ul",
                    *[tag("li", x) for x in r.reasons],
                    *[tag("li", "requires: ", x, class_="requires") for x in r.requirements],
                ),
                tag("p", tag("code", _command(kwargs)), class_="note"),
                class_="card",
            )
        )
    return tag("div", *cards, class_="cards")


def _commas(parts: list[Markup]) -> list[object]:
    out: list[object] = []
    for i, p in enumerate(parts):
        if i:
            out.append(", ")
        out.append(p)
    return out


def speed_section(bench: dict[str, Any] | None, linked: Collection[str], root: str = "") -> Markup:
    from ..bench import percent_of_bandwidth

    if not bench:
        return tag("p", "No benchmark results.", class_="warning")
    measured = bench.get("config", {}).get("passes", ["forward", "forward_backward"])
    passes = [p for p in ("forward", "forward_backward") if p in measured] or ["forward_backward"]
    backends = comparison.measured_backends(bench)
    ratios = {(b, p): comparison.speed_ratios(bench, b, p) for b in backends for p in passes}
    fraction = {
        r["name"]: r.get("fraction_of_bandwidth")
        for r in bench.get("rows", [])
        if r.get("backend") == "numpy" and r.get("impl") == OWN_IMPL["numpy"] and r.get("pass") == passes[0]
    }
    names = [s.name for s in registry.specs() if any(s.name in v for v in ratios.values())]
    rows = []
    for n in names:
        row: list[object] = [name_link(n, root, linked)]
        for b in backends:
            for p in passes:
                row.append(comparison.speed_text(ratios[(b, p)].get(n), spread="interval"))
        f = fraction.get(n)
        row.append("-" if f is None else f"{percent_of_bandwidth(f)}%")  # to two digits: not 0% below 0.5%
        rows.append(row)
    label = {"forward": "forward", "forward_backward": "forward + backward"}
    cfg = bench.get("config", {})
    machine = bench.get("machine", {})
    bw = bench.get("bandwidth", {})
    facts = [
        ("machine", ", ".join(f"{k}: {v}" for k, v in machine.items() if not isinstance(v, (dict, list))) or "-"),
        (
            "settings",
            f"{cfg.get('dtype', '?')}, {cfg.get('size', '?')} elements, {cfg.get('threads', '?')} thread(s), "
            f"{cfg.get('repeats', '?')}"
            + (f" to {cfg['max_repeats']}" if cfg.get("max_repeats", 0) > cfg.get("repeats", 0) else "")
            + f" rounds, clock: {cfg.get('clock', 'wall')}"
            + (f" (JAX: {cfg['clock_jax']}, XLA computes on its own threads)" if "clock_jax" in cfg else ""),
        ),
        ("memory bandwidth (copy)", f"{bw['gbs']:.3g} GB/s" if isinstance(bw.get("gbs"), (int, float)) else "-"),
        ("measured", str(bench.get("created", "-"))),
    ]
    out = [definitions(facts)]
    if bench.get("busy"):
        out.append(
            tag("p", "The machine was busy while measuring: ", str(bench.get("busy_reason") or ""), class_="warning")
        )
    out.append(
        table(
            [
                "activation",
                *[f"{comparison.LABELS[b]} {label[p]}" for b in backends for p in passes],
                f"NumPy {label[passes[0]]}, share of bandwidth",
            ],
            rows,
            numeric=list(range(1, len(backends) * len(passes) + 2)),
            caption="Time relative to ReLU's on the same backend and pass: in each round every implementation and "
            "ReLU run once, in a random order; the ratio is the median of the per-round ratios, in parentheses its "
            f"{100 * cfg.get('confidence', 0.95):.0f}% confidence interval (order statistics), ≈ 1 where the interval "
            f"holds 1. The last column is the memory traffic of actlab's NumPy {label[passes[0]]} as a share of the "
            "measured copy bandwidth.",
        )
    )
    return render(out)


def index_page(
    *,
    table_rows: list[dict[str, Any]],
    recommendations: list[Any],
    bench: dict[str, Any] | None,
    overlay: str | None,
    specs: list[Spec],
) -> str:
    linked = {s.name for s in specs}
    by_kind: dict[str, list[Spec]] = {}
    for s in specs:
        by_kind.setdefault(s.kind, []).append(s)
    toc = [
        tag("h3", f"{kind} ({len(specs)})")
        + tag(
            "ul", *[tag("li", link(page_name(s.name), s.title), " ", tag("code", s.name)) for s in specs], class_="toc"
        )
        for kind, specs in by_kind.items()
    ]
    body: list[object] = [
        tag(
            "p",
            f"{len(specs)} activation functions, each computed from its one catalog entry: formula and "
            "derivative, exact range and extrema, gradient behaviour, init gains and signal propagation, speed "
            "measured on this machine, and a decision guide whose reasons are computed. The ",
            link("phenomena.html", "phenomena"),
            " page lets you watch vanishing gradients, dying ReLU, self-normalization, softmax temperature and the "
            "collapse of a linear network; ",
            link("experiments.html", "experiments"),
            " compares activations by training real models.",
        ),
    ]
    if overlay:
        body.append(
            figure(
                overlay,
                "GELU, SiLU and Mish",
                "The smooth self-gated family: GELU, SiLU (Swish) and Mish, and their derivatives. Each dips below "
                "zero for negative inputs and its slope exceeds 1 just right of zero.",
            )
        )
    body += [
        tag("h2", "The catalog", id="catalog"),
        catalog_table(table_rows),
        tag("p", "As Markdown, CSV or JSON: ", tag("code", "actlab table --format csv"), ".", class_="note"),
        tag("h3", "Every activation"),
        *toc,
        tag("h2", "Decision guide", id="guide"),
        tag(
            "p",
            "Every branch of the decision tree, as ",
            tag("code", "actlab recommend"),
            " answers it here: the choice, its alternatives, the computed facts behind them and, where the results "
            "store holds comparisons that include them, the measured accuracies.",
        ),
        guide_cards(recommendations, linked),
        tag("h2", "Speed", id="speed"),
        speed_section(bench, linked),
    ]
    return page("Activation functions, measured", render(body), active="catalog", subtitle="The actlab lab report")


# --- one page per activation ---------------------------------------------------------------


def activation_figure(spec: Spec, path: Path) -> bool:
    """f and f' of an elementwise activation; output 0 along input paths for the vector kinds."""
    from ..viz import _pyplot, plot_activations, save

    if isinstance(spec, Elementwise):
        plot_activations([get(spec.name)], path, derivative=True, grid=True)
        return True
    paths = PATHS.get(spec.kind)
    if not paths:
        return False
    plt = _pyplot()
    act = get(spec.name)
    xs = np.linspace(-5, 5, 401)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
    for label, a, b in paths:
        a_, b_ = np.array(a), np.array(b)
        ys, ds = [], []
        for x in xs:
            v = a_ + x * b_
            ys.append(act(v)[0])
            ds.append((act.jacobian(v) @ b_)[0])
        left.plot(xs, ys, label=label)
        right.plot(xs, ds, label=label)
    for ax, title in ((left, "output 0 along the path"), (right, "its derivative along the path")):
        ax.axhline(0, color="0.7", lw=0.6)
        ax.axvline(0, color="0.7", lw=0.6)
        ax.set(title=title, xlabel="x")
        ax.legend(fontsize=8)
    save(fig, path)
    return True


CASES = re.compile(r"\\begin\{cases\}(.*?)\\end\{cases\}", re.DOTALL)


def formula_figure(latex: str, path: Path) -> bool:
    """The formula typeset by matplotlib's mathtext as SVG (``cases`` as one row per case);
    False where mathtext cannot read it (the page then shows the LaTeX source alone)."""
    from .._io import replacing
    from ..viz import _pyplot

    plt = _pyplot()
    latex = re.sub(r"\\([lg])e(?![a-z])", r"\\\1eq", latex)  # mathtext knows \leq and \geq, not \le and \ge
    m = CASES.search(latex)
    if m:
        head, tail = latex[: m.start()].strip(), latex[m.end() :].strip()
        rows = [[c.strip() for c in r.split("&", 1)] for r in m.group(1).split("\\\\") if r.strip()]
    else:
        head, tail, rows = latex, "", []
    lines = len(rows) + bool(head) + bool(tail)
    fig = plt.figure(figsize=(4, 0.42 * lines))
    try:
        renderer = fig.canvas.get_renderer()
        y = iter(1 - (i + 0.5) / lines for i in range(lines))
        if head:
            fig.text(0, next(y), f"${head}$", fontsize=13, va="center")
        values = [(row, fig.text(0.08, next(y), f"${row[0]}$", fontsize=13, va="center")) for row in rows]
        if values:
            right = max(t.get_window_extent(renderer).x1 for _, t in values) / fig.bbox.width + 0.06
            for row, t in values:
                if len(row) > 1:
                    word = "" if "otherwise" in row[1] else "\\mathrm{if}\\ "
                    fig.text(right, t.get_position()[1], f"${word}{row[1]}$", fontsize=13, va="center")
        if tail:
            fig.text(0, next(y), f"${tail}$", fontsize=13, va="center")
        with replacing(path) as fh:  # mathtext parses while drawing: a formula it cannot read leaves no file
            fig.savefig(fh, format="svg", bbox_inches="tight", pad_inches=0.04, transparent=True)
        return True
    except ValueError:  # mathtext's parse errors
        return False
    finally:
        plt.close(fig)


def _formula(latex: str, image: str | None, root: str) -> Markup:
    img = Markup(f'<img class="formula" src="{esc(root + image)}" alt="{esc(latex)}">') if image is not None else None
    return render([tag("div", img, class_="formula") if img else None, tag("pre", latex, class_="formula")])


def _param_table(spec: Spec) -> Markup | None:
    if not spec.params:
        return None
    rows = [(tag("code", q.name), repr(q.default), q.describe(), q.doc, _yes(q.learnable)) for q in spec.params]
    return table(["parameter", "default", "valid values", "meaning", "learnable"], rows)


def _elementwise_sections(spec: Elementwise) -> list[object]:
    from ..analysis import MeanField, gains, properties
    from ..analysis.gains import TORCH_GAINS
    from ..analysis.selfnorm import self_normalizing_scaling

    act = get(spec.name)
    out: list[object] = [tag("h2", "Computed properties", id="properties")]
    try:
        p = properties(act)
        top = p.supremum.at
        rows = [
            ("range", comparison.exact_range(p)),
            ("minimum", comparison.minimum(act, p)),
            ("maximum", _num(p.supremum.value) + (" (not attained)" if top is None else f" at x = {_num(top)}")),
            ("monotonic", _yes(p.monotonic)),
            ("kinks found", ", ".join(_num(k) for k in p.kinks) or "none"),
            ("continuity", _smoothness(p.smoothness)),
            ("gradient behaviour", comparison.gradient_behaviour(act, p)),
            ("E[f(z)], E[f(z)²]", f"{_num(p.mean)}, {_num(p.second_moment)}"),
            ("E[f′(z)], E[f′(z)²]", f"{_num(p.mean_derivative)}, {_num(p.derivative_second_moment)}"),
            ("dead fraction (f′ = 0)", _num(p.dead_fraction, 4)),
            ("saturated fraction (|f′| < 0.01)", _num(p.saturated_fraction, 4)),
            ("Lipschitz constant", _num(p.lipschitz)),
        ]
        out.append(table(["property", "value"], rows, caption="z ~ N(0, 1); every value computed from the formulas."))
    except Exception as exc:  # a user's activation the analysis cannot handle still gets its page
        out.append(_failed("The properties", exc))
    out.append(tag("h2", "Init gains and signal propagation", id="propagation"))
    try:
        g = gains(act)
        torch_gain = TORCH_GAINS.get(spec.name, (None, None))[1]
        mf = MeanField(act, g["forward"] ** 2, 0.0)
        scales = mf.depth_scales()
        q10 = mf.layers(1.0, 10)[-1]
        rows = [
            ("forward gain", _num(g["forward"], 8)),
            ("backward gain", _num(g["backward"], 8)),
            ("torch.nn.init.calculate_gain", "-" if torch_gain is None else _num(torch_gain, 8)),
            ("σ_w² used below (forward gain²)", _num(g["forward"] ** 2)),
            ("fixed-point variance q*", _num(scales["q_star"])),
            ("χ₁ (gradient growth per layer)", _num(scales["chi1"])),
            ("correlation fixed point c*", _num(scales.get("c_star", math.nan))),
            ("depth scale ξ_q", _num(scales.get("xi_q", math.nan), 4)),
            ("depth scale ξ_c", _num(scales.get("xi_c", math.nan), 4)),
            ("variance after 10 layers from q⁰ = 1", _num(q10)),
        ]
        out.append(
            table(
                ["quantity", "value"],
                rows,
                caption="Mean-field propagation (Poole et al. 2016; Schoenholz et al. 2017) through a deep random "
                "network with weights N(0, σ_w²/fan-in) and no bias: χ₁ < 1 makes gradients vanish with depth, "
                "χ₁ > 1 makes them explode; ξ_q and ξ_c are the depths over which variance and correlation settle.",
            )
        )
        sn = self_normalizing_scaling(act)
        out.append(
            tag(
                "p",
                f"Self-normalization: {_num(sn['scale'])}·f(x) {'−' if sn['shift'] < 0 else '+'} "
                f"{_num(abs(sn['shift']))} maps (mean 0, variance 1) to "
                f"itself; that fixed point is {sn['status']}.",
            )
        )
    except Exception as exc:
        out.append(_failed("The gains and propagation", exc))
    kinks = spec.kink_points(spec.defaults())
    if kinks:
        out.append(tag("h2", "Derivative at the kinks", id="kinks"))
        decisions = [(_num(k.x), _num(k.derivative), k.rule) for k in kinks]
        out.append(table(["x", "f′ chosen", "rule"], decisions, numeric=[0, 1]))
    xs = np.array(SAMPLE_POINTS)
    out.append(tag("h2", "Values", id="values"))
    out.append(
        table(
            ["x", "f(x)", "f′(x)"],
            [(_num(x), _num(float(y), 10), _num(float(d), 10)) for x, y, d in zip(xs, act(xs), act.derivative(xs))],
            numeric=[0, 1, 2],
        )
    )
    return out


def _vector_sections(spec: Spec) -> list[object]:
    act = get(spec.name)
    out: list[object] = [tag("h2", "Values", id="values")]
    try:
        x = np.array(SAMPLE_VECTOR)
        y = act(x)
        jac = act.jacobian(x)
        out.append(tag("p", f"f({', '.join(_num(v) for v in x)}) = ({', '.join(_num(float(v)) for v in y)})"))
        out.append(
            table(
                ["output"] + [f"∂/∂x{i}" for i in range(jac.shape[1])],
                [[f"f{i}"] + [_num(float(v), 5) for v in r] for i, r in enumerate(jac)],
                numeric=list(range(1, jac.shape[1] + 1)),
                caption="The Jacobian at that input (rows: outputs, columns: inputs).",
            )
        )
    except Exception as exc:
        out.append(_failed("The values", exc))
    return out


def torch_default_section(spec: Spec) -> list[object]:
    """Where PyTorch's default (native) kernel differs from exact, as :mod:`actlab.torch.gaps` measured it;
    nothing when there is no native kernel or PyTorch is not installed."""
    try:
        g = comparison.native_gaps(spec.name)
    except Exception as exc:  # the page stands without it
        return [tag("h2", "PyTorch default", id="pytorch"), _failed("The comparison with PyTorch's kernel", exc)]
    if g is None:
        return []
    intro = (
        "actlab.torch runs PyTorch's own kernel for this entry by default, and the catalog's formulas with "
        "exact=True. Measured in "
        + ", ".join(g.dtypes)
        + " — the value, and the derivative autograd gives — against the NumPy reference on the accuracy grid "
        "and at ±∞ and NaN"
        + (" (rows holding them, for this vector kind)" if not isinstance(spec, Elementwise) else "")
        + ": "
    )
    if g.same:
        return [tag("h2", "PyTorch default", id="pytorch"), tag("p", intro + "no difference found.")]
    return [
        tag("h2", "PyTorch default", id="pytorch"),
        tag("p", intro + "it differs as listed."),
        tag("ul", *[tag("li", line) for line in g.lines()]),
    ]


def _range_fact(spec: Spec) -> tuple[str, str]:
    """The range a page states beside the name: a built-in entry's declared range (tested against the
    computed one), a user entry's only where it declares one — never the field's default."""
    if registry.is_builtin(spec.name):
        return ("range", comparison.interval(spec.output_range()))
    if not callable(spec.range) and spec.range == REAL:
        return ("range", "not declared" + (" (computed below)" if isinstance(spec, Elementwise) else ""))
    return ("range (declared)", comparison.interval(spec.output_range()))


def activation_page(
    spec: Spec,
    *,
    figure_file: str | None,
    speeds: dict[str, float | None],
    linked: Collection[str],
    formula_files: tuple[str | None, str | None] = (None, None),
) -> str:
    root = "../"
    facts: list[tuple[object, object]] = [
        ("name", tag("code", spec.name)),
        ("aliases", ", ".join(spec.aliases) or "-"),
        ("kind", spec.kind),
        _range_fact(spec),
        ("year", spec.year if spec.year is not None else "-"),
        (
            "paper",
            "-"
            if spec.paper is None
            else external(spec.paper.url, f"{spec.paper.authors} ({spec.paper.year}). {spec.paper.title}"),
        ),
        (
            "time / ReLU",
            ", ".join(
                f"{comparison.LABELS[b]} {comparison.speed_text(speeds.get(b))}"
                for b in comparison.BACKENDS
                if b in speeds or b not in comparison.OPTIONAL
            )
            + " (forward + backward)",
        ),
    ]
    gate = getattr(spec, "gate", None)
    if isinstance(gate, str):
        facts.append(("gate", name_link(gate, root, linked)))
    body: list[object] = [
        definitions(facts),
        tag("h2", "Formula", id="formula"),
        _formula(spec.formula_text(), formula_files[0], root),
        tag("h3", "Derivative"),
        _formula(spec.derivative_text(), formula_files[1], root),
        tag(
            "p",
            "Typeset by matplotlib's mathtext from the LaTeX source the catalog holds, shown below each.",
            class_="note",
        ),
    ]
    if figure_file:
        caption = (
            f"{spec.title}: f (solid) and f′ (dashed) on [−5, 5]."
            if isinstance(spec, Elementwise)
            else f"{spec.title}: the first output along paths through the input space, and its derivative along them."
        )
        body.append(figure(root + figure_file, f"{spec.title}: f and its derivative", caption))
    param_table = _param_table(spec)
    if param_table is not None:
        body += [tag("h2", "Parameters", id="parameters"), param_table]
    body += _elementwise_sections(spec) if isinstance(spec, Elementwise) else _vector_sections(spec)
    body += torch_default_section(spec)
    body += [tag("h2", "Typical use", id="uses"), tag("ul", *[tag("li", u) for u in spec.uses])]
    if spec.notes:
        body += [tag("h2", "Notes", id="notes"), tag("ul", *[tag("li", n) for n in spec.notes])]
    return page(spec.title, render(body), root=root, subtitle=spec.summary)


# --- phenomena -----------------------------------------------------------------------------


def vanishing_figure(path: Path, *, width: int, depth: int) -> str:
    from ..analysis import MeanField
    from ..torch.deepnet import simulate
    from ..viz import _pyplot, save

    setups = (("sigmoid", 1.0), ("tanh", 1.0), ("relu", 2.0))
    plt = _pyplot()
    fig, (grads, variances) = plt.subplots(1, 2, figsize=(10, 3.6))
    words = []
    for name, w2 in setups:
        sim = simulate(name, width=width, depth=depth, sigma_w2=w2, batch=128)
        norms = np.array(sim.grad_norms())
        label = f"{name}, σ_w² = {w2:g}"
        grads.semilogy(np.arange(1, depth + 1), norms / norms[-1], label=label)
        variances.semilogy(np.arange(1, depth + 1), sim.variances(), label=label)
        chi = MeanField(get(name), w2, 0.0).chi1()
        ratio = _num(norms[0] / norms[-1], 3)
        words.append(f"{name}: layer 1 receives {ratio}× the gradient of layer {depth} (χ₁ = {chi:.3g})")
    grads.set(xlabel="layer", ylabel="‖∂L/∂z‖ relative to the last layer", title="gradient reaching each layer")
    variances.set(xlabel="layer", ylabel="variance of pre-activations", title="signal variance")
    grads.legend(fontsize=8)
    save(fig, path)
    return "; ".join(words) + "."


def dying_relu_section(path: Path, *, steps: int) -> str:
    from ..experiments.figures import dying_relu_figure
    from ..torch.recipes import dying_relu

    runs = dying_relu(steps=steps)
    dying_relu_figure(runs, path)
    return (
        "; ".join(
            f"{name}: {100 * r['dead'][0, -1]:.0f}% → {100 * r['dead'][-1, -1]:.0f}% dead" for name, r in runs.items()
        )
        + f" after {steps} steps."
    )


def selfnorm_figure(path: Path, *, layers: int = 12) -> str:
    from ..analysis.selfnorm import moment_map, stability
    from ..viz import _pyplot, save

    plt = _pyplot()
    fig, (var_ax, mean_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    starts = (0.2, 0.5, 2.0, 4.0)
    for name, style in (("selu", "-"), ("relu", ":"), ("tanh", "--")):
        for i, nu0 in enumerate(starts):
            mu, nu, nus, mus = 0.0, nu0, [nu0], [0.0]
            for _ in range(layers):
                mu, nu = moment_map(name, mu, nu)
                nus.append(nu)
                mus.append(mu)
            color = f"C{['selu', 'relu', 'tanh'].index(name)}"
            var_ax.plot(nus, style, color=color, label=name if i == 0 else None)
            mean_ax.plot(mus, style, color=color, label=name if i == 0 else None)
    var_ax.axhline(1, color="0.6", lw=0.6)
    var_ax.set(xlabel="layer", ylabel="variance ν", title="variance through layers (ω = 0, τ = 1)", yscale="log")
    mean_ax.set(xlabel="layer", ylabel="mean μ", title="mean through layers")
    var_ax.legend(fontsize=8)
    save(fig, path)
    s = stability("selu")
    mu, nu = s["fixed_point"]
    eig = ", ".join(_num(float(abs(e)), 4) for e in s["eigenvalues"])
    return (
        f"SELU's moment map has the fixed point (μ, ν) = ({_num(mu, 4)}, {_num(nu, 4)}), {s['status']} "
        f"(Jacobian eigenvalue moduli {eig}): from any starting variance the layers pull it back to 1, while "
        "ReLU's and tanh's variance decays without normalization."
    )


def softmax_figure(path: Path) -> str:
    from ..viz import _pyplot, save

    logits = np.array([2.0, 1.0, 0.1, -1.0])
    temperatures = (0.25, 0.5, 1.0, 2.0, 4.0)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.8 / len(temperatures)
    words = []
    for i, t in enumerate(temperatures):
        p = get("softmax", temperature=t)(logits)
        ax.bar(np.arange(len(logits)) + (i - len(temperatures) / 2 + 0.5) * width, p, width, label=f"T = {t:g}")
        entropy = float(-(p * np.log(p)).sum())
        words.append(f"T = {t:g}: top probability {p[0]:.3f}, entropy {entropy:.3f} nats")
    ax.set_xticks(np.arange(len(logits)), [f"logit {v:g}" for v in logits])
    ax.set(ylabel="softmax probability", title="softmax(z / T) of one logit vector")
    ax.legend(fontsize=8)
    save(fig, path)
    return "; ".join(words) + f" (the uniform distribution has entropy {math.log(len(logits)):.3f})."


def linear_collapse_rows(depths: tuple[int, ...] = (2, 8, 32)) -> list[tuple[str, str]]:
    from ..torch.deepnet import linear_collapse

    return [(str(d), f"{linear_collapse(depth=d):.2e}") for d in depths]


def phenomena_page(parts: dict[str, Any]) -> str:
    body: list[object] = [
        tag(
            "p",
            "What the theory predicts, measured in real networks. Each section names the function that reproduces it.",
        ),
        tag("h2", "Vanishing gradients", id="vanishing"),
        tag(
            "p",
            "A deep random network, run forward and back: with sigmoid the gradient shrinks by a constant factor at "
            "every layer (its slope is at most 1/4), tanh loses less, and ReLU with He initialisation (σ_w² = 2) "
            "holds it. ",
            parts["vanishing"],
        ),
        figure(
            "figures/vanishing-gradients.png", "gradient norm per layer", tag("code", "actlab.torch.deepnet.simulate")
        ),
        tag("h2", "Dying ReLU", id="dying-relu"),
        tag(
            "p",
            "Plain SGD at learning rate 1.0 on two spirals: large updates push ReLU units below zero for every input, "
            "where their gradient is exactly zero, and they never come back. Leaky ReLU and ELU keep a gradient. ",
            parts["dying"],
        ),
        figure("figures/dying-relu.png", "dead fraction per step", tag("code", "actlab.torch.recipes.dying_relu")),
        tag("h2", "SELU self-normalization", id="self-normalization"),
        tag("p", parts["selfnorm"]),
        figure("figures/self-normalization.png", "SELU moment map", tag("code", "actlab.analysis.moment_map")),
        tag("h2", "Softmax temperature", id="softmax-temperature"),
        tag(
            "p",
            "Dividing the logits by a temperature T sharpens the distribution (T < 1, towards argmax) or flattens it "
            "(T > 1, towards uniform). ",
            parts["softmax"],
        ),
        figure(
            "figures/softmax-temperature.png",
            "softmax at several temperatures",
            tag("code", "actlab.get('softmax', temperature=T)"),
        ),
        tag("h2", "Linear collapse", id="linear-collapse"),
        tag(
            "p",
            "Without a nonlinearity, any number of layers is one matrix: the output of a deep network with the "
            "identity activation equals the product of its weight matrices applied to the input, to rounding error.",
        ),
        table(
            ["depth", "max |network − one matrix| / max |network|"],
            parts["collapse"],
            numeric=[0, 1],
            caption="actlab.torch.deepnet.linear_collapse, width 64, float64.",
        ),
    ]
    return page("Phenomena", render(body), active="phenomena", subtitle="Watch what the theory predicts")


# --- experiments ---------------------------------------------------------------------------


def experiment_groups(store_path: Path) -> list[Any]:
    """The store's comparisons (:func:`actlab.experiments.comparison.comparisons`), each with its statistics."""
    from ..experiments import ResultsStore
    from ..experiments.comparison import comparisons

    with ResultsStore(store_path) as store:
        return comparisons(store)


VERDICT_CLASS = {"better": "better", "worse": "worse", "no detectable difference": "same", "not tested": "same"}


def _ci(lo: float, hi: float) -> str:
    return f"[{lo:+.3g}, {hi:+.3g}]" if math.isfinite(lo) and math.isfinite(hi) else "-"


def _pval(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "-"
    return "< 0.001" if p < 0.001 else f"{p:.2g}"


def comparison_section(c: Any, index: int, figures: list[str], linked: Collection[str]) -> list[object]:
    """One comparison: its setting, the table of paired statistics with verdicts, the failures, the figures."""
    rows = []
    for r in c.rows():
        own = "-" if not math.isfinite(r["mean"]) else f"{r['mean']:.4g}"
        half = (r["ci95"][1] - r["ci95"][0]) / 2 if math.isfinite(r["ci95"][0]) else math.nan
        runs = f"{r['finished']} of {r['runs']}" if r["failed_seeds"] else str(r["runs"])
        cells: list[object] = [
            name_link(r["activation"], "", linked),
            runs,
            "-" if r["parameters"] is None else f"{r['parameters']:,}",
            own,
            "-" if not math.isfinite(half) else f"± {half:.2g}",
            "-" if not math.isfinite(r["seconds"]) else f"{r['seconds']:.1f}",
        ]
        if r["baseline"]:
            cells += ["baseline", "", "", "", "", "", "", tag("span", "baseline", class_="verdict same")]
        elif "difference" not in r:
            cells += ["", "", "", "", "", "", "", tag("span", "not tested", class_="verdict same")]
        else:
            cells += [
                "-" if not math.isfinite(r["difference"]) else f"{r['difference']:+.3g}",
                _ci(*r["ci_t"]),
                _ci(*r["ci_bootstrap"]),
                _pval(r["p_t"]),
                _pval(r["p_wilcoxon"]),
                _pval(r["p_holm"]),
                "-" if not math.isfinite(r["p_improve"]) else f"{r['p_improve']:.2f}",
                tag(
                    "span", r["verdict"], class_=f"verdict {VERDICT_CLASS.get(r['verdict'], 'same')}", title=r["reason"]
                ),
            ]
        rows.append(cells)
    arrow = "higher is better" if c.higher_is_better else "lower is better"
    n = len(c.seeds)
    caption = (
        f"Final test {c.metric} ({arrow}) over {n} seed{'s' if n != 1 else ''}, mean ± half its 95% t interval. "
        f"Δ: the paired difference from {c.baseline} per seed (every activation of a seed trains from the same "
        "initial draw and minibatch order), its 95% t and bootstrap intervals; p: paired t-test, Wilcoxon "
        f"signed-rank (from 6 seeds) and the t-test's p after Holm–Bonferroni over the "
        f"{max(1, len(c.activations) - 1)} candidates; P(better): the fraction of seeds where the activation beat "
        f"{c.baseline}. A verdict says better or worse only where the Holm-adjusted p is below 0.05."
    )
    header = ["activation", "runs", "params", c.metric, "95% CI", "s/run", "Δ", "95% CI (t)", "95% CI (bootstrap)"]
    header += ["p (t)", "p (Wilcoxon)", "p (Holm)", "P(better)", "verdict"]
    if all(p.p_wilcoxon is None for p in c.paired):  # fewer than 6 seeds: no Wilcoxon column
        header.pop(10)
        rows = [r[:10] + r[11:] for r in rows]
    body: list[object] = [tag("h2", c.title(), id=f"setting-{index}")]
    body.append(table(header, rows, numeric=list(range(1, len(header) - 1)), caption=caption))
    reasons = [tag("li", tag("strong", p.activation), ": ", p.reason) for p in c.paired if p.verdict != "not tested"]
    if reasons:
        body.append(tag("ul", *reasons, class_="verdicts"))
    failures = [
        tag("li", f"{a} seed {f['seed']}: {f['status']}" + (f" ({f['detail']})" if f["detail"] else ""))
        for a in c.activations
        for f in c.failures(a)
    ]
    if failures:
        body.append(tag("p", "Runs that diverged or failed count as failures and are left out of the pairs:"))
        body.append(tag("ul", *failures, class_="warning"))
    if n == 1:
        body.append(
            tag("p", "One seed: no interval and no test. Run more seeds to tell activations apart.", class_="warning")
        )
    captions = {
        "learning": f"Learning curves: test {c.metric} per epoch, mean over seeds",
        "differences": f"Paired difference from {c.baseline} with its 95% t interval, coloured by verdict",
        "seconds": f"Final test {c.metric} against training seconds, one point per run",
    }
    for f in figures:
        key = next((k for k in captions if k in f), None)
        body.append(figure(f, "comparison", captions.get(key or "", "")))
    return body


def experiments_page(
    groups: list[Any], figures_for: Callable[[int], list[str]], note: object, linked: Collection[str]
) -> str:
    body: list[object] = [tag("p", note)]
    for i, c in enumerate(groups):
        body += comparison_section(c, i, figures_for(i), linked)
    if not groups:
        body.append(tag("p", "The results store holds no runs.", class_="warning"))
    subtitle = "Activations compared by training real models, with paired statistics"
    return page("Experiments", render(body), active="experiments", subtitle=subtitle)


def search_page(searches: list[tuple[Any, dict[str, int | None], tuple[str, str]]], source: str | None) -> str:
    """Each search in the search store (``actlab search``): its progress, leaderboard, finalists and their
    re-evaluation, as on the search's own page, one section per search; ``searches`` holds each one's
    outcome, where the published finds ranked, and its two figures' paths. ``source`` names the store
    (None: there was none)."""
    from ..search.engine import DEFAULT_STORE
    from ..search.page import sections, title

    if source is None:
        body: list[object] = [
            tag(
                "p",
                "No search is in this report. ",
                tag("code", "actlab search"),
                " looks for new activations (random search or regularized evolution over formulas, each candidate "
                "screened and trained on a short proxy task, the best re-evaluated against ReLU and SiLU with more "
                "seeds) and keeps them in ",
                tag("code", DEFAULT_STORE),
                "; ",
                tag("code", "actlab report"),
                " run beside it shows them here (",
                tag("code", "--search FILE"),
                " reads another).",
            )
        ]
    else:
        body = [tag("p", "Every search in ", tag("code", source), "; the same ", tag("code", "actlab search"),
                    " command goes on with a search where it stopped.")]  # fmt: skip
        if not searches:
            body.append(tag("p", "The search store holds no search.", class_="warning"))
    for i, (outcome, ranks, figures) in enumerate(searches):
        body.append(tag("h2", title(outcome), id=f"search-{i}"))
        body += sections(outcome, outcome.finals, ranks, figures, level=3)
    subtitle = "New activations searched for, and the best tested against ReLU and SiLU"
    return page("Activation search", render(body), active="search", subtitle=subtitle)
