r"""Direct preference optimisation (DPO) for a tabular policy over a finite set of responses.

DPO {Rafailov et al. 2023} trains a policy ``π`` directly on preference pairs
``(y_w ≻ y_l)``: with the log-ratio ``θ(y) = log π(y)/π0(y)`` it minimises

.. math::  ℓ(θ) = −\log σ\big(β(θ(y_w) − θ(y_l))\big),

the negative log-likelihood of the label under the Bradley–Terry law whose reward is
the *implicit reward* ``βθ``. If the labels follow Bradley–Terry with a reward ``r``,
``P(y ≻ y') = σ(r(y) − r(y'))``, the population minimiser is the Gibbs tilt
``π_β = π0 e^{r/β}/Z`` (:func:`population_optimum`; the book's chapter *DPO: the same
optimum from preferences* proves it, :mod:`alignlimits.symbolic.dpo` does the algebra).

**Tabular policy.** Here ``π ∝ π0 e^{θ}`` with one free log-ratio per response, so
the loss depends on ``θ`` only through differences and the normaliser cancels. The
fit is therefore a Bradley–Terry fit of the implicit reward ``u = βθ`` followed by the
exact tilt ``π̂ = π0 e^{û/β}/Z``: tabular DPO with finite data is the optimal policy
for the *fitted* reward ``û``, a proxy of ``r``.

**Finite data is degenerate.** With ``m`` pairs drawn from ``π0`` most responses are
never compared, and a response that never loses (or never wins) drives the empirical
minimiser to ``θ = +∞`` (``−∞``): the unregularised empirical DPO solution usually does
not exist. Two remedies, both here and both reported in the book:

* :func:`fit` (what the book reports): the maximum a posteriori fit with a Gaussian
  prior of precision ``l2`` on each implicit reward, i.e. it minimises
  ``Σ_pairs ℓ + (l2/2)‖βθ‖²``. The penalty is on the *sum* over pairs, so its weight
  vanishes as ``m`` grows and the fit is consistent; responses never compared keep
  ``û = 0``, the mean of all ``û`` (the stationarity condition forces ``Σ û = 0``).
  It is strictly convex, so the fit is unique; it does not depend on ``β`` except
  through ``θ = û/β``.
* :func:`fit_path` (what practitioners run): full-batch gradient descent on the mean
  loss from the reference (``θ = 0``) with no penalty, stopped after a number of steps.
  Responses that never lose keep climbing, so the KL grows without bound with the
  number of steps.

:func:`place` puts any policy on the KL–reward plane exactly: ``KL(π‖π0)``
(:func:`alignlimits.divergences.kl`), its reward gain, the optimal gain at that KL
(:func:`alignlimits.bon.optimal_gain`, the frontier of :mod:`alignlimits.tilting`)
and the share of it. :func:`sweep` runs the whole finite-data experiment.

numpy/scipy only: this module imports without torch. Everything is float64; the
policy is formed in log space (``log_softmax(log π0 + θ)``), never from ``e^{θ}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse
from scipy.sparse import linalg as sparse_linalg
from scipy.special import expit, log_softmax

from alignlimits import bon, tilting
from alignlimits._validation import as_betas, as_discrete_problem, as_finite_array
from alignlimits.divergences import kl as kl_divergence

__all__ = [
    "DPOFit",
    "DPOSweep",
    "Placement",
    "Preferences",
    "dpo_loss",
    "dpo_loss_grad",
    "fit",
    "fit_path",
    "fit_reward",
    "place",
    "policy_from_log_ratio",
    "population_loss",
    "population_loss_grad",
    "population_loss_hess",
    "population_optimum",
    "sample_preferences",
    "sweep",
]


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Preferences:
    """``m`` labelled pairs over ``n_outcomes`` responses: ``winners[i] ≻ losers[i]``.

    Attributes
    ----------
    winners, losers : int arrays, shape (m,)
        Response indices in ``0 … n_outcomes − 1``. A pair may compare a response
        with itself (two identical samples); it adds the constant ``log 2`` to the loss.
    n_outcomes : int
        The number of responses ``k``.

    Examples
    --------
    >>> prefs = Preferences(np.array([2, 0]), np.array([0, 1]), 3)
    >>> prefs.m, prefs.seen.tolist()
    (2, [True, True, True])
    """

    winners: NDArray[np.int64]
    losers: NDArray[np.int64]
    n_outcomes: int

    def __post_init__(self) -> None:
        w = np.asarray(self.winners)
        lo = np.asarray(self.losers)
        if w.ndim != 1 or lo.shape != w.shape:
            raise ValueError(f"winners and losers must be 1-D of the same shape; got {w.shape} and {lo.shape}.")
        if w.size == 0:
            raise ValueError("preferences are empty; pass at least one pair.")
        if not (np.issubdtype(w.dtype, np.integer) and np.issubdtype(lo.dtype, np.integer)):
            raise ValueError("winners and losers must be integer response indices.")
        if int(self.n_outcomes) < 2:
            raise ValueError(f"n_outcomes must be at least 2; got {self.n_outcomes}.")
        if min(w.min(), lo.min()) < 0 or max(w.max(), lo.max()) >= self.n_outcomes:
            raise ValueError(f"response indices must lie in 0 … {self.n_outcomes - 1}.")
        object.__setattr__(self, "winners", w.astype(np.int64))
        object.__setattr__(self, "losers", lo.astype(np.int64))
        object.__setattr__(self, "n_outcomes", int(self.n_outcomes))

    @property
    def m(self) -> int:
        """The number of pairs."""
        return int(self.winners.size)

    @property
    def seen(self) -> NDArray[np.bool_]:
        """Shape ``(k,)``: which responses appear in at least one pair."""
        out = np.zeros(self.n_outcomes, dtype=bool)
        out[self.winners] = True
        out[self.losers] = True
        return out

    def counts(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        """Distinct ordered pairs ``(winner, loser)`` and how often each occurs."""
        keys, counts = np.unique(self.winners * self.n_outcomes + self.losers, return_counts=True)
        return keys // self.n_outcomes, keys % self.n_outcomes, counts.astype(np.float64)


def _check_rng(rng: object) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (np.random.default_rng(seed)); got {type(rng).__name__}."
        )
    return rng


def _check_m(m: object, name: str = "m") -> int:
    if isinstance(m, bool) or not isinstance(m, int | np.integer) or int(m) < 1:
        raise ValueError(f"{name} must be a positive integer; got {m!r}.")
    return int(m)


def _scalar_beta(beta: float) -> float:
    b = float(as_betas(beta))
    if not np.isfinite(b):
        raise ValueError("beta must be finite: beta = inf makes every DPO loss log 2 (no signal).")
    return b


def sample_preferences(base_probs: ArrayLike, rewards: ArrayLike, m: int, rng: np.random.Generator) -> Preferences:
    r"""Draw ``m`` pairs ``(y, y')`` i.i.d. from ``π0 ⊗ π0`` and label them by Bradley–Terry.

    ``y`` is the winner with probability ``σ(r(y) − r(y'))``, otherwise ``y'`` is.

    Parameters
    ----------
    base_probs : array_like, shape (k,)
        The base policy ``π0``, which generates both responses.
    rewards : array_like, shape (k,)
        The true reward ``r`` of the Bradley–Terry law.
    m : int
        Number of pairs.
    rng : numpy.random.Generator
        The only source of randomness: the same seed gives the same pairs.

    Examples
    --------
    >>> prefs = sample_preferences([0.5, 0.5], [0.0, 1.0], 4, np.random.default_rng(0))
    >>> prefs.m, prefs.n_outcomes
    (4, 2)
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    m = _check_m(m)
    rng = _check_rng(rng)
    y = rng.choice(p0.size, size=(2, m), p=p0)
    first_wins = rng.random(m) < expit(r[y[0]] - r[y[1]])
    return Preferences(np.where(first_wins, y[0], y[1]), np.where(first_wins, y[1], y[0]), p0.size)


# ----------------------------------------------------------------------------- losses


def _log_ratio(log_ratio: ArrayLike, k: int | None = None) -> NDArray[np.float64]:
    theta = as_finite_array(log_ratio, "log_ratio")
    if theta.ndim != 1:
        raise ValueError(f"log_ratio must be 1-D (one value per response); got shape {theta.shape}.")
    if k is not None and theta.size != k:
        raise ValueError(f"log_ratio has {theta.size} entries but there are {k} responses.")
    return theta


def dpo_loss(log_ratio: ArrayLike, prefs: Preferences, beta: float) -> float:
    r"""The empirical DPO loss, ``mean_i −log σ(β(θ_{w_i} − θ_{l_i}))``.

    ``log_ratio`` is ``θ = log π/π0`` up to an additive constant (which cancels).
    Computed as ``softplus(−z)`` with ``np.logaddexp``: no overflow for any ``z``.

    Examples
    --------
    >>> prefs = Preferences(np.array([1]), np.array([0]), 2)
    >>> round(dpo_loss([0.0, 0.0], prefs, beta=1.0), 6)  # log 2 at the reference
    0.693147
    """
    theta = _log_ratio(log_ratio, prefs.n_outcomes)
    b = _scalar_beta(beta)
    z = b * (theta[prefs.winners] - theta[prefs.losers])
    return float(np.mean(np.logaddexp(0.0, -z)))


def dpo_loss_grad(log_ratio: ArrayLike, prefs: Preferences, beta: float) -> NDArray[np.float64]:
    r"""Gradient of :func:`dpo_loss` with respect to ``θ``, shape ``(k,)``.

    Each pair adds ``−β σ(−z)`` to its winner and ``+β σ(−z)`` to its loser
    (``z = β(θ_w − θ_l)``), divided by ``m``; the entries sum to zero.

    Examples
    --------
    >>> prefs = Preferences(np.array([1]), np.array([0]), 2)
    >>> dpo_loss_grad([0.0, 0.0], prefs, beta=2.0)
    array([ 1., -1.])
    """
    theta = _log_ratio(log_ratio, prefs.n_outcomes)
    b = _scalar_beta(beta)
    g = -b * expit(-b * (theta[prefs.winners] - theta[prefs.losers]))
    k = prefs.n_outcomes
    return (np.bincount(prefs.winners, g, minlength=k) - np.bincount(prefs.losers, g, minlength=k)) / prefs.m


def _pair_law(p0: NDArray, r: NDArray) -> NDArray[np.float64]:
    """``P(winner = a, loser = b)`` for a pair from ``π0 ⊗ π0`` labelled by Bradley–Terry, shape (k, k)."""
    law = 2.0 * np.outer(p0, p0) * expit(r[:, None] - r[None, :])
    np.fill_diagonal(law, p0**2)  # identical samples: either order, total mass π0(a)²
    return law


def population_loss(log_ratio: ArrayLike, base_probs: ArrayLike, rewards: ArrayLike, beta: float) -> float:
    r"""The expected DPO loss of one pair drawn from ``π0 ⊗ π0`` and labelled by Bradley–Terry.

    ``Σ_{a,b} P(w = a, l = b) (−log σ(β(θ_a − θ_b)))`` with
    ``P(w = a, l = b) = 2 π0(a) π0(b) σ(r_a − r_b)`` for ``a ≠ b`` and ``π0(a)²`` on the
    diagonal — the expectation of :func:`dpo_loss` on pairs from :func:`sample_preferences`.
    It costs ``O(k²)``.

    Examples
    --------
    >>> p0, r = np.array([0.5, 0.5]), np.array([0.0, 1.0])
    >>> theta = np.log(population_optimum(p0, r, 1.0) / p0)
    >>> population_loss(theta, p0, r, 1.0) < population_loss([0.0, 0.0], p0, r, 1.0)
    True
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    theta = _log_ratio(log_ratio, p0.size)
    b = _scalar_beta(beta)
    z = b * (theta[:, None] - theta[None, :])
    return float(np.sum(_pair_law(p0, r) * np.logaddexp(0.0, -z)))


def population_loss_grad(
    log_ratio: ArrayLike, base_probs: ArrayLike, rewards: ArrayLike, beta: float
) -> NDArray[np.float64]:
    r"""Gradient of :func:`population_loss` with respect to ``θ``, shape ``(k,)``; zero at ``θ = r/β``.

    Examples
    --------
    >>> p0, r = np.array([0.2, 0.3, 0.5]), np.array([0.0, 1.0, 3.0])
    >>> bool(np.allclose(population_loss_grad(r / 2.0, p0, r, 2.0), 0.0))
    True
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    theta = _log_ratio(log_ratio, p0.size)
    b = _scalar_beta(beta)
    g = -_pair_law(p0, r) * expit(-b * (theta[:, None] - theta[None, :]))  # ∂/∂z of each term
    return b * (g.sum(axis=1) - g.sum(axis=0))


def population_loss_hess(
    log_ratio: ArrayLike, base_probs: ArrayLike, rewards: ArrayLike, beta: float
) -> NDArray[np.float64]:
    r"""Hessian of :func:`population_loss` with respect to ``θ``, shape ``(k, k)``.

    A weighted graph Laplacian, ``β² (diag(W 1) − W)`` with
    ``W_ab = P(a,b) σ(z_ab) σ(−z_ab) + P(b,a) σ(z_ba) σ(−z_ba)``: positive semi-definite,
    with the constant vector in its null space (the loss ignores a shift of ``θ``).

    Examples
    --------
    >>> h = population_loss_hess([0.0, 0.0], [0.5, 0.5], [0.0, 1.0], 1.0)
    >>> bool(np.allclose(h.sum(axis=1), 0.0))
    True
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    theta = _log_ratio(log_ratio, p0.size)
    b = _scalar_beta(beta)
    z = b * (theta[:, None] - theta[None, :])
    w = _pair_law(p0, r) * expit(z) * expit(-z)
    w = w + w.T
    np.fill_diagonal(w, 0.0)
    return b**2 * (np.diag(w.sum(axis=1)) - w)


def population_optimum(base_probs: ArrayLike, rewards: ArrayLike, beta: float) -> NDArray[np.float64]:
    r"""The minimiser of :func:`population_loss` over policies: the Gibbs tilt ``π_β``.

    When ``π0 > 0`` everywhere every pair of responses is compared with positive
    probability, and each pair's expected loss is a cross-entropy minimised only at
    ``β(θ_a − θ_b) = r_a − r_b``; so ``θ = r/β + c`` and ``π = π0 e^{r/β}/Z`` =
    :func:`alignlimits.tilting.tilt`. (Responses outside the support of ``π0`` are never
    sampled, and get no mass.)

    Examples
    --------
    >>> population_optimum([0.5, 0.5], [0.0, np.log(3.0)], 1.0)
    array([0.25, 0.75])
    """
    return tilting.tilt(base_probs, rewards, _scalar_beta(beta))


def policy_from_log_ratio(base_probs: ArrayLike, log_ratio: ArrayLike) -> NDArray[np.float64]:
    r"""The tabular policy ``π = π0 e^{θ} / Σ π0 e^{θ}``, formed in log space.

    Examples
    --------
    >>> policy_from_log_ratio([0.5, 0.5], [0.0, np.log(3.0)])
    array([0.25, 0.75])
    """
    p0, _ = as_discrete_problem(base_probs, np.zeros(np.shape(base_probs)))
    theta = _log_ratio(log_ratio, p0.size)
    with np.errstate(divide="ignore"):
        return np.exp(log_softmax(np.log(p0) + theta))


# ----------------------------------------------------------------------------- fits


@dataclass(frozen=True)
class DPOFit:
    """A DPO fit on finite preferences.

    Attributes
    ----------
    beta : the KL factor of the DPO loss.
    l2 : the prior precision on the implicit reward (the penalty ``(l2/2)‖βθ‖²``).
    implicit_reward : ``û = βθ``, shape ``(k,)``, with ``Σ û = 0``.
    log_ratio : ``log π̂/π0``, shape ``(k,)`` (normalised: ``Σ π0 e^{θ} = 1``).
    policy : ``π̂``, shape ``(k,)``.
    loss : the empirical mean DPO loss at the fit (without the penalty).
    converged : whether the optimiser met its gradient tolerance.
    n_iter : optimiser iterations.

    Examples
    --------
    >>> prefs = Preferences(np.array([1]), np.array([0]), 2)
    >>> result = fit(prefs, [0.5, 0.5], beta=1.0, l2=1.0)
    >>> result.converged, bool(result.policy[1] > 0.5)
    (True, True)
    """

    beta: float
    l2: float
    implicit_reward: NDArray[np.float64]
    log_ratio: NDArray[np.float64]
    policy: NDArray[np.float64]
    loss: float
    converged: bool
    n_iter: int


def _penalised(u: NDArray, w: NDArray, lo: NDArray, c: NDArray, l2: float) -> tuple[float, NDArray]:
    z = u[w] - u[lo]
    value = float(c @ np.logaddexp(0.0, -z) + 0.5 * l2 * u @ u)
    g = -c * expit(-z)
    k = u.size
    grad = np.bincount(w, g, minlength=k) - np.bincount(lo, g, minlength=k) + l2 * u
    return value, grad


def _penalised_hess(u: NDArray, w: NDArray, lo: NDArray, c: NDArray, l2: float) -> sparse.csc_matrix:
    """The Hessian, sparse: a weighted graph Laplacian on the compared pairs plus ``l2·I``."""
    z = u[w] - u[lo]
    h = c * expit(z) * expit(-z)
    k = u.size
    diagonal = np.arange(k)
    rows = np.concatenate([w, lo, w, lo, diagonal])
    cols = np.concatenate([w, lo, lo, w, diagonal])
    values = np.concatenate([h, h, -h, -h, np.full(k, l2)])
    return sparse.csc_matrix((values, (rows, cols)), shape=(k, k))  # duplicates are summed


def fit_reward(
    prefs: Preferences, l2: float = 1.0, *, gtol: float = 1e-10, max_iter: int = 100
) -> tuple[NDArray[np.float64], bool, int]:
    r"""The Bradley–Terry MAP implicit reward ``û = argmin Σ_pairs softplus(−(u_w − u_l)) + (l2/2)‖u‖²``.

    Strictly convex for ``l2 > 0``; solved by Newton's method with a backtracking line
    search on the distinct pairs and the responses they involve (the Hessian is a
    weighted graph Laplacian plus ``l2·I``, sparse, solved by SuperLU); responses in no
    pair get ``û = 0`` exactly. Converged when every gradient entry is below
    ``gtol·max(1, m)``. Returns ``(û, converged, n_iter)``; ``Σ û = 0`` at the optimum.

    Raises
    ------
    ValueError
        If ``l2 <= 0``: without a penalty the minimiser is infinite whenever some
        response never loses or never wins (use :func:`fit_path` to see that regime).

    Examples
    --------
    >>> prefs = Preferences(np.array([1, 1, 0]), np.array([0, 0, 1]), 2)
    >>> u, ok, _ = fit_reward(prefs, l2=1e-9)
    >>> ok, round(float(u[1] - u[0]), 4)  # log(2/1): the Bradley–Terry MLE
    (True, 0.6931)
    """
    l2 = float(l2)
    if not np.isfinite(l2) or l2 <= 0:
        raise ValueError(
            f"l2 must be a finite number > 0; got {l2!r}. Without a penalty the empirical DPO minimiser "
            "is infinite whenever a response never loses; use fit_path for unregularised gradient descent."
        )
    w, lo, c = prefs.counts()
    # Responses in no pair have gradient l2·u, so û = 0 there: solve on the seen ones only.
    seen = np.flatnonzero(prefs.seen)
    index = np.full(prefs.n_outcomes, -1)
    index[seen] = np.arange(seen.size)
    w, lo = index[w], index[lo]
    u = np.zeros(seen.size)
    value, grad = _penalised(u, w, lo, c, l2)
    converged, n_iter = False, 0
    for n_iter in range(1, max_iter + 1):
        if np.max(np.abs(grad)) <= gtol * max(1.0, float(c.sum())):
            converged = True
            n_iter -= 1
            break
        # Newton step: the Hessian is a weighted graph Laplacian + l2·I (positive definite).
        step = np.atleast_1d(sparse_linalg.spsolve(_penalised_hess(u, w, lo, c, l2), grad))
        t = 1.0
        while True:  # Armijo backtracking keeps every step a descent step
            trial = u - t * step
            trial_value, trial_grad = _penalised(trial, w, lo, c, l2)
            if trial_value <= value - 1e-4 * t * float(grad @ step) or t < 1e-10:
                break
            t *= 0.5
        u, value, grad = trial, trial_value, trial_grad
    full = np.zeros(prefs.n_outcomes)
    full[seen] = u - u.mean()  # the optimum has Σ u = 0; remove rounding drift
    return full, converged, n_iter


def fit(prefs: Preferences, base_probs: ArrayLike, beta: float, *, l2: float = 1.0) -> DPOFit:
    r"""Fit a tabular DPO policy to finite preferences: minimise ``m·dpo_loss + (l2/2)‖βθ‖²``.

    The penalty is a Gaussian prior of precision ``l2`` on each implicit reward
    ``u = βθ`` (in reward units); the fit is ``û`` from :func:`fit_reward` and the policy
    ``π̂ = π0 e^{û/β}/Z``, i.e. the exact tilt with the fitted reward.

    Parameters
    ----------
    prefs : Preferences
        The labelled pairs (e.g. from :func:`sample_preferences`).
    base_probs : array_like, shape (k,)
        The reference policy ``π0``.
    beta : float
        The KL factor ``β > 0`` of the DPO loss.
    l2 : float, default 1.0
        Prior precision, ``> 0``.

    Examples
    --------
    >>> p0, r = np.full(3, 1 / 3), np.array([0.0, 1.0, 2.0])
    >>> prefs = sample_preferences(p0, r, 20_000, np.random.default_rng(0))
    >>> result = fit(prefs, p0, beta=1.0, l2=1.0)
    >>> bool(np.allclose(result.policy, population_optimum(p0, r, 1.0), atol=0.02))
    True
    """
    p0, _ = as_discrete_problem(base_probs, np.zeros(np.shape(base_probs)))
    if p0.size != prefs.n_outcomes:
        raise ValueError(f"base_probs has {p0.size} responses but the preferences have {prefs.n_outcomes}.")
    b = _scalar_beta(beta)
    u, converged, n_iter = fit_reward(prefs, l2)
    log_pi = tilting.log_tilt(p0, u, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_ratio = np.where(p0 > 0, log_pi - np.log(p0), u / b)
    return DPOFit(
        beta=b,
        l2=float(l2),
        implicit_reward=u,
        log_ratio=log_ratio,
        policy=np.exp(log_pi),
        loss=dpo_loss(u / b, prefs, b),
        converged=converged,
        n_iter=n_iter,
    )


def fit_path(prefs: Preferences, beta: float, steps: ArrayLike, *, lr: float = 1.0) -> NDArray[np.float64]:
    r"""Unregularised full-batch gradient descent on :func:`dpo_loss` from the reference.

    Starts at ``θ = 0`` (``π = π0``) and takes ``θ ← θ − lr ∇ dpo_loss``; returns ``θ``
    after each number of steps in ``steps`` (shape ``(len(steps), k)``). This is how DPO
    is run in practice — from the reference, for a fixed budget of steps — without the
    stochasticity of mini-batches or Adam. Responses that never lose keep climbing, so
    the path has no limit when the empirical minimiser is infinite.

    Examples
    --------
    >>> prefs = Preferences(np.array([1]), np.array([0]), 2)  # response 1 never loses
    >>> path = fit_path(prefs, beta=1.0, steps=[10, 100, 1000])
    >>> bool(np.all(np.diff(path[:, 1] - path[:, 0]) > 0))
    True
    """
    b = _scalar_beta(beta)
    checkpoints = np.asarray(steps)
    if checkpoints.ndim != 1 or checkpoints.size == 0 or not np.issubdtype(checkpoints.dtype, np.integer):
        raise ValueError("steps must be a non-empty 1-D array of integers (step counts to record).")
    if (checkpoints < 0).any() or (np.diff(checkpoints) < 0).any():
        raise ValueError("steps must be non-negative and non-decreasing.")
    lr = float(lr)
    if not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a finite number > 0; got {lr!r}.")
    w, lo, c = prefs.counts()
    c = c / prefs.m
    k = prefs.n_outcomes
    theta = np.zeros(k)
    out = np.empty((checkpoints.size, k))
    done = 0
    for i, target in enumerate(checkpoints):
        for _ in range(int(target) - done):
            g = -b * c * expit(-b * (theta[w] - theta[lo]))
            theta -= lr * (np.bincount(w, g, minlength=k) - np.bincount(lo, g, minlength=k))
        done = int(target)
        out[i] = theta
    return out


# ----------------------------------------------------------------------------- the KL–reward plane


@dataclass(frozen=True)
class Placement:
    """Where a policy lands on the KL–reward plane (exact).

    Attributes
    ----------
    kl : ``KL(π‖π0)``.
    gain : ``E_π[r] − E_{π0}[r]``.
    optimal_gain : ``Δ*(KL)``, the frontier's gain at the same KL.
    share : ``gain / optimal_gain`` (``nan`` when both are zero).

    Examples
    --------
    >>> pl = place([0.2, 0.3, 0.5], [1 / 3, 1 / 3, 1 / 3], [0.0, 1.0, 2.0])
    >>> round(pl.gain, 3), bool(pl.share < 1)  # not a tilt: below the frontier
    (0.3, True)
    """

    kl: float
    gain: float
    optimal_gain: float
    share: float


def place(policy: ArrayLike, base_probs: ArrayLike, rewards: ArrayLike) -> Placement:
    r"""Exact ``KL(π‖π0)``, gain, the frontier's gain at that KL and the share of it.

    No policy lands above the frontier, so ``gain ≤ optimal_gain`` (to rounding).

    Examples
    --------
    >>> p0, r = np.array([0.5, 0.5]), np.array([0.0, 1.0])
    >>> pl = place(population_optimum(p0, r, 1.0), p0, r)
    >>> round(pl.share, 6)
    1.0
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    kl = float(kl_divergence(policy, p0))
    if not np.isfinite(kl):
        raise ValueError("policy puts mass where base_probs has none: KL(π‖π0) is infinite.")
    pi = np.asarray(policy, dtype=np.float64)
    gain = float(pi @ r - p0 @ r)
    optimal = float(bon.optimal_gain(p0, r, kl))
    share = gain / optimal if optimal > 0 else float("nan")
    return Placement(kl=kl, gain=gain, optimal_gain=optimal, share=share)


@dataclass(frozen=True)
class DPOSweep:
    """The finite-data DPO experiment: arrays of shape ``(len(betas), len(ms), replicates)``.

    Attributes
    ----------
    betas, ms : the grids.
    l2 : prior precision of every fit.
    kl, gain, optimal_gain, share : :class:`Placement` fields of each fitted policy.
    objective_loss : ``β KL(π̂‖π_β)``, what the fit loses in the true objective
        ``E_π[r] − β KL(π‖π0)`` (the proxy-reward identity).
    unseen_mass : the fitted policy's mass on responses that appear in no pair.
    optimum_kl, optimum_gain : shape ``(len(betas),)``, the population optimum ``π_β``.

    Examples
    --------
    >>> s = sweep([0.5, 0.5], [0.0, 1.0], [1.0, 2.0], [100], 1, np.random.default_rng(0))
    >>> s.share.shape, s.optimum_kl.shape
    ((2, 1, 1), (2,))
    """

    betas: NDArray[np.float64]
    ms: NDArray[np.int64]
    l2: float
    kl: NDArray[np.float64]
    gain: NDArray[np.float64]
    optimal_gain: NDArray[np.float64]
    share: NDArray[np.float64]
    objective_loss: NDArray[np.float64]
    unseen_mass: NDArray[np.float64]
    optimum_kl: NDArray[np.float64]
    optimum_gain: NDArray[np.float64]


def sweep(
    base_probs: ArrayLike,
    rewards: ArrayLike,
    betas: ArrayLike,
    ms: Sequence[int],
    replicates: int,
    rng: np.random.Generator,
    *,
    l2: float = 1.0,
) -> DPOSweep:
    r"""Run DPO on ``m`` Bradley–Terry pairs from ``π0`` for each ``m``, ``β`` and replicate.

    For each ``m`` and replicate one data set is drawn and one implicit reward fitted
    (:func:`fit_reward`, which does not depend on ``β``); each ``β`` then tilts it. So the
    ``β`` columns share their data (common random numbers).

    Examples
    --------
    >>> p0, r = np.full(4, 0.25), np.array([0.0, 1.0, 1.0, 2.0])
    >>> s = sweep(p0, r, [1.0], [50, 5000], 2, np.random.default_rng(0))
    >>> s.kl.shape
    (1, 2, 2)
    >>> bool(np.all(s.share <= 1 + 1e-9))
    True
    """
    p0, r = as_discrete_problem(base_probs, rewards)
    beta_grid = np.atleast_1d(as_betas(betas))
    if not np.isfinite(beta_grid).all():
        raise ValueError("betas must be finite.")
    m_grid = np.array([_check_m(m, "each m") for m in ms], dtype=np.int64)
    if m_grid.size == 0:
        raise ValueError("ms is empty; pass at least one number of pairs.")
    replicates = _check_m(replicates, "replicates")
    rng = _check_rng(rng)
    shape = (beta_grid.size, m_grid.size, replicates)
    fields = {
        name: np.empty(shape) for name in ("kl", "gain", "optimal_gain", "share", "objective_loss", "unseen_mass")
    }
    optimum = tilting.frontier(p0, r, beta_grid)
    optimum_log = np.atleast_2d(tilting.log_tilt(p0, r, beta_grid))
    for j, m in enumerate(m_grid):
        for rep in range(replicates):
            prefs = sample_preferences(p0, r, int(m), rng)
            u, _, _ = fit_reward(prefs, l2)
            unseen = ~prefs.seen
            for i, b in enumerate(beta_grid):
                log_pi = tilting.log_tilt(p0, u, b)
                pi = np.exp(log_pi)
                pl = place(pi, p0, r)
                fields["kl"][i, j, rep] = pl.kl
                fields["gain"][i, j, rep] = pl.gain
                fields["optimal_gain"][i, j, rep] = pl.optimal_gain
                fields["share"][i, j, rep] = pl.share
                on = pi > 0
                fields["objective_loss"][i, j, rep] = b * float(pi[on] @ (log_pi[on] - optimum_log[i][on]))
                fields["unseen_mass"][i, j, rep] = float(pi[unseen].sum())
    return DPOSweep(
        betas=beta_grid,
        ms=m_grid,
        l2=float(l2),
        optimum_kl=np.atleast_1d(optimum.kl),
        optimum_gain=np.atleast_1d(optimum.gain),
        **fields,
    )
