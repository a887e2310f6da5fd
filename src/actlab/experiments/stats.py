"""Paired statistics for comparing activations trained on the same seeds.

An experiment trains the same model once per (activation, seed).  For one seed every activation sees
the same data, the same minibatch order and the same initial weight draw, so the runs are *paired*:
the per-seed difference ``d = candidate − baseline`` removes the seed-to-seed variation both runs
share, and it is ``d`` that is analysed.  A run whose final metric is NaN or ±inf (it diverged or
failed), or a seed an activation lacks while others have it, is a failure: it is counted, named,
and left out of the pairs.

:func:`arm` summarises one activation on its own, :func:`paired` compares one candidate against the
baseline, :func:`holm` adjusts p-values for testing several candidates at once, and :func:`compare`
does all of it for a whole table of results.  Every number is computed without NumPy or SciPy
warnings, degenerate data included (one pair, all differences equal, all differences zero).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize, special, stats

from ..errors import ActlabError

__all__ = ["Arm", "Paired", "StatsError", "arm", "compare", "holm", "paired"]

#: Power at which :attr:`Paired.mde` is computed.
POWER = 0.8
#: Bootstrap resamples of the mean difference; the generator is seeded with :data:`BOOTSTRAP_SEED`.
BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_SEED = 0
#: Fewest pairs for which the Wilcoxon signed-rank p-value is reported (with 5 pairs its smallest
#: two-sided p is 0.0625, so it could never reach 0.05).
WILCOXON_MIN_PAIRS = 6
NAN = math.nan


class StatsError(ActlabError, ValueError):
    """Input the statistics cannot use (an unknown baseline, a p-value outside [0, 1] ...)."""


@dataclass(frozen=True)
class Arm:
    """One activation's runs on their own.

    ``mean`` and ``sd`` (``ddof=1``) are over the finished runs; ``ci95`` is the Student t interval
    of the mean, ``mean ± t_{0.975, n−1} · sd / √n``.  ``sd`` and ``ci95`` are NaN for ``n < 2``,
    ``mean`` is NaN for ``n == 0``.
    """

    activation: str
    n: int
    failed: tuple[int, ...]
    mean: float
    sd: float
    ci95: tuple[float, float]


@dataclass(frozen=True)
class Paired:
    """One candidate against the baseline, over the seeds where both runs finished.

    ``mean``, ``sd``, ``ci_t`` and ``ci_boot`` describe ``d = candidate − baseline`` in metric units,
    sign as measured (so for a lower-is-better metric a negative mean is an improvement).  ``p_holm``
    is ``p_t`` adjusted by Holm–Bonferroni over the candidates of the comparison; ``mde`` is the
    smallest ``|mean d|`` the design detects with 80% power at level ``alpha / m``; ``verdict`` is
    ``"better"``, ``"worse"``, ``"no detectable difference"`` or ``"not tested"`` and ``reason`` says
    it in one sentence.
    """

    activation: str
    baseline: str
    n: int
    seeds: tuple[int, ...]
    mean: float
    sd: float
    ci_t: tuple[float, float]
    ci_boot: tuple[float, float]
    p_t: float
    p_wilcoxon: float | None
    p_holm: float
    p_improve: float
    mde: float
    verdict: str
    reason: str


# ---------------------------------------------------------------------------------------------- input


def _check_alpha(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 < float(alpha) < 1.0:
        raise StatsError(f"alpha must be a number strictly between 0 and 1, got {alpha!r}")
    return float(alpha)


def _check_seed(seed: object, where: str) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise StatsError(f"seeds must be integers; {where} has seed {seed!r}")
    return int(seed)


def _finite_runs(name: str, values: Mapping[int, float]) -> dict[int, float]:
    """The seeds of ``values`` whose value is a finite number, checking every key and value."""
    if not isinstance(values, Mapping):
        raise StatsError(f"the results of {name!r} must be a mapping seed -> metric value, got {type(values).__name__}")
    finite: dict[int, float] = {}
    for seed, value in values.items():
        s = _check_seed(seed, repr(name))
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise StatsError(f"metric values must be real numbers (NaN for a failed run); {name!r} has {value!r}")
        if math.isfinite(value):
            finite[s] = float(value)
    return finite


def _expected(values: Mapping[int, float], seeds: Iterable[int] | None, name: str) -> list[int]:
    """The seeds a run was expected for: those of ``values`` together with ``seeds``, ascending."""
    expected = {_check_seed(s, repr(name)) for s in values}
    if seeds is not None:
        expected |= {_check_seed(s, "the seed list") for s in seeds}
    return sorted(expected)


# ------------------------------------------------------------------------------------ t machinery


def _mean_sd(x: np.ndarray) -> tuple[float, float]:
    """Mean and sample sd (``ddof=1``); sd is NaN below 2 values, mean NaN for none (without warnings)."""
    n = x.size
    if n == 0:
        return NAN, NAN
    mean = float(np.mean(x))
    if n < 2:
        return mean, NAN
    if np.all(x == x[0]):  # exactly equal: sd 0 and mean the value itself, free of rounding
        return float(x[0]), 0.0
    return mean, float(np.std(x, ddof=1))


def _t_interval(mean: float, sd: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """``mean ± t_{(1+level)/2, n−1} · sd / √n``; the point ``(mean, mean)`` when sd is 0, NaN below 2."""
    if n < 2:
        return NAN, NAN
    if sd == 0.0:
        return mean, mean
    se = sd / math.sqrt(n)
    tail = (1.0 - level) / 2.0
    return float(special.stdtrit(n - 1, tail) * se + mean), float(special.stdtrit(n - 1, 1.0 - tail) * se + mean)


def _t_test(mean: float, sd: float, n: int) -> float:
    """Two-sided one-sample t-test of ``mean d = 0``: ``p = 2 · P(T_{n−1} > |t|)``, ``t = mean / (sd/√n)``.

    With ``sd = 0`` the t statistic is infinite (p = 0) unless every difference is zero, where
    nothing distinguishes the two arms (p = 1).  This is the test of ``scipy.stats.ttest_rel``,
    computed here so that nearly identical differences do not raise its precision warning.
    """
    if n < 2:
        return NAN
    if sd == 0.0:
        return 1.0 if mean == 0.0 else 0.0
    t = mean / (sd / math.sqrt(n))
    return float(2.0 * special.stdtr(n - 1, -abs(t)))


def _power(nc: float, df: int, crit: float) -> float:
    """Power of the two-sided t-test with critical value ``crit``: ``P(T > crit) + P(T < −crit)``,
    ``T`` noncentral t with ``df`` degrees of freedom and noncentrality ``nc``.  The lower tail is taken
    as ``P(T' > crit)`` with noncentrality ``−nc`` (the same number by symmetry): SciPy's ``nct.cdf``
    returns NaN far in that tail, its ``sf`` does not."""
    return float(stats.nct.sf(crit, df, nc) + stats.nct.sf(crit, df, -nc))


def _mde(sd: float, n: int, level: float, power: float = POWER) -> float:
    """The smallest ``δ = |mean d|`` a two-sided paired t-test at ``level`` detects with ``power``.

    ``δ`` solves ``P(|T| > t_{1−level/2, n−1}) = power`` where ``T`` is noncentral t with ``n − 1``
    degrees of freedom and noncentrality ``δ √n / sd`` (exact, not the normal approximation).  It is
    0 when ``sd = 0`` and NaN below 2 pairs.
    """
    if n < 2 or not math.isfinite(sd):
        return NAN
    if sd == 0.0:
        return 0.0
    df = n - 1
    crit = float(special.stdtrit(df, 1.0 - level / 2.0))
    hi = max(1.0, crit)
    while _power(hi, df, crit) < power:
        hi *= 2.0
    nc = optimize.brentq(lambda x: _power(x, df, crit) - power, 0.0, hi, xtol=1e-12, rtol=1e-13)
    return float(nc * sd / math.sqrt(n))


def _bootstrap(d: np.ndarray) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean of ``d`` (``scipy.stats.bootstrap``, 9999
    resamples, generator seeded 0); the point ``(d, d)`` when every value is the same, where the
    bootstrap distribution is degenerate."""
    if d.size < 2:
        return NAN, NAN
    if np.all(d == d[0]):
        return float(d[0]), float(d[0])
    res = stats.bootstrap(
        (d,),
        np.mean,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="percentile",
        confidence_level=0.95,
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _wilcoxon(d: np.ndarray) -> float | None:
    """Two-sided Wilcoxon signed-rank p (``scipy.stats.wilcoxon``, default zero handling) for at least
    :data:`WILCOXON_MIN_PAIRS` pairs; 1.0 when every difference is zero (no signed ranks at all).

    With ties or zeros and at most 13 pairs SciPy runs an exact permutation test over all ``2^n`` sign
    flips (deterministic; up to about a second at 13 pairs), with more pairs the normal approximation."""
    if d.size < WILCOXON_MIN_PAIRS:
        return None
    if not np.any(d):
        return 1.0
    return float(stats.wilcoxon(d).pvalue)


# -------------------------------------------------------------------------------------------- Holm


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm–Bonferroni step-down adjusted p-values, in the order given.

    Sort the ``m`` p-values ascending, ``p_(1) ≤ … ≤ p_(m)``; the adjusted value of ``p_(i)`` is
    ``min(1, max_{j ≤ i} p_(j) · (m − j + 1))`` (the running maximum keeps the adjusted values in the
    order of the raw ones).  Rejecting where the adjusted p is below alpha controls the family-wise
    error rate at alpha.  NaN (a candidate that could not be tested) passes through as NaN and does
    not count in ``m``.
    """
    p = []
    for value in pvalues:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise StatsError(f"p-values must be numbers in [0, 1] (or NaN), got {value!r}")
        value = float(value)
        if not math.isnan(value) and not 0.0 <= value <= 1.0:
            raise StatsError(f"p-values must be numbers in [0, 1] (or NaN), got {value!r}")
        p.append(value)
    tested = sorted((i for i, value in enumerate(p) if not math.isnan(value)), key=lambda i: p[i])
    m = len(tested)
    out = [NAN] * len(p)
    running = 0.0
    for rank, i in enumerate(tested):
        running = max(running, p[i] * (m - rank))
        out[i] = min(1.0, running)
    return out


# ------------------------------------------------------------------------------------------ public


def arm(activation: str, values: Mapping[int, float], seeds: Iterable[int] | None = None) -> Arm:
    """Summarise one activation's runs: the finished ones, the failed seeds, mean, sd and t interval.

    ``values`` maps seed -> final metric; NaN or ±inf is a failed run.  ``seeds`` are the seeds a run
    was expected for (in a comparison: every seed any activation has); one of them absent from
    ``values`` is a failure too.  The interval is ``mean ± t_{0.975, n−1} · sd / √n``.
    """
    finite = _finite_runs(activation, values)
    expected = _expected(values, seeds, activation)
    x = np.array([finite[s] for s in expected if s in finite], dtype=float)
    mean, sd = _mean_sd(x)
    return Arm(
        activation=activation,
        n=int(x.size),
        failed=tuple(s for s in expected if s not in finite),
        mean=mean,
        sd=sd,
        ci95=_t_interval(mean, sd, x.size),
    )


def _seed_list(seeds: Sequence[int]) -> str:
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(str(s) for s in seeds)


def _failures(parts: Sequence[tuple[str, Sequence[int], int]]) -> str:
    """``"; 2 of 5 runs of gelu (seeds 1, 3) diverged or failed, left out of the pairs"``, or ``""``."""
    said = [
        f"{len(failed)} of {total} runs of {name} ({_seed_list(failed)})" for name, failed, total in parts if failed
    ]
    if not said:
        return ""
    return "; " + " and ".join(said) + " diverged or failed, left out of the pairs"


def _reason(verdict: str, r: Paired, m: int, alpha: float) -> str:
    """One sentence for the verdict; the caller appends the failures."""
    if verdict == "not tested":
        common = "no seed" if r.n == 0 else "one seed"
        return f"not tested: {common} in common (a test needs at least 2)"
    holm_part = f", Holm-adjusted p = {r.p_holm:.2g} over {m} candidates" if m > 1 else ""
    if verdict in ("better", "worse"):
        same = "; every pair differs by the same amount, so the t statistic is infinite" if r.sd == 0.0 else ""
        return (
            f"{verdict}: {r.mean:+.3g} (95% CI {r.ci_t[0]:+.3g} to {r.ci_t[1]:+.3g}), "
            f"paired t-test p = {r.p_t:.2g}{holm_part}{same}"
        )
    if r.sd == 0.0 and r.mean == 0.0:
        return f"no detectable difference at {r.n} seeds: every pair gave the same value (paired t-test p = 1)"
    level = f"at level {alpha:.2g}" + (f"/{m}" if m > 1 else "")
    return (
        f"no detectable difference at {r.n} seeds: {r.mean:+.3g} (95% CI {r.ci_t[0]:+.3g} to {r.ci_t[1]:+.3g}), "
        f"paired t-test p = {r.p_t:.2g}{holm_part}; differences smaller than {r.mde:.3g} could not be detected "
        f"(80% power {level})"
    )


def _verdict(r: Paired, higher_is_better: bool, alpha: float) -> str:
    if r.n < 2:
        return "not tested"
    if r.p_holm < alpha and r.mean != 0.0:
        return "better" if (r.mean > 0.0) == higher_is_better else "worse"
    return "no detectable difference"


def _finish(r: Paired, p_holm: float, m: int, higher_is_better: bool, alpha: float, failures: str) -> Paired:
    """Fill ``p_holm``, ``verdict`` and ``reason`` of a result whose other fields are computed."""
    r = replace(r, p_holm=p_holm)
    verdict = _verdict(r, higher_is_better, alpha)
    return replace(r, verdict=verdict, reason=_reason(verdict, r, m, alpha) + failures)


def _paired(
    baseline: str,
    candidate: str,
    base_values: Mapping[int, float],
    cand_values: Mapping[int, float],
    seeds: Iterable[int] | None,
    higher_is_better: bool,
    alpha: float,
    m: int,
    both_ran: bool = False,
) -> tuple[Paired, str]:
    """Everything of :func:`paired` but ``p_holm``/``verdict``/``reason``, and the failures clause.
    ``both_ran``: only the seeds both activations were run for are expected (a missing seed is absent)."""
    base = _finite_runs(baseline, base_values)
    cand = _finite_runs(candidate, cand_values)
    if both_ran:
        expected = sorted(set(_expected(base_values, None, baseline)) & set(_expected(cand_values, None, candidate)))
    else:
        expected = sorted(set(_expected(base_values, seeds, baseline)) | set(_expected(cand_values, None, candidate)))
    common = tuple(s for s in expected if s in base and s in cand)
    d = np.array([cand[s] - base[s] for s in common], dtype=float)
    n = len(common)
    mean, sd = _mean_sd(d)
    if n:
        better = d > 0 if higher_is_better else d < 0
        p_improve = float((np.count_nonzero(better) + 0.5 * np.count_nonzero(d == 0)) / n)
    else:
        p_improve = NAN
    r = Paired(
        activation=candidate,
        baseline=baseline,
        n=n,
        seeds=common,
        mean=mean,
        sd=sd,
        ci_t=_t_interval(mean, sd, n),
        ci_boot=_bootstrap(d),
        p_t=_t_test(mean, sd, n),
        p_wilcoxon=_wilcoxon(d),
        p_holm=NAN,
        p_improve=p_improve,
        mde=_mde(sd, n, alpha / m),
        verdict="",
        reason="",
    )
    failures = _failures(
        [
            (candidate, [s for s in expected if s not in cand], len(expected)),
            (baseline, [s for s in expected if s not in base], len(expected)),
        ]
    )
    return r, failures


def paired(
    baseline: str,
    candidate: str,
    base_values: Mapping[int, float],
    cand_values: Mapping[int, float],
    *,
    higher_is_better: bool = True,
    alpha: float = 0.05,
    m: int = 1,
) -> Paired:
    """Compare ``candidate`` against ``baseline`` over the seeds where both runs finished.

    With ``d_s = candidate_s − baseline_s`` over the ``n`` common seeds:

    - ``mean``, ``sd`` (``ddof=1``) of ``d``; ``ci_t = mean ± t_{0.975, n−1} · sd / √n``;
    - ``ci_boot``: 95% percentile bootstrap interval of the mean (``scipy.stats.bootstrap``, 9999
      resamples, generator seeded 0, so it reproduces); the point when every ``d`` is equal;
    - ``p_t``: two-sided paired t-test (as ``scipy.stats.ttest_rel``), ``t = mean / (sd / √n)``,
      ``p = 2 · P(T_{n−1} > |t|)``.  When every ``d`` is equal and non-zero the t statistic is
      infinite and ``p_t = 0``; when every ``d`` is zero ``p_t = 1``;
    - ``p_wilcoxon``: two-sided Wilcoxon signed-rank p for ``n ≥ 6`` (1.0 when every ``d`` is 0);
    - ``p_improve``: fraction of pairs where the candidate is better in the metric's direction,
      ties counting ½;
    - ``mde``: the ``δ`` solving ``power(δ) = 0.8`` for the two-sided paired t-test at level
      ``alpha / m``, the power taken from the noncentral t with ``n − 1`` degrees of freedom and
      noncentrality ``δ √n / sd``.

    ``m`` is the number of candidates compared at once; ``p_holm`` here is ``min(1, m · p_t)``
    (Holm's first, strictest step; ``p_t`` itself when ``m == 1``) — :func:`compare` fills the real
    Holm-adjusted value.  The verdict is better/worse when ``p_holm < alpha``, no detectable
    difference otherwise, and not tested below 2 pairs.
    """
    alpha = _check_alpha(alpha)
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise StatsError(f"m (the number of candidates) must be a positive integer, got {m!r}")
    m = int(m)
    r, failures = _paired(baseline, candidate, base_values, cand_values, None, higher_is_better, alpha, m)
    p_holm = r.p_t if m == 1 or math.isnan(r.p_t) else min(1.0, m * r.p_t)
    return _finish(r, p_holm, m, higher_is_better, alpha, failures)


def compare(
    values: Mapping[str, Mapping[int, float]],
    baseline: str,
    *,
    higher_is_better: bool = True,
    alpha: float = 0.05,
    missing: str = "failure",
) -> tuple[list[Arm], list[Paired]]:
    """Summarise every activation and compare each other one against ``baseline``.

    ``values`` maps activation -> (seed -> final metric).  With ``missing="failure"`` the seeds
    expected of every activation are all the seeds any of them has, so a seed an activation lacks
    counts as a failed run; with ``missing="absent"`` (a store where runs that fail are recorded as
    NaN, so a missing seed was never asked for) an activation is expected for its own seeds only and
    a pair for the seeds both were run for.
    Returns the arms in the order of ``values`` and one :class:`Paired` per other activation, in the
    same order, with ``p_holm`` adjusted by :func:`holm` over the candidates that could be tested
    (``m`` of them; the MDE uses level ``alpha / m``, Holm's strictest step).
    """
    alpha = _check_alpha(alpha)
    if not isinstance(values, Mapping) or not values:
        raise StatsError("compare needs a mapping activation -> (seed -> metric value) with at least one activation")
    if baseline not in values:
        names = ", ".join(repr(a) for a in values)
        raise StatsError(f"baseline {baseline!r} has no results; the activations with results are {names}")
    if missing not in ("failure", "absent"):
        raise StatsError(f"missing must be 'failure' or 'absent', got {missing!r}")
    absent = missing == "absent"
    all_seeds: set[int] = set()
    for name, runs in values.items():
        _finite_runs(name, runs)  # checks keys and values before anything is computed
        all_seeds.update(int(s) for s in runs)
    arms = [arm(name, runs, None if absent else all_seeds) for name, runs in values.items()]
    candidates = [name for name in values if name != baseline]
    # m must be known before the MDE: count the candidates with at least 2 pairs
    base_finite = _finite_runs(baseline, values[baseline])
    testable = [name for name in candidates if len(set(_finite_runs(name, values[name])) & set(base_finite)) >= 2]
    m = max(1, len(testable))
    drafts = [
        _paired(baseline, name, values[baseline], values[name], all_seeds, higher_is_better, alpha, m, absent)
        for name in candidates
    ]
    adjusted = holm([r.p_t for r, _ in drafts])
    results = [
        _finish(r, p, m, higher_is_better, alpha, failures) for (r, failures), p in zip(drafts, adjusted, strict=True)
    ]
    return arms, results
