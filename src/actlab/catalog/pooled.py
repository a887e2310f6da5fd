"""Maxout: the maximum over groups of ``pieces`` consecutive entries along ``dim``.

A maxout unit max_k (w_k·x + b_k) is a linear layer with pieces × units outputs
followed by this pooling; the linear layer belongs to the model, the pooling to the catalog.
"""

from __future__ import annotations

from .spec import Interval, Paper, Param, Pooled

GOODFELLOW_2013 = Paper(
    "Maxout Networks",
    "Goodfellow, Warde-Farley, Mirza, Courville, Bengio",
    2013,
    "https://arxiv.org/abs/1302.4389",
)

ENTRIES: tuple[Pooled, ...] = (
    Pooled(
        name="maxout",
        title="Maxout",
        summary="max over k linear pieces: a learned convex piecewise-linear activation.",
        params=(
            Param(
                "pieces",
                2,
                "k, the number of linear pieces per unit",
                integer=True,
                domain=Interval(1, float("inf"), lo_closed=True),
                example=3,
            ),
            Param("dim", -1, "the axis holding units × pieces (pieces consecutive)", integer=True, example=0),
        ),
        formula=r"f(x)_j = \max_{k=1}^{K} x_{jK + k}",
        derivative_formula=(
            r"\frac{\partial f_j}{\partial x_{jK+k}} = \begin{cases} 1 & k = \text{first } \arg\max \\"
            r" 0 & \text{otherwise} \end{cases}"
        ),
        range=Interval(),
        year=2013,
        paper=GOODFELLOW_2013,
        uses=("with dropout, as in the original paper", "learned piecewise-linear units"),
        notes=("Ties send the whole gradient to the first maximal piece, as argmax and torch.max(dim) choose.",),
    ),
)
