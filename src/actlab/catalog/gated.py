"""The gated linear unit family: the input is split in two halves a, b along ``dim`` and
y = a ⊙ gate(b), the gate being an elementwise catalog entry (σ for GLU, GELU for GeGLU ...).

The derivatives follow from the gate's own: dy/da = gate(b), dy/db = a gate'(b).
"""

from __future__ import annotations

from .spec import Gated, Interval, Paper, Param

DAUPHIN_2016 = Paper(
    "Language Modeling with Gated Convolutional Networks",
    "Dauphin, Fan, Auli, Grangier",
    2016,
    "https://arxiv.org/abs/1612.08083",
)
SHAZEER_2020 = Paper("GLU Variants Improve Transformer", "Shazeer", 2020, "https://arxiv.org/abs/2002.05202")

DIM = (Param("dim", -1, "the axis that is split in halves a | b (b is gated)", integer=True, example=0),)


def _gated(name: str, gate: str, title: str, gate_tex: str, paper: Paper, uses: tuple[str, ...]) -> Gated:
    return Gated(
        name=name,
        title=title,
        summary=f"a ⊙ {gate}(b) for x = [a, b] split in halves along dim.",
        params=DIM,
        gate=gate,
        formula=rf"f(a, b) = a \odot {gate_tex}(b)",
        derivative_formula=(
            rf"\frac{{\partial f}}{{\partial a}} = {gate_tex}(b),\quad"
            rf"\frac{{\partial f}}{{\partial b}} = a \odot {gate_tex}'(b)"
        ),
        range=Interval(),
        year=paper.year,
        paper=paper,
        uses=uses,
    )


ENTRIES: tuple[Gated, ...] = (
    _gated("glu", "sigmoid", "GLU", r"\sigma", DAUPHIN_2016, ("gated convolutional language models",)),
    _gated("reglu", "relu", "ReGLU", r"\mathrm{ReLU}", SHAZEER_2020, ("transformer FFN (T5 variants)",)),
    _gated("geglu", "gelu", "GeGLU", r"\mathrm{GELU}", SHAZEER_2020, ("transformer FFN (T5 v1.1, Gemma)",)),
    _gated("swiglu", "silu", "SwiGLU", r"\mathrm{SiLU}", SHAZEER_2020, ("transformer FFN (LLaMA, PaLM)",)),
    _gated("bilinear", "identity", "Bilinear", r"\mathrm{id}", SHAZEER_2020, ("an ungated baseline of the family",)),
)
