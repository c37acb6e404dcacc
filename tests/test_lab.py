"""Frontier and best-of-N curves from (prompts x samples) reward and judge arrays."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignlimits import lab

BETAS = np.array([0.05, 0.2, 1.0, np.inf])


def _data(seed=0, p=5, n=8, ties=False):
    rng = np.random.default_rng(seed)
    r = rng.normal(size=(p, n))
    if ties:
        r = np.round(r)
    return r, rng.normal(size=(p, n))


def test_judge_equal_to_reward_gives_identical_curves():
    r, _ = _data(ties=True)
    c = lab.lab_curves(r, r, BETAS, ns=(1, 2, 4, 8), rng=np.random.default_rng(1))
    np.testing.assert_allclose(c.gain_judge, c.gain_reward, atol=1e-12)
    np.testing.assert_allclose(c.bon_gain_judge, c.bon_gain_reward, atol=1e-12)


def test_constant_judge_gains_nothing_and_base_point_is_zero():
    r, _ = _data()
    c = lab.lab_curves(r, np.full_like(r, 0.3), BETAS, ns=(1, 4), rng=np.random.default_rng(1))
    np.testing.assert_allclose(c.gain_judge, 0, atol=1e-12)
    np.testing.assert_allclose(c.bon_gain_judge, 0, atol=1e-12)
    assert c.kl[-1] == 0 and c.gain_reward[-1] == 0  # β = inf is the base policy
    assert c.bon_kl[0] == 0 and abs(c.bon_gain_reward[0]) < 1e-12  # N = 1 is the base policy
    assert np.all(np.diff(c.kl) < 0) and c.kl[0] < c.kl_ceiling <= np.log(8) + 1e-12


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 5))
def test_judge_of_selection_is_the_average_over_all_subsets(seed, n):
    # The estimator is a U-statistic: it equals the exact mean over all size-N subsets of the
    # judge score of the subset's reward-best sample (ties broken uniformly).
    rng = np.random.default_rng(seed)
    r, j = rng.integers(0, 3, size=6).astype(float), rng.normal(size=6)
    total = []
    for subset in itertools.combinations(range(6), n):
        idx = np.array(subset)
        best = idx[r[idx] == r[idx].max()]
        total.append(j[best].mean())
    assert lab._judge_of_selection(r, j, n) == pytest.approx(np.mean(total), abs=1e-12)


def test_bands_bracket_and_are_reproducible():
    r, j = _data(p=12)
    a = lab.lab_curves(r, j, BETAS, ns=(2, 8), rng=np.random.default_rng(5))
    b = lab.lab_curves(r, j, BETAS, ns=(2, 8), rng=np.random.default_rng(5))
    for key, band in a.bands.items():
        assert band.shape[0] == 2 and np.all(band[0] <= band[1] + 1e-15), key
        np.testing.assert_array_equal(band, b.bands[key])
    assert np.all(a.bands["bon_gain_reward"][0] <= a.bon_gain_reward + 1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"judge": np.zeros((5, 7))}, "shape"), ({"ns": (16,)}, "1..8"), ({"ns": (0,)}, "1..8"),
     ({"n_boot": 1}, "n_boot"), ({"level": 1.0}, "level")],
)  # fmt: skip
def test_bad_input(kwargs, match):
    r, j = _data()
    args = {"rewards": r, "judge": j, "beta": BETAS, "ns": (1, 2), "rng": np.random.default_rng(0)} | kwargs
    with pytest.raises(ValueError, match=match):
        lab.lab_curves(**args)


def test_limit_at_reproduces_the_curve_and_refuses_the_unestimable():
    r, j = _data(n=16)
    betas = np.geomspace(0.02, 50, 80)
    c = lab.lab_curves(r, j, betas, ns=(1, 2), rng=np.random.default_rng(1))
    np.testing.assert_allclose(lab.limit_at(c, c.kl), c.gain_reward, atol=1e-12)  # at the grid's own KLs
    np.testing.assert_allclose(lab.limit_at(c, c.kl, "gain_judge"), c.gain_judge, atol=1e-12)
    mid = 0.5 * (c.kl[10] + c.kl[11])
    assert min(c.gain_reward[10:12]) <= lab.limit_at(c, mid) <= max(c.gain_reward[10:12])
    assert isinstance(lab.limit_at(c, mid), float)
    upper = lab.limit_at(c, c.kl, curve=c.bands["gain_reward"][1])
    assert np.all(upper >= lab.limit_at(c, c.kl) - 1e-12)
    assert np.isnan(lab.limit_at(c, c.kl_ceiling + 0.1))
    assert np.isnan(lab.limit_at(c, c.kl.max() + 1e-6))  # no extrapolation past the β grid
    assert lab.limit_at(c, 0.0) == 0.0  # the base policy
    assert 0 < lab.limit_at(c, c.kl.min() / 2) < c.gain_reward[np.argmin(c.kl)]
    with pytest.raises(ValueError, match=">= 0"):
        lab.limit_at(c, -0.1)
    with pytest.raises(ValueError, match="shape"):
        lab.limit_at(c, 0.1, curve=np.zeros(3))


def test_bon_gain_at_interpolates_between_n_and_holds_beyond_the_largest():
    r, j = _data(n=16)
    c = lab.lab_curves(r, j, np.geomspace(0.02, 50, 40), ns=(1, 2, 4, 8), rng=np.random.default_rng(1))
    np.testing.assert_allclose(lab.bon_gain_at(c, c.bon_kl), c.bon_gain_reward, atol=1e-12)  # at its own N
    mid = 0.5 * (c.bon_kl[1] + c.bon_kl[2])
    assert lab.bon_gain_at(c, mid) == pytest.approx(0.5 * (c.bon_gain_reward[1] + c.bon_gain_reward[2]))
    assert isinstance(lab.bon_gain_at(c, mid), float)
    assert lab.bon_gain_at(c, c.bon_kl[-1] + 5.0) == pytest.approx(c.bon_gain_reward[-1])  # held, not extrapolated
    with pytest.raises(ValueError, match=">= 0"):
        lab.bon_gain_at(c, -0.1)
    with pytest.raises(ValueError):
        lab.bon_gain_at(c, np.nan)


def test_bon_fraction_of_limit_is_best_of_n_over_the_frontier_at_its_kl():
    r, j = _data(n=16)
    c = lab.lab_curves(r, j, np.geomspace(0.02, 50, 80), ns=(1, 2, 4), rng=np.random.default_rng(1))
    share = lab.bon_fraction_of_limit(c)
    assert np.isnan(share[0])  # N = 1: no gain, no KL
    np.testing.assert_allclose(share[1:], c.bon_gain_reward[1:] / lab.limit_at(c, c.bon_kl[1:]))
    assert np.all((share[1:] > 0) & (share[1:] < 1.2))


def test_bon_sizes_are_powers_of_two_up_to_half_the_samples():
    assert lab.bon_sizes(64) == [1, 2, 4, 8, 16, 32]
    assert lab.bon_sizes(16) == [1, 2, 4, 8]
    assert lab.bon_sizes(5) == [1, 2]
    assert lab.bon_sizes(2) == [1]
    with pytest.raises(ValueError, match="at least 2"):
        lab.bon_sizes(1)


def test_shares_at_ratio_on_the_whole_sample_are_bon_fraction_of_limit():
    rng = np.random.default_rng(3)
    rewards = rng.gamma(2.0, size=(12, 32))
    betas = np.geomspace(0.2, 10, 60)
    shares = lab.bon_shares_at_ratio(rewards, 0.25, [32], betas, draws=5, rng=np.random.default_rng(0))
    curves = lab.lab_curves(rewards, np.zeros_like(rewards), betas, (8,), n_boot=2, rng=np.random.default_rng(0))
    assert shares.N.tolist() == [8] and np.isnan(shares.se[0])  # one subset: the whole sample
    assert shares.share[0] == pytest.approx(lab.bon_fraction_of_limit(curves)[0], rel=1e-12)


def test_shares_at_ratio_average_random_subsets():
    rng = np.random.default_rng(4)
    rewards = rng.normal(size=(10, 40))
    betas = np.geomspace(0.2, 10, 60)
    out = lab.bon_shares_at_ratio(rewards, 0.25, [8, 16], betas, draws=4, rng=np.random.default_rng(5))
    assert out.n.tolist() == [8, 16] and out.N.tolist() == [2, 4]
    assert np.all(np.isfinite(out.share)) and np.all(out.se > 0)
    again = lab.bon_shares_at_ratio(rewards, 0.25, [8, 16], betas, draws=4, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(out.share, again.share)  # same seed, same numbers


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"ns": [64]}, "every n"), ({"ratio": 0.01}, "at least 2"), ({"ratio": 1.5}, "ratio"), ({"draws": 0}, "draws")],
)
def test_shares_at_ratio_refuse_bad_input(kwargs, match):
    args = {"rewards": np.zeros((3, 16)) + np.arange(16), "ratio": 0.25, "ns": [8], "beta": [1.0], "draws": 2,
            "rng": np.random.default_rng(0), **kwargs}  # fmt: skip
    with pytest.raises(ValueError, match=match):
        lab.bon_shares_at_ratio(**args)


def test_bias_corrected_curves_lie_above_the_plug_in():
    rewards = np.random.default_rng(6).normal(size=(50, 16))
    kw = dict(beta=[1.0, 2.0], ns=(2, 4), n_boot=2, rng=np.random.default_rng(0))
    plain = lab.lab_curves(rewards, rewards, **kw)
    fixed = lab.lab_curves(rewards, rewards, bias_correction=True, **kw)
    assert np.all(fixed.gain_reward > plain.gain_reward)  # the correction undoes a downward bias
    np.testing.assert_array_equal(fixed.bon_gain_reward, plain.bon_gain_reward)  # best-of-N untouched
