"""Activations that map whole vectors along one axis: softmax and log-softmax with temperature.

Rows are handled exactly in the limits: a row holding +inf puts all its mass,
shared equally, on its +inf entries; a row of all -inf (a fully masked attention
row) gives zeros from softmax and -inf from log_softmax, as "safe softmax" does;
a NaN anywhere in a row makes the whole row NaN.
"""

from __future__ import annotations

from typing import Any

from .spec import INF, AlongAxis, Interval, Paper, Param, Params

BRIDLE_1990 = Paper(
    "Probabilistic Interpretation of Feedforward Classification Network Outputs, "
    "with Relationships to Statistical Pattern Recognition",
    "Bridle",
    1990,
    "https://doi.org/10.1007/978-3-642-76153-9_28",
)

AXIS_PARAMS = (
    Param("dim", -1, "the axis the distribution runs along", integer=True, example=0),
    Param(
        "temperature",
        1.0,
        "T: logits are divided by T; T -> 0 approaches argmax, large T the uniform distribution",
        domain=Interval(0.0, INF),
        example=2.0,
    ),
)


def _exp_parts(x: Any, p: Params, xp: Any) -> tuple[Any, Any, Any, Any, Any]:
    """z = x/T, its row max m, the shift (m where finite), e = exp(z - shift) (the +inf
    indicator on rows whose max is +inf) and the mask of those rows."""
    z = x / p.temperature if p.temperature != 1.0 else x
    m = xp.amax(z, p.dim)  # NaN on rows holding a NaN
    shift = xp.where(xp.isfinite(m), m, 0.0)
    posinf = m == INF
    e = xp.where(posinf, xp.where(z == INF, 1.0, 0.0), xp.exp(z - shift))
    return z, m, shift, e, posinf


def _softmax(x: Any, p: Params, xp: Any) -> Any:
    _, _, _, e, _ = _exp_parts(x, p, xp)
    s = xp.sum(e, p.dim)
    return xp.where(s == 0, 0.0, e / s)  # s == 0 only on all -inf rows


def _log_softmax(x: Any, p: Params, xp: Any) -> Any:
    z, m, shift, e, posinf = _exp_parts(x, p, xp)
    # log(sum e) = log1p(rest): the maximal entries are exactly 1 each, so rest = (the others' sum) + (ties - 1),
    # the small terms never added to 1 first (log(1 + 1e-10) is 0 in float32; log1p keeps it)
    top = z == m
    ties = xp.sum(xp.where(top, xp.ones_like(e), 0.0), p.dim)  # on a row whose max is +inf: its +inf entries
    rest = xp.sum(xp.where(top, 0.0, e), p.dim) + (ties - 1.0)
    finite = (z - shift) - xp.log1p(rest)
    y = xp.where(posinf, xp.where(z == INF, 0.0 - xp.log(ties), -INF), finite)
    return xp.where(xp.isnan(m), m, y)


def _softmax_vjp(x: Any, g: Any, p: Params, xp: Any) -> Any:
    y = _softmax(x, p, xp)
    return y * (g - xp.sum(g * y, p.dim)) / p.temperature


def _log_softmax_vjp(x: Any, g: Any, p: Params, xp: Any) -> Any:
    y = _softmax(x, p, xp)
    return (g - y * xp.sum(g, p.dim)) / p.temperature


def _softmax_jacobian(x: Any, p: Params, xp: Any) -> Any:
    y = xp.moveaxis(_softmax(x, p, xp), p.dim, -1)
    n = y.shape[-1]
    eye = xp.eye(n)
    return y[..., :, None] * (eye - y[..., None, :]) / p.temperature


def _log_softmax_jacobian(x: Any, p: Params, xp: Any) -> Any:
    y = xp.moveaxis(_softmax(x, p, xp), p.dim, -1)
    eye = xp.eye(y.shape[-1])
    return (eye - y[..., None, :]) / p.temperature


def _softmax_definition(row: list[Any], p: Params, xp: Any) -> list[Any]:
    e = [xp.exp(v / p.temperature) for v in row]
    s = sum(e)
    return [v / s for v in e]


def _log_softmax_definition(row: list[Any], p: Params, xp: Any) -> list[Any]:
    return [xp.log(v) for v in _softmax_definition(row, p, xp)]


ENTRIES: tuple[AlongAxis, ...] = (
    AlongAxis(
        name="softmax",
        title="Softmax",
        summary="Turns a vector of logits into a probability distribution; T sets its sharpness.",
        params=AXIS_PARAMS,
        formula=r"\mathrm{softmax}_T(z)_i = \frac{e^{z_i/T}}{\sum_{j} e^{z_j/T}}",
        derivative_formula=(
            r"\frac{\partial\,\mathrm{softmax}_i}{\partial z_j} = \frac{1}{T}\,s_i(\delta_{ij} - s_j),"
            r"\quad \mathrm{VJP}: \frac{1}{T}\,s \odot (g - \langle g, s\rangle)"
        ),
        forward=_softmax,
        backward=_softmax_vjp,
        full_jacobian=_softmax_jacobian,
        definition=_softmax_definition,
        range=Interval(0.0, 1.0),
        year=1990,
        paper=BRIDLE_1990,
        uses=("multi-class output layer", "attention weights", "sampling with a temperature"),
        notes=(
            "Computed as exp(z - max z) / sum; with cross-entropy the logit gradient is p - y.",
            "A row of all -inf gives zeros (safe softmax, as for fully masked attention rows), not NaN.",
        ),
    ),
    AlongAxis(
        name="log_softmax",
        title="Log-softmax",
        summary="log(softmax(z)) computed without underflow: the log-probabilities of a classifier.",
        params=AXIS_PARAMS,
        formula=r"\mathrm{log\_softmax}_T(z)_i = \frac{z_i}{T} - \log \sum_{j} e^{z_j/T}",
        derivative_formula=(
            r"\frac{\partial\,\mathrm{log\_softmax}_i}{\partial z_j} = \frac{1}{T}(\delta_{ij} - s_j),"
            r"\quad \mathrm{VJP}: \frac{1}{T}\,(g - s \textstyle\sum_j g_j)"
        ),
        forward=_log_softmax,
        backward=_log_softmax_vjp,
        full_jacobian=_log_softmax_jacobian,
        definition=_log_softmax_definition,
        range=Interval(-INF, 0.0),
        year=1990,
        paper=BRIDLE_1990,
        uses=("classifier log-probabilities with NLL loss", "stable cross-entropy"),
        notes=(
            "log-sum-exp is max + log1p(sum of the other terms): no digits lost when one logit dominates.",
            "A row of all -inf gives -inf everywhere, log of the zeros softmax gives.",
        ),
    ),
)
