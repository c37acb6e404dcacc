"""Certified bounds on the optimal KL-budget gain (alignlimits.certify)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from alignlimits import certify, estimator, tilting

LEVEL = 0.95


# ----------------------------------------------------------------------------- reward laws on [0, 1]


class _Discrete:
    def __init__(self, name, values, probs):
        self.name, self.values, self.probs = name, np.asarray(values, float), np.asarray(probs, float)

    def sample(self, rng, shape):
        return rng.choice(self.values, size=shape, p=self.probs)

    def atoms(self):
        return self.probs, self.values


class _Continuous:
    """A law on [0, 1] by its scipy distribution; the truth from 20 000 cells (error < 1e-4)."""

    def __init__(self, name, dist):
        self.name, self.dist = name, dist

    def sample(self, rng, shape):
        return np.clip(self.dist.rvs(size=shape, random_state=rng), 0.0, 1.0)

    def atoms(self):
        edges = np.linspace(0.0, 1.0, 20_001)
        probs = np.diff(self.dist.cdf(edges))
        return probs / probs.sum(), 0.5 * (edges[1:] + edges[:-1])


class _Mixture(_Continuous):
    def __init__(self, name, weight, first, second):
        super().__init__(name, None)
        self.weight, self.first, self.second = weight, first, second
        self.dist = self

    def rvs(self, size, random_state):
        pick = random_state.random(size) < self.weight
        return np.where(pick, self.first.rvs(size=size, random_state=random_state),
                        self.second.rvs(size=size, random_state=random_state))

    def cdf(self, x):
        return self.weight * self.first.cdf(x) + (1 - self.weight) * self.second.cdf(x)


LAWS = [
    _Discrete("bernoulli(0.3)", [0.0, 1.0], [0.7, 0.3]),
    _Discrete("four values with ties", [0.0, 0.25, 0.5, 1.0], [0.4, 0.3, 0.2, 0.1]),
    _Continuous("uniform", stats.uniform()),
    _Continuous("beta(2, 5)", stats.beta(2, 5)),
    _Continuous("beta(0.5, 0.5)", stats.beta(0.5, 0.5)),
    _Mixture("bimodal 0.8 beta(2, 8) + 0.2 beta(9, 1)", 0.8, stats.beta(2, 8), stats.beta(9, 1)),
]
BUDGETS = (0.1, 1.0)


def _truth(law, budgets=BUDGETS):
    probs, values = law.atoms()
    return np.asarray(tilting.max_gain(probs, values, np.asarray(budgets)))


def _replicate_bounds(x, budgets, level=LEVEL):
    """Bounds for each row of ``x`` (one replicate per row, each at ``level``), shape (R, m) each."""
    return certify.certified_gain_rows(x, list(budgets), (0.0, 1.0), level=level)


# ----------------------------------------------------------------------------- coverage


@pytest.mark.parametrize("law", LAWS, ids=lambda law: law.name)
def test_coverage_at_least_nominal(law):
    """Simultaneous coverage over the budgets ≥ 95 % − 3 Monte-Carlo standard errors, n = 32 … 4096."""
    truth = _truth(law)
    rng = np.random.default_rng(abs(hash(law.name)) % 2**32)
    for n, reps in ((32, 160), (256, 48), (4096, 8)):  # the full check: benchmarks/bench_certify.py
        lower, upper = _replicate_bounds(law.sample(rng, (reps, n)), BUDGETS)
        covered = np.all((lower <= truth + 1e-9) & (truth <= upper + 1e-9), axis=1)
        se = math.sqrt(LEVEL * (1 - LEVEL) / reps)
        assert covered.mean() >= LEVEL - 3 * se, (law.name, n, covered.mean())


def test_rows_validate_their_input():
    with pytest.raises(ValueError, match="2-D"):
        certify.certified_gain_rows(np.zeros(5), 0.5, (0.0, 1.0))
    with pytest.raises(ValueError, match="reward_range"):
        certify.certified_gain_rows(np.full((2, 3), 2.0), 0.5, (0.0, 1.0))
    lower, upper = certify.certified_gain_rows(np.full((2, 3), 0.5), 0.5, (0.0, 1.0))
    assert lower.shape == upper.shape == (2,)


def test_public_function_matches_the_replicate_path(rng):
    x = rng.beta(2, 5, size=(1, 300))
    lower, upper = _replicate_bounds(x, BUDGETS)
    cb = certify.certified_gain(x[0], list(BUDGETS), (0.0, 1.0))
    np.testing.assert_allclose(cb.lower, lower[0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cb.upper, upper[0], rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------------------------- exactness


def _band_edges(x, level=LEVEL, band="ks+tails"):
    bands, _ = certify._bands([x], 1 - level, 0.0, 1.0, band)
    return bands.w[0], bands.lo[0], bands.hi[0]


@pytest.mark.parametrize("eps", [0.05, 2.0])
def test_bounds_are_the_exact_sup_and_inf_over_the_band(rng, eps):
    """upper = the best splice (g_lo below u0, g_hi above); lower = the best clamp; random laws in between."""
    x = rng.beta(2, 5, size=40)
    w, lo, hi = _band_edges(x)
    cb = certify.certified_gain(x, eps, (0.0, 1.0))
    edges = np.concatenate([[0.0], np.cumsum(w)])
    splices = []
    for u0 in np.linspace(0.0, 1.0, 241):  # split the interval holding u0
        k = np.searchsorted(edges, u0, side="right") - 1
        k = min(k, w.size - 1)
        widths = np.concatenate([w[:k], [u0 - edges[k], edges[k + 1] - u0], w[k + 1 :]])
        values = np.concatenate([lo[:k], [lo[k], hi[k]], hi[k + 1 :]])
        ok = widths > 0
        splices.append(tilting.max_gain(widths[ok] / widths[ok].sum(), values[ok], eps))
    clamps = [tilting.max_gain(w / w.sum(), np.clip(c, lo, hi), eps) for c in np.linspace(0, 1, 241)]
    assert max(splices) <= cb.upper + 1e-12
    assert cb.upper - max(splices) < 5e-3
    assert min(clamps) >= cb.lower - 1e-12
    assert min(clamps) - cb.lower < 5e-3
    for _ in range(20):  # any law in the band: a monotone quantile function between the edges
        g = lo + (hi - lo) * np.sort(rng.random(w.size))
        assert cb.lower - 1e-12 <= tilting.max_gain(w / w.sum(), g, eps) <= cb.upper + 1e-12


@pytest.mark.parametrize("band", certify.BANDS)
def test_band_holds_at_its_level_and_contains_the_sample(rng, band):
    """The true quantile function lies between the edges in ≥ 95 % of samples; the empirical always."""
    n, reps, inside = 64, 400, 0
    for _ in range(reps):
        x = np.sort(rng.random(n))  # Uniform(0, 1): g(u) = u
        w, lo, hi = _band_edges(x, band=band)
        edges = np.concatenate([[0.0], np.cumsum(w)])
        left, right = edges[:-1], edges[1:]  # on each interval g runs from left to right
        inside += bool(np.all((lo <= left + 1e-12) & (right <= hi + 1e-12)))
        mid = 0.5 * (left + right)
        empirical = x[np.clip(np.ceil(n * mid).astype(int) - 1, 0, n - 1)]
        assert np.all((lo <= empirical) & (empirical <= hi))
        assert np.all(np.diff(lo) >= 0) and np.all(np.diff(hi) >= 0)
    assert inside / reps >= LEVEL - 3 * math.sqrt(LEVEL * (1 - LEVEL) / reps)


def test_tails_tighten_the_upper_bound_at_large_budgets(rng):
    x = rng.beta(2, 5, size=512)
    tails = certify.certified_gain(x, [0.1, 1.0, 3.0], (0.0, 1.0))
    plain = certify.certified_gain(x, [0.1, 1.0, 3.0], (0.0, 1.0), band="ks")
    assert np.all(tails.upper[1:] < plain.upper[1:] - 0.02)
    assert "tail" in tails.method and "tail" not in plain.method
    with pytest.raises(ValueError, match="band must be one of"):
        certify.certified_gain(x, 0.5, (0.0, 1.0), band="dkw")


def test_proper_sup_beats_the_difference_of_extremes(rng):
    """upper ≤ M*(dominating edge) − E(dominated edge), strictly here; lower ≥ the mirror bound."""
    x = rng.beta(2, 5, size=200)
    w, lo, hi = _band_edges(x)
    eps = 0.5
    m_hi = tilting.max_gain(w, hi, eps) + w @ hi
    m_lo = tilting.max_gain(w, lo, eps) + w @ lo
    cb = certify.certified_gain(x, eps, (0.0, 1.0))
    assert cb.upper < m_hi - w @ lo - 0.05
    assert cb.lower >= max(m_lo - w @ hi, 0.0)


def test_pooled_with_one_prompt_equals_the_plain_call(rng):
    x = rng.beta(2, 2, size=100)
    plain = certify.certified_gain(x, [0.2, 1.0], (0.0, 1.0))
    pooled = certify.certified_gain(x, [0.2, 1.0], (0.0, 1.0), prompt_ids=np.zeros(100))
    np.testing.assert_allclose([pooled.lower, pooled.upper], [plain.lower, plain.upper], rtol=1e-12)


def test_pooled_bounds_bonferroni_and_per_prompt(rng):
    ids = np.repeat(np.arange(4), 64)
    means = np.array([0.2, 0.4, 0.6, 0.8])
    x = np.clip(rng.normal(means[ids], 0.15), 0.0, 1.0)
    cb = certify.certified_gain(x, 0.3, (0.0, 1.0), prompt_ids=ids)
    assert cb.per_prompt_lower.shape == (4,) and cb.per_prompt_upper.shape == (4,)
    np.testing.assert_allclose(cb.band_width, certify.band_width(64, 0.9 * 0.05 / 4))  # 10 % to the tails
    assert "Bonferroni over 4 prompts" in cb.method
    assert cb.lower <= cb.estimate <= cb.upper
    assert np.all(cb.per_prompt_lower <= cb.per_prompt_upper)
    # each prompt alone at the budget: the pooled optimum (one β) is at least their average
    assert cb.upper >= cb.per_prompt_lower.mean() - 1e-12
    np.testing.assert_allclose(cb.estimate, float(np.ravel(estimator.gain_at_budget(x, [0.3], ids).gain)[0]))
    arr = certify.certified_gain(x, [0.1, 0.3], (0.0, 1.0), prompt_ids=ids)
    assert arr.per_prompt_lower.shape == (4, 2)
    np.testing.assert_allclose(arr.upper[1], cb.upper, rtol=1e-12)


# ----------------------------------------------------------------------------- shapes, limits, errors


def test_shapes_and_types(rng):
    x = rng.random(50)
    one = certify.certified_gain(x, 0.5, (0.0, 1.0))
    assert isinstance(one.lower, float) and isinstance(one.upper, float) and isinstance(one.estimate, float)
    assert one.per_prompt_lower is None and one.n.tolist() == [50] and one.level == 0.95
    many = certify.certified_gain(x, np.array([0.1, 0.5, 1.0]), (0.0, 1.0))
    assert many.lower.shape == many.upper.shape == many.estimate.shape == many.width.shape == (3,)


def test_zero_budget_and_range_only_limit(rng):
    x = rng.random(20)
    cb = certify.certified_gain(x, [0.0, 0.2, 50.0], (-1.0, 1.0))
    assert cb.lower[0] == cb.upper[0] == 0.0
    assert np.all(cb.upper <= certify.range_only_bound([0.0, 0.2, 50.0], (-1.0, 1.0)) + 1e-15)
    assert cb.upper[2] <= 2.0


def test_band_width_is_valid_and_below_dkw():
    for n in (1, 7, 32, 1000):
        for alpha in (0.5, 0.05, 1e-4):
            t = certify.band_width(n, alpha)
            assert stats.kstwo.sf(t, n) <= alpha * (1 + 1e-12)
            assert t <= math.sqrt(math.log(2 / alpha) / (2 * n)) + 1e-15


def test_scale_and_shift_equivariance(rng):
    x = rng.beta(3, 2, size=80)
    base = certify.certified_gain(x, 0.4, (0.0, 1.0))
    moved = certify.certified_gain(10.0 * x - 3.0, 0.4, (-3.0, 7.0))
    np.testing.assert_allclose([moved.lower, moved.upper], [10 * base.lower, 10 * base.upper], rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rewards": [0.2, 1.5]}, "outside the stated reward_range"),
        ({"rewards": [0.2, np.nan]}, "NaN"),
        ({"rewards": []}, "empty"),
        ({"rewards": [[0.1, 0.2]]}, "1-D"),
        ({"level": 1.0}, "level must be in"),
        ({"level": 0.0}, "level must be in"),
        ({"reward_range": (1.0, 0.0)}, "a < b"),
        ({"reward_range": (0.0, np.inf)}, "finite"),
        ({"reward_range": (0.0,)}, "pair"),
        ({"kl_budget": -0.1}, "KL budgets"),
        ({"kl_budget": np.inf}, "KL budgets"),
        ({"prompt_ids": [0]}, "same shape"),
    ],
)
def test_errors_are_one_line(kwargs, match):
    args = {"rewards": [0.1, 0.5, 0.9], "kl_budget": 0.5, "reward_range": (0.0, 1.0), **kwargs}
    with pytest.raises(ValueError, match=match) as err:
        certify.certified_gain(**args)
    assert "\n" not in str(err.value)


def test_the_plug_in_lies_between_the_certified_bounds():
    x = np.linspace(0.0, 1.0, 30)
    b = certify.certified_gain(x, 0.5, (0.0, 1.0))
    assert b.lower <= float(estimator.gain_at_budget(x, 0.5).gain) <= b.upper


def test_imports_without_torch():
    import subprocess
    import sys

    code = "import sys, alignlimits.certify; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- properties


samples = st.lists(st.floats(0.0, 1.0), min_size=2, max_size=40).map(np.array)


@settings(max_examples=25, deadline=None)
@given(x=samples, eps=st.floats(0.01, 3.0), level=st.floats(0.5, 0.99))
def test_property_order_and_range(x, eps, level):
    cb = certify.certified_gain(x, eps, (0.0, 1.0), level=level)
    assert 0.0 <= cb.lower <= cb.estimate + 1e-12
    assert cb.estimate <= cb.upper + 1e-12
    assert cb.upper <= min(1.0, math.sqrt(eps / 2)) + 1e-12


@settings(max_examples=12, deadline=None)
@given(x=samples)
def test_property_monotone_in_budget_and_level(x):
    budgets = [0.05, 0.5, 3.0]
    cb = certify.certified_gain(x, budgets, (0.0, 1.0))
    assert np.all(np.diff(cb.lower) >= -1e-9) and np.all(np.diff(cb.upper) >= -1e-9)
    loose = certify.certified_gain(x, budgets, (0.0, 1.0), level=0.99)
    assert np.all(loose.lower <= cb.lower + 1e-9) and np.all(loose.upper >= cb.upper - 1e-9)


@settings(max_examples=25, deadline=None)
@given(x=samples)
def test_property_raw_bounds_bracket_the_plug_in(x):
    """Before the final safety clip the bounds already bracket the plug-in (its law is in the band)."""
    bands, _ = certify._bands([x], 0.05, 0.0, 1.0, "ks+tails")
    lower, upper = certify._bounds(bands, certify._order(bands), 0.5, np.zeros(1, dtype=np.intp), 1)
    plug_in = tilting.max_gain(np.full(x.size, 1 / x.size), x, 0.5)
    assert lower[0] <= plug_in + 1e-9 and plug_in <= upper[0] + 1e-9
