"""Comparisons: the runs of one setting grouped, and the paired statistics against a baseline.

A *setting* is everything a run's configuration holds but the activation and the seed (data,
model, size, budget, optimizer, task, tag); the runs of one setting are one comparison.  What a
comparison asked for — its activations in order and its baseline — is recorded in the store by
:func:`actlab.experiments.compare`; a store written before that (or by hand) gets the order in which
runs finished and ``relu`` as baseline when it is there.

The same :class:`Comparison` is printed by ``actlab compare`` and ``actlab results``, exported by
``results --csv/--json`` and drawn by the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .runner import arm_label, final_metric, setting_key
from .store import ResultsStore

SHARED = ("dataset", "model", "depth", "width", "epochs", "lr", "batch_size", "optimizer", "task", "tag")
"""The configuration fields a comparison's runs share (a run of an earlier schema lacks the last three)."""


@dataclass
class Comparison:
    """One setting's runs and their statistics (see :mod:`actlab.experiments.stats`)."""

    setting: str
    config: dict[str, Any]
    activations: list[str]
    baseline: str
    metric: str
    higher_is_better: bool
    runs: list[dict[str, Any]]
    arms: list[Any] = field(default_factory=list)
    paired: list[Any] = field(default_factory=list)
    ran: int = 0
    """Runs trained by the call that returned this comparison (the rest were already in the store)."""

    @property
    def seeds(self) -> list[int]:
        return sorted({int(r["config"]["seed"]) for r in self.runs})

    def title(self) -> str:
        c = self.config
        model = c["model"]
        if model == "cnn":
            model = f"cnn (width {c['width']})"
        elif model in ("mlp", "resnet", "transformer"):
            model = f"{model} (depth {c['depth']}, width {c['width']})"
        else:
            model = _short(model)
        extra = "" if c.get("optimizer", "adam") == "adam" else f", {c['optimizer']}"
        tag = f", tag {c['tag']}" if c.get("tag") else ""
        epochs = f"{c['epochs']} epoch{'s' if c['epochs'] != 1 else ''}"
        return f"{_short(c['dataset'])}, {model}, {epochs}, lr {c['lr']:g}{extra}{tag}"

    def per_seed(self) -> dict[str, dict[int, float]]:
        """activation -> seed -> final metric (NaN where the run diverged or failed)."""
        out: dict[str, dict[int, float]] = {a: {} for a in self.activations}
        for r in self.runs:
            out.setdefault(arm_label(r["config"]), {})[int(r["config"]["seed"])] = final_metric(r["result"])
        return out

    def failures(self, activation: str) -> list[dict[str, Any]]:
        """The runs of ``activation`` that diverged or failed: seed, status and the error or where."""
        out = []
        for r in self.runs:
            if arm_label(r["config"]) == activation and r["result"].get("status", "ok") != "ok":
                res = r["result"]
                where = res.get("error") or (
                    f"loss not finite in epoch {res['diverged_at']['epoch']}" if res.get("diverged_at") else ""
                )
                out.append({"seed": int(r["config"]["seed"]), "status": res["status"], "detail": where})
        return sorted(out, key=lambda f: f["seed"])

    def parameters(self, activation: str) -> int | None:
        """The trainable parameters of ``activation``'s model (equal for every seed), where a run recorded them."""
        counts = [
            r["result"]["parameters"]
            for r in self.runs
            if arm_label(r["config"]) == activation and r["result"].get("parameters") is not None
        ]
        return int(counts[0]) if counts else None

    def seconds(self, activation: str) -> list[float]:
        """Training seconds of each run of ``activation`` (a run of schema 1 kept them in its last epoch)."""
        return [_seconds(r["result"]) for r in self.runs if arm_label(r["config"]) == activation]

    def points(self, activation: str) -> list[tuple[float, float]]:
        """(training seconds, final metric) of each run of ``activation``; NaN metric where it failed."""
        mine = [r["result"] for r in self.runs if arm_label(r["config"]) == activation]
        return [(_seconds(r), final_metric(r)) for r in mine]

    def rows(self) -> list[dict[str, Any]]:
        """One row per activation, the baseline first: its own mean and interval, then (for the others)
        the paired difference against the baseline with its tests and verdict."""
        paired = {p.activation: p for p in self.paired}
        out = []
        for a in self.arms:
            secs = [s for s in self.seconds(a.activation) if math.isfinite(s)]
            row: dict[str, Any] = {
                "activation": a.activation,
                "baseline": a.activation == self.baseline,
                "runs": a.n + len(a.failed),
                "finished": a.n,
                "failed_seeds": list(a.failed),
                "metric": self.metric,
                "mean": a.mean,
                "ci95": list(a.ci95),
                "seconds": float(np.mean(secs)) if secs else math.nan,
                "parameters": self.parameters(a.activation),
            }
            p = paired.get(a.activation)
            if p is not None:
                row.update(
                    {
                        "pairs": p.n,
                        "difference": p.mean,
                        "difference_sd": p.sd,
                        "ci_t": list(p.ci_t),
                        "ci_bootstrap": list(p.ci_boot),
                        "p_t": p.p_t,
                        "p_wilcoxon": p.p_wilcoxon,
                        "p_holm": p.p_holm,
                        "p_improve": p.p_improve,
                        "mde": p.mde,
                        "verdict": p.verdict,
                        "reason": p.reason,
                    }
                )
            out.append(row)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "setting": self.setting,
            "title": self.title(),
            "config": self.config,
            "baseline": self.baseline,
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "seeds": self.seeds,
            "ran": self.ran,
            "rows": self.rows(),
        }

    def text(self) -> str:
        """The comparison as a terminal table with its verdicts, and one line on the test used."""
        arrow = "higher is better" if self.higher_is_better else "lower is better"
        head = ["activation", "runs", "params", f"{self.metric} (mean ± 95% CI)", "Δ vs " + self.baseline]
        head += ["95% CI of Δ"]
        head += ["p (t)", "p (Holm)", "P(better)", "verdict"]
        body = []
        for r in self.rows():
            runs = f"{r['finished']}/{r['runs']}" if r["failed_seeds"] else str(r["runs"])
            own = _mean_ci(r["mean"], r["ci95"])
            params = "-" if r["parameters"] is None else f"{r['parameters']:,}"
            if r["baseline"]:
                body.append([r["activation"], runs, params, own, "baseline", "", "", "", "", ""])
                continue
            if "difference" not in r:
                body.append([r["activation"], runs, params, own, "", "", "", "", "", "not tested"])
                continue
            lo, hi = r["ci_t"]
            ci = f"[{lo:+.3g}, {hi:+.3g}]" if math.isfinite(lo) else "-"
            verdict = r["verdict"]
            if verdict == "no detectable difference" and math.isfinite(r["mde"]):
                verdict += f" (detectable: |Δ| ≥ {r['mde']:.2g})"
            body.append(
                [
                    r["activation"],
                    runs,
                    params,
                    own,
                    f"{r['difference']:+.3g}" if math.isfinite(r["difference"]) else "-",
                    ci,
                    _p(r["p_t"]),
                    _p(r["p_holm"]),
                    f"{r['p_improve']:.2f}" if math.isfinite(r["p_improve"]) else "-",
                    verdict,
                ]
            )
        from .._text import table

        lines = table(body, head).split("\n")
        n = len(self.seeds)
        lines.append(
            f"{self.metric}: {arrow}. Δ = activation − {self.baseline} per seed (paired: same data order and initial "
            f"draw); paired t-test over {n} seed{'s' if n != 1 else ''}, Holm–Bonferroni over "
            f"{max(1, len(self.activations) - 1)} candidate{'s' if len(self.activations) > 2 else ''} at α = 0.05."
        )
        for a in self.activations:
            for f in self.failures(a):
                lines.append(f"{a} seed {f['seed']} {f['status']}: {f['detail']}".rstrip(": "))
        if n == 1:
            lines.append("one seed: no interval and no test; run more seeds (--seeds 5) to tell activations apart")
        return "\n".join(lines)


def _seconds(result: dict[str, Any]) -> float:
    value = result.get("seconds", (result.get("final") or {}).get("seconds"))
    return math.nan if value is None else float(value)


def _mean_ci(mean: float, ci: list[float] | tuple[float, float]) -> str:
    if not math.isfinite(mean):
        return "-"
    if not math.isfinite(ci[0]):
        return f"{mean:.4g}"
    return f"{mean:.4g} ± {(ci[1] - ci[0]) / 2:.2g}"


def _p(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.2g}"


def _short(ref: str) -> str:
    """A model or dataset reference as a title shows it: an in-process object by its name only."""
    if ref.startswith("python:"):
        parts = ref.split(":")
        if len(parts) == 4 and parts[1] == "data":
            return f"your {parts[2]} ({parts[3][:8]})"  # the form and the start of the data's hash
        return parts[2] if len(parts) > 2 else ref
    return ref


def analyse(
    runs: list[dict[str, Any]],
    *,
    activations: list[str] | None = None,
    baseline: str | None = None,
    alpha: float = 0.05,
) -> Comparison:
    """The paired statistics of one setting's stored runs (:func:`actlab.experiments.stats.compare`)."""
    from . import stats

    if not runs:
        raise ValueError("a comparison needs at least one run")
    order = list(activations or [])
    for r in runs:
        label = arm_label(r["config"])
        if label not in order:
            order.append(label)
    present = {arm_label(r["config"]) for r in runs}
    order = [a for a in order if a in present]
    if baseline is None or baseline not in present:
        baseline = "relu" if "relu" in present and not activations else order[0]
    first = runs[0]
    result = next((r["result"] for r in runs if r["result"].get("metric")), first["result"])
    metric = result.get("metric", "accuracy")
    higher = bool(result.get("higher_is_better", True))
    config = {k: first["config"].get(k) for k in SHARED if k in first["config"]}
    c = Comparison(setting_key(first["config"]), config, order, baseline, metric, higher, runs)
    values = c.per_seed()
    c.arms, c.paired = stats.compare(
        {a: values[a] for a in order}, baseline, higher_is_better=higher, alpha=alpha, missing="absent"
    )
    return c


def comparisons(store: ResultsStore) -> list[Comparison]:
    """Every comparison in the store, in the order its first run finished."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in store.runs():
        groups.setdefault(setting_key(r["config"]), []).append(r)
    asked = store.comparisons()
    out = []
    for setting, runs in groups.items():
        a = asked.get(setting, {})
        out.append(analyse(runs, activations=a.get("activations"), baseline=a.get("baseline")))
    return out
