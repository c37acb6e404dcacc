"""Tests for alignlimits.proxy: exact proxy-alignment quantities, error models, ensembles."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignlimits import divergences, proxy, tilting

# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def random_problem(seed: int, k: int = 40, *, dirichlet: bool = True):
    rng = np.random.default_rng(seed)
    p0 = rng.dirichlet(np.ones(k)) if dirichlet else np.full(k, 1.0 / k)
    r = rng.standard_normal(k)
    e = rng.standard_normal(k)
    return p0, r, e


problems = st.tuples(
    st.integers(0, 2**31 - 1),  # seed
    st.integers(2, 60),  # k
    st.floats(0.05, 20.0),  # beta
    st.floats(0.0, 3.0),  # error scale
)


# ---------------------------------------------------------------------------------------
# exact quantities
# ---------------------------------------------------------------------------------------


def test_zero_error_gives_zero_loss_and_gap():
    p0, r, _ = random_problem(1)
    betas = np.geomspace(0.05, 50, 20)
    res = proxy.proxy_alignment(p0, r, r, betas)
    np.testing.assert_allclose(res.loss, 0.0, atol=1e-12)
    np.testing.assert_allclose(res.gap, 0.0, atol=1e-9)
    np.testing.assert_allclose(res.true_gain, res.optimal_gain, atol=1e-12)
    np.testing.assert_allclose(res.kl, res.optimal_kl, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(problems)
def test_loss_identity_on_random_problems(args):
    seed, k, beta, s = args
    p0, r, e = random_problem(seed, k)
    r_hat = r + s * e
    pi = tilting.tilt(p0, r, beta)
    pi_hat = proxy.proxy_policy(p0, r_hat, beta)
    lhs = tilting.penalized_objective(pi, p0, r, beta) - tilting.penalized_objective(pi_hat, p0, r, beta)
    loss = proxy.objective_loss(p0, r, r_hat, beta)
    assert abs(lhs - loss) < 1e-10
    assert abs(loss - beta * divergences.kl(pi_hat, pi)) < 1e-10
    assert loss >= 0


@settings(max_examples=30, deadline=None)
@given(problems)
def test_gap_is_nonnegative_and_matched_gain_is_the_frontier(args):
    seed, k, beta, s = args
    p0, r, e = random_problem(seed, k)
    res = proxy.proxy_alignment(p0, r, r + s * e, beta)
    # No policy beats the frontier at its own KL, so the proxy policy's gain is below it.
    assert res.gap >= -1e-9
    assert res.true_gain <= res.matched_gain + 1e-9
    assert res.true_gain == pytest.approx(float(pi_at(p0, r + s * e, beta) @ r - p0 @ r), abs=1e-12)


def pi_at(p0, rewards, beta):
    return tilting.tilt(p0, rewards, beta)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(2, 50), st.floats(0.05, 20.0))
def test_loss_is_monotone_in_the_error_scale(seed, k, beta):
    # d/dt β KL(π̂_t‖π_β) = t Var_{π̂_t}(e)/β ≥ 0 for r̂ = r + t e: a theorem, so any seed.
    p0, r, e = random_problem(seed, k)
    scales = np.linspace(0.0, 3.0, 16)
    loss = np.array([proxy.objective_loss(p0, r, r + t * e, beta) for t in scales])
    assert loss[0] == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.diff(loss) >= -1e-12)


def test_loss_and_gap_grow_with_scale_and_inverse_beta_on_a_grid():
    # A large uniform space where the tilt stays spread out (the Gaussian regime).
    # A fixed error direction e is scaled; every number is exact.
    p0, r, e = random_problem(7, k=5000, dirichlet=False)
    betas = np.geomspace(0.5, 20.0, 16)[::-1]  # decreasing β = increasing 1/β
    scales = np.array([0.25, 0.5, 1.0, 2.0])
    loss = np.empty((scales.size, betas.size))
    gap = np.empty_like(loss)
    for i, s in enumerate(scales):
        res = proxy.proxy_alignment(p0, r, r + s * e, betas)
        loss[i], gap[i] = res.loss, res.gap
    assert np.all(np.diff(loss, axis=0) > 0) and np.all(np.diff(gap, axis=0) > 0)  # in the scale
    assert np.all(np.diff(loss, axis=1) > 0) and np.all(np.diff(gap, axis=1) > 0)  # in 1/β


def test_loss_is_not_monotone_in_inverse_beta_when_the_argmax_survives():
    # Counterexample to "the loss always grows as β shrinks": if the proxy keeps the
    # true argmax, both policies become the same greedy policy and the loss returns to 0.
    p0 = np.full(4, 0.25)
    r = np.array([0.0, 1.0, 2.0, 5.0])
    r_hat = np.array([0.0, 2.0, 1.0, 5.0])
    loss = proxy.objective_loss(p0, r, r_hat, np.array([10.0, 1.0, 0.01]))
    assert loss[1] > loss[0] and loss[1] > 100 * loss[2]


def test_gaussian_approximations_in_a_large_space():
    p0, r, e = random_problem(3, k=20000, dirichlet=False)
    r = (r - r.mean()) / r.std()
    e = (e - e.mean()) / e.std()
    s, beta = 0.5, 4.0
    res = proxy.proxy_alignment(p0, r, r + s * e, beta)
    assert res.loss == pytest.approx(proxy.gaussian_loss(s, beta), rel=0.05)
    assert res.gap == pytest.approx(proxy.gaussian_matched_gap(1.0, s, beta), rel=0.05)


def test_gaussian_formulas_values_and_errors():
    assert proxy.gaussian_loss(2.0, 4.0) == pytest.approx(0.5)
    assert proxy.gaussian_matched_gap(1.0, 0.0, 1.0) == 0.0
    assert proxy.gaussian_matched_gap(3.0, 4.0, 2.0) == pytest.approx(1.5 * (5 - 3))
    with pytest.raises(ValueError, match="beta"):
        proxy.gaussian_loss(1.0, 0.0)
    with pytest.raises(ValueError, match="sigma"):
        proxy.gaussian_matched_gap(0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="scale"):
        proxy.gaussian_loss(-1.0, 1.0)


def test_results_scalar_and_grid_shapes():
    p0, r, e = random_problem(2, k=10)
    assert isinstance(proxy.objective_loss(p0, r, r + e, 1.0), float)
    assert proxy.objective_loss(p0, r, r + e, [1.0, 2.0]).shape == (2,)
    assert isinstance(proxy.matched_kl_gap(p0, r, r + e, 1.0), float)
    res = proxy.proxy_alignment(p0, r, r + e, [0.5, 1.0, 2.0])
    assert set(res.as_dict()) >= {"beta", "kl", "gap", "loss"}
    np.testing.assert_allclose(res.true_reward, res.base_mean + res.true_gain)
    assert proxy.proxy_policy(p0, r + e, [1.0, 2.0]).shape == (2, 10)


def test_matched_gain_near_the_ceiling_is_greedy():
    # Proxy and true reward share the argmax of a uniform base: at tiny β the proxy
    # policy's KL equals the true ceiling up to rounding, which must not raise.
    p0 = np.full(5, 0.2)
    r = np.arange(5.0)
    res = proxy.proxy_alignment(p0, r, r + np.array([0.3, 0.0, 0.1, 0.0, 0.0]), 1e-4)
    assert res.matched_gain == pytest.approx(tilting.greedy_gain(p0, r))
    assert res.gap == pytest.approx(0.0, abs=1e-9)


def test_bad_inputs_raise():
    p0, r, e = random_problem(0, k=5)
    with pytest.raises(ValueError, match="same shape"):
        proxy.objective_loss(p0, r, np.ones(4), 1.0)
    with pytest.raises(ValueError, match="NaN"):
        proxy.proxy_alignment(p0, r, np.array([0, 1, np.nan, 0, 0.0]), 1.0)
    with pytest.raises(ValueError, match="infinite"):
        proxy.proxy_alignment(p0, r, np.array([0, 1, np.inf, 0, 0.0]), 1.0)
    with pytest.raises(ValueError, match="beta"):
        proxy.proxy_alignment(p0, r, r + e, 0.0)
    with pytest.raises(ValueError, match="beta"):
        proxy.proxy_alignment(p0, r, r + e, -1.0)
    with pytest.raises(ValueError, match="finite"):
        proxy.objective_loss(p0, r, r + e, np.inf)
    with pytest.raises(ValueError, match="sum to 1"):
        proxy.proxy_alignment(p0 * 2, r, r + e, 1.0)
    with pytest.raises(ValueError, match="empty"):
        proxy.proxy_alignment([], [], [], 1.0)


# ---------------------------------------------------------------------------------------
# error models
# ---------------------------------------------------------------------------------------


def test_error_models_are_seeded_and_have_the_stated_moments():
    k = 200_000
    p0 = np.full(k, 1.0 / k)
    r = np.random.default_rng(0).standard_normal(k)
    for model in (proxy.GaussianError(0.7), proxy.StudentTError(0.7, df=5.0), proxy.RewardCorrelatedError(0.7, -0.4)):
        a = model.sample(r, p0, np.random.default_rng(11))
        b = model.sample(r, p0, np.random.default_rng(11))
        np.testing.assert_array_equal(a, b)
        assert a.shape == (k,)
        assert a.std() == pytest.approx(0.7, rel=0.03)
        assert abs(a.mean()) < 0.02
    e = proxy.RewardCorrelatedError(1.0, -0.4).sample(r, p0, np.random.default_rng(2))
    assert np.corrcoef(e, r)[0, 1] == pytest.approx(-0.4, abs=0.01)
    t = proxy.StudentTError(1.0, df=3.0).sample(r, p0, np.random.default_rng(3))
    g = proxy.GaussianError(1.0).sample(r, p0, np.random.default_rng(3))
    assert np.abs(t).max() > 2 * np.abs(g).max()  # heavy tails


def test_bump_error_lands_on_rare_low_reward_outcomes():
    rng = np.random.default_rng(5)
    k = 300
    p0 = rng.dirichlet(np.ones(k))
    r = rng.standard_normal(k)
    model = proxy.BumpError(height=4.0, count=3)
    idx = model.bumped(r, p0, np.random.default_rng(9))
    e = model.sample(r, p0, np.random.default_rng(9))
    np.testing.assert_array_equal(np.flatnonzero(e), idx)
    assert np.all(e[idx] == 4.0) and idx.size == 3
    low = (r < p0 @ r) & (p0 > 0)
    assert np.all(low[idx])
    assert np.all(p0[idx] <= np.median(p0[low]))
    noisy = proxy.BumpError(height=4.0, count=1, noise=0.1).sample(r, p0, np.random.default_rng(1))
    assert np.count_nonzero(noisy) == k


def test_bump_error_gives_an_interior_maximum_of_true_reward():
    rng = np.random.default_rng(4)
    k = 400
    p0 = np.full(k, 1.0 / k)
    r = rng.standard_normal(k)
    r_hat = proxy.proxy_rewards(r, p0, proxy.BumpError(height=6.0, count=2), np.random.default_rng(8))
    betas = np.geomspace(0.02, 50.0, 40)
    true_reward = proxy.proxy_alignment(p0, r, r_hat, betas).true_reward
    top = int(np.argmax(true_reward))
    assert 0 < top < betas.size - 1
    assert true_reward[top] - true_reward[0] > 0.5  # falls clearly at small β
    assert true_reward[top] - true_reward[-1] > 0.3  # and rose from the base policy
    assert true_reward[0] < p0 @ r  # the greedy proxy policy is worse than the base


def test_gaussian_error_curve_has_no_interior_maximum_in_a_large_space():
    # Contrast: independent Gaussian errors of the same size only slow the rise.
    rng = np.random.default_rng(4)
    k = 5000
    p0 = np.full(k, 1.0 / k)
    r = rng.standard_normal(k)
    r_hat = proxy.proxy_rewards(r, p0, proxy.GaussianError(1.0), np.random.default_rng(8))
    true_reward = proxy.proxy_alignment(p0, r, r_hat, np.geomspace(0.1, 50.0, 30)).true_reward
    assert np.all(np.diff(true_reward) < 0)  # β increasing → reward decreasing


def test_error_model_bad_inputs_raise():
    with pytest.raises(ValueError, match="scale"):
        proxy.GaussianError(-1.0)
    with pytest.raises(ValueError, match="df"):
        proxy.StudentTError(1.0, df=2.0)
    with pytest.raises(ValueError, match="rho"):
        proxy.RewardCorrelatedError(1.0, rho=1.5)
    with pytest.raises(ValueError, match="height"):
        proxy.BumpError(height=0.0)
    with pytest.raises(ValueError, match="count"):
        proxy.BumpError(count=0)
    p0 = np.full(3, 1 / 3)
    with pytest.raises(TypeError, match="Generator"):
        proxy.GaussianError(1.0).sample(np.zeros(3), p0, 0)
    with pytest.raises(ValueError, match="constant"):
        proxy.RewardCorrelatedError(1.0, 0.5).sample(np.ones(3), p0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="constant"):
        proxy.BumpError().sample(np.ones(3), p0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="rare"):
        proxy.BumpError(count=3).sample(np.arange(3.0), p0, np.random.default_rng(0))
    with pytest.raises(TypeError, match="ErrorModel"):
        proxy.proxy_rewards(np.zeros(3), p0, "gaussian", np.random.default_rng(0))


# ---------------------------------------------------------------------------------------
# ensembles
# ---------------------------------------------------------------------------------------


def test_ensemble_error_variance_formula_values():
    assert proxy.ensemble_error_variance(2.0, 0.0, 4) == pytest.approx(1.0)
    assert proxy.ensemble_error_variance(2.0, 1.0, 100) == pytest.approx(4.0)
    np.testing.assert_allclose(proxy.ensemble_error_variance(1.0, 0.3, np.array([1, 2, 10])), [1.0, 0.65, 0.37])


@pytest.mark.parametrize(("m", "rho"), [(1, 0.0), (4, 0.0), (4, 0.5), (16, 0.2), (8, 1.0)])
def test_ensemble_variance_matches_simulation(m, rho):
    s, k = 1.5, 50_000
    p0 = np.full(k, 1.0 / k)
    r = np.zeros(k)
    errors = proxy.correlated_errors(proxy.GaussianError(s), r, p0, m, rho, np.random.default_rng(m))
    assert errors.shape == (m, k)
    mean_error = errors.mean(axis=0)
    target = proxy.ensemble_error_variance(s, rho, m)
    # The sample variance of k iid Gaussians has relative sd sqrt(2/k) ≈ 0.6 %; allow 5 sd.
    assert mean_error.var() == pytest.approx(target, rel=5 * np.sqrt(2 / k))
    if m > 1:
        c = np.corrcoef(errors)[np.triu_indices(m, 1)]
        assert np.abs(c - rho).max() < 5 / np.sqrt(k) + 1e-12


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 6), st.integers(2, 30), st.floats(0.0, 5.0))
def test_min_le_mean_le_max_member(seed, m, k, penalty):
    rng = np.random.default_rng(seed)
    p0 = rng.dirichlet(np.ones(k))
    members = rng.standard_normal((m, k))
    z = proxy.standardize(members, p0)
    lo = proxy.ensemble_reward(members, p0, "min")
    mid = proxy.ensemble_reward(members, p0, "mean")
    unc = proxy.ensemble_reward(members, p0, "uncertainty", penalty=penalty)
    assert np.all(lo <= mid + 1e-12) and np.all(mid <= z.max(axis=0) + 1e-12)
    assert np.all(unc <= mid + 1e-12)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**31 - 1),
    st.integers(1, 5),
    st.lists(st.floats(0.01, 100.0), min_size=5, max_size=5),
    st.lists(st.floats(-100.0, 100.0), min_size=5, max_size=5),
)
def test_ensemble_invariant_to_affine_rescaling_of_members(seed, m, scales, shifts):
    rng = np.random.default_rng(seed)
    k = 25
    p0 = rng.dirichlet(np.ones(k))
    members = rng.standard_normal((m, k))
    a = np.array(scales[:m])[:, None]
    b = np.array(shifts[:m])[:, None]
    for method in proxy.ENSEMBLE_METHODS:
        x = proxy.ensemble_reward(members, p0, method, penalty=0.7)
        y = proxy.ensemble_reward(a * members + b, p0, method, penalty=0.7)
        np.testing.assert_allclose(x, y, atol=1e-9)


def test_standardize_moments_and_empirical_base():
    rng = np.random.default_rng(0)
    k = 30
    p0 = rng.dirichlet(np.ones(k))
    z = proxy.standardize(3 * rng.standard_normal((3, k)) + 2, p0)
    np.testing.assert_allclose(z @ p0, 0.0, atol=1e-12)
    np.testing.assert_allclose((z**2) @ p0, 1.0, atol=1e-12)
    samples = rng.choice(k, size=500, p=p0)
    emp = np.bincount(samples, minlength=k) / samples.size
    z_emp = proxy.standardize(rng.standard_normal((2, k)), emp)
    np.testing.assert_allclose(z_emp[:, samples].mean(axis=1), 0.0, atol=1e-12)


def test_ensemble_averaging_reduces_the_loss():
    # Mean of m members with independent Gaussian errors: loss ≈ (s²/m)/(2β) ≪ s²/(2β).
    k = 5000
    p0 = np.full(k, 1.0 / k)
    r = np.random.default_rng(1).standard_normal(k)
    errors = proxy.correlated_errors(proxy.GaussianError(1.0), r, p0, 8, 0.0, np.random.default_rng(2))
    members = r[None, :] + errors
    single = proxy.objective_loss(p0, r, members[0], 2.0)
    averaged = proxy.objective_loss(p0, r, members.mean(axis=0), 2.0)
    assert averaged < single / 4


def test_ensemble_bad_inputs_raise():
    p0 = np.full(4, 0.25)
    members = np.arange(8.0).reshape(2, 4)
    with pytest.raises(ValueError, match="method"):
        proxy.ensemble_reward(members, p0, "median")
    with pytest.raises(ValueError, match="penalty"):
        proxy.ensemble_reward(members, p0, "uncertainty", penalty=-1.0)
    with pytest.raises(ValueError, match="shape"):
        proxy.ensemble_reward(np.ones((2, 3)), p0)
    with pytest.raises(ValueError, match="constant"):
        proxy.standardize(np.array([[1.0, 2, 3, 4], [5.0, 5, 5, 5]]), p0)
    with pytest.raises(ValueError, match="NaN"):
        proxy.standardize(np.array([[1.0, 2, np.nan, 4]]), p0)
    z = proxy.standardize(np.arange(4.0), p0)  # one reward in, one standardised reward out
    assert z.shape == (4,) and abs(z @ p0) < 1e-12 and (z**2) @ p0 == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shape"):
        proxy.standardize(np.zeros((2, 2, 4)), p0)
    with pytest.raises(ValueError, match="members"):  # an ensemble needs a members axis
        proxy.ensemble_reward(np.arange(4.0), p0)
    with pytest.raises(ValueError, match="rho"):
        proxy.correlated_errors(proxy.GaussianError(), np.arange(4.0), p0, 3, -0.1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="m must"):
        proxy.correlated_errors(proxy.GaussianError(), np.arange(4.0), p0, 0, 0.5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="m must"):
        proxy.ensemble_error_variance(1.0, 0.5, 0)
    with pytest.raises(ValueError, match="rho"):
        proxy.ensemble_error_variance(1.0, 1.5, 2)
