"""Tests for alignlimits.scaling: Gao et al.'s over-optimisation forms and their fits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignlimits import scaling, tilting, toys


def test_forms_by_hand():
    assert scaling.bon_form(2.0, 3.0, 0.5) == pytest.approx(2.0 * (3.0 - 1.0))
    assert scaling.rl_form(np.e, 3.0, 0.5) == pytest.approx(np.e * 2.5)
    assert scaling.rl_form(0.0, 3.0, 0.5) == 0.0  # d log d -> 0, no NaN
    assert np.ndim(scaling.bon_form(2.0, 1.0, 1.0)) == 0
    assert scaling.form("bon") is scaling.bon_form and scaling.form("rl") is scaling.rl_form


def test_peaks_are_the_maxima_of_the_curves():
    d = np.linspace(1e-6, 30, 300_001)
    for name, alpha, beta in (("bon", 1.2, 0.3), ("rl", 1.0, 0.5)):
        fit = scaling.fit_form(d[1::1000] ** 2, scaling.form(name)(d[1::1000], alpha, beta), name)
        d_star, r_star = fit.peak
        values = scaling.form(name)(d, alpha, beta)
        assert d_star == pytest.approx(d[np.argmax(values)], abs=2e-4)
        assert r_star == pytest.approx(values.max(), rel=1e-8)
    no_peak = scaling.fit_form(d[1::1000] ** 2, scaling.bon_form(d[1::1000], 1.0, -0.1), "bon")
    assert no_peak.peak == (float("inf"), float("inf"))


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(scaling.FORMS),
    alpha=st.floats(0.1, 5.0),
    beta=st.floats(-2.0, 2.0),
    d_max=st.floats(0.5, 4.0),
    n=st.integers(3, 40),
)
def test_fit_recovers_the_parameters_of_data_from_the_form(name, alpha, beta, d_max, n):
    d = np.linspace(d_max / n, d_max, n)
    fit = scaling.fit_form(d**2, scaling.form(name)(d, alpha, beta), name)
    assert fit.alpha == pytest.approx(alpha, abs=1e-7 * (1 + abs(alpha)))
    assert fit.beta == pytest.approx(beta, abs=1e-7 * (1 + abs(beta)))
    assert fit.max_abs < 1e-9 * (1 + alpha * d_max + abs(beta) * d_max**2)


@settings(max_examples=40, deadline=None)
@given(scale=st.floats(0.01, 100.0), seed=st.integers(0, 2**31 - 1), name=st.sampled_from(scaling.FORMS))
def test_scaling_the_gains_scales_both_parameters(scale, seed, name):
    rng = np.random.default_rng(seed)
    kl = np.sort(rng.uniform(0.01, 5.0, 12))
    gain = np.sqrt(kl) + 0.3 * rng.standard_normal(12)
    one, scaled = scaling.fit_form(kl, gain, name), scaling.fit_form(kl, scale * gain, name)
    assert scaled.alpha == pytest.approx(scale * one.alpha, rel=1e-6, abs=1e-9)
    assert scaled.beta == pytest.approx(scale * one.beta, rel=1e-6, abs=1e-9 * scale)
    assert scaled.relative_rms == pytest.approx(one.relative_rms, rel=1e-6)


def test_noisy_fit_is_within_its_standard_errors_and_residuals_are_reported():
    rng = np.random.default_rng(0)
    d = np.linspace(0.1, 3.0, 200)
    noisy = scaling.bon_form(d, 1.5, 0.2) + 0.01 * rng.standard_normal(d.size)
    fit = scaling.fit_form(d**2, noisy, "bon")
    assert abs(fit.alpha - 1.5) < 4 * fit.alpha_se and abs(fit.beta - 0.2) < 4 * fit.beta_se
    assert fit.rms == pytest.approx(0.01, rel=0.2)
    assert np.allclose(fit.residuals, noisy - fit(d))
    # the wrong form leaves a larger residual on the same data
    assert scaling.fit_form(d**2, noisy, "rl").rms > 2 * fit.rms


def test_gaussian_frontier_is_both_forms_with_zero_beta():
    # Δ* = σ sqrt(2 KL) for Gaussian rewards: α = σ√2, β = 0, where the two forms coincide.
    law = toys.Gaussian(0.0, 1.7)
    front = law.frontier(np.geomspace(0.2, 20, 50))
    for name in scaling.FORMS:
        fit = scaling.fit_form(front.kl, front.gain, name)
        assert fit.alpha == pytest.approx(1.7 * np.sqrt(2), rel=1e-9)
        assert abs(fit.beta) < 1e-9 and fit.alpha_se < 1e-9


def test_bounded_frontier_is_fitted_better_by_one_form_than_the_other():
    # A uniform reward saturates: neither form is exact, and the fits differ measurably.
    law = toys.Uniform(0.0, 1.0)
    front = law.frontier(np.geomspace(0.01, 10, 60))
    fits = {name: scaling.fit_form(front.kl, front.gain, name) for name in scaling.FORMS}
    assert all(fit.relative_rms > 1e-3 for fit in fits.values())
    assert fits["bon"].beta > 0 and fits["rl"].beta > 0  # both read saturation as "over-optimisation"


def test_frontier_bon_form_matches_a_small_kl_fit_of_a_skewed_frontier():
    # Exponential(θ): σ² = 1/θ², κ3 = 2/θ³, so α = √2/θ and β = −2/(3θ).
    theta = 2.0
    alpha, beta = scaling.frontier_bon_form(1 / theta**2, 2 / theta**3)
    assert alpha == pytest.approx(np.sqrt(2) / theta) and beta == pytest.approx(-2 / (3 * theta))
    law = toys.Exponential(theta)
    kl = np.geomspace(1e-6, 1e-4, 20)
    fit = scaling.fit_form(kl, law.gain_at_kl(kl), "bon")
    assert fit.alpha == pytest.approx(alpha, rel=1e-3)
    assert fit.beta == pytest.approx(beta, rel=2e-2)


def test_frontier_bon_form_on_a_discrete_problem():
    rng = np.random.default_rng(3)
    p0, r = rng.dirichlet(np.ones(8)), rng.standard_normal(8)
    mean = p0 @ r
    var, k3 = p0 @ (r - mean) ** 2, p0 @ (r - mean) ** 3
    alpha, beta = scaling.frontier_bon_form(var, k3)
    kl = np.geomspace(1e-7, 1e-5, 15)
    fit = scaling.fit_form(kl, tilting.max_gain(p0, r, kl), "bon")
    assert fit.alpha == pytest.approx(alpha, rel=1e-3)
    assert fit.beta == pytest.approx(beta, rel=5e-2, abs=1e-3)


@pytest.mark.parametrize(
    ("kl", "gain", "name", "message"),
    [
        ([0.1, 0.2, np.nan], [1, 2, 3], "bon", "NaN"),
        ([0.1, 0.2, 0.3], [1, 2, np.inf], "bon", "inf"),
        ([0.1, 0.2, 0.3], [1, 2], "bon", "same shape"),
        ([0.1, -0.2, 0.3], [1, 2, 3], "bon", ">= 0"),
        ([0.0, 0.0, 0.3], [0, 0, 3], "bon", "at least 3"),
        ([0.1, 0.2, 0.3], [1, 2, 3], "sqrt", "unknown form"),
        ([[0.1, 0.2, 0.3]], [[1, 2, 3]], "bon", "1-D"),
    ],
)
def test_bad_input_is_a_clear_error(kl, gain, name, message):
    with pytest.raises(ValueError, match=message):
        scaling.fit_form(kl, gain, name)


def test_bad_form_arguments():
    with pytest.raises(ValueError, match=">= 0"):
        scaling.bon_form([-1.0], 1.0, 1.0)
    with pytest.raises(ValueError, match="variance"):
        scaling.frontier_bon_form(0.0, 1.0)
    with pytest.raises(ValueError, match="third_cumulant"):
        scaling.frontier_bon_form(1.0, np.nan)
