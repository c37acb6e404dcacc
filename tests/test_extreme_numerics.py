"""A numeric core that never lies: every divergence and frontier quantity against mpmath at extreme ranges.

Issue 19. Each public quantity of ``divergences``, ``tilting`` and the named reward laws
of ``toys`` is compared with a high-precision mpmath reference computed straight from its
definition, over

* β (β/σ for the continuous laws) log-uniform in [1e-8, 1e8];
* discrete base distributions mixing ordinary masses with masses down to 1e-300;
* rewards of moderate and large spread (1 to 1e3, offsets up to ±1e3);
* Bernoulli p from 1e-300 to 1 − 1e-16, Gaussian σ from 1e-200 to 1e200, Exponential
  θβ from 1 + 1e-8 to 1e8, Uniform widths from 1e-3 to 1e3;

and must agree to a relative 1e-9 (the float64 core reaches ~1e-13), except where noted at
the assertion. KL, reverse KL, Jeffreys and the gain must never be negative.

The references are brute force: the defining sums in mpmath at 400 digits (a mass of 1e-300
moves a KL of order 1 only in its 300th digit, so that many digits must be carried before
any cancellation shows). The package never sees mpmath; it gets there with log-space
forms, ``expm1``/``log1p``, series and sums of non-negative terms (``alignlimits._kl_terms``).
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alignlimits import divergences, tilting, toys

#: Digits carried by the brute-force references (see the module docstring).
DPS = 400
RTOL = 1e-9
#: float64 has no relative precision below its smallest normal number (2.2e-308): results
#: there (a KL of 1e-300 · (1e-8)², say) are held to RTOL of that, an absolute 2.2e-317.
ATOL = RTOL * np.finfo(np.float64).smallest_normal

SETTINGS = settings(deadline=None, max_examples=120, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- strategies

betas = st.floats(-8.0, 8.0).map(lambda e: 10.0**e)  # log-uniform in [1e-8, 1e8]


@st.composite
def base_distributions(draw, min_k: int = 2, max_k: int = 6):
    """Ordinary masses (weights 0.05–1) mixed with tiny ones (1e-300 to 1e-8); at least one ordinary."""
    k = draw(st.integers(min_k, max_k))
    tiny = draw(st.lists(st.booleans(), min_size=k, max_size=k))
    tiny[draw(st.integers(0, k - 1))] = False
    masses = np.array([10.0 ** draw(st.floats(-300.0, -8.0)) if t else draw(st.floats(0.05, 1.0)) for t in tiny])
    ordinary = ~np.array(tiny)
    masses[ordinary] *= (1.0 - masses[~ordinary].sum()) / masses[ordinary].sum()
    return masses


@st.composite
def rewards_for(draw, k: int):
    """``offset + spread·z`` with spread 1 to 1e3 and offset 0 or up to ±1e3 (ties allowed)."""
    spread = 10.0 ** draw(st.floats(0.0, 3.0))
    offset = draw(st.sampled_from([0.0, 1.0])) * draw(st.floats(-1e3, 1e3))
    z = np.array(draw(st.lists(st.floats(-1.0, 1.0), min_size=k, max_size=k)))
    return offset + spread * z


@st.composite
def discrete_problems(draw):
    p0 = draw(base_distributions())
    return p0, draw(rewards_for(p0.size))


@st.composite
def distribution_pairs(draw):
    """``(p, q)``: independent, or ``q`` a relative perturbation of ``p`` (10^-12 to 1: KL down to ~1e-24),
    or ``q`` equal to ``p`` but for one tiny mass scaled by 1e-5 to 1e5 (KL of order that mass)."""
    p = draw(base_distributions())
    kind = draw(st.sampled_from(["independent", "perturbed", "tiny-moved"]))
    if kind == "independent":
        q = draw(base_distributions(p.size, p.size))
    elif kind == "perturbed":
        eps = 10.0 ** draw(st.floats(-12.0, 0.0))
        z = np.array(draw(st.lists(st.floats(-1.0, 1.0), min_size=p.size, max_size=p.size)))
        q = p * np.exp(eps * z)
        q /= q.sum()
    else:
        q = p.copy()
        j = int(np.argmin(p))
        q[j] *= 10.0 ** draw(st.floats(-5.0, 5.0))
        q /= q.sum()
    return p, q


# ---------------------------------------------------------------- references and checks


def _mp(values) -> list:
    return [mp.mpf(float(v)) if not isinstance(v, mp.mpf) else v for v in np.ravel(np.asarray(values, dtype=object))]


def mp_kl(p, q):
    """``KL(p̂‖q̂) = Σ p̂ log(p̂/q̂)`` of the normalised inputs (float inputs sum to 1 only to rounding)."""
    with mp.workdps(DPS):
        P, Q = _mp(p), _mp(q)
        sp, sq = mp.fsum(P), mp.fsum(Q)
        return mp.fsum((a / sp) * mp.log((a / sp) / (b / sq)) for a, b in zip(P, Q, strict=True) if a > 0)


def mp_tilt(p0, r, beta) -> dict:
    """The exact tilt of the normalised ``p0`` at ``beta``, straight from the definitions."""
    with mp.workdps(DPS):
        P, R, lam = _mp(p0), _mp(r), 1 / mp.mpf(float(beta))
        w = [x / mp.fsum(P) for x in P]
        top = max(R)
        z = mp.fsum(wi * mp.exp(lam * (ri - top)) for wi, ri in zip(w, R, strict=True))
        log_z = lam * top + mp.log(z)
        ell = [lam * ri - log_z for ri in R]
        pi = [wi * mp.exp(li) for wi, li in zip(w, ell, strict=True)]
        kl = mp.fsum(a * li for a, li in zip(pi, ell, strict=True))
        rkl = -mp.fsum(wi * li for wi, li in zip(w, ell, strict=True))
        gain = mp.fsum((a - wi) * ri for a, wi, ri in zip(pi, w, R, strict=True))
        return {
            "kl": kl,
            "reverse_kl": rkl,
            "jeffreys": kl + rkl,
            "gain": gain,
            "log_z": log_z,
            "log_pi": [mp.log(wi) + li for wi, li in zip(w, ell, strict=True)],
            "pi": pi,
            # log Z's sensitivity to the inputs: perturbing each r_i by a relative δ moves it by δ·E_π|r|/β.
            "log_z_scale": abs(log_z) + lam * mp.fsum(a * abs(ri) for a, ri in zip(pi, R, strict=True)),
        }


def assert_close(got, want, what: str, *, rtol: float = RTOL, scale=None, atol: float = 0.0) -> None:
    """``|got − want| ≤ rtol·scale + ATOL + atol`` with ``scale = |want|`` unless given."""
    with mp.workdps(DPS):
        want = mp.mpf(want)
        scale = abs(want) if scale is None else mp.mpf(scale)
        err = abs(mp.mpf(float(got)) - want)
        ok = err <= rtol * scale + ATOL + atol
        assert ok, f"{what}: got {float(got)!r}, want {mp.nstr(want, 17)}, error {mp.nstr(err, 3)}"


def normalisation_slack(p, q) -> float:
    """The absolute error float64 cannot avoid in the KL of two *normalised* probability vectors.

    ``p`` and ``q`` sum to one only to rounding, and normalising them goes through
    ``log(Σq/Σp)``, known in float64 to about ``(k + 2) ε Σ|q − p|``. A common error ``δ`` in
    every log-ratio moves the KL by ``≈ δ²/2`` (first order cancels), so where ``p̂`` and ``q̂``
    differ far less than ``p`` and ``q`` do — ``p = (1e-22, 1 − 2⁻⁵³)`` against
    ``q = (1e-22 (1 + 2⁻⁵²), 1)``: KL ≈ 2e-57 from the 40th digit — the KL is ill-conditioned
    in the inputs (one ulp of a bulk mass moves it by ~1e-32) and is held to this absolute slack.
    """
    k = np.size(p)
    delta = (k + 2) * np.finfo(np.float64).eps * float(np.abs(np.asarray(q) - np.asarray(p)).sum())
    return k * delta * delta


def assert_divergences(front, ref: dict, where: str) -> None:
    """KL, reverse KL, Jeffreys and gain relatively accurate and never negative."""
    for name in ("kl", "reverse_kl", "jeffreys", "gain"):
        value = float(getattr(front, name))
        assert value >= 0, f"{where}: {name} = {value!r} < 0"
        assert_close(value, ref[name], f"{where}: {name}")


# ---------------------------------------------------------------- divergences


@SETTINGS
@given(distribution_pairs())
def test_divergences_match_mpmath(pair):
    p, q = pair
    forward, backward = mp_kl(p, q), mp_kl(q, p)
    slack = normalisation_slack(p, q)
    for name, got, want in (
        ("kl", divergences.kl(p, q), forward),
        ("reverse_kl", divergences.reverse_kl(p, q), backward),
        ("jeffreys", divergences.jeffreys(p, q), forward + backward),
    ):
        assert got >= 0, f"{name} = {got!r} < 0"
        assert_close(got, want, f"{name} of {p.tolist()}, {q.tolist()}", atol=2 * slack)


@SETTINGS
@given(distribution_pairs())
def test_divergences_from_logprobs_match_mpmath(pair):
    # The log-probabilities are the inputs here (their exponentials are the distributions), so the
    # reference exponentiates them in mpmath; log space carries masses far below 1e-300 too.
    logp, logq = np.log(pair[0]), np.log(pair[1])
    with mp.workdps(DPS):
        p, q = [mp.exp(x) for x in _mp(logp)], [mp.exp(x) for x in _mp(logq)]
    forward, backward = mp_kl(p, q), mp_kl(q, p)
    slack = normalisation_slack(np.exp(logp), np.exp(logq))
    for name, got, want in (
        ("kl", divergences.kl_from_logprobs(logp, logq), forward),
        ("reverse_kl", divergences.reverse_kl_from_logprobs(logp, logq), backward),
        ("jeffreys", divergences.jeffreys_from_logprobs(logp, logq), forward + backward),
    ):
        assert got >= 0, f"{name} = {got!r} < 0"
        assert_close(got, want, f"{name} of log {logp.tolist()}, {logq.tolist()}", atol=2 * slack)


def test_divergences_of_nearly_equal_and_of_tiny_masses():
    # Cases the sums of mixed-sign terms got wrong (before: rel_entr(p, q).sum() and Σ e^lp (lp − lq)).
    p = np.array([4.956531022359431e-252, 1.0])
    q = np.array([4.956531022328701e-252, 1.0])  # KL ≈ 9.5e-275; the old sum said 3.1e-263
    assert_close(divergences.kl(p, q), mp_kl(p, q), "kl")
    a = np.array([0.25, 0.75])
    b = a * np.exp(1e-9 * np.array([1.0, -1.0]))
    b /= b.sum()  # KL ≈ 1e-19, below the rounding of the old sum's O(1e-9) terms
    assert_close(divergences.kl(a, b), mp_kl(a, b), "kl")
    assert divergences.kl(a, a) == 0.0 and divergences.kl_from_logprobs(np.log(a), np.log(a)) == 0.0


# ---------------------------------------------------------------- the discrete tilt


@SETTINGS
@given(discrete_problems(), betas)
def test_frontier_matches_mpmath(problem, beta):
    p0, r = problem
    ref = mp_tilt(p0, r, beta)
    where = f"p0={p0.tolist()}, r={r.tolist()}, beta={beta!r}"
    assert_divergences(tilting.frontier(p0, r, beta), ref, where)
    # log Z = log E e^{r/β} is ill-conditioned where it crosses 0 (E_π0[r]/β and the reverse KL cancel):
    # a relative δ in the rewards moves it by δ·E_π[|r|]/β, so that is the scale its error is measured on.
    assert_close(tilting.log_partition(p0, r, beta), ref["log_z"], f"{where}: log Z", scale=ref["log_z_scale"])
    log_pi = tilting.log_tilt(p0, r, beta)
    pi = tilting.tilt(p0, r, beta)
    for i in range(p0.size):
        assert_close(log_pi[i], ref["log_pi"][i], f"{where}: log π[{i}]")  # relative even as π → 1
        assert_close(pi[i], ref["pi"][i], f"{where}: π[{i}]")


@settings(deadline=None, max_examples=40)
@given(discrete_problems(), st.lists(betas, min_size=2, max_size=6))
def test_frontier_on_a_grid_matches_mpmath(problem, grid):
    # The vectorised path: one call for several β, each row as accurate as a scalar call.
    p0, r = problem
    grid = np.array(grid)
    front = tilting.frontier(p0, r, grid)
    for j, beta in enumerate(grid):
        ref = mp_tilt(p0, r, beta)
        for name in ("kl", "reverse_kl", "jeffreys", "gain"):
            assert getattr(front, name)[j] >= 0
            assert_close(getattr(front, name)[j], ref[name], f"{name} at beta={beta!r}")


@SETTINGS
@given(discrete_problems())
def test_greedy_limits_match_mpmath(problem):
    # max_kl = −log π̂0(argmax r) and greedy_gain = max r − E_π̂0 r: a top mass of 1 − 1e-300 (which rounds
    # to 1) must still give 1e-300, not 0, and neither may ever be negative.
    p0, r = problem
    top = r == r.max()
    with mp.workdps(DPS):
        w = [x / mp.fsum(_mp(p0)) for x in _mp(p0)]
        ceiling = -mp.log(mp.fsum(wi for wi, t in zip(w, top, strict=True) if t))
        greedy = mp.fsum(wi * (mp.mpf(float(r.max())) - ri) for wi, ri in zip(w, _mp(r), strict=True))
    assert tilting.max_kl(p0, r) >= 0 and tilting.greedy_gain(p0, r) >= 0
    assert_close(tilting.max_kl(p0, r), ceiling, "max_kl")
    assert_close(tilting.greedy_gain(p0, r), greedy, "greedy_gain")


@settings(deadline=None, max_examples=40)
@given(discrete_problems(), st.floats(-20.0, 0.0))
def test_budget_form_matches_mpmath(problem, log_fraction):
    # beta_for_kl and max_gain by their backward error: the mpmath KL at the returned β must be the
    # budget, and max_gain the mpmath gain there. Δ*(ε) is well conditioned (dΔ*/dε · ε/Δ* ≤ 1 by
    # concavity), so this bounds its forward error by about twice the tolerance.
    p0, r = problem
    ceiling = tilting.max_kl(p0, r)
    if ceiling == 0 or np.ptp(r[p0 > 0]) == 0:
        return
    eps = ceiling * 10.0**log_fraction * (1 - 1e-6)
    gain = tilting.max_gain(p0, r, eps)
    assert gain >= 0
    try:
        beta = tilting.beta_for_kl(p0, r, eps)
    except ValueError as err:  # documented: the budget is within rounding of the greedy ceiling
        assert "rounding" in str(err)
        assert_close(gain, mp_tilt(p0, r, 1e-300)["gain"], "max_gain at the ceiling")
        return
    ref = mp_tilt(p0, r, beta)
    assert_close(eps, ref["kl"], f"KL at beta_for_kl = {beta!r}")  # Brent stops at ~1e-14 in log β
    assert_close(gain, ref["gain"], "max_gain")


def test_tiny_mass_cases_found_by_these_tests():
    # The old frontier (Σ π ℓ, Σ π (r − mean) after a logsumexp) against the exact values, e.g.:
    for p0, r, beta in (
        ([1.0, 9.44e-116], [-0.588804, -1.35625], 0.296),  # KL came out 0, is 6.9e-116
        ([1.4e-194, 1.0, 3.22e-37], [-0.595658, -0.175027, -0.962605], 7.35e7),  # gain came out -2.5e-37
        ([3.02e-94, 6.78e-226, 3.04e-100, 1.0], [-82.3963, -644.687, 219.891, -43.1807], 105.0),  # reverse KL 6x off
        ([0.135, 0.865], [1.15877, 0.416783], 8.73e7),  # KL ≈ 4.2e-18, was 3e-8 off
    ):
        p0 = np.array(p0) / np.sum(p0)
        assert_divergences(tilting.frontier(p0, np.array(r), beta), mp_tilt(p0, r, beta), f"{p0}, {r}, {beta}")


# ---------------------------------------------------------------- the named reward laws


def _mp_frontier(kl, rkl, gain) -> dict:
    return {"kl": kl, "reverse_kl": rkl, "jeffreys": kl + rkl, "gain": gain}


@SETTINGS
@given(st.floats(-200.0, 200.0), st.floats(-8.0, 8.0), st.floats(-1e3, 1e3))
def test_gaussian_matches_mpmath(log_sigma, log_ratio, mu):
    # σ² alone overflows at σ = 1e200 and underflows at 1e-200; the closed forms go through σ/β.
    sigma = 10.0**log_sigma
    beta = sigma * 10.0**log_ratio
    with mp.workdps(DPS):
        s, b = mp.mpf(sigma), mp.mpf(beta)
        ref = _mp_frontier(s**2 / (2 * b**2), s**2 / (2 * b**2), s**2 / b)
    assert_divergences(toys.Gaussian(mu, sigma).frontier(beta), ref, f"Gaussian({mu}, {sigma}) at {beta!r}")


@st.composite
def bernoulli_p(draw):
    """p from 1e-300 to 1/2, or 1 − p from 1e-16 to 1/2."""
    if draw(st.booleans()):
        return 10.0 ** draw(st.floats(-300.0, np.log10(0.5)))
    return 1.0 - 10.0 ** draw(st.floats(-16.0, np.log10(0.5)))


@SETTINGS
@given(bernoulli_p(), betas)
def test_bernoulli_matches_mpmath(p, beta):
    # The law's closed form, against the exact tilt of (1 − p, p) on rewards (0, 1), with 1 − p exact.
    with mp.workdps(DPS):
        ref = mp_tilt([1 - mp.mpf(p), mp.mpf(p)], [0.0, 1.0], beta)
    assert_divergences(toys.Bernoulli(p).frontier(beta), ref, f"Bernoulli({p!r}) at {beta!r}")
    # The same law as a Categorical: 1 − p rounds there, so its reference is the rounded pair.
    probs = np.array([1.0 - p, p])
    ref = mp_tilt(probs, [0.0, 1.0], beta)
    assert_divergences(toys.Categorical([0.0, 1.0], probs).frontier(beta), ref, f"Categorical p={p!r} at {beta!r}")


@SETTINGS
@given(st.floats(-3.0, 3.0), st.floats(-8.0, 8.0))
def test_exponential_matches_mpmath(log_rate, log_excess):
    # β/σ = θβ from 1 + 1e-8 to 1e8. θβ − 1 is formed exactly (it lost 8 digits at θβ = 1 + 1e-8) and
    # KL = u − log1p(u), reverse KL = log1p(u) − u/(1 + u) come from series as u = 1/(θβ − 1) → 0.
    rate = 10.0**log_rate
    beta = (1.0 + 10.0**log_excess) / rate
    law = toys.Exponential(rate)
    with mp.workdps(DPS):
        u = 1 / (mp.mpf(rate) * mp.mpf(beta) - 1)
        ref = _mp_frontier(u - mp.log1p(u), mp.log1p(u) - u / (1 + u), u / mp.mpf(rate))
    assert_divergences(law.frontier(beta), ref, f"Exponential({rate!r}) at {beta!r}")


@SETTINGS
@given(st.floats(-1e3, 1e3), st.floats(-3.0, 3.0), st.floats(-8.0, 8.0))
def test_uniform_matches_mpmath(a, log_width, log_ratio):
    b = a + 10.0**log_width
    law = toys.Uniform(a, b)
    beta = law.std * 10.0**log_ratio
    with mp.workdps(DPS):
        w = mp.mpf(b) - mp.mpf(a)
        x = w / (2 * mp.mpf(beta))
        langevin = mp.coth(x) - 1 / x
        rkl = mp.log(mp.sinh(x) / x)
        ref = _mp_frontier(x * langevin - rkl, rkl, w / 2 * langevin)
    assert_divergences(law.frontier(beta), ref, f"Uniform({a!r}, {b!r}) at {beta!r}")


@SETTINGS
@given(discrete_problems(), betas)
def test_categorical_matches_mpmath(problem, beta):
    p0, r = problem
    assert_divergences(toys.Categorical(r, p0).frontier(beta), mp_tilt(p0, r, beta), "Categorical")


# ---------------------------------------------------------------- Δ*(ε) of the laws


@SETTINGS
@given(st.floats(-3.0, 3.0), st.floats(-30.0, 2.0))
def test_exponential_gain_at_kl_matches_mpmath(log_rate, log_eps):
    # Newton on u − log1p(u) = ε: the residual now comes from a series (it cancelled below ε ≈ 1e-10).
    rate, eps = 10.0**log_rate, 10.0**log_eps
    with mp.workdps(60):
        e = mp.mpf(eps)
        u = mp.findroot(lambda v: v - mp.log1p(v) - e, (mp.sqrt(e) / 2, 2 * e + 3 * mp.sqrt(e) + 3), solver="anderson")
        want = u / mp.mpf(rate)
    got = toys.Exponential(rate).gain_at_kl(eps)
    assert got >= 0
    assert_close(got, want, f"Exponential({rate!r}).gain_at_kl({eps!r})")


@SETTINGS
@given(st.floats(-200.0, 200.0), st.floats(-30.0, 2.0))
def test_gaussian_gain_at_kl_matches_mpmath(log_sigma, log_eps):
    sigma, eps = 10.0**log_sigma, 10.0**log_eps
    with mp.workdps(60):
        want = mp.mpf(sigma) * mp.sqrt(2 * mp.mpf(eps))
    assert_close(toys.Gaussian(0.0, sigma).gain_at_kl(eps), want, "Gaussian gain_at_kl")


@settings(deadline=None, max_examples=30)
@given(st.floats(-3.0, 3.0), st.floats(-20.0, 1.5))
def test_uniform_gain_at_kl_matches_mpmath(log_width, log_eps):
    width, eps = 10.0**log_width, 10.0**log_eps
    with mp.workdps(60):

        def log_kl(y):  # log KL(x = e^y), increasing in y
            x = mp.exp(y)
            return mp.log(x * (mp.coth(x) - 1 / x) - mp.log(mp.sinh(x) / x)) - mp.log(mp.mpf(eps))

        x = mp.exp(mp.findroot(log_kl, (mp.mpf(-40), mp.mpf(60)), solver="anderson"))
        want = mp.mpf(width) / 2 * (mp.coth(x) - 1 / x)
    got = toys.Uniform(0.0, width).gain_at_kl(eps)
    assert got >= 0
    assert_close(got, want, f"Uniform(0, {width!r}).gain_at_kl({eps!r})")  # Brent stops at ~1e-14 in log β
