"""The paired statistics of ``actlab.experiments.stats`` against scipy.stats on the same data."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st
from scipy import special

from actlab.errors import ActlabError
from actlab.experiments.stats import Arm, Paired, StatsError, arm, compare, holm, paired

NAN = float("nan")
REL = 1e-12


def _close(a: float, b: float, rel: float = REL) -> bool:
    return a == pytest.approx(b, rel=rel, abs=1e-15)


def _pair_values(base: list[float], diff: list[float]) -> tuple[dict[int, float], dict[int, float]]:
    base_values = {s: b for s, b in enumerate(base)}
    cand_values = {s: b + d for s, (b, d) in enumerate(zip(base, diff, strict=True))}
    return base_values, cand_values


def _scipy_bootstrap(d: np.ndarray) -> tuple[float, float]:
    res = scipy.stats.bootstrap(
        (d,), np.mean, n_resamples=9999, method="percentile", confidence_level=0.95, rng=np.random.default_rng(0)
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


RNG = np.random.default_rng(12345)
DATASETS = {
    "3 pairs": (list(RNG.uniform(0.4, 0.6, 3)), list(RNG.normal(0.01, 0.02, 3))),
    "8 pairs": (list(RNG.uniform(0.4, 0.6, 8)), list(RNG.normal(0.01, 0.02, 8))),
    "10 pairs, a zero and ties": (
        [0.5, 0.52, 0.48, 0.51, 0.49, 0.5, 0.47, 0.53, 0.5, 0.46],
        [0.0, 0.25, -0.125, 0.25, 0.5, -0.125, 0.375, 0.0625, 0.25, 0.5],
    ),
    "30 pairs, MSE-sized": (list(RNG.uniform(1e-3, 2e-3, 30)), list(RNG.normal(-5e-5, 1e-4, 30))),
}


# ------------------------------------------------------------------------------------------------ arm


def test_arm_matches_numpy_and_the_scipy_t_interval() -> None:
    values = {0: 0.51, 1: NAN, 2: 0.55, 3: 0.49, 4: math.inf, 5: 0.6, 6: 0.52}
    a = arm("gelu", values, seeds=range(8))
    x = np.array([0.51, 0.55, 0.49, 0.6, 0.52])
    assert isinstance(a, Arm)
    assert (a.activation, a.n, a.failed) == ("gelu", 5, (1, 4, 7))  # seed 7 was expected but is missing
    assert _close(a.mean, float(np.mean(x)))
    assert _close(a.sd, float(np.std(x, ddof=1)))
    ci = scipy.stats.ttest_1samp(x, 0.0).confidence_interval(0.95)
    assert _close(a.ci95[0], float(ci.low)) and _close(a.ci95[1], float(ci.high))


def test_arm_with_too_few_runs_or_equal_values() -> None:
    none = arm("relu", {0: NAN, 1: -math.inf})
    assert none.n == 0 and none.failed == (0, 1)
    assert math.isnan(none.mean) and math.isnan(none.sd) and all(math.isnan(c) for c in none.ci95)
    one = arm("relu", {3: 0.7})
    assert (one.n, one.mean) == (1, 0.7) and math.isnan(one.sd) and all(math.isnan(c) for c in one.ci95)
    same = arm("relu", {0: 0.1, 1: 0.1, 2: 0.1})
    assert (same.mean, same.sd, same.ci95) == (0.1, 0.0, (0.1, 0.1))


# ------------------------------------------------------------------------------------------- paired


@pytest.mark.parametrize("name", list(DATASETS))
def test_paired_matches_scipy(name: str) -> None:
    base, diff = DATASETS[name]
    base_values, cand_values = _pair_values(base, diff)
    r = paired("relu", "gelu", base_values, cand_values)
    assert isinstance(r, Paired)
    a = np.array([cand_values[s] for s in range(len(base))])
    b = np.array([base_values[s] for s in range(len(base))])
    d = a - b
    assert (r.activation, r.baseline, r.n, r.seeds) == ("gelu", "relu", len(base), tuple(range(len(base))))
    assert _close(r.mean, float(np.mean(d))) and _close(r.sd, float(np.std(d, ddof=1)))
    ref = scipy.stats.ttest_rel(a, b)
    ci = ref.confidence_interval(0.95)
    assert _close(r.ci_t[0], float(ci.low)) and _close(r.ci_t[1], float(ci.high))
    assert _close(r.p_t, float(ref.pvalue))
    assert r.p_holm == r.p_t  # m = 1
    boot = _scipy_bootstrap(d)
    assert _close(r.ci_boot[0], boot[0]) and _close(r.ci_boot[1], boot[1])
    if len(base) >= 6:
        assert r.p_wilcoxon is not None and _close(r.p_wilcoxon, float(scipy.stats.wilcoxon(a, b).pvalue))
    else:
        assert r.p_wilcoxon is None


def test_paired_alone_with_m_candidates_takes_holms_first_step() -> None:
    base, diff = DATASETS["8 pairs"]
    one = paired("relu", "gelu", *_pair_values(base, diff))
    four = paired("relu", "gelu", *_pair_values(base, diff), m=4)
    assert four.p_t == one.p_t and four.p_holm == min(1.0, 4 * one.p_t)
    assert four.mde > one.mde  # level 0.05/4 needs a larger difference


def test_paired_bootstrap_reproduces() -> None:
    base, diff = DATASETS["8 pairs"]
    first = paired("relu", "gelu", *_pair_values(base, diff))
    again = paired("relu", "gelu", *_pair_values(base, diff))
    assert first.ci_boot == again.ci_boot


def test_p_improve_by_hand_with_ties_and_both_directions() -> None:
    base = {s: 1.0 for s in range(6)}
    cand = {0: 1.5, 1: 1.2, 2: 1.0, 3: 0.5, 4: 1.0, 5: 1.1}  # 3 higher, 2 ties, 1 lower
    assert paired("b", "c", base, cand, higher_is_better=True).p_improve == (3 + 0.5 * 2) / 6
    assert paired("b", "c", base, cand, higher_is_better=False).p_improve == (1 + 0.5 * 2) / 6
    assert math.isnan(paired("b", "c", {0: 1.0}, {1: 1.0}).p_improve)  # no pairs at all


# ---------------------------------------------------------------------------------------------- MDE


def _rejection_rate(n: int, sd: float, mean: float, level: float, draws: int = 20000) -> float:
    rng = np.random.default_rng(2024)
    d = rng.normal(mean, sd, size=(draws, n))
    t = d.mean(axis=1) / (d.std(axis=1, ddof=1) / math.sqrt(n))
    p = 2.0 * special.stdtr(n - 1, -np.abs(t))
    return float(np.mean(p < level))


@pytest.mark.parametrize(("n", "sd", "m"), [(5, 0.02, 1), (8, 1e-4, 4)])
def test_mde_has_80_percent_power_by_simulation(n: int, sd: float, m: int) -> None:
    rng = np.random.default_rng(n)
    d = rng.normal(0.0, 1.0, n)
    d = (d - d.mean()) / d.std(ddof=1) * sd  # observed sd exactly `sd`
    base = {s: 0.5 for s in range(n)}
    cand = {s: 0.5 + float(x) for s, x in enumerate(d)}
    r = paired("b", "c", base, cand, m=m)
    assert _close(r.sd, sd, rel=1e-9)
    rate = _rejection_rate(n, r.sd, r.mde, 0.05 / m)
    assert abs(rate - 0.8) <= 0.015
    # exact, not the normal approximation (which at these n is markedly smaller)
    z = scipy.stats.norm.ppf(1 - 0.05 / m / 2) + scipy.stats.norm.ppf(0.8)
    assert r.mde > 1.05 * z * r.sd / math.sqrt(n)


# --------------------------------------------------------------------------------------------- Holm


def test_holm_hand_worked_example() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06], rel=REL)
    assert holm([0.5, 0.4]) == [0.8, 0.8]  # 0.4·2 = 0.8, then max(0.8, 0.5·1)
    assert holm([0.9, 0.6]) == [1.0, 1.0]  # capped at 1
    assert holm([]) == []


def test_holm_nan_passes_through_and_is_not_counted() -> None:
    out = holm([0.01, NAN, 0.02])
    assert math.isnan(out[1])
    assert out[0] == pytest.approx(0.02, rel=REL) and out[2] == pytest.approx(0.02, rel=REL)


def _holm_brute(p: list[float]) -> list[float]:
    """Holm by its closed form: adj(p_i) = min(1, max over p_j ≤ p_i of p_j · #{k : p_k ≥ p_j})."""
    return [min(1.0, max(pj * sum(pk >= pj for pk in p) for pj in p if pj <= pi)) for pi in p]


@given(st.lists(st.floats(0.0, 1.0) | st.sampled_from([0.01, 0.05]), max_size=12))
def test_holm_against_the_brute_force_definition(p: list[float]) -> None:
    out = holm(p)
    assert out == pytest.approx(_holm_brute(p), rel=REL, abs=0.0)
    order = np.argsort(p, kind="stable")
    assert all(out[i] <= out[j] for i, j in itertools.pairwise(order))  # monotone
    assert all(o >= q for o, q in zip(out, p, strict=True))


def test_holm_refuses_p_outside_the_unit_interval() -> None:
    with pytest.raises(ActlabError, match=r"p-values must be numbers in \[0, 1\]"):
        holm([0.1, 1.5])


# ----------------------------------------------------------------------------------------- verdicts


def test_clear_better_with_its_reason() -> None:
    base, cand = _pair_values([0.50, 0.52, 0.48, 0.51, 0.49], [0.030, 0.032, 0.029, 0.031, 0.033])
    r = paired("relu", "gelu", base, cand)
    assert r.verdict == "better" and r.p_t < 0.001
    assert r.reason == (
        f"better: {r.mean:+.3g} (95% CI {r.ci_t[0]:+.3g} to {r.ci_t[1]:+.3g}), paired t-test p = {r.p_t:.2g}"
    )
    assert r.reason.startswith("better: +0.031 (95% CI +0.029 to +0.033)")


def test_clear_worse_and_better_for_a_lower_is_better_metric() -> None:
    base = {s: 1e-3 * (1 + 0.1 * s) for s in range(6)}
    higher = {s: v + 2e-4 + 1e-5 * (-1) ** s for s, v in base.items()}
    lower = {s: v - 2e-4 + 1e-5 * (-1) ** s for s, v in base.items()}
    worse = paired("relu", "gelu", base, higher, higher_is_better=False)
    assert worse.verdict == "worse" and worse.mean > 0 and worse.p_improve == 0.0
    assert worse.reason.startswith("worse: +0.0002 (95% CI +0.000189 to +0.000211)")
    better = paired("relu", "gelu", base, lower, higher_is_better=False)
    assert better.verdict == "better" and better.mean < 0 and better.p_improve == 1.0
    assert better.reason.startswith("better: -0.0002")
    assert paired("relu", "gelu", base, lower, higher_is_better=True).verdict == "worse"


def test_noise_gives_no_detectable_difference_and_says_the_mde() -> None:
    base, diff = [0.5, 0.52, 0.48, 0.51, 0.49], [0.01, -0.012, 0.004, -0.003, 0.006]
    r = paired("relu", "gelu", *_pair_values(base, diff))
    assert r.verdict == "no detectable difference" and r.p_t > 0.05
    assert r.reason.startswith("no detectable difference at 5 seeds: ")
    assert f"paired t-test p = {r.p_t:.2g}; differences smaller than {r.mde:.3g} could not be detected" in r.reason


@pytest.mark.parametrize(
    ("base", "cand", "reason"),
    [
        ({0: 0.5, 1: 0.6}, {0: 0.55, 1: NAN}, "not tested: one seed in common (a test needs at least 2)"),
        ({0: 0.5, 1: NAN}, {0: NAN, 1: 0.6}, "not tested: no seed in common (a test needs at least 2)"),
    ],
)
def test_fewer_than_two_pairs_is_not_tested(base: dict, cand: dict, reason: str) -> None:
    r = paired("relu", "gelu", base, cand)
    assert r.verdict == "not tested" and r.reason.startswith(reason)
    assert math.isnan(r.p_t) and math.isnan(r.p_holm) and math.isnan(r.mde) and r.p_wilcoxon is None
    assert all(math.isnan(c) for c in r.ci_t + r.ci_boot)


def test_equal_nonzero_differences_have_an_infinite_t() -> None:
    base = {s: 0.25 * s for s in range(7)}
    cand = {s: v + 0.5 for s, v in base.items()}  # exact in binary: every d is 0.5
    r = paired("relu", "gelu", base, cand)
    assert (r.mean, r.sd, r.p_t, r.p_holm) == (0.5, 0.0, 0.0, 0.0)
    assert r.ci_t == (0.5, 0.5) and r.ci_boot == (0.5, 0.5)
    assert r.p_wilcoxon == pytest.approx(float(scipy.stats.wilcoxon(np.full(7, 0.5)).pvalue), rel=REL)
    assert (r.mde, r.verdict) == (0.0, "better")


def test_all_zero_differences_are_no_difference() -> None:
    base = {s: 0.1 * s for s in range(6)}
    r = paired("relu", "gelu", base, dict(base))
    assert (r.mean, r.sd, r.p_t, r.p_wilcoxon, r.mde, r.p_improve) == (0.0, 0.0, 1.0, 1.0, 0.0, 0.5)
    assert r.ci_t == (0.0, 0.0) and r.ci_boot == (0.0, 0.0)
    assert r.verdict == "no detectable difference" and "every pair gave the same value" in r.reason


def test_wilcoxon_with_some_zero_differences_uses_scipys_default() -> None:
    base = {s: 1.0 for s in range(8)}
    diff = [0.0, 0.0, 0.1, 0.2, -0.05, 0.3, 0.15, 0.25]
    cand = {s: 1.0 + x for s, x in enumerate(diff)}
    r = paired("relu", "gelu", base, cand)
    d = np.array([cand[s] - 1.0 for s in range(8)])
    assert r.p_wilcoxon == pytest.approx(float(scipy.stats.wilcoxon(d).pvalue), rel=REL)


def test_failures_are_named_with_their_seeds_and_left_out() -> None:
    base = {0: 0.50, 1: 0.52, 2: 0.48, 3: 0.51, 4: 0.49}
    cand = {0: 0.53, 1: NAN, 2: 0.51, 3: math.inf, 4: 0.52}
    r = paired("relu", "gelu", base, cand)
    assert r.seeds == (0, 2, 4) and r.n == 3
    assert r.reason.endswith("; 2 of 5 runs of gelu (seeds 1, 3) diverged or failed, left out of the pairs")
    r2 = paired("relu", "gelu", {0: 0.5, 1: NAN, 2: 0.4}, {0: 0.6, 2: 0.5, 3: 0.55})
    assert r2.seeds == (0, 2)
    assert r2.reason.endswith(
        "; 1 of 4 runs of gelu (seed 1) and 2 of 4 runs of relu (seeds 1, 3) diverged or failed, left out of the pairs"
    )


# ---------------------------------------------------------------------------------------- properties

_values = st.floats(-1.0, 1.0, allow_nan=False, width=64)


# up to 9 pairs: with ties, scipy's Wilcoxon enumerates all 2^n sign flips (slow at 12)
@given(
    st.integers(2, 9).flatmap(
        lambda n: st.tuples(st.lists(_values, min_size=n, max_size=n), st.lists(_values, min_size=n, max_size=n))
    )
)
def test_swapping_baseline_and_candidate_flips_the_sign(data: tuple[list[float], list[float]]) -> None:
    a, b = data
    va, vb = dict(enumerate(a)), dict(enumerate(b))
    fwd = paired("a", "b", va, vb)
    rev = paired("b", "a", vb, va)
    assert rev.mean == pytest.approx(-fwd.mean, rel=REL, abs=1e-15)
    assert rev.sd == pytest.approx(fwd.sd, rel=REL, abs=1e-15)
    assert rev.ci_t == pytest.approx((-fwd.ci_t[1], -fwd.ci_t[0]), rel=1e-9, abs=1e-12)
    assert rev.ci_boot == pytest.approx((-fwd.ci_boot[1], -fwd.ci_boot[0]), rel=1e-9, abs=1e-12)
    assert rev.p_t == pytest.approx(fwd.p_t, rel=1e-9, abs=1e-15)
    if fwd.p_wilcoxon is None:
        assert rev.p_wilcoxon is None
    else:
        assert rev.p_wilcoxon == pytest.approx(fwd.p_wilcoxon, rel=1e-9)
    assert rev.p_improve == pytest.approx(1.0 - fwd.p_improve, rel=REL)
    assert rev.mde == pytest.approx(fwd.mde, rel=REL, abs=1e-15)
    flipped = {"better": "worse", "worse": "better"}
    assert rev.verdict == flipped.get(fwd.verdict, fwd.verdict)


@given(st.lists(st.floats(0.0, 1.0) | st.just(NAN), min_size=2, max_size=12), st.integers(0, 3))
def test_any_results_give_numbers_without_warnings(values: list[float], shift: int) -> None:
    base = {s: 0.5 + 0.01 * (s % 3) for s in range(len(values))}
    cand = {s: v + shift * 0.1 for s, v in enumerate(values)}
    r = paired("relu", "gelu", base, cand)
    assert r.n == sum(not math.isnan(v) for v in values)
    assert r.verdict in ("better", "worse", "no detectable difference", "not tested")
    if r.n >= 2:
        assert 0.0 <= r.p_t <= 1.0 and r.ci_t[0] <= r.mean <= r.ci_t[1] and r.mde >= 0.0


# ------------------------------------------------------------------------------------------ compare


def _four_candidates() -> dict[str, dict[int, float]]:
    rng = np.random.default_rng(7)
    base = {s: float(0.5 + rng.normal(0, 0.02)) for s in range(6)}
    shifts = {"gelu": 0.02, "silu": 0.008, "mish": 0.0, "tanh": -0.03}
    out = {"relu": base}
    for name, shift in shifts.items():
        out[name] = {s: v + shift + float(rng.normal(0, 0.006)) for s, v in base.items()}
    out["mish"][4] = NAN
    return out


def test_compare_applies_holm_over_four_candidates() -> None:
    values = _four_candidates()
    arms, results = compare(values, "relu")
    assert [a.activation for a in arms] == ["relu", "gelu", "silu", "mish", "tanh"]
    assert [r.activation for r in results] == ["gelu", "silu", "mish", "tanh"]
    assert arms[3].failed == (4,) and arms[3].n == 5
    expected = holm([r.p_t for r in results])
    assert [r.p_holm for r in results] == expected
    assert any(r.p_holm > r.p_t for r in results)
    for r in results:
        alone = paired("relu", r.activation, values["relu"], values[r.activation], m=4)
        assert (r.p_t, r.mde, r.ci_t, r.ci_boot) == (alone.p_t, alone.mde, alone.ci_t, alone.ci_boot)
        significant = r.p_holm < 0.05
        assert r.verdict == ("better" if r.mean > 0 else "worse") if significant else "no detectable difference"
        if r.verdict != "not tested":
            assert f"Holm-adjusted p = {r.p_holm:.2g} over 4 candidates" in r.reason
    assert results[0].verdict == "better" and results[3].verdict == "worse"


def test_compare_counts_a_missing_seed_as_a_failure() -> None:
    values = {"relu": {0: 0.5, 1: 0.6, 2: 0.55}, "gelu": {0: 0.52, 2: 0.57}}
    arms, results = compare(values, "relu")
    assert arms[1].failed == (1,) and results[0].seeds == (0, 2)
    assert results[0].reason.endswith("; 1 of 3 runs of gelu (seed 1) diverged or failed, left out of the pairs")


def test_compare_refuses_an_unknown_baseline_naming_the_activations() -> None:
    with pytest.raises(
        StatsError, match=r"baseline 'elu' has no results; the activations with results are 'relu', 'gelu'"
    ):
        compare({"relu": {0: 0.5}, "gelu": {0: 0.6}}, "elu")


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: paired("a", "b", {0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0}, alpha=1.5), "alpha must be a number strictly"),
        (lambda: paired("a", "b", {0: 1.0}, {0: 1.0}, m=0), "m .* must be a positive integer"),
        (lambda: arm("a", {"x": 1.0}), "seeds must be integers"),
        (lambda: arm("a", {0: "high"}), "metric values must be real numbers"),
        (lambda: arm("a", [0.5, 0.6]), "must be a mapping seed -> metric value"),
        (lambda: compare({}, "relu"), "at least one activation"),
    ],
)
def test_bad_input_is_a_clear_error(call, match: str) -> None:
    with pytest.raises(ActlabError, match=match):
        call()


def test_missing_seeds_can_be_absent_rather_than_failed() -> None:
    """A store records failed runs as NaN, so a seed it lacks was never run: with missing="absent" it is
    neither a failure of the activation nor a pair."""
    values = {
        "relu": {0: 0.90, 1: 0.91, 2: 0.89, 3: 0.92, 4: 0.90},
        "gelu": {0: 0.93, 1: 0.94, 2: 0.93},  # run for three seeds only
        "silu": {0: 0.91, 1: float("nan"), 2: 0.90, 3: 0.93, 4: 0.91},  # seed 1 diverged
    }
    arms, pairs = compare(values, "relu", missing="absent")
    assert [a.failed for a in arms] == [(), (), (1,)] and [a.n for a in arms] == [5, 3, 4]
    assert pairs[0].seeds == (0, 1, 2) and "failed" not in pairs[0].reason
    assert pairs[1].seeds == (0, 2, 3, 4) and "seed 1" in pairs[1].reason
    arms, pairs = compare(values, "relu")  # the default: a missing seed is a failure
    assert arms[1].failed == (3, 4) and "seeds 3, 4" in pairs[0].reason
    with pytest.raises(ActlabError, match="absent"):
        compare(values, "relu", missing="skip")
