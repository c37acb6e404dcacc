"""Tests for alignlimits.symbolic.bon: each identity is checked by simplify(lhs − rhs) == 0 and numerically."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st
import sympy as sp

from alignlimits import bon
from alignlimits.symbolic import bon as sb


def _holds(eq: sp.Eq) -> bool:
    return sp.simplify(eq.lhs - eq.rhs) == 0


def test_max_density():
    assert _holds(sb.max_density())


def test_uniform_density_integrates_to_one():
    assert sp.simplify(sp.integrate(sb.uniform_density(), (sb.u, 0, 1), conds="none") - 1) == 0


def test_continuous_kl_is_log_n_minus_n_minus_one_over_n():
    eq = sb.continuous_kl()
    assert _holds(eq)
    # and it is the numeric bound, for several N
    for n in (1, 2, 7, 1000):
        assert float(eq.lhs.subs(sb.N, n)) == pytest.approx(bon.kl_bound(n), rel=1e-13, abs=1e-15)


def test_continuous_win_rate():
    eq = sb.continuous_win_rate()
    assert _holds(eq)
    assert float(eq.lhs.subs(sb.N, 9)) == pytest.approx(bon.win_rate_bound(9))


def test_level_mass_is_average_of_uniform_density():
    assert _holds(sb.level_mass_is_average())


def test_fair_coin_kl_below_log2():
    eq = sb.fair_coin_kl()
    assert _holds(eq)
    for n in (1, 2, 5, 30):
        value = float(eq.lhs.subs(sb.N, n))
        assert value == pytest.approx(bon.kl([0.5, 0.5], [0.0, 1.0], n), rel=1e-12, abs=1e-15)
        assert value < np.log(2)


def test_binary_kl_matches_numeric_and_its_limit():
    expr = sb.binary_kl()
    p = sp.Symbol("p", positive=True)
    for p_val, n in ((0.01, 100), (0.3, 4), (0.9, 2)):
        assert float(expr.subs({p: p_val, sb.N: n})) == pytest.approx(bon.kl([1 - p_val, p_val], [0, 1], n), rel=1e-10)
    # N → ∞: the greedy KL −log p, above log 2 whenever p < 1/2
    assert _holds(sb.binary_kl_limit(sp.Rational(1, 5)))
    assert float(sb.binary_kl_limit(sp.Rational(1, 5)).lhs) > np.log(2)


def test_expected_max_closed_forms():
    u = sb.u
    assert sb.expected_max(u, 4) == sp.Rational(4, 5)
    assert sp.simplify(sb.expected_max(-sp.log(1 - u), 3) - sp.Rational(11, 6)) == 0
    assert float(sb.expected_max(-sp.log(1 - u), 5)) == pytest.approx(bon.continuous_expected_max(st.expon(), 5))
    with pytest.raises(ValueError, match="positive integer"):
        sb.expected_max(u, 0)


def test_gaussian_fraction_at_n2():
    frac = sb.gaussian_fraction()
    assert sp.simplify(frac - 1 / (sp.sqrt(sp.pi) * sp.sqrt(2 * (sp.log(2) - sp.Rational(1, 2))))) == 0
    numeric = bon.continuous_expected_max(st.norm(), 2) / np.sqrt(2 * bon.kl_bound(2))
    assert float(frac) == pytest.approx(numeric, rel=1e-10)
    assert 0.85 < float(frac) < 1
