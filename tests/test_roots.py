"""Tests of :func:`alignlimits._roots.beta_for_budget`, the one β solver behind every frontier."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignlimits import tilting
from alignlimits._roots import BudgetAtCeiling, beta_for_budget


def gaussian_kl(sd: float):
    """``KL(π_β‖π0) = sd²/(2β²)`` for Gaussian rewards: the solver's starting guess is exact."""
    return lambda beta: sd**2 / (2 * beta**2)


def exponential_kl(rate: float):
    """Exponential(rate) rewards: ``KL = u − log1p(u)``, ``u = 1/(rate·β − 1)``, finite only for β > 1/rate."""

    def kl(beta: float) -> float:
        u = 1.0 / (rate * beta - 1.0)
        return u - math.log1p(u)

    return kl


@settings(max_examples=60, deadline=None)
@given(
    sd=st.floats(1e-6, 1e6),
    eps=st.floats(1e-10, 1e3),
)
def test_gaussian_budget_has_the_closed_form(sd, eps):
    beta = beta_for_budget(gaussian_kl(sd), eps, sd)
    assert beta == pytest.approx(sd / math.sqrt(2 * eps), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(scale=st.floats(1e-4, 1e4), eps=st.floats(1e-6, 50.0))
def test_a_wrong_scale_only_moves_the_start(scale, eps):
    # sd is only a starting scale: a guess off by a factor up to 10^4 still finds the root.
    sd = 2.0
    beta = beta_for_budget(gaussian_kl(sd), eps, sd * scale)
    assert beta == pytest.approx(sd / math.sqrt(2 * eps), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(rate=st.floats(0.1, 10.0), eps=st.floats(1e-6, 20.0))
def test_beta_min_keeps_beta_admissible_and_solves_the_budget(rate, eps):
    kl = exponential_kl(rate)
    beta = beta_for_budget(kl, eps, 1.0 / rate, beta_min=1.0 / rate)
    assert beta > 1.0 / rate
    assert kl(beta) == pytest.approx(eps, rel=1e-9)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(2, 30),
    fractions=st.lists(st.floats(1e-4, 0.99), min_size=2, max_size=6, unique=True),
)
def test_discrete_budgets_are_met_and_beta_falls_as_the_budget_grows(seed, k, fractions):
    rng = np.random.default_rng(seed)
    p0, r = rng.dirichlet(np.ones(k)), rng.normal(size=k)
    sd = float(np.sqrt(p0 @ (r - p0 @ r) ** 2))
    ceiling = tilting.max_kl(p0, r)
    budgets = np.sort(np.array(fractions)) * ceiling

    def kl_at(beta):
        return float(tilting.frontier(p0, r, beta).kl)

    betas = np.array([beta_for_budget(kl_at, float(e), sd) for e in budgets])
    np.testing.assert_allclose([kl_at(b) for b in betas], budgets, rtol=1e-8)
    assert (np.diff(betas) < 0).all()


def test_a_budget_at_the_ceiling_is_reported():
    # Two outcomes: KL(π_β‖π0) < log 2 for every β > 0, and reaches it only as β → 0.
    p0, r = np.array([0.5, 0.5]), np.array([0.0, 1.0])
    with pytest.raises(BudgetAtCeiling):
        beta_for_budget(lambda b: float(tilting.frontier(p0, r, b).kl), math.log(2), 0.5)


def test_the_search_stops_at_sd_times_e_to_the_minus_700():
    looked_at = []

    def kl_at(beta):
        looked_at.append(beta)
        return 1.0  # never reaches the budget

    with pytest.raises(BudgetAtCeiling):
        beta_for_budget(kl_at, 2.0, 3.0)
    assert min(looked_at) == pytest.approx(3.0 * math.exp(-700), rel=1e-12)


@pytest.mark.parametrize(
    "eps, sd, beta_min, match",
    [
        (0.0, 1.0, 0.0, "eps"),
        (-1.0, 1.0, 0.0, "eps"),
        (math.inf, 1.0, 0.0, "eps"),
        (math.nan, 1.0, 0.0, "eps"),
        (0.1, 0.0, 0.0, "sd"),
        (0.1, math.nan, 0.0, "sd"),
        (0.1, 1.0, -1.0, "beta_min"),
        (0.1, 1.0, math.inf, "beta_min"),
    ],
)
def test_bad_arguments_are_rejected(eps, sd, beta_min, match):
    with pytest.raises(ValueError, match=match):
        beta_for_budget(gaussian_kl(1.0), eps, sd, beta_min=beta_min)
