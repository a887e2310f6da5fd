"""The decision guide: which activation for which layer, with the reasons computed, not typed.

The branches follow the article's decision tree (MLP, CNN, transformer, RNN, output layers);
every reason quotes a number the analysis computes for the activation (gain, dead and
saturated fractions, extrema, smoothness, self-normalizing stability) and, when a results
file holds comparisons that include it, the measured test accuracies.

>>> r = recommend(arch="mlp", deep=True)
>>> r.choice, r.alternatives
('gelu', ['silu', 'mish'])
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ActlabError

ARCHS = ("mlp", "cnn", "transformer", "rnn")
ROLES = ("hidden", "gate", "state", "output")
TASKS = ("binary", "multiclass", "multilabel", "regression")


BRANCHES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("MLP", "standard", {"arch": "mlp"}),
    ("MLP", "deep", {"arch": "mlp", "deep": True}),
    ("MLP", "self-normalizing", {"arch": "mlp", "self_normalizing": True}),
    ("CNN", "standard", {"arch": "cnn"}),
    ("CNN", "accuracy first", {"arch": "cnn", "accuracy_first": True}),
    ("CNN", "mobile", {"arch": "cnn", "mobile": True}),
    ("CNN", "deep", {"arch": "cnn", "deep": True}),
    ("Transformer", "FFN", {"arch": "transformer"}),
    ("Transformer", "gated FFN", {"arch": "transformer", "role": "gate"}),
    ("RNN", "gate", {"arch": "rnn", "role": "gate"}),
    ("RNN", "state", {"arch": "rnn", "role": "state"}),
    ("Output", "binary", {"role": "output", "task": "binary"}),
    ("Output", "multiclass", {"role": "output", "task": "multiclass"}),
    ("Output", "multilabel", {"role": "output", "task": "multilabel"}),
    ("Output", "regression", {"role": "output", "task": "regression"}),
)
"""Every branch of the decision tree: (group, label, the arguments of :func:`recommend`)."""


@dataclass
class Recommendation:
    choice: str
    alternatives: list[str]
    reasons: list[str]
    requirements: list[str] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _branch(
    arch: str | None,
    role: str,
    task: str | None,
    mobile: bool,
    deep: bool,
    self_normalizing: bool,
    accuracy_first: bool,
) -> tuple[str, list[str], str, list[str]]:
    """(choice, alternatives, why in words, requirements) from the article's decision tree."""
    if role == "output":
        if task is None:
            raise ActlabError("an output layer needs --task: " + ", ".join(TASKS))
        if mobile or deep or self_normalizing or accuracy_first:
            raise ActlabError(
                "--mobile, --deep, --self-normalizing and --accuracy-first describe hidden layers, not outputs"
            )
        return {
            "binary": ("sigmoid", [], "a probability in (0, 1) for one class", []),
            "multiclass": ("softmax", ["log_softmax"], "a distribution over classes that sums to 1", []),
            "multilabel": ("sigmoid", [], "one independent probability per label", []),
            "regression": ("identity", [], "any real value: no activation on a regression output", []),
        }[task]
    if task is not None:
        raise ActlabError("--task describes output layers; use it with --role output")
    if arch is None:
        raise ActlabError("a hidden, gate or state layer needs --arch: " + ", ".join(ARCHS))
    if self_normalizing and arch != "mlp":
        raise ActlabError("self-normalizing networks (SELU) are feed-forward MLPs; use --arch mlp")
    if role in ("gate", "state"):
        if mobile or self_normalizing or accuracy_first or deep:
            raise ActlabError(
                f"a {role} activation is fixed by the cell; drop --mobile/--deep/--self-normalizing/--accuracy-first"
            )
        if arch == "rnn":
            return (
                ("sigmoid", [], "LSTM/GRU gates open between 0 and 1", [])
                if role == "gate"
                else (
                    "tanh",
                    [],
                    "the cell state stays bounded and zero-centred",
                    [],
                )
            )
        if arch == "transformer" and role == "gate":
            return ("silu", ["gelu"], "the gate of SwiGLU (LLaMA, PaLM); GeGLU gates with GELU", [])
        raise ActlabError(f"--role {role} applies to --arch rnn (or a transformer's gated FFN for gate)")
    # hidden layers
    if arch == "mlp":
        if self_normalizing:
            return (
                "selu",
                [],
                "keeps activations at mean 0, variance 1 through depth without normalization layers",
                ["LeCun normal initialisation", "alpha dropout instead of dropout", "no batch normalization"],
            )
        if deep:
            return ("gelu", ["silu", "mish"], "smooth, no dead zone: gradients keep flowing through many layers", [])
        if mobile:
            return ("relu", ["hardswish"], "the cheapest nonlinearity", [])
        return ("relu", ["leaky_relu"], "simple, fast and sparse; Leaky ReLU if units die", [])
    if arch == "cnn":
        if mobile:
            return ("hardswish", ["relu6", "hardsigmoid"], "Swish without exponentials, as in MobileNetV3", [])
        if deep:
            return ("relu", [], "deep ResNets train with ReLU and He initialisation", ["He (Kaiming) initialisation"])
        if accuracy_first:
            return ("mish", ["silu"], "smooth self-gated units that often add accuracy in vision models", [])
        return ("relu", ["mish", "silu"], "the standard CNN activation; Mish or Swish when accuracy comes first", [])
    if arch == "transformer":
        if mobile:
            return ("gelu_tanh", ["relu"], "GELU's tanh form is cheaper than erf", [])
        return (
            "gelu",
            ["silu", "swiglu"],
            "the default of encoders and decoders (BERT, GPT); SwiGLU in gated FFNs",
            [],
        )
    if arch == "rnn":
        return ("tanh", ["gelu"], "the classic recurrent state activation; consider GELU in modern RNNs", [])
    raise ActlabError(f"unknown --arch {arch!r}; choose from {', '.join(ARCHS)}")


HIDDEN_FLAGS: dict[str, tuple[str, ...]] = {
    "mlp": ("self_normalizing", "deep", "mobile"),
    "cnn": ("mobile", "deep", "accuracy_first"),
    "transformer": ("mobile",),
    "rnn": (),
}
"""The flags that pick a branch of the tree for a hidden layer of each architecture."""


def _option(flag: str) -> str:
    return "--" + flag.replace("_", "-")


def _check_flags(arch: str, flags: dict[str, bool]) -> None:
    """Refuse a flag the architecture's branches do not read, and two flags that pick different branches:
    the tree takes one branch, and a flag it would ignore must not look as if it had counted."""
    given = [f for f, on in flags.items() if on]
    unused = [f for f in given if f not in HIDDEN_FLAGS[arch]]
    if unused:
        takes = ", ".join(_option(f) for f in HIDDEN_FLAGS[arch]) or "none, it has one"
        raise ActlabError(
            f"{', '.join(_option(f) for f in unused)} does not change the choice for --arch {arch} "
            f"(its branches: {takes})"
        )
    if len(given) > 1:
        picks = [f"{_option(f)} → {_branch(arch, 'hidden', None, **{g: g == f for g in flags})[0]}" for f in given]
        raise ActlabError(
            f"{' and '.join(_option(f) for f in given)} are different branches of the tree for --arch {arch} "
            f"({', '.join(picks)}); give one"
        )


def _facts(name: str) -> list[str]:
    """Computed facts about one activation, in words."""
    from .analysis import gains, properties
    from .analysis.selfnorm import stability
    from .catalog import registry
    from .catalog.spec import SMOOTH

    spec = registry.spec(name)
    if spec.kind != "elementwise":
        return [f"{name}: range {spec.output_range()}"]
    p = properties(name)
    g = gains(name)
    smooth = "smooth" if p.smoothness >= SMOOTH else f"C{p.smoothness}" if p.smoothness >= 0 else "discontinuous"
    facts = [
        f"{name}: init gain {g['forward']:.4f} (forward), {g['backward']:.4f} (backward)",
        f"{name}: dead fraction {p.dead_fraction:.3f}, saturated fraction {p.saturated_fraction:.3f} under N(0, 1); "
        f"{smooth}; Lipschitz {p.lipschitz:.4g}",
    ]
    if p.infimum.at is not None and math.isfinite(p.infimum.value) and not p.monotonic:
        facts.append(f"{name}: minimum {p.infimum.value:.6f} at x = {p.infimum.at:.6f}")
    if name == "selu":
        s = stability(name)
        facts.append(f"selu: (mean 0, variance 1) is a stable fixed point, Jacobian eigenvalues {s['eigenvalues']}")
    return facts


def _measured(store: str | Path | None, names: list[str]) -> list[dict[str, Any]]:
    """Comparisons in the results file that include the recommended activation and measure accuracy:
    the mean final accuracy of each activation, and the per-seed values they come from."""
    if store is None or not Path(store).exists():
        return []
    from .experiments import ResultsStore
    from .experiments.runner import arm_label, final_metric, setting_key

    groups: dict[str, dict[str, Any]] = {}
    with ResultsStore(store) as s:
        for r in s.runs():  # compare like with like: one setting (data, model, budget, tag)
            if r["result"].get("metric", "accuracy") != "accuracy":
                continue
            c = r["config"]
            g = groups.setdefault(setting_key(c), {"config": c, "values": {}})
            value = final_metric(r["result"])
            if math.isfinite(value):
                g["values"].setdefault(arm_label(c), {})[int(c["seed"])] = value
    out = []
    for g in groups.values():
        accs, c = g["values"], g["config"]
        if names[0] in accs and len(accs) > 1:
            means = {k: sum(v.values()) / len(v) for k, v in accs.items()}
            size = f" depth {c['depth']} width {c['width']}" if c["model"] in ("mlp", "cnn") else ""
            setting = f"{c['dataset']}/{c['model']}{size}, {c['epochs']} epochs, lr {c['lr']:g}"
            out.append({"setting": setting, "test_acc": means, "per_seed": accs})
    return out


def _against(choice: str, e: dict[str, Any]) -> str | None:
    """A comment where a comparison ranks another activation above the choice: is the difference real?

    The runs of two activations with the same seed share the data order and the initial weights' draw,
    so they are compared in pairs (:func:`actlab.experiments.stats.paired`, a paired t-test over the
    seeds both have)."""
    from .experiments import stats

    means = e["test_acc"]
    best = max(means, key=lambda k: means[k])
    if best == choice or means[best] == means[choice]:
        return None
    p = stats.paired(choice, best, e["per_seed"][choice], e["per_seed"][best])
    head = f"{best} scored above {choice} here ({means[best]:.3f} vs {means[choice]:.3f}"
    if p.n < 2:
        return head + f"; {p.n} seed in common: too few for a test, so this is not evidence against {choice})"
    if p.p_t < 0.05:
        return head + (
            f"; paired t-test over {p.n} seeds, p = {p.p_t:.2g}: a difference at the 5% level — "
            f"in this setting the measurement favours {best} over the tree's {choice})"
        )
    return head + (
        f"; paired t-test over {p.n} seeds, p = {p.p_t:.2g}: not a significant difference, "
        f"so the tree's {choice} stands)"
    )


APPROXIMATES = {"hardswish": "silu", "hardsigmoid": "sigmoid", "gelu_tanh": "gelu"}
"""The function a cheap activation stands in for: its speed is the one to compare against."""


def _speed(bench: dict[str, Any], names: list[str]) -> list[str]:
    """Measured forward + backward time relative to ReLU's, per backend, for ``names`` and what they replace."""
    from .table import BACKENDS, speed_ratios, speed_text

    wanted = list(dict.fromkeys([*names, *(APPROXIMATES[n] for n in names if n in APPROXIMATES)]))
    out = []
    for backend in BACKENDS:
        ratios = speed_ratios(bench, backend)
        known = [f"{n} {speed_text(ratios[n])}" for n in wanted if n in ratios]
        if known:
            what = f"measured forward + backward time on this machine ({backend}), relative to relu: "
            out.append(what + ", ".join(known))
    return out


def recommend(
    arch: str | None = None,
    role: str = "hidden",
    task: str | None = None,
    *,
    mobile: bool = False,
    deep: bool = False,
    self_normalizing: bool = False,
    accuracy_first: bool = False,
    results: str | Path | None = None,
    bench: dict[str, Any] | str | Path | None = None,
) -> Recommendation:
    """The activation for a layer, its alternatives and the computed reasons.

    ``results`` is a results store (``actlab compare``'s SQLite file): comparisons there that include
    the choice are cited, and where one ranks another activation above the choice, a paired t-test
    over the seeds says whether that difference is significant.  ``bench`` (a benchmark file written by
    ``actlab bench --json FILE``, or the result of :func:`actlab.bench.run`) adds the measured cost where
    the choice is about cost (``mobile``): the cheap activation beside the one it replaces.  Flags that
    the architecture's branches do not read, or two that pick different branches, are refused.
    """
    if role not in ROLES:
        raise ActlabError(f"unknown --role {role!r}; choose from {', '.join(ROLES)}")
    if task is not None and task not in TASKS:
        raise ActlabError(f"unknown --task {task!r}; choose from {', '.join(TASKS)}")
    if arch is not None and arch not in ARCHS:
        raise ActlabError(f"unknown --arch {arch!r}; choose from {', '.join(ARCHS)}")
    if role == "hidden" and task is None and arch in HIDDEN_FLAGS:
        flags = {"self_normalizing": self_normalizing, "deep": deep, "mobile": mobile, "accuracy_first": accuracy_first}
        if not (self_normalizing and arch != "mlp"):  # that one has its own message in the tree
            _check_flags(arch, flags)
    if isinstance(bench, (str, Path)):
        from .bench import load

        bench = load(bench)
    choice, alternatives, why, requirements = _branch(arch, role, task, mobile, deep, self_normalizing, accuracy_first)
    reasons = [why]
    for name in [choice, *alternatives]:
        reasons.extend(_facts(name))
    if mobile and bench:
        reasons.extend(_speed(bench, [choice, *alternatives]))
    evidence = _measured(results, [choice, *alternatives])
    for e in evidence:
        ranked = sorted(e["test_acc"].items(), key=lambda kv: -kv[1])
        reasons.append(f"measured on {e['setting']}: " + ", ".join(f"{k} {v:.3f}" for k, v in ranked))
        comment = _against(choice, e)
        if comment:
            reasons.append(comment)
            e["comment"] = comment
    return Recommendation(choice, alternatives, reasons, requirements, evidence)
