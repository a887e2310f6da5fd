"""The elementwise activations: f: R -> R applied to every element.

Each entry gives the stable ``forward`` and hand-written ``derivative`` used for
evaluation, the textbook ``definition`` the high-precision oracle evaluates, LaTeX
for both, declared properties and where it comes from.  Variants are
reparameterisations of one formula (``silu`` is ``swish_beta`` at beta = 1,
``selu`` is a scaled ``elu``), never copies.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from . import formulas as F
from .spec import (
    DISCONTINUOUS,
    INF,
    NONNEGATIVE,
    POSITIVE,
    REAL,
    SMOOTH,
    Elementwise,
    Interval,
    Kink,
    Paper,
    Param,
    Params,
)

# --- constants, each computed from its definition -------------------------------------------

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
GELU_TANH_CUBIC = 0.044715
"""The cubic coefficient of Hendrycks & Gimpel's tanh approximation of GELU (a fitted value)."""
QUICK_GELU_BETA = 1.702
"""The slope of Hendrycks & Gimpel's sigmoid approximation x σ(1.702 x) (a fitted value)."""


def _selu_constants() -> tuple[float, float, float]:
    """α01, λ01 and λ01·α01 of Klambauer et al. (2017), eq. 14: the fixed point (μ, ν) = (0, 1).

    Evaluated at 40 digits and rounded once each: float arithmetic on erfc and √e puts α 3 ulp
    off, and the product of the two rounded constants misses the correctly rounded λα (the
    limit f(-inf) = -λα) by an ulp.
    """
    import mpmath

    with mpmath.workdps(40):
        c = mpmath.erfc(1 / mpmath.sqrt(2)) * mpmath.sqrt(mpmath.e)
        alpha = -mpmath.sqrt(2 / mpmath.pi) / (c - 1)
        e2 = mpmath.erfc(mpmath.sqrt(2)) * mpmath.e**2
        denom = 2 * e2 + mpmath.pi * c * c - 2 * (2 + mpmath.pi) * c + mpmath.pi + 2
        lam = (1 - c) * mpmath.sqrt(2 * mpmath.pi) / mpmath.sqrt(denom)
        return float(alpha), float(lam), float(lam * alpha)


SELU_ALPHA, SELU_SCALE, SELU_SCALE_ALPHA = _selu_constants()
STAR_RELU_SCALE = 2.0 / math.sqrt(5.0)
"""1 / std(relu(z)²) for z ~ N(0, 1): Var = E[relu⁴] - E[relu²]² = 3/2 - 1/4 = 5/4."""
STAR_RELU_BIAS = -1.0 / math.sqrt(5.0)
"""-scale * E[relu(z)²] = -scale / 2, so that star_relu(z) has mean 0 and variance 1."""

CANCELLING_GATE_ULPS: dict[str, dict[str, float]] = {
    "gelu": {"f": 5.0, "f'": 8.0},
    "gelu_tanh": {"f": 5.0, "f'": 8.0},
    "quick_gelu": {"f": 5.0, "f'": 7.0},
    "silu": {"f'": 6.0},
    "mish": {"f'": 8.0},
    "xielu": {"f": 5.0, "f'": 5.0},
    "snake": {"f'": 5.0},
}
"""The stated exceptions to the float64 bound of 4 max(1, κ) ulp, as measured by
``actlab accuracy --dense`` (worst: gelu_tanh f' 6.94, mish f' 6.97, quick_gelu f' 5.56,
silu f' 4.38, xielu f 3.99, snake f' 3.99, gelu f 3.96 and f' 4.11 — 3.07 and 4.88 over
7,500 random points on [-6, 6] outside the window where GELU takes its series), with
a margin.  Each is a sum of two rounded terms of opposite sign (Φ + xφ, σ + xσ') that
partly cancel where f' is small: the rounding of each term, not the conditioning of
f' itself, sets the error there."""

# --- papers --------------------------------------------------------------------------------

RUMELHART_1986 = Paper(
    "Learning representations by back-propagating errors",
    "Rumelhart, Hinton, Williams",
    1986,
    "https://doi.org/10.1038/323533a0",
)
LECUN_1998 = Paper("Efficient BackProp", "LeCun, Bottou, Orr, Müller", 1998, "https://doi.org/10.1007/3-540-49430-8_2")
NAIR_2010 = Paper(
    "Rectified Linear Units Improve Restricted Boltzmann Machines",
    "Nair, Hinton",
    2010,
    "https://www.cs.toronto.edu/~hinton/absps/reluICML.pdf",
)
MAAS_2013 = Paper(
    "Rectifier Nonlinearities Improve Neural Network Acoustic Models",
    "Maas, Hannun, Ng",
    2013,
    "https://ai.stanford.edu/~amaas/papers/relu_hybrid_icml2013_final.pdf",
)
HE_2015 = Paper(
    "Delving Deep into Rectifiers: Surpassing Human-Level Performance on ImageNet Classification",
    "He, Zhang, Ren, Sun",
    2015,
    "https://arxiv.org/abs/1502.01852",
)
CLEVERT_2015 = Paper(
    "Fast and Accurate Deep Network Learning by Exponential Linear Units (ELUs)",
    "Clevert, Unterthiner, Hochreiter",
    2015,
    "https://arxiv.org/abs/1511.07289",
)
KLAMBAUER_2017 = Paper(
    "Self-Normalizing Neural Networks",
    "Klambauer, Unterthiner, Mayr, Hochreiter",
    2017,
    "https://arxiv.org/abs/1706.02515",
)
BARRON_2017 = Paper(
    "Continuously Differentiable Exponential Linear Units",
    "Barron",
    2017,
    "https://arxiv.org/abs/1704.07483",
)
HENDRYCKS_2016 = Paper(
    "Gaussian Error Linear Units (GELUs)", "Hendrycks, Gimpel", 2016, "https://arxiv.org/abs/1606.08415"
)
ELFWING_2017 = Paper(
    "Sigmoid-Weighted Linear Units for Neural Network Function Approximation in Reinforcement Learning",
    "Elfwing, Uchibe, Doya",
    2017,
    "https://arxiv.org/abs/1702.03118",
)
RAMACHANDRAN_2017 = Paper(
    "Searching for Activation Functions", "Ramachandran, Zoph, Le", 2017, "https://arxiv.org/abs/1710.05941"
)
MISRA_2019 = Paper(
    "Mish: A Self Regularized Non-Monotonic Activation Function",
    "Misra",
    2019,
    "https://arxiv.org/abs/1908.08681",
)
DUGAS_2001 = Paper(
    "Incorporating Second-Order Functional Knowledge for Better Option Pricing",
    "Dugas, Bengio, Bélisle, Nadeau, Garcia",
    2001,
    "https://papers.nips.cc/paper/1920-incorporating-second-order-functional-knowledge-for-better-option-pricing",
)
GLOROT_2010 = Paper(
    "Understanding the difficulty of training deep feedforward neural networks",
    "Glorot, Bengio",
    2010,
    "https://proceedings.mlr.press/v9/glorot10a.html",
)
COURBARIAUX_2015 = Paper(
    "BinaryConnect: Training Deep Neural Networks with binary weights during propagations",
    "Courbariaux, Bengio, David",
    2015,
    "https://arxiv.org/abs/1511.00363",
)
HOWARD_2019 = Paper("Searching for MobileNetV3", "Howard et al.", 2019, "https://arxiv.org/abs/1905.02244")
KRIZHEVSKY_2010 = Paper(
    "Convolutional Deep Belief Networks on CIFAR-10",
    "Krizhevsky",
    2010,
    "https://www.cs.toronto.edu/~kriz/conv-cifar10-aug2010.pdf",
)
COLLOBERT_2004 = Paper(
    "Large Scale Machine Learning (PhD thesis)",
    "Collobert",
    2004,
    "https://publications.idiap.ch/downloads/reports/2004/collobert_2004_phd.pdf",
)
DONOHO_1995 = Paper("De-noising by soft-thresholding", "Donoho", 1995, "https://doi.org/10.1109/18.382009")
DONOHO_1994 = Paper(
    "Ideal spatial adaptation by wavelet shrinkage",
    "Donoho, Johnstone",
    1994,
    "https://doi.org/10.1093/biomet/81.3.425",
)
BARRON_2021 = Paper(
    "Squareplus: A Softplus-Like Algebraic Rectifier", "Barron", 2021, "https://arxiv.org/abs/2112.11687"
)
BLONDEL_2020 = Paper(
    "Learning with Fenchel-Young Losses",
    "Blondel, Martins, Niculae",
    2020,
    "https://jmlr.org/papers/v21/19-021.html",
)
SO_2021 = Paper(
    "Primer: Searching for Efficient Transformers for Language Modeling",
    "So, Mańke, Liu, Dai, Shazeer, Le",
    2021,
    "https://arxiv.org/abs/2109.08668",
)
ZIYIN_2020 = Paper(
    "Neural Networks Fail to Learn Periodic Functions and How to Fix It",
    "Liu Ziyin, Hartwig, Ueda",
    2020,
    "https://arxiv.org/abs/2006.08195",
)
YU_2022 = Paper("MetaFormer Baselines for Vision", "Yu et al.", 2022, "https://arxiv.org/abs/2210.13452")
HUANG_2024 = Paper(
    "Deriving Activation Functions Using Integration", "Huang, Schlag", 2024, "https://arxiv.org/abs/2411.13010"
)
MA_2022 = Paper("Mega: Moving Average Equipped Gated Attention", "Ma et al.", 2022, "https://arxiv.org/abs/2209.10655")


# --- the shapes several entries share ----------------------------------------------------


def _leaky(slope: str, learnable: bool = False) -> dict[str, Any]:
    """max(0, x) + s min(0, x) with the slope stored in parameter ``slope`` (∂f/∂s when it is ``learnable``)."""

    def forward(x: Any, p: Params, xp: Any) -> Any:
        s = getattr(p, slope)
        if isinstance(s, int | float) and 0 < s <= 1:  # the same bits as the selection, without one
            return xp.maximum(x, s * x)
        if isinstance(s, int | float) and s > 1:
            return xp.minimum(x, s * x)
        return xp.where(x > 0, x, s * x)

    def derivative(x: Any, p: Params, xp: Any) -> Any:
        s = getattr(p, slope)
        return xp.where(x > 0, 1.0, s if isinstance(s, int | float) else s * xp.ones_like(x))

    def output_range(p: Params) -> Interval:
        s = getattr(p, slope)
        return REAL if s > 0 else NONNEGATIVE

    def by_slope(x: Any, p: Params, xp: Any) -> Any:
        return xp.where(x > 0, 0.0, x)

    return dict(
        forward=forward,
        derivative=derivative,
        param_derivatives={slope: by_slope} if learnable else {},
        range=output_range,
        monotonic=lambda p: getattr(p, slope) >= 0,
        smoothness=lambda p: SMOOTH if getattr(p, slope) == 1 else 0,
        zero_centred=False,
        kinks=lambda p: (
            () if getattr(p, slope) == 1 else (Kink(0.0, getattr(p, slope), "left derivative at 0, as PyTorch"),)
        ),
    )


def _exp_linear(alpha: Any, scale: Any, inscale: Any, scale_alpha: Any = None) -> dict[str, Any]:
    """scale * (x if x > 0 else alpha (e^{x / inscale} - 1)): ELU, SELU and CELU.

    ``alpha``, ``scale`` and ``inscale`` map bound parameters to numbers; ``scale_alpha``
    gives scale·alpha as one number (SELU's correctly rounded λα; by default the product),
    so that the negative branch, scale_alpha * expm1(min(x, 0) / inscale), is rounded once
    and its limit -scale·alpha at -inf is exactly the constant.
    """
    if scale_alpha is None:

        def scale_alpha(p: Params) -> Any:
            return scale(p) * alpha(p)

    def forward(x: Any, p: Params, xp: Any) -> Any:
        neg = scale_alpha(p) * xp.expm1(xp.minimum(x, 0.0) / inscale(p))
        return xp.where(x > 0, scale(p) * x, neg)

    def derivative(x: Any, p: Params, xp: Any) -> Any:
        c = scale_alpha(p) / inscale(p)
        z = xp.minimum(x, 0.0) / inscale(p)
        neg = c * xp.exp(z)
        if not (isinstance(c, int | float) and c == 1):
            # c e^z from a subnormal e^z would be rounded twice (and be 0 where c e^z is not)
            neg = xp.where_lazy(z < F.exp_tail(xp), lambda v: F.times_exp(c, v, xp), z, neg)
        return xp.where(x > 0, scale(p), neg)

    def definition(x: Any, p: Params, xp: Any) -> Any:
        return xp.where(x > 0, scale(p) * x, scale_alpha(p) * (xp.exp(x / inscale(p)) - 1))

    def at_zero(p: Params) -> tuple[Kink, ...]:
        return (Kink(0.0, scale_alpha(p) / inscale(p), "left derivative at 0, as PyTorch"),)

    def output_range(p: Params) -> Interval:
        lo = -scale_alpha(p)
        return Interval(lo, INF) if lo < 0 else NONNEGATIVE

    return dict(
        forward=forward,
        derivative=derivative,
        definition=definition,
        kinks=at_zero,
        range=output_range,
        monotonic=True,
        smoothness=lambda p: 1 if alpha(p) == inscale(p) else 0,
    )


def _celu_by_alpha(x: Any, p: Params, xp: Any) -> Any:
    # ∂/∂α α(e^{x/α} - 1) = (e^u - 1) - u e^u, u = x/α (for x <= 0)
    u = xp.minimum(x, 0.0) / p.alpha
    return xp.where(x > 0, 0.0, xp.expm1(u) - F.mul0(u, xp.exp(u), xp))


def _snake_by_alpha(x: Any, p: Params, xp: Any) -> Any:
    # ∂/∂α [x + sin²(αx)/α] = x sin(2αx)/α - sin²(αx)/α²
    s, c = xp.sin(p.alpha * x), xp.cos(p.alpha * x)
    return 2.0 * x * s * c / p.alpha - s * s / (p.alpha * p.alpha)


def _xielu_by_alpha_p(x: Any, p: Params, xp: Any) -> Any:
    return xp.where(x > 0, x * x, 0.0)


def _xielu_by_alpha_n(x: Any, p: Params, xp: Any) -> Any:
    m = xp.minimum(x, p.eps)
    near = F.expm1_minus_x(m, xp) + xp.where(x > p.eps, p.eps - x, 0.0)
    far = xp.expm1(xp.minimum(x, -1.0)) - x  # e^x - 1 - x, no cancellation below -1; +inf at -inf
    return xp.where(x > 0, 0.0, xp.where(x < -1.0, far, near))


def _swish(beta: Any, learnable: bool = False) -> dict[str, Any]:
    """x σ(βx) with β = beta(p); its derivative σ(βx) + βx σ'(βx) (and ∂f/∂β when β is ``learnable``).

    Where βx < -708, σ(βx) = e^{βx} is a subnormal that has lost bits while x σ(βx) and
    f' = (1 + βx) e^{βx} are up to 708 times larger: there both are :func:`F.times_exp`.
    The tails clip βx at that edge: a namespace without lazy selection (PyTorch) evaluates
    them everywhere, and autograd through its ``where`` needs them finite there.
    """

    def value_tail(x: Any, p: Params, xp: Any, body: Any) -> Any:
        if not F.float64_result(xp):
            return body

        def tail(v: Any) -> Any:
            return F.times_exp(v, xp.minimum(beta(p) * v, F.exp_tail(xp)), xp)

        return xp.where_lazy(beta(p) * x < F.exp_tail(xp), tail, x, body)

    def slope_tail(x: Any, p: Params, xp: Any, body: Any) -> Any:
        if not F.float64_result(xp):
            return body

        def tail(v: Any) -> Any:
            bv = beta(p) * v
            return F.times_exp(1.0 + bv, xp.minimum(bv, F.exp_tail(xp)), xp)

        return xp.where_lazy(beta(p) * x < F.exp_tail(xp), tail, x, body)

    def forward(x: Any, p: Params, xp: Any) -> Any:
        return value_tail(x, p, xp, F.mul0(x, F.sigmoid(beta(p) * x, xp), xp))

    def derivative(x: Any, p: Params, xp: Any) -> Any:
        bx = beta(p) * x
        return slope_tail(x, p, xp, F.sigmoid(bx, xp) + F.mul0(bx, F.sigmoid_prime(bx, xp), xp))

    def definition(x: Any, p: Params, xp: Any) -> Any:
        return x / (1 + xp.exp(-beta(p) * x))

    def fused(x: Any, p: Params, xp: Any) -> tuple[Any, Any]:
        bx = beta(p) * x
        s, ds = F.sigmoid_and_prime(bx, xp)
        return value_tail(x, p, xp, F.mul0(x, s, xp)), slope_tail(x, p, xp, s + F.mul0(bx, ds, xp))

    def by_beta(x: Any, p: Params, xp: Any) -> Any:  # ∂/∂β x σ(βx) = x² σ'(βx)
        def tail(v: Any) -> Any:  # (x e^{βx/2})², as σ'(βx) = e^{βx} underflows
            g = F.mul0(v, xp.exp(0.5 * xp.minimum(beta(p) * v, F.exp_tail(xp))), xp)
            return g * g

        body = F.mul0(x * x, F.sigmoid_prime(beta(p) * x, xp), xp)
        if not F.float64_result(xp):
            return body
        return xp.where_lazy(beta(p) * x < F.exp_tail(xp), tail, x, body)

    # minimum of x σ(x): -W(1/e)-type constant, ≈ -0.2784645 at x ≈ -1.2784645
    def output_range(p: Params) -> Interval:
        b = beta(p)
        return Interval(-0.2784645 / b, INF, approx=True) if b > 0 else REAL

    return dict(
        forward=forward,
        derivative=derivative,
        definition=definition,
        fused=fused,
        param_derivatives={"beta": by_beta} if learnable else {},
        range=output_range,
        monotonic=lambda p: beta(p) == 0,
        self_gated=True,
    )


def _gelu_tanh_two_u(x: Any) -> Any:
    # 2u = 2√(2/π)(x + 0.044715 x³); x * x * x, never x**3
    return 2.0 * SQRT_2_OVER_PI * x * (1.0 + GELU_TANH_CUBIC * x * x)


def _gelu_tanh_slope(x: Any) -> Any:
    # x d(2u)/dx
    return 2.0 * SQRT_2_OVER_PI * x * (1.0 + 3.0 * GELU_TANH_CUBIC * x * x)


def _gelu_tanh_tail_two_u(v: Any, xp: Any) -> tuple[Any, Any]:
    # (min(x, 0), min(2u, edge)): the tail is finite (and so differentiable) where it is not used
    v = xp.minimum(v, 0.0)
    return v, xp.minimum(_gelu_tanh_two_u(v), F.exp_tail(xp))


def _gelu_tanh_forward(x: Any, xp: Any) -> Any:
    # 0.5 x (1 + tanh(u)) = x σ(2u); below 2u = -708 σ(2u) = e^{2u} underflows: x e^{2u} directly
    two_u = _gelu_tanh_two_u(x)
    body = F.mul0(x, F.sigmoid(two_u, xp), xp)
    if not F.float64_result(xp):
        return body
    return xp.where_lazy(two_u < F.exp_tail(xp), lambda v: F.times_exp(*_gelu_tanh_tail_two_u(v, xp), xp), x, body)


def _gelu_tanh_derivative(x: Any, xp: Any) -> Any:
    two_u = _gelu_tanh_two_u(x)
    body = F.sigmoid(two_u, xp) + F.mul0(_gelu_tanh_slope(x), F.sigmoid_prime(two_u, xp), xp)
    if not F.float64_result(xp):
        return body

    def tail(v: Any) -> Any:  # (1 + x 2u') e^{2u}
        v, tu = _gelu_tanh_tail_two_u(v, xp)
        return F.times_exp(1.0 + _gelu_tanh_slope(v), tu, xp)

    return xp.where_lazy(two_u < F.exp_tail(xp), tail, x, body)


def _gelu_tanh_definition(x: Any, xp: Any) -> Any:
    return 0.5 * x * (1 + xp.tanh(SQRT_2_OVER_PI * (x + GELU_TANH_CUBIC * x**3)))


GELU_RANGE = Interval(-0.17, INF, approx=True)
GELU_FORMULA = (
    r"\mathrm{GELU}(x) = x\,\Phi(x)" r" = \frac{x}{2}\left[1 + \mathrm{erf}\left(\frac{x}{\sqrt{2}}\right)\right]"
)
GELU_DERIVATIVE = r"\mathrm{GELU}'(x) = \Phi(x) + x\,\varphi(x)"
GELU_TANH_FORMULA = (
    r"f(x) = \frac{x}{2}\left[1 + \tanh\left(\sqrt{2/\pi}\,(x + 0.044715\,x^{3})\right)\right]"
    r" = x\,\sigma(2u)"
)
GELU_TANH_DERIVATIVE = (
    r"f'(x) = \sigma(2u) + 2x\sqrt{2/\pi}\,(1 + 0.134145\,x^{2})\,\sigma'(2u),"
    r"\ u = \sqrt{2/\pi}\,(x + 0.044715\,x^{3})"
)
"""GELU's minimum is ≈ -0.17 (at x ≈ -0.75); the analysis computes it to 10 digits."""


def _gelu_forward(x: Any, p: Params, xp: Any) -> Any:
    if p.approximate == "tanh":
        return _gelu_tanh_forward(x, xp)
    return F.x_ndtr(x, xp)


def _gelu_derivative(x: Any, p: Params, xp: Any) -> Any:
    if p.approximate == "tanh":
        return _gelu_tanh_derivative(x, xp)
    return F.ndtr_slope(x, xp)


def _gelu_fused(x: Any, p: Params, xp: Any) -> tuple[Any, Any]:
    if p.approximate == "tanh":
        return _gelu_tanh_forward(x, xp), _gelu_tanh_derivative(x, xp)
    c = F.ndtr(x, xp)  # Φ, the costly part, once for both
    return F.x_ndtr(x, xp, c), F.ndtr_slope(x, xp, c)


def _gelu_definition(x: Any, p: Params, xp: Any) -> Any:
    if p.approximate == "tanh":
        return _gelu_tanh_definition(x, xp)
    return x * xp.ndtr(x)


def _mish_derivative(x: Any, p: Params, xp: Any) -> Any:
    # mish' = tanh(sp(x)) + x σ(x) sech²(sp(x)); the second factor in overflow-free form
    e = xp.exp(-xp.abs(x))
    pos = 4.0 * e * e * (1.0 + e) / ((1.0 + e) * (1.0 + e) + e * e) ** 2
    neg = 4.0 * e * (1.0 + e) / ((1.0 + e) * (1.0 + e) + 1.0) ** 2
    body = F.tanh_softplus(x, xp) + F.mul0(x, xp.where(x > 0, pos, neg), xp)
    if not F.float64_result(xp):
        return body
    # below -708, e^x underflows: f' = (1 + x) e^x to within e^x relative, formed without it
    return xp.where_lazy(x < F.exp_tail(xp), lambda v: F.times_exp(1.0 + v, _mish_tail_exponent(v, xp), xp), x, body)


def _mish_forward(x: Any, p: Params, xp: Any) -> Any:
    body = F.mul0(x, F.tanh_softplus(x, xp), xp)
    if not F.float64_result(xp):
        return body
    # below -708, tanh(softplus(x)) = e^x (1 + O(e^x)) underflows: x e^x formed without it
    return xp.where_lazy(x < F.exp_tail(xp), lambda v: F.times_exp(v, _mish_tail_exponent(v, xp), xp), x, body)


def _mish_tail_exponent(v: Any, xp: Any) -> Any:
    # x, clipped at the edge so that the tail is finite (and differentiable) where it is not used
    return xp.minimum(v, F.exp_tail(xp))


def _softplus_forward(x: Any, p: Params, xp: Any) -> Any:
    z = p.beta * x
    # max(βx, 0)/β is max(x, 0): exact, and finite where βx overflows
    y = xp.maximum(x, 0.0) + xp.log1p(xp.exp(-xp.abs(z))) / p.beta
    return y if p.threshold is None else xp.where(z > p.threshold, x, y)


def _softplus_derivative(x: Any, p: Params, xp: Any) -> Any:
    z = p.beta * x
    d = F.sigmoid(z, xp)
    return d if p.threshold is None else xp.where(z > p.threshold, 1.0, d)


def _softplus_definition(x: Any, p: Params, xp: Any) -> Any:
    y = xp.log(1 + xp.exp(p.beta * x)) / p.beta
    return y if p.threshold is None else xp.where(p.beta * x > p.threshold, x, y)


NARROW_CLIP = 1.0e150
"""Where a float32/float16 result is computed in float64, ±inf is clipped here: x² and 1 + |x|
stay finite in float64 for every narrow x (|x| < 6.6e4 or 3.4e38), and the value at ±1e150 is
already the limit once rounded to the narrow type."""


def _softsign_forward(x: Any, p: Params, xp: Any) -> Any:
    if F.direct_is_enough(xp):
        # a float32/float16 result computed in float64: 1 + |x| neither overflows nor absorbs what
        # float32 keeps, so x/(1 + |x|) is two float64 roundings; a third of the work of the select
        c = xp.clip(x, -NARROW_CLIP, NARROW_CLIP)
        return c / (1.0 + xp.abs(c))
    a = xp.abs(x)
    # above |x| = 1 divide through by |x|, so that ±inf gives ±1, not inf/inf
    return xp.where(a <= 1.0, x / (1.0 + a), xp.sign(x) / (1.0 + 1.0 / a))


def _softsign_derivative(x: Any, p: Params, xp: Any) -> Any:
    r = 1.0 / (1.0 + xp.abs(x))
    return r * r  # (1 + |x|)^2 would overflow first


def _hardsigmoid_forward(x: Any, p: Params, xp: Any) -> Any:
    # x/w + offset with w = 1/slope (x/6 + 1/2: one rounding fewer than x * (1/6)), evaluated
    # from its zero, (x + 3)/6, as x/6 + 1/2 cancels near -3
    return xp.clip(F.affine(x, 1.0 / p.slope, p.offset, xp), 0.0, 1.0)


def _hardsigmoid_definition(x: Any, p: Params, xp: Any) -> Any:
    return xp.clip(x / (1.0 / p.slope) + p.offset, 0.0, 1.0)


def _hardsigmoid_knees(p: Params) -> tuple[float, float]:
    """Where x/w + offset is 0 and 1 (w = 1/slope), each rounded once: -3 and 3 by default."""
    return _knees(1.0 / p.slope, p.offset)


_KNEES: dict[tuple[float, float], tuple[float, float]] = {}
"""Knees by (width, offset): a plain dict, as torch.compile traces through cache wrappers."""


def _rounded(q: Fraction) -> float:
    """The float nearest the exact rational q; ±inf beyond the largest float (an offset near 1e308)."""
    try:
        return float(q)
    except OverflowError:
        return math.inf if q > 0 else -math.inf


def _knees(width: float, offset: float) -> tuple[float, float]:
    knees = _KNEES.get((width, offset))
    if knees is None:
        if not math.isfinite(width):  # a slope below 1/max-float: the knees are ±inf
            knees = -offset * width, (1.0 - offset) * width
        else:
            w, b = Fraction(width), Fraction(offset)
            knees = _rounded(-b * w), _rounded((1 - b) * w)
        _KNEES[(width, offset)] = knees
    return knees


def _hardsigmoid_derivative(x: Any, p: Params, xp: Any) -> Any:
    lo, hi = _hardsigmoid_knees(p)
    return xp.where((x > lo) & (x < hi), p.slope, 0.0)


def _hardsigmoid_kinks(p: Params) -> tuple[Kink, ...]:
    rule = "0 at the knee, as PyTorch"
    lo, hi = _hardsigmoid_knees(p)
    return tuple(Kink(k, 0.0, rule) for k in (lo, hi) if math.isfinite(k))  # a knee past the floats is none


def _hardswish_derivative(x: Any, p: Params, xp: Any) -> Any:
    return xp.where(x <= -3.0, 0.0, xp.where(x < 3.0, (2.0 * x + 3.0) / 6.0, 1.0))


def _squareplus_narrow(x: Any, p: Params, xp: Any) -> tuple[Any, Any] | None:
    """(clipped x, √(x² + b)) in float64 for a float32/float16 result, where x² + b cannot
    overflow (b up to 1e300): one square root instead of the overflow-safe hypots; None when
    the namespace keeps float64 results or b is too large for it."""
    if not F.direct_is_enough(xp) or p.b > 1.0e300:
        return None
    c = xp.clip(x, -NARROW_CLIP, NARROW_CLIP)
    return c, xp.sqrt(c * c + p.b)


def _squareplus_forward(x: Any, p: Params, xp: Any) -> Any:
    narrow = _squareplus_narrow(x, p, xp)
    if narrow is not None:  # the same two cancellation-free branches, without the hypots
        c, s = narrow
        return xp.where(c >= 0, 0.5 * (c + s), p.b / (2.0 * (s - c)))
    root_b = math.sqrt(p.b)
    s = xp.hypot(x, root_b)
    # for x < 0, (x + s)/2 cancels: use the conjugate b / (2 (s - x)), and below -1 divide through
    # by |x| so that s - x cannot overflow near the largest float
    conjugate = p.b / (2.0 * (s - x))
    far = (0.5 * p.b / xp.abs(x)) / (1.0 + xp.hypot(1.0, root_b / xp.minimum(x, -1.0)))
    # for x >= 0, x + (s - x)/2 with s - x = b / (s + x): no overflow at the largest float, which
    # 0.5 x + 0.5 s escapes only as written (XLA factors it into 0.5 (x + s) under jit)
    above = x + 0.5 * p.b / (s + x)
    return xp.where(x >= 0, above, xp.where(x < -1.0, far, conjugate))


def _squareplus_derivative(x: Any, p: Params, xp: Any) -> Any:
    narrow = _squareplus_narrow(x, p, xp)
    if narrow is not None:
        c, s = narrow
        return xp.where(c >= 0, 0.5 + 0.5 * (c / s), p.b / (2.0 * s) / (s - c))
    root_b = math.sqrt(p.b)
    s = xp.hypot(x, root_b)
    pos = 0.5 + 0.5 / xp.hypot(1.0, root_b / x)  # x / s, finite at x = inf
    return xp.where(x >= 0, pos, p.b / (2.0 * s) / (s - x))  # b / (2 s (s - x)) overflows first


def _sparse_plus_forward(x: Any, p: Params, xp: Any) -> Any:
    # (x + 1)²/4 between the knees: x + 1 is exact near -1 (Sterbenz), where the value is small
    t = x + 1.0
    return xp.where(x <= -1.0, 0.0, xp.where(x >= 1.0, x, 0.25 * (t * t)))


def _shrink_derivative(x: Any, p: Params, xp: Any) -> Any:
    return xp.where(xp.abs(x) > p.lambd, 1.0, 0.0)


def _shrink_kinks(p: Params) -> tuple[Kink, ...]:
    rule = "0 at ±lambd, as PyTorch"
    return (Kink(-p.lambd, 0.0, rule), Kink(p.lambd, 0.0, rule)) if p.lambd > 0 else ()


def _xielu_forward(x: Any, p: Params, xp: Any) -> Any:
    m = xp.minimum(x, p.eps)
    near = p.alpha_n * (F.expm1_minus_x(m, xp) + xp.where(x > p.eps, p.eps - x, 0.0)) + p.beta * x
    # for x < -1 (<= eps) regroup so that x = -inf gives +inf, not inf - inf
    far = p.alpha_n * xp.expm1(xp.minimum(x, -1.0)) + (p.beta - p.alpha_n) * x
    neg = xp.where(x < -1.0, far, near)
    return xp.where(x > 0, x * (p.alpha_p * x + p.beta), neg)


def _xielu_derivative(x: Any, p: Params, xp: Any) -> Any:
    neg = xp.where(x <= p.eps, p.alpha_n * xp.expm1(xp.minimum(x, p.eps)), -p.alpha_n) + p.beta
    return xp.where(x > 0, 2.0 * p.alpha_p * x + p.beta, neg)


def _xielu_definition(x: Any, p: Params, xp: Any) -> Any:
    neg = (xp.expm1(xp.minimum(x, p.eps)) - x) * p.alpha_n + p.beta * x
    return xp.where(x > 0, p.alpha_p * x * x + p.beta * x, neg)


def _xielu_range(p: Params) -> Interval:
    # on x <= 0, f' = alpha_n (e^x - 1) + beta vanishes at x* = log(1 - beta / alpha_n)
    if p.beta <= 0:
        return REAL
    xs = math.log1p(-p.beta / p.alpha_n)
    # eps < 0 moves f only on (eps, 0], by less than alpha_n |eps|: the minimum is then approximate
    return Interval(-p.beta + (p.beta - p.alpha_n) * xs, INF, lo_closed=True, approx=p.eps != 0.0)


def _xielu_kinks(p: Params) -> tuple[Kink, ...]:
    if p.eps == 0.0:
        return (Kink(0.0, p.beta, "f'' jumps at 0; f' is continuous"),)
    kinks = [Kink(0.0, p.beta - p.alpha_n, "left derivative at 0 (f jumps there when eps < 0)")]
    if p.eps < 0:
        kinks.append(Kink(p.eps, p.alpha_n * math.expm1(p.eps) + p.beta, "left derivative at eps"))
    return tuple(kinks)


LAPLACE_MU = 0.707107
"""μ of MEGA's laplace attention activation as transformers writes it (≈ 1/√2, to 6 digits)."""
LAPLACE_SIGMA = 0.282095
"""σ of the same (≈ 1/√(4π), to 6 digits): f(μ) = 1/2 and f′(μ) = 1/(σ√(2π)) ≈ √2 then match relu(x)² at μ."""

LAPLACE_TAIL = 37.0
"""Beyond this |z|, e^{-z²/2} is a subnormal float64 (from |z| ≈ 37.6): φ(z)/σ is formed by
:func:`formulas.times_exp` from e^{-z²/4}, which is still normal."""


LAPLACE_ULPS = {"f": 10.0, "f'": 9.0}
"""The float64 bound of laplace, above 4 max(1, κ) ulp: z = (x - μ)/σ is rounded once or twice,
and Φ(z), φ(z) magnify z's relative error by |zφ(z)/Φ(z)| and z², which κ = |x f'/f| (the
condition in x) understates where |x| is small beside μ (at x = 0, κ = 0 and z = -2.51).
Measured by ``actlab accuracy laplace`` with the default μ, σ: 7.84 for f, 6.37 for f'."""


def _laplace_z(x: Any, p: Params) -> Any:
    return (x - p.mu) / p.sigma


def _laplace_forward(x: Any, p: Params, xp: Any) -> Any:
    return F.ndtr(_laplace_z(x, p), xp)


def _laplace_derivative(x: Any, p: Params, xp: Any) -> Any:
    z = _laplace_z(x, p)
    body = F.npdf(z, xp) / p.sigma
    if not F.float64_result(xp):
        return body
    scale = 1.0 / (p.sigma * F.SQRT_2PI)

    def tail(v: Any) -> Any:
        v = xp.clip(v, F.GELU_FLOOR, -F.GELU_FLOOR)  # ±inf: z² stays finite, the result is 0
        return F.times_exp(scale, -0.5 * v * v, xp)

    return xp.where_lazy(xp.abs(z) > LAPLACE_TAIL, tail, z, body)


def _sqrtsoftplus_forward(x: Any, p: Params, xp: Any) -> Any:
    # below the exp underflow softplus(x) = eˣ(1 - eˣ/2 + ...) is a subnormal (or 0) while
    # √softplus(x) = e^{x/2}(1 - eˣ/4 + ...) is a normal number: there it is e^{x/2}
    tail = F.exp_tail(xp)
    body = xp.sqrt(F.softplus(xp.maximum(x, tail), xp))
    return xp.where_lazy(x < tail, lambda v: xp.exp(0.5 * v), x, body)


def _sqrtsoftplus_derivative(x: Any, p: Params, xp: Any) -> Any:
    # σ(x)/(2√softplus(x)); below the exp underflow both σ and softplus are eˣ to within a
    # relative eˣ, and the ratio is e^{x/2}/2 (σ/√softplus would be 0/0 at -inf)
    tail = F.exp_tail(xp)
    xm = xp.maximum(x, tail)
    body = F.sigmoid(xm, xp) / (2.0 * xp.sqrt(F.softplus(xm, xp)))
    return xp.where_lazy(x < tail, lambda v: 0.5 * xp.exp(0.5 * v), x, body)


# --- the entries ---------------------------------------------------------------------------

ENTRIES: tuple[Elementwise, ...] = (
    Elementwise(
        name="identity",
        narrow=("f", "f'"),
        title="Identity (linear)",
        summary="f(x) = x: no activation, as on a regression output.",
        aliases=("linear",),
        formula=r"f(x) = x",
        derivative_formula=r"f'(x) = 1",
        forward=lambda x, p, xp: x,
        derivative=lambda x, p, xp: xp.ones_like(x),
        year=None,
        uses=("regression output layer", "a baseline that shows a deep linear network collapses"),
        zero_centred=True,
    ),
    Elementwise(
        name="sigmoid",
        title="Sigmoid (logistic)",
        summary="Squashes R onto (0, 1); saturates on both sides.",
        aliases=("logistic", "expit"),
        formula=r"\sigma(x) = \frac{1}{1 + e^{-x}}",
        derivative_formula=r"\sigma'(x) = \sigma(x)\,\sigma(-x) = \sigma(x)\,(1 - \sigma(x))",
        forward=lambda x, p, xp: F.sigmoid(x, xp),
        derivative=lambda x, p, xp: F.sigmoid_prime(x, xp),
        fused=lambda x, p, xp: F.sigmoid_and_prime(x, xp),
        definition=lambda x, p, xp: 1 / (1 + xp.exp(-x)),
        range=Interval(0.0, 1.0),
        year=1986,
        paper=RUMELHART_1986,
        uses=("binary classification output", "multi-label output (one per label)", "gates of LSTM/GRU"),
        notes=("The derivative is evaluated as σ(x)σ(-x), never s(1 - s), which is 0 from x ≈ 17 in float32.",),
    ),
    Elementwise(
        name="tanh",
        title="Hyperbolic tangent",
        summary="Zero-centred squashing onto (-1, 1); tanh(x) = 2σ(2x) - 1.",
        formula=r"\tanh(x) = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}} = 2\sigma(2x) - 1",
        derivative_formula=r"\tanh'(x) = 1 - \tanh^2(x) = \frac{4 e^{-2|x|}}{(1 + e^{-2|x|})^2}",
        forward=lambda x, p, xp: xp.tanh(x),
        derivative=lambda x, p, xp: 4.0 * F.sigmoid_prime(2.0 * x, xp),
        definition=lambda x, p, xp: (xp.exp(x) - xp.exp(-x)) / (xp.exp(x) + xp.exp(-x)),
        range=Interval(-1.0, 1.0),
        zero_centred=True,
        year=1998,
        paper=LECUN_1998,
        uses=("RNN/LSTM cell state", "bounded outputs in (-1, 1)"),
        notes=("The derivative is 4σ'(2x), never 1 - tanh², which is 0 from x ≈ 10 in float32.",),
    ),
    Elementwise(
        name="relu",
        narrow=("f", "f'"),
        title="ReLU",
        summary="max(0, x): cheap, sparse, no saturation for x > 0; units can die.",
        formula=r"\mathrm{ReLU}(x) = \max(0, x)",
        derivative_formula=r"\mathrm{ReLU}'(x) = \begin{cases} 1 & x > 0 \\ 0 & x \le 0 \end{cases}",
        forward=lambda x, p, xp: xp.maximum(x, 0.0),
        derivative=lambda x, p, xp: xp.where(x > 0, 1.0, 0.0),
        range=NONNEGATIVE,
        smoothness=0,
        kinks=(Kink(0.0, 0.0, "0 at 0, as PyTorch and JAX"),),
        year=2010,
        paper=NAIR_2010,
        uses=("default hidden activation", "CNNs", "deep ResNets with He initialisation"),
    ),
    Elementwise(
        name="leaky_relu",
        narrow=("f'",),
        title="Leaky ReLU",
        summary="x for x > 0, a small slope times x below: a ReLU whose units cannot die.",
        aliases=("lrelu",),
        params=(Param("negative_slope", 0.01, "slope for x <= 0", example=0.2),),
        formula=r"f(x) = \begin{cases} x & x > 0 \\ a x & x \le 0 \end{cases}",
        derivative_formula=r"f'(x) = \begin{cases} 1 & x > 0 \\ a & x \le 0 \end{cases}",
        **_leaky("negative_slope"),
        year=2013,
        paper=MAAS_2013,
        uses=("hidden layers where ReLU units die", "GAN discriminators"),
    ),
    Elementwise(
        name="prelu",
        narrow=("f'",),
        title="PReLU (parametric ReLU)",
        summary="Leaky ReLU whose negative slope is learned.",
        params=(
            Param(
                "weight",
                0.25,
                "slope for x <= 0; learned (init 0.25, as PyTorch)",
                example=0.1,
                learnable=True,
            ),
        ),
        formula=r"f(x) = \begin{cases} x & x > 0 \\ a x & x \le 0 \end{cases},\ a \text{ learned}",
        derivative_formula=r"f'(x) = \begin{cases} 1 & x > 0 \\ a & x \le 0 \end{cases}",
        **_leaky("weight", learnable=True),
        year=2015,
        paper=HE_2015,
        uses=("CNNs where the best negative slope is unknown",),
    ),
    Elementwise(
        name="elu",
        title="ELU",
        summary="x for x > 0, α(e^x - 1) below: smooth negative saturation at -α.",
        params=(
            Param(
                "alpha",
                1.0,
                "negative saturation value -alpha; learnable",
                domain=NONNEGATIVE,
                example=0.5,
                learnable=True,
            ),
        ),
        formula=r"f(x) = \begin{cases} x & x > 0 \\ \alpha (e^{x} - 1) & x \le 0 \end{cases}",
        derivative_formula=r"f'(x) = \begin{cases} 1 & x > 0 \\ \alpha e^{x} = f(x) + \alpha & x \le 0 \end{cases}",
        **_exp_linear(lambda p: p.alpha, lambda p: 1.0, lambda p: 1.0),
        param_derivatives={"alpha": lambda x, p, xp: xp.where(x > 0, 0.0, xp.expm1(xp.minimum(x, 0.0)))},
        year=2015,
        paper=CLEVERT_2015,
        uses=("hidden layers wanting mean activations near zero",),
    ),
    Elementwise(
        name="selu",
        title="SELU (scaled ELU)",
        summary="λ ELU_α with the constants that make (mean 0, variance 1) an attracting fixed point.",
        formula=(
            r"f(x) = \lambda \begin{cases} x & x > 0 \\ \alpha (e^{x} - 1) & x \le 0 \end{cases},"
            r"\ \alpha \approx 1.6733,\ \lambda \approx 1.0507"
        ),
        derivative_formula=r"f'(x) = \lambda \begin{cases} 1 & x > 0 \\ \alpha e^{x} & x \le 0 \end{cases}",
        **_exp_linear(lambda p: SELU_ALPHA, lambda p: SELU_SCALE, lambda p: 1.0, lambda p: SELU_SCALE_ALPHA),
        year=2017,
        paper=KLAMBAUER_2017,
        uses=("self-normalizing MLPs: LeCun normal init, alpha dropout, no batch norm",),
        notes=(
            "α, λ and λα are computed from the closed forms of Klambauer et al. (eq. 14) at 40 digits and "
            f"rounded once each: α = {SELU_ALPHA!r}, λ = {SELU_SCALE!r}, λα = {SELU_SCALE_ALPHA!r} "
            "(the negative branch is λα·expm1(x), so f(-inf) is exactly -λα).",
        ),
    ),
    Elementwise(
        name="celu",
        title="CELU",
        summary="ELU with the input scaled by 1/α, so that it is C¹ for every α.",
        params=(
            Param(
                "alpha",
                1.0,
                "negative saturation value -alpha; learnable",
                domain=POSITIVE,
                example=2.0,
                learnable=True,
            ),
        ),
        formula=r"f(x) = \begin{cases} x & x > 0 \\ \alpha (e^{x/\alpha} - 1) & x \le 0 \end{cases}",
        derivative_formula=r"f'(x) = \begin{cases} 1 & x > 0 \\ e^{x/\alpha} & x \le 0 \end{cases}",
        **_exp_linear(lambda p: p.alpha, lambda p: 1.0, lambda p: p.alpha),
        param_derivatives={"alpha": _celu_by_alpha},
        year=2017,
        paper=BARRON_2017,
        uses=("ELU with a tunable saturation that stays continuously differentiable",),
    ),
    Elementwise(
        name="gelu",
        title="GELU",
        summary="x Φ(x): the input weighted by the probability that a standard normal is below it.",
        aliases=("gelu_exact", "gelu_erf", "gelu_python"),
        params=(
            Param(
                "approximate",
                "none",
                "'none' for the exact erf form (PyTorch's default), 'tanh' for the approximation "
                "(JAX's default; the same as gelu_tanh)",
                choices=("none", "tanh"),
                example="tanh",
            ),
        ),
        # approximate='tanh' computes gelu_tanh: its formula is the one shown
        formula=lambda p: GELU_TANH_FORMULA if p.approximate == "tanh" else GELU_FORMULA,
        derivative_formula=lambda p: GELU_TANH_DERIVATIVE if p.approximate == "tanh" else GELU_DERIVATIVE,
        forward=_gelu_forward,
        derivative=_gelu_derivative,
        fused=_gelu_fused,
        definition=_gelu_definition,
        range=GELU_RANGE,
        float64_ulps=CANCELLING_GATE_ULPS["gelu"],
        monotonic=False,
        self_gated=True,
        year=2016,
        paper=HENDRYCKS_2016,
        uses=("transformers (BERT, GPT-2, ViT)", "deep MLPs"),
        notes=(
            "Φ(x) is computed as ndtr(x) = erfc(-x/√2)/2, never (1 + erf(x/√2))/2, "
            "which loses every digit below x ≈ -6 in float32.",
            "On [-1.4143, -1], where scipy's ndtr itself computes 1 - erf and is up to 14 ulp off, f and f' come "
            "from their Taylor series about -1.20715 (18 terms, within an ulp); below x = -37 from log Φ(x), "
            "so that x·Φ(x) reaches its smallest subnormal values (x ≈ -38.6) instead of 0.",
            "JAX's gelu defaults to the tanh approximation, PyTorch's to the exact form; "
            "actlab follows PyTorch and offers approximate='tanh' (or the entry gelu_tanh).",
        ),
    ),
    Elementwise(
        name="gelu_tanh",
        title="GELU (tanh approximation)",
        summary="0.5x(1 + tanh(√(2/π)(x + 0.044715x³))): the GPT-2 / BERT approximation of GELU.",
        aliases=("gelu_new", "gelu_pytorch_tanh", "gelu_python_tanh", "gelu_fast", "gelu_accurate", "approximate_gelu"),
        formula=GELU_TANH_FORMULA,
        derivative_formula=GELU_TANH_DERIVATIVE,
        forward=lambda x, p, xp: _gelu_tanh_forward(x, xp),
        derivative=lambda x, p, xp: _gelu_tanh_derivative(x, xp),
        definition=lambda x, p, xp: _gelu_tanh_definition(x, xp),
        range=GELU_RANGE,
        float64_ulps=CANCELLING_GATE_ULPS["gelu_tanh"],
        monotonic=False,
        self_gated=True,
        year=2016,
        paper=HENDRYCKS_2016,
        uses=("GPT-2 and BERT checkpoints trained with it", "JAX's default gelu"),
        notes=("x³ is never formed: 1 + 0.044715 x·x keeps |x| up to 1e154 finite.",),
    ),
    Elementwise(
        name="quick_gelu",
        title="Quick GELU",
        summary="x σ(1.702x): the sigmoid approximation of GELU used by CLIP.",
        formula=r"f(x) = x\,\sigma(1.702\,x)",
        derivative_formula=r"f'(x) = \sigma(1.702x) + 1.702x\,\sigma'(1.702x)",
        **_swish(lambda p: QUICK_GELU_BETA),
        float64_ulps=CANCELLING_GATE_ULPS["quick_gelu"],
        year=2016,
        paper=HENDRYCKS_2016,
        uses=("CLIP and checkpoints trained with it",),
    ),
    Elementwise(
        name="silu",
        title="SiLU / Swish",
        summary="x σ(x): smooth, non-monotonic, self-gated.",
        aliases=("swish", "swish1"),
        formula=r"\mathrm{SiLU}(x) = x\,\sigma(x) = \frac{x}{1 + e^{-x}}",
        derivative_formula=(
            r"\mathrm{SiLU}'(x) = \sigma(x) + x\,\sigma(x)\,(1 - \sigma(x))"
            r" = f(x) + \sigma(x)(1 - f(x))"
        ),
        **_swish(lambda p: 1.0),
        float64_ulps=CANCELLING_GATE_ULPS["silu"],
        year=2017,
        paper=ELFWING_2017,
        uses=("deep CNNs (EfficientNet)", "transformer FFNs (via SwiGLU)"),
        notes=(
            "Swish (Ramachandran et al. 2017) with β = 1 is SiLU; see swish_beta for other β.",
            "Below x = -708, where σ(x) is a subnormal number, x·σ(x) is (x e^{x/2}) e^{x/2}: the results "
            "down to the smallest subnormal are correctly rounded, not formed from a rounded σ.",
        ),
    ),
    Elementwise(
        name="swish_beta",
        title="Swish-β",
        summary="x σ(βx): SiLU at β = 1, x/2 at β = 0, ReLU as β → ∞.",
        params=(
            Param(
                "beta", 1.0, "slope of the gate; learnable in Swish-β", domain=NONNEGATIVE, example=1.5, learnable=True
            ),
        ),
        formula=r"f(x) = x\,\sigma(\beta x)",
        derivative_formula=r"f'(x) = \sigma(\beta x) + \beta x\,\sigma(\beta x)\,\sigma(-\beta x)",
        **_swish(lambda p: p.beta, learnable=True),
        float64_ulps=CANCELLING_GATE_ULPS["silu"],
        year=2017,
        paper=RAMACHANDRAN_2017,
        uses=("searching between linear (β = 0) and ReLU (β → ∞)",),
    ),
    Elementwise(
        name="mish",
        title="Mish",
        summary="x tanh(softplus(x)): smooth, non-monotonic, self-regularising.",
        formula=r"\mathrm{Mish}(x) = x \tanh(\ln(1 + e^{x}))",
        derivative_formula=(
            r"\mathrm{Mish}'(x) = \tanh(\mathrm{sp}(x)) + x\,\sigma(x)\,\mathrm{sech}^2(\mathrm{sp}(x))"
        ),
        forward=_mish_forward,
        derivative=_mish_derivative,
        float64_ulps=CANCELLING_GATE_ULPS["mish"],
        definition=lambda x, p, xp: x * xp.tanh(xp.log1p(xp.exp(x))),
        range=Interval(-0.3088, INF, approx=True),
        monotonic=False,
        self_gated=True,
        year=2019,
        paper=MISRA_2019,
        uses=("vision backbones (YOLOv4)",),
        notes=("tanh(softplus(x)) is n/(n+2), n = eˣ(eˣ+2), evaluated without overflow.",),
    ),
    Elementwise(
        name="softplus",
        title="Softplus",
        summary="log(1 + e^{βx})/β: a smooth ReLU whose derivative is the sigmoid.",
        params=(
            Param("beta", 1.0, "sharpness", domain=POSITIVE, example=2.0),
            Param(
                "threshold",
                None,
                "None (the default) is exact everywhere; a number reverts to x where βx > threshold, "
                "as PyTorch's softplus does with threshold=20",
                domain=POSITIVE,
                nullable=True,
                example=20.0,
            ),
        ),
        formula=r"f(x) = \frac{1}{\beta} \ln\left(1 + e^{\beta x}\right)",
        derivative_formula=r"f'(x) = \sigma(\beta x)",
        forward=_softplus_forward,
        derivative=_softplus_derivative,
        definition=_softplus_definition,
        range=POSITIVE,
        smoothness=lambda p: SMOOTH if p.threshold is None else DISCONTINUOUS,
        kinks=lambda p: (
            ()
            if p.threshold is None
            else (Kink(p.threshold / p.beta, 1.0 / (1.0 + math.exp(-p.threshold)), "σ(threshold) at the switch"),)
        ),
        year=2001,
        paper=DUGAS_2001,
        uses=("positive outputs (variances, rates)", "a smooth ReLU"),
        notes=(
            "Evaluated as max(βx, 0) + log1p(e^{-|βx|}); PyTorch's fixed threshold of 20 costs up to 10⁷ ulp in "
            "float64, so it is off unless asked for.",
        ),
    ),
    Elementwise(
        name="log_sigmoid",
        title="Log-sigmoid",
        summary="log σ(x) = -softplus(-x): the log-probability of a logistic output.",
        formula=r"f(x) = \ln \sigma(x) = -\ln(1 + e^{-x})",
        derivative_formula=r"f'(x) = \sigma(-x)",
        forward=lambda x, p, xp: F.log_sigmoid(x, xp),
        derivative=lambda x, p, xp: F.sigmoid(-x, xp),
        definition=lambda x, p, xp: xp.log(1 / (1 + xp.exp(-x))),
        range=Interval(-INF, 0.0),
        year=None,
        uses=("binary log-likelihoods", "stable logistic losses"),
    ),
    Elementwise(
        name="softsign",
        title="Softsign",
        summary="x / (1 + |x|): like tanh, with polynomial rather than exponential tails.",
        aliases=("soft_sign",),
        formula=r"f(x) = \frac{x}{1 + |x|}",
        derivative_formula=r"f'(x) = \frac{1}{(1 + |x|)^{2}}",
        forward=_softsign_forward,
        derivative=_softsign_derivative,
        definition=lambda x, p, xp: x / (1 + xp.abs(x)),
        range=Interval(-1.0, 1.0),
        zero_centred=True,
        smoothness=1,
        kinks=(Kink(0.0, 1.0, "f'' jumps at 0; f' is continuous"),),
        year=2010,
        paper=GLOROT_2010,
        uses=("a slower-saturating alternative to tanh",),
    ),
    Elementwise(
        name="hardsigmoid",
        title="Hard sigmoid",
        summary="clip(x/6 + 1/2, 0, 1): a piecewise-linear sigmoid for mobile networks.",
        params=(
            Param("slope", 1.0 / 6.0, "slope of the linear part (old Keras used 0.2)", domain=POSITIVE, example=0.2),
            Param("offset", 0.5, "value at 0", example=0.4),
        ),
        formula=r"f(x) = \max\left(0, \min\left(1, \frac{x + 3}{6}\right)\right)",
        derivative_formula=r"f'(x) = \begin{cases} 1/6 & -3 < x < 3 \\ 0 & \text{otherwise} \end{cases}",
        forward=_hardsigmoid_forward,
        derivative=_hardsigmoid_derivative,
        definition=_hardsigmoid_definition,
        range=Interval(0.0, 1.0, lo_closed=True, hi_closed=True),
        smoothness=0,
        kinks=_hardsigmoid_kinks,
        year=2015,
        paper=COURBARIAUX_2015,
        uses=("gates in MobileNetV3 squeeze-excite blocks", "quantised and mobile models"),
        notes=("PyTorch and Keras 3 use slope 1/6; Keras 2 used 0.2 (slope=0.2 reproduces it).",),
    ),
    Elementwise(
        name="hardswish",
        title="Hard swish",
        summary="x · relu6(x + 3)/6: a piecewise-quadratic Swish for mobile networks.",
        aliases=("hard_silu",),
        formula=r"f(x) = x\,\frac{\mathrm{ReLU6}(x + 3)}{6}",
        derivative_formula=(
            r"f'(x) = \begin{cases} 0 & x \le -3 \\ (2x + 3)/6 & -3 < x < 3 \\ 1 & x \ge 3 \end{cases}"
        ),
        forward=lambda x, p, xp: F.mul0(x, xp.clip(x + 3.0, 0.0, 6.0) / 6.0, xp),
        derivative=_hardswish_derivative,
        range=Interval(-0.375, INF, lo_closed=True),
        monotonic=False,
        smoothness=0,
        self_gated=True,
        kinks=(
            Kink(-3.0, 0.0, "the left derivative at -3, as PyTorch 2.13"),
            Kink(3.0, 1.0, "the right derivative at 3, as PyTorch 2.13"),
        ),
        year=2019,
        paper=HOWARD_2019,
        uses=("MobileNetV3 and other mobile/efficient CNNs",),
    ),
    Elementwise(
        name="relu6",
        narrow=("f", "f'"),
        title="ReLU6",
        summary="min(max(0, x), 6): ReLU capped at 6, friendly to low-precision arithmetic.",
        formula=r"f(x) = \min(\max(0, x), 6)",
        derivative_formula=r"f'(x) = \begin{cases} 1 & 0 < x < 6 \\ 0 & \text{otherwise} \end{cases}",
        forward=lambda x, p, xp: xp.clip(x, 0.0, 6.0),
        derivative=lambda x, p, xp: xp.where((x > 0.0) & (x < 6.0), 1.0, 0.0),
        range=Interval(0.0, 6.0, lo_closed=True, hi_closed=True),
        smoothness=0,
        kinks=(Kink(0.0, 0.0, "0 at the knee, as PyTorch"), Kink(6.0, 0.0, "0 at the knee, as PyTorch")),
        year=2010,
        paper=KRIZHEVSKY_2010,
        uses=("MobileNetV1/V2", "quantised models"),
    ),
    Elementwise(
        name="hardtanh",
        narrow=("f", "f'"),
        title="Hard tanh",
        summary="clip(x, min_val, max_val): a piecewise-linear tanh.",
        aliases=("hard_tanh",),
        params=(
            Param("min_val", -1.0, "lower clip value", example=-2.0),
            Param("max_val", 1.0, "upper clip value", example=2.0),
        ),
        formula=r"f(x) = \min(\max(x, a), b)",
        derivative_formula=r"f'(x) = \begin{cases} 1 & a < x < b \\ 0 & \text{otherwise} \end{cases}",
        forward=lambda x, p, xp: xp.clip(x, p.min_val, p.max_val),
        derivative=lambda x, p, xp: xp.where((x > p.min_val) & (x < p.max_val), 1.0, 0.0),
        range=lambda p: Interval(p.min_val, p.max_val, lo_closed=True, hi_closed=True),
        smoothness=0,
        zero_centred=lambda p: p.min_val == -p.max_val,
        kinks=lambda p: (
            Kink(p.min_val, 0.0, "0 at the knee, as PyTorch"),
            Kink(p.max_val, 0.0, "0 at the knee, as PyTorch"),
        ),
        constraint=lambda p: None if p.max_val > p.min_val else "max_val must be greater than min_val",
        year=2004,
        paper=COLLOBERT_2004,
        uses=("bounded piecewise-linear units",),
    ),
    Elementwise(
        name="tanhshrink",
        title="Tanh shrink",
        summary="x - tanh(x): near zero ≈ x³/3, linear far out.",
        aliases=("tanh_shrink",),
        formula=r"f(x) = x - \tanh(x)",
        derivative_formula=r"f'(x) = \tanh^{2}(x)",
        forward=lambda x, p, xp: F.x_minus_tanh(x, xp),
        derivative=lambda x, p, xp: xp.tanh(x) ** 2,
        definition=lambda x, p, xp: x - xp.tanh(x),
        zero_centred=True,
        year=None,
        uses=("sparse coding and shrinkage layers",),
        notes=("Below |x| = 1 the series x³/3 - 2x⁵/15 + ... (from the Bernoulli numbers) avoids the cancellation.",),
    ),
    Elementwise(
        name="softshrink",
        narrow=("f'",),
        title="Soft shrink",
        summary="Soft thresholding: moves x towards 0 by lambd, zero inside [-lambd, lambd].",
        aliases=("soft_shrink",),
        params=(Param("lambd", 0.5, "threshold", domain=NONNEGATIVE, example=1.0),),
        formula=(
            r"f(x) = \begin{cases} x - \lambda & x > \lambda \\ x + \lambda & x < -\lambda \\"
            r" 0 & \text{otherwise} \end{cases}"
        ),
        derivative_formula=r"f'(x) = \begin{cases} 1 & |x| > \lambda \\ 0 & \text{otherwise} \end{cases}",
        forward=lambda x, p, xp: xp.where(x > p.lambd, x - p.lambd, xp.where(x < -p.lambd, x + p.lambd, 0.0)),
        derivative=_shrink_derivative,
        smoothness=lambda p: 0 if p.lambd > 0 else SMOOTH,
        zero_centred=True,
        kinks=_shrink_kinks,
        year=1995,
        paper=DONOHO_1995,
        uses=("sparse coding (ISTA / LISTA)", "denoising"),
    ),
    Elementwise(
        name="hardshrink",
        narrow=("f", "f'"),
        title="Hard shrink",
        summary="Hard thresholding: x where |x| > lambd, else 0.",
        aliases=("hard_shrink",),
        params=(Param("lambd", 0.5, "threshold", domain=NONNEGATIVE, example=1.0),),
        formula=r"f(x) = \begin{cases} x & |x| > \lambda \\ 0 & \text{otherwise} \end{cases}",
        derivative_formula=r"f'(x) = \begin{cases} 1 & |x| > \lambda \\ 0 & \text{otherwise} \end{cases}",
        forward=lambda x, p, xp: xp.where(xp.abs(x) > p.lambd, x, 0.0),
        derivative=_shrink_derivative,
        smoothness=lambda p: DISCONTINUOUS if p.lambd > 0 else SMOOTH,
        zero_centred=True,
        kinks=_shrink_kinks,
        year=1994,
        paper=DONOHO_1994,
        uses=("sparse coding", "wavelet denoising"),
    ),
    Elementwise(
        name="squareplus",
        title="Squareplus",
        summary="(x + √(x² + b))/2: a softplus-like rectifier with only a square root.",
        params=(Param("b", 4.0, "curvature near 0 (b = 0 gives ReLU)", domain=POSITIVE, example=1.0),),
        formula=r"f(x) = \frac{x + \sqrt{x^{2} + b}}{2}",
        derivative_formula=r"f'(x) = \frac{1}{2}\left(1 + \frac{x}{\sqrt{x^{2} + b}}\right)",
        forward=_squareplus_forward,
        derivative=_squareplus_derivative,
        definition=lambda x, p, xp: (x + xp.sqrt(x * x + p.b)) / 2,
        range=POSITIVE,
        year=2021,
        paper=BARRON_2021,
        uses=("a softplus without exp or log",),
    ),
    Elementwise(
        name="sparse_plus",
        title="Sparse plus",
        summary="0, (x + 1)²/4, x: a softplus that is exactly 0 below -1 and exactly x above 1.",
        aliases=("sparseplus",),
        formula=(r"f(x) = \begin{cases} 0 & x \le -1 \\ \frac{(x + 1)^{2}}{4} & -1 < x < 1 \\ x & x \ge 1 \end{cases}"),
        derivative_formula=r"f'(x) = \mathrm{clip}\left(\frac{x + 1}{2}, 0, 1\right)",
        forward=_sparse_plus_forward,
        derivative=lambda x, p, xp: xp.clip((x + 1.0) * 0.5, 0.0, 1.0),
        narrow=("f'",),
        range=NONNEGATIVE,
        smoothness=1,
        kinks=(
            Kink(-1.0, 0.0, "f'' jumps at -1; f' is continuous"),
            Kink(1.0, 1.0, "f'' jumps at 1; f' is continuous"),
        ),
        year=2020,
        paper=BLONDEL_2020,
        uses=("sparse outputs with a smooth gradient (jax.nn.sparse_plus)",),
        notes=("Its derivative is the sparse sigmoid clip((x + 1)/2, 0, 1): hardsigmoid with slope=0.5.",),
    ),
    Elementwise(
        name="relu2",
        narrow=("f", "f'"),
        title="Squared ReLU",
        summary="relu(x)²: the Primer feed-forward activation.",
        aliases=("squared_relu", "relu_squared", "relu_square"),
        formula=r"f(x) = \max(0, x)^{2}",
        derivative_formula=r"f'(x) = 2\max(0, x)",
        forward=lambda x, p, xp: xp.maximum(x, 0.0) * xp.maximum(x, 0.0),
        derivative=lambda x, p, xp: 2.0 * xp.maximum(x, 0.0),
        range=NONNEGATIVE,
        smoothness=1,
        kinks=(Kink(0.0, 0.0, "f'' jumps at 0; f' is continuous"),),
        year=2021,
        paper=SO_2021,
        uses=("transformer feed-forward layers (Primer)",),
    ),
    Elementwise(
        name="snake",
        title="Snake",
        summary="x + sin²(αx)/α: a monotonic activation with a periodic inductive bias.",
        params=(Param("alpha", 1.0, "frequency; learnable", domain=POSITIVE, example=0.5, learnable=True),),
        formula=r"f(x) = x + \frac{\sin^{2}(\alpha x)}{\alpha}",
        derivative_formula=r"f'(x) = 1 + \sin(2\alpha x)",
        # where αx overflows (α > 1, |x| near the largest float), sin²(αx)/α is below x's ulp
        forward=lambda x, p, xp: xp.where(xp.isinf(p.alpha * x), x, x + xp.sin(p.alpha * x) ** 2 / p.alpha),
        # 1 + sin(2αx) = (sin αx + cos αx)²: no overflow of 2αx, no cancellation at the zeros
        derivative=lambda x, p, xp: (xp.sin(p.alpha * x) + xp.cos(p.alpha * x)) ** 2,
        definition=lambda x, p, xp: x + xp.sin(p.alpha * x) ** 2 / p.alpha,
        derivative_has_limits=False,
        param_derivatives={"alpha": _snake_by_alpha},
        float64_ulps=CANCELLING_GATE_ULPS["snake"],
        year=2020,
        paper=ZIYIN_2020,
        uses=("periodic signals and extrapolation", "audio vocoders (BigVGAN)"),
        notes=("f' = 1 + sin(2αx) oscillates forever: f'(±inf) is NaN, having no limit.",),
    ),
    Elementwise(
        name="star_relu",
        title="StarReLU",
        summary="s·relu(x)² + b with s, b chosen so that a standard normal input gives mean 0, variance 1.",
        aliases=("starrelu",),
        params=(
            Param("scale", STAR_RELU_SCALE, "s; learnable (2/√5 ≈ 0.8944 by default)", example=1.0, learnable=True),
            Param("bias", STAR_RELU_BIAS, "b; learnable (-1/√5 ≈ -0.4472 by default)", example=0.0, learnable=True),
        ),
        formula=r"f(x) = s\,\max(0, x)^{2} + b,\ s = 2/\sqrt{5},\ b = -1/\sqrt{5}",
        derivative_formula=r"f'(x) = 2 s \max(0, x)",
        forward=lambda x, p, xp: p.scale * (xp.maximum(x, 0.0) * xp.maximum(x, 0.0)) + p.bias,
        derivative=lambda x, p, xp: 2.0 * p.scale * xp.maximum(x, 0.0),
        param_derivatives={
            "scale": lambda x, p, xp: xp.maximum(x, 0.0) * xp.maximum(x, 0.0),
            "bias": lambda x, p, xp: xp.ones_like(x),
        },
        range=lambda p: (
            Interval(p.bias, INF, lo_closed=True) if p.scale >= 0 else Interval(-INF, p.bias, hi_closed=True)
        ),
        monotonic=lambda p: p.scale >= 0,
        smoothness=1,
        kinks=(Kink(0.0, 0.0, "f'' jumps at 0; f' is continuous"),),
        year=2022,
        paper=YU_2022,
        uses=("MetaFormer / CAFormer vision models",),
        notes=("timm's StarReLU module starts its learnable s and b at 1 and 0 instead.",),
    ),
    Elementwise(
        name="xielu",
        title="xIELU",
        summary="α_p x² + βx for x > 0, α_n(eˣ - 1 - x) + βx below: the integral of an ELU-like gradient.",
        params=(
            Param(
                "alpha_p",
                0.8,
                "curvature for x > 0; learnable, kept positive",
                domain=POSITIVE,
                example=1.0,
                learnable=True,
            ),
            Param(
                "alpha_n",
                0.8,
                "scale for x <= 0; learnable, kept above beta",
                domain=POSITIVE,
                example=1.0,
                learnable=True,
            ),
            Param("beta", 0.5, "slope at 0", example=0.25),
            Param(
                "eps",
                0.0,
                "0 (the default) is the exact formula; Hugging Face uses -1e-6, evaluating "
                "expm1(min(x, eps)), which makes f jump by ≈ alpha_n·eps at 0",
                domain=Interval(-1.0, 0.0, lo_closed=True, hi_closed=True),
                example=-1e-6,
            ),
        ),
        formula=(
            r"f(x) = \begin{cases} \alpha_p x^{2} + \beta x & x > 0 \\"
            r" \alpha_n (e^{x} - 1 - x) + \beta x & x \le 0 \end{cases}"
        ),
        derivative_formula=(
            r"f'(x) = \begin{cases} 2\alpha_p x + \beta & x > 0 \\ \alpha_n (e^{x} - 1) + \beta & x \le 0 \end{cases}"
        ),
        forward=_xielu_forward,
        derivative=_xielu_derivative,
        param_derivatives={"alpha_p": _xielu_by_alpha_p, "alpha_n": _xielu_by_alpha_n},
        float64_ulps=CANCELLING_GATE_ULPS["xielu"],
        definition=_xielu_definition,
        range=_xielu_range,
        monotonic=False,
        smoothness=lambda p: 1 if p.eps == 0.0 else DISCONTINUOUS,
        kinks=_xielu_kinks,
        constraint=lambda p: None if p.alpha_n > p.beta else "alpha_n must be greater than beta",
        year=2024,
        paper=HUANG_2024,
        uses=("LLM feed-forward layers (Apertus)",),
    ),
    Elementwise(
        name="laplace",
        title="Laplace (Gaussian CDF)",
        summary="Φ((x - μ)/σ): MEGA's attention activation, a bounded stand-in for relu(x)² near μ.",
        params=(
            Param("mu", LAPLACE_MU, "centre, where f = 1/2 (0.707107 ≈ 1/√2, as transformers)", example=0.0),
            Param(
                "sigma",
                LAPLACE_SIGMA,
                "width (0.282095 ≈ 1/√(4π), as transformers)",
                domain=POSITIVE,
                example=1.0,
            ),
        ),
        formula=(
            r"f(x) = \frac{1}{2}\left(1 + \mathrm{erf}\left(\frac{x - \mu}{\sigma\sqrt{2}}\right)\right)"
            r" = \Phi\left(\frac{x - \mu}{\sigma}\right)"
        ),
        derivative_formula=r"f'(x) = \frac{1}{\sigma}\,\varphi\left(\frac{x - \mu}{\sigma}\right)",
        forward=_laplace_forward,
        derivative=_laplace_derivative,
        definition=lambda x, p, xp: xp.ndtr((x - p.mu) / p.sigma),
        range=Interval(0.0, 1.0),
        float64_ulps=LAPLACE_ULPS,
        year=2022,
        paper=MA_2022,
        uses=("attention weights in MEGA (instead of softmax)",),
        notes=(
            "Φ(z) is computed as ndtr(z) = erfc(-z/√2)/2, never (1 + erf(z/√2))/2, which is 0 from "
            "x ≈ μ - 8.37σ in float64; far below μ f and f' reach their smallest subnormal values.",
        ),
    ),
    Elementwise(
        name="sqrtsoftplus",
        title="Square-root softplus",
        summary="√softplus(x) = √log(1 + eˣ): a positive score growing like √x, used to score MoE routers.",
        aliases=("sqrt_softplus",),
        formula=r"f(x) = \sqrt{\ln\left(1 + e^{x}\right)}",
        derivative_formula=r"f'(x) = \frac{\sigma(x)}{2\sqrt{\ln(1 + e^{x})}}",
        forward=_sqrtsoftplus_forward,
        derivative=_sqrtsoftplus_derivative,
        definition=lambda x, p, xp: xp.sqrt(xp.log(1 + xp.exp(x))),
        range=POSITIVE,
        year=None,
        uses=("mixture-of-experts router scores (DeepSeek V4)",),
        notes=(
            "Below the exp underflow (x < -708 in float64), where softplus(x) ≈ eˣ is subnormal, f = e^{x/2} "
            "and f' = e^{x/2}/2: both are normal numbers down to x ≈ -1416.",
        ),
    ),
)
