"""Toy reward laws: closed forms vs the generic numerical frontier, samplers, invariances, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignlimits import tilting, toys

LAWS = [
    toys.Gaussian(0.3, 1.7),
    toys.Gaussian(-2.0, 0.5),
    toys.Bernoulli(0.2),
    toys.Bernoulli(0.9),
    toys.Exponential(2.0),
    toys.Exponential(0.5),
    toys.Uniform(-1.0, 2.0),
    toys.Uniform(3.0, 3.5),
    toys.Categorical([0.0, 1.0, 3.0], [0.5, 0.3, 0.2]),
]
IDS = [f"{law.name}-{i}" for i, law in enumerate(LAWS)]


def _betas(law, n=25, lo=0.05):
    return law.beta_min + law.std * np.geomspace(lo, 50, n)


@pytest.mark.parametrize("law", LAWS, ids=IDS)
def test_closed_forms_match_numerical_frontier(law):
    betas = _betas(law)
    exact, num = law.frontier(betas), toys.numerical_frontier(law, betas)
    for name in ("kl", "reverse_kl", "gain", "jeffreys"):
        np.testing.assert_allclose(getattr(exact, name), getattr(num, name), rtol=1e-9, atol=1e-14, err_msg=name)
    assert exact.base_mean == pytest.approx(num.base_mean, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("law", LAWS, ids=IDS)
def test_jeffreys_identity_and_monotonicity(law):
    wide = law.frontier(_betas(law))
    np.testing.assert_allclose(wide.gain, wide.beta * wide.jeffreys, rtol=1e-12)
    # Away from saturation (where float64 gains stop changing): as β grows, gain and KL fall strictly.
    f = law.frontier(_betas(law, lo=0.3))
    assert (np.diff(f.gain) < 0).all() and (np.diff(f.kl) < 0).all()
    # Concave frontier: the slope dΔ/dKL (= β) grows as KL falls.
    slopes = np.diff(f.gain) / np.diff(f.kl)
    assert (np.diff(slopes) > 0).all()
    assert (slopes > f.beta[:-1]).all() and (slopes < f.beta[1:]).all()


@pytest.mark.parametrize("law", LAWS, ids=IDS)
def test_gain_at_kl_inverts_the_frontier(law):
    f = law.frontier(_betas(law, 7))
    np.testing.assert_allclose(toys.gain_at_kl(law, f.kl), f.gain, rtol=1e-8)
    assert toys.gain_at_kl(law, 0.0) == 0.0


@pytest.mark.parametrize("law", LAWS, ids=IDS)
def test_samplers_match_moments(law):
    x = law.sample(200_000, np.random.default_rng(0))
    assert x.dtype == np.float64 and x.shape == (200_000,)
    assert abs(x.mean() - law.mean) < 5 * law.std / np.sqrt(x.size)
    assert x.std() == pytest.approx(law.std, rel=0.02)
    np.testing.assert_array_equal(x, law.sample(200_000, np.random.default_rng(0)))


def test_sqrt_kl_bound_exact_for_gaussian_only():
    kl = np.geomspace(1e-4, 5, 20)
    g = toys.Gaussian(1.0, 2.0)
    np.testing.assert_allclose(toys.gain_at_kl(g, kl), toys.sqrt_kl_bound(g, kl), rtol=1e-14)
    # Right-skewed rewards beat σ·sqrt(2 KL) at small KL; bounded ones fall below it eventually.
    e, b, u = toys.Exponential(1.0), toys.Bernoulli(0.1), toys.Uniform(0.0, 1.0)
    assert (toys.gain_at_kl(e, kl) > toys.sqrt_kl_bound(e, kl)).all()
    assert (toys.gain_at_kl(b, kl[:5]) > toys.sqrt_kl_bound(b, kl[:5])).all()
    # Bernoulli(0.1) saturates at 0.9 once KL ≥ log 10; σ·sqrt(2 KL) = 0.3·sqrt(2 KL) passes it at KL = 4.5.
    assert toys.gain_at_kl(b, [4.4])[0] > toys.sqrt_kl_bound(b, [4.4])[0]
    assert toys.gain_at_kl(b, [4.6])[0] < toys.sqrt_kl_bound(b, [4.6])[0]
    assert (toys.gain_at_kl(u, kl) < toys.sqrt_kl_bound(u, kl)).all()


def test_bounded_laws_saturate():
    u = toys.Uniform(0.0, 2.0)
    assert u.max_gain == 1.0 and u.max_kl == np.inf
    assert u.frontier(1e-6).gain == pytest.approx(1.0, abs=1e-5)
    b = toys.Bernoulli(0.25)
    assert b.max_kl == pytest.approx(np.log(4)) and b.max_gain == pytest.approx(0.75)
    assert toys.gain_at_kl(b, [10.0])[0] == pytest.approx(0.75)
    assert np.isfinite(b.frontier(1e-3).reverse_kl).all()  # no overflow where p_β rounds to 1


def test_exponential_tilt_is_exponential():
    # π_β is Exp(θ − 1/β): compare with the Categorical tilt of a fine discretisation's mean.
    law, beta = toys.Exponential(2.0), 1.0
    assert law.frontier(beta).expected_reward == pytest.approx(1 / (2.0 - 1 / beta), rel=1e-14)
    assert toys.Exponential(2.0).gain_at_kl([1e-12])[0] == pytest.approx(np.sqrt(2e-12) / 2, rel=1e-5)


@settings(max_examples=40, deadline=None)
@given(shift=st.floats(-50, 50), scale=st.floats(0.1, 10), beta=st.floats(0.2, 20), seed=st.integers(0, 10**6))
def test_invariances(shift, scale, beta, seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 7))
    values, probs = rng.normal(size=k), rng.dirichlet(np.ones(k))
    base = toys.numerical_frontier(toys.Categorical(values, probs), beta)
    shifted = toys.numerical_frontier(toys.Categorical(values + shift, probs), beta)
    scaled = toys.numerical_frontier(toys.Categorical(scale * values, probs), scale * beta)
    perm = rng.permutation(k)
    permuted = toys.numerical_frontier(toys.Categorical(values[perm], probs[perm]), beta)
    for name in ("kl", "reverse_kl"):
        for other in (shifted, scaled, permuted):
            np.testing.assert_allclose(getattr(other, name), getattr(base, name), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(shifted.gain, base.gain, rtol=1e-8, atol=1e-9 * (1 + abs(shift)))
    np.testing.assert_allclose(scaled.gain, scale * base.gain, rtol=1e-8, atol=1e-13)
    np.testing.assert_allclose(permuted.gain, base.gain, rtol=1e-10, atol=1e-14)


@settings(max_examples=15, deadline=None)
@given(mu=st.floats(-5, 5), sigma=st.floats(0.2, 5), c=st.floats(0.2, 5))
def test_continuous_scaling_invariance(mu, sigma, c):
    # (c·r, c·β): same KL, gain × c — via the quadrature frontier of a uniform law.
    a, b = mu, mu + sigma
    beta = np.array([0.3, 1.0, 3.0]) * sigma
    one = toys.numerical_frontier(toys.Uniform(a, b), beta)
    two = toys.numerical_frontier(toys.Uniform(c * a, c * b), c * beta)
    np.testing.assert_allclose(two.kl, one.kl, rtol=1e-9)
    np.testing.assert_allclose(two.gain, c * one.gain, rtol=1e-9)


def test_discrete_numerical_frontier_is_exact_tilt():
    law = toys.Bernoulli(0.3)
    f = toys.numerical_frontier(law, [0.5, 2.0])
    g = tilting.frontier([0.7, 0.3], [0.0, 1.0], [0.5, 2.0])
    np.testing.assert_array_equal(f.kl, g.kl)


def test_bad_inputs():
    with pytest.raises(ValueError, match="rate > 0"):
        toys.Exponential(0.0)
    with pytest.raises(ValueError, match="a < b"):
        toys.Uniform(1.0, 1.0)
    with pytest.raises(ValueError, match="1/rate"):
        toys.Exponential(2.0).frontier([1.0, 0.5])
    with pytest.raises(ValueError, match="must exceed"):
        toys.numerical_frontier(toys.Exponential(2.0), 0.4)
    with pytest.raises(ValueError):
        toys.Uniform().frontier(-1.0)
    with pytest.raises(ValueError, match="KL budgets"):
        toys.gain_at_kl(toys.Gaussian(), [-0.1])
    with pytest.raises(ValueError, match="KL budgets"):
        toys.sqrt_kl_bound(toys.Gaussian(), [np.nan])
    with pytest.raises(ValueError, match="non-empty"):
        toys.gain_at_kl(toys.Uniform(), [])
    with pytest.raises(ValueError, match="positive integer"):
        toys.Uniform().sample(0, np.random.default_rng(0))
    with pytest.raises(TypeError, match="no density"):
        toys.Bernoulli().logpdf(0.5)
