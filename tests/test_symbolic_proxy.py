"""Tests for alignlimits.symbolic.proxy: identities simplify to zero and match the numerics."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from alignlimits import proxy
from alignlimits.symbolic import proxy as sym


@pytest.mark.parametrize("k", [2, 3])
def test_loss_identity_simplifies_to_zero(k):
    assert sym.residual(sym.loss_identity(k)) == 0


def test_loss_identity_is_not_trivially_zero():
    # The two sides are genuinely different expressions, and the loss is not identically 0.
    eq = sym.loss_identity(2)
    assert eq.lhs != eq.rhs
    free = sorted(eq.rhs.free_symbols, key=str)
    values = dict(zip(free, [1.0, 0.3, -0.2, 0.4, 0.6, 1.5, -0.5], strict=True))  # beta, e1, e2, q1, q2, r1, r2
    assert float(eq.rhs.subs(values)) > 0


def test_loss_scale_derivative_simplifies_to_zero():
    eq, t = sym.loss_scale_derivative(2)
    assert sym.residual(eq) == 0
    assert t.is_nonnegative


def test_loss_scale_derivative_numerically_for_three_outcomes():
    eq, t = sym.loss_scale_derivative(3)
    symbols = sorted(eq.lhs.free_symbols - {t}, key=str)
    rng = np.random.default_rng(0)
    for _ in range(3):
        vals = dict(zip(symbols, rng.uniform(0.2, 1.5, len(symbols)), strict=True))
        vals[t] = 0.7
        assert float(eq.lhs.subs(vals)) == pytest.approx(float(eq.rhs.subs(vals)), rel=1e-10)


def test_gaussian_tilt_is_a_shift():
    grad = sym.gaussian_tilt_shift()
    assert grad == sp.zeros(2, 1)


def test_gaussian_loss_is_s2_over_2beta_for_any_correlation():
    eq = sym.gaussian_proxy_loss()
    assert sym.residual(eq) == 0
    g = sym.gaussian_symbols()
    assert g.rho not in eq.rhs.free_symbols
    f = sp.lambdify((g.s, g.beta), eq.rhs)
    assert f(0.8, 2.5) == pytest.approx(proxy.gaussian_loss(0.8, 2.5), rel=1e-14)


def test_gaussian_matched_gap_and_numeric_twin():
    eq = sym.gaussian_matched_gap()
    assert sym.residual(eq) == 0
    g = sym.gaussian_symbols()
    f = sp.lambdify((g.sigma, g.s, g.beta), eq.rhs)
    for sigma, s, beta in [(1.0, 0.5, 2.0), (2.0, 3.0, 0.3), (0.5, 1e-4, 1.0)]:
        assert proxy.gaussian_matched_gap(sigma, s, beta) == pytest.approx(f(sigma, s, beta), rel=1e-9)
    # To first order in s² the gap equals the loss s²/(2β).
    series = sp.series(eq.rhs, g.s, 0, 5).removeO()
    assert sp.simplify(series - (g.s**2 / (2 * g.beta) - g.s**4 / (8 * g.beta * g.sigma**2))) == 0


def test_correlated_gap_parts_and_nonnegativity():
    gap, parts = sym.gaussian_matched_gap_correlated()
    g = sym.gaussian_symbols()
    assert sp.simplify(parts["kl"] - (g.sigma**2 + 2 * g.rho * g.sigma * g.s + g.s**2) / (2 * g.beta**2)) == 0
    assert sp.simplify(parts["true_gain"] - g.sigma * (g.sigma + g.rho * g.s) / g.beta) == 0
    # gap ≥ 0 ⇔ σ² + 2ρσs + s² − (σ + ρs)² = s²(1 − ρ²) ≥ 0.
    square_diff = sp.expand(g.sigma**2 + 2 * g.rho * g.sigma * g.s + g.s**2 - (g.sigma + g.rho * g.s) ** 2)
    assert sp.factor(square_diff) in (g.s**2 * (1 - g.rho**2), -(g.s**2) * (g.rho - 1) * (g.rho + 1))
    f = sp.lambdify((g.sigma, g.s, g.rho, g.beta), gap)
    assert f(1.0, 2.0, 1.0 - 1e-12, 1.0) == pytest.approx(0.0, abs=1e-5)  # a perfectly correlated error is a rescaling
    assert f(1.0, 2.0, -0.5, 1.0) > 0


@pytest.mark.parametrize("m", [None, 1, 2, 5])
def test_ensemble_variance_formula(m):
    assert sym.residual(sym.ensemble_error_variance(m)) == 0


def test_ensemble_variance_bad_m():
    with pytest.raises(ValueError, match="positive integer"):
        sym.ensemble_error_variance(0)


def test_ensemble_gap_and_floor():
    gap, floor = sym.ensemble_matched_gap()
    g = sym.gaussian_symbols()
    assert sp.simplify(floor - (g.sigma / g.beta) * (sp.sqrt(g.sigma**2 + g.rho * g.s**2) - g.sigma)) == 0
    assert sp.simplify(gap.subs(g.m, 1) - sym.gaussian_matched_gap().rhs) == 0
    f = sp.lambdify((g.sigma, g.s, g.rho, g.beta, g.m), gap)
    values = [f(1.0, 1.0, 0.3, 1.0, m) for m in (1, 2, 4, 8, 10**6)]
    assert np.all(np.diff(values) < 0)
    assert values[-1] == pytest.approx(float(floor.subs({g.sigma: 1, g.s: 1, g.rho: 0.3, g.beta: 1})), rel=1e-3)
    with pytest.raises(ValueError, match="outcomes"):
        sym.loss_identity(1)


def test_gain_fraction_is_the_correlation():
    eq = sym.gaussian_gain_fraction()
    assert sym.residual(eq) == 0
    g = sym.gaussian_symbols()
    f = sp.lambdify((g.sigma, g.s, g.rho), eq.rhs)
    assert f(1.0, 1.0, 0.0) == pytest.approx(1 / np.sqrt(2))
    assert g.beta not in eq.rhs.free_symbols
