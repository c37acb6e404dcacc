"""One scalar convention across the numeric API: a scalar β (or KL budget) in gives scalars
out, a 1-D grid gives arrays, and the grid's entries equal the scalar answers one by one."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignlimits import bon, constrained, estimator, lab, proxy, scaling, tilting, toys

P0 = np.array([0.4, 0.3, 0.2, 0.1])
R = np.array([0.0, 1.0, 2.0, 4.0])
R_HAT = R + np.array([0.0, 0.5, -0.3, 0.2])
SAMPLES = np.random.default_rng(0).normal(size=300)
IDS = np.repeat([0, 1, 2], 100)
LAB_R = np.random.default_rng(1).normal(size=(4, 16))
LAB_J = LAB_R + np.random.default_rng(2).normal(size=(4, 16))

#: Functions of β: name → (call, the fields that hold one value per β, or None for a plain value).
BETA_FUNCTIONS: dict[str, tuple[Callable[[Any], Any], tuple[str, ...] | None]] = {
    "tilting.frontier": (lambda b: tilting.frontier(P0, R, b), tilting.FRONTIER_FIELDS),
    "tilting.log_partition": (lambda b: tilting.log_partition(P0, R, b), None),
    "toys.Gaussian.frontier": (lambda b: toys.Gaussian(0.0, 2.0).frontier(b), tilting.FRONTIER_FIELDS),
    "toys.Bernoulli.frontier": (lambda b: toys.Bernoulli(0.3).frontier(b), tilting.FRONTIER_FIELDS),
    "toys.Exponential.frontier": (lambda b: toys.Exponential(0.5).frontier(b + 2.0), tilting.FRONTIER_FIELDS),
    "toys.Uniform.frontier": (lambda b: toys.Uniform(-1.0, 2.0).frontier(b), tilting.FRONTIER_FIELDS),
    "toys.Categorical.frontier": (lambda b: toys.Categorical(R, P0).frontier(b), tilting.FRONTIER_FIELDS),
    "toys.numerical_frontier": (lambda b: toys.numerical_frontier(toys.Uniform(), b), tilting.FRONTIER_FIELDS),
    "estimator.estimate_frontier": (lambda b: estimator.estimate_frontier(SAMPLES, b, IDS), estimator.ESTIMATE_FIELDS),
    "estimator.bootstrap_frontier": (
        lambda b: estimator.bootstrap_frontier(SAMPLES, b, IDS, n_boot=50, rng=np.random.default_rng(0)),
        estimator.BOOTSTRAP_FIELDS,
    ),
    "estimator.pareto_khat": (lambda b: estimator.pareto_khat(np.r_[SAMPLES, SAMPLES], b), None),
    "proxy.proxy_alignment": (lambda b: proxy.proxy_alignment(P0, R, R_HAT, b), proxy.PROXY_FIELDS),
    "proxy.matched_kl_gap": (lambda b: proxy.matched_kl_gap(P0, R, R_HAT, b), None),
    "proxy.objective_loss": (lambda b: proxy.objective_loss(P0, R, R_HAT, b), None),
    "proxy.gaussian_loss": (lambda b: proxy.gaussian_loss(0.5, b), None),
    "proxy.gaussian_matched_gap": (lambda b: proxy.gaussian_matched_gap(1.0, 0.5, b), None),
    "lab.lab_curves": (
        lambda b: lab.lab_curves(LAB_R, LAB_J, b, (1, 2), n_boot=20, rng=np.random.default_rng(0)),
        ("beta", "kl", "gain_reward", "gain_judge", "reliable"),
    ),
}

#: Functions of a KL budget (nats), as above.
BUDGET_FUNCTIONS: dict[str, tuple[Callable[[Any], Any], tuple[str, ...] | None]] = {
    "tilting.max_gain": (lambda e: tilting.max_gain(P0, R, e), None),
    "tilting.beta_for_kl": (lambda e: tilting.beta_for_kl(P0, R, e), None),
    "toys.gain_at_kl (Gaussian)": (lambda e: toys.gain_at_kl(toys.Gaussian(), e), None),
    "toys.gain_at_kl (exponential)": (lambda e: toys.gain_at_kl(toys.Exponential(2.0), e), None),
    "toys.gain_at_kl (uniform)": (lambda e: toys.gain_at_kl(toys.Uniform(), e), None),
    "toys.gain_at_kl (Bernoulli)": (lambda e: toys.gain_at_kl(toys.Bernoulli(0.2), e), None),
    "toys.sqrt_kl_bound": (lambda e: toys.sqrt_kl_bound(toys.Uniform(), e), None),
    "bon.optimal_gain": (lambda e: bon.optimal_gain(P0, R, e), None),
    "constrained.frontier_gain_at": (lambda e: constrained.frontier_gain_at(P0, R, e), None),
    "estimator.gain_at_budget": (lambda e: estimator.gain_at_budget(SAMPLES, e, IDS), ("kl_budget", "beta", "gain")),
    "estimator.bootstrap_gain_at_budget": (
        lambda e: estimator.bootstrap_gain_at_budget(SAMPLES, e, IDS, n_boot=30, rng=np.random.default_rng(0)),
        None,
    ),
    "scaling.bon_form": (lambda e: scaling.bon_form(np.sqrt(e), 1.0, 0.3), None),
    "scaling.rl_form": (lambda e: scaling.rl_form(np.sqrt(e), 1.0, 0.3), None),
}

BETAS = np.array([0.3, 1.0, 4.0])
BUDGETS = np.array([0.05, 0.4, 1.0])  # below every ceiling above (log 100 for the samples, −log 0.1 for P0)


def _values(result: Any, fields: tuple[str, ...] | None) -> list[Any]:
    """The per-β (or per-budget) parts of a result: named fields, a tuple's items, or the value."""
    if fields is not None:
        return [getattr(result, f) for f in fields]
    return list(result) if isinstance(result, tuple) else [result]


def _assert_scalar(value: Any, name: str) -> None:
    assert np.ndim(value) == 0, f"{name}: a scalar input gave shape {np.shape(value)}"
    assert isinstance(value, float | bool | np.bool_), f"{name}: got {type(value).__name__}"


def _check(call: Callable[[Any], Any], fields: tuple[str, ...] | None, grid: np.ndarray, name: str) -> None:
    as_array = _values(call(grid), fields)
    for i, x in enumerate(grid):
        one = _values(call(float(x)), fields)
        for j, (scalar, column) in enumerate(zip(one, as_array, strict=True)):
            if np.ndim(scalar) == 0:
                _assert_scalar(scalar, f"{name}[{j}]")
                assert np.shape(column)[-1:] == (grid.size,)
            # the scalar answer is the grid's entry (last axis), to rounding
            np.testing.assert_allclose(np.asarray(column)[..., i], scalar, rtol=1e-12, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("name", sorted(BETA_FUNCTIONS))
def test_scalar_beta_gives_scalars_and_a_grid_gives_the_same_values(name: str) -> None:
    call, fields = BETA_FUNCTIONS[name]
    if name in ("estimator.bootstrap_frontier", "lab.lab_curves"):
        # the bootstrap draws differ with the grid's size only through the β axis: compare point estimates
        result = call(1.0)
        for f in fields:
            _assert_scalar(getattr(result, f), f"{name}.{f}")
        assert np.shape(getattr(call(BETAS), fields[1])) == (BETAS.size,)
        return
    _check(call, fields, BETAS, name)


@pytest.mark.parametrize("name", sorted(BUDGET_FUNCTIONS))
def test_scalar_budget_gives_scalars_and_a_grid_gives_the_same_values(name: str) -> None:
    call, fields = BUDGET_FUNCTIONS[name]
    _check(call, fields, BUDGETS, name)


def test_estimate_per_prompt_drops_the_beta_axis_for_a_scalar() -> None:
    one = estimator.estimate_frontier(SAMPLES, 2.0, IDS)
    grid = estimator.estimate_frontier(SAMPLES, [2.0], IDS)
    for key, value in one.per_prompt.items():
        assert value.shape == (3,), key
        np.testing.assert_array_equal(value, grid.per_prompt[key][:, 0])
    assert one.rows() == grid.rows()  # one row either way, with the same numbers


def test_lab_bands_of_the_frontier_drop_the_beta_axis() -> None:
    c = lab.lab_curves(LAB_R, LAB_J, 1.0, (1, 2), n_boot=20, rng=np.random.default_rng(0))
    assert c.bands["kl"].shape == (2,) and c.bands["bon_kl"].shape == (2, 2)
    assert lab.limit_at(c, 0.0) == 0.0 and np.isnan(lab.limit_at(c, 10.0))


def test_best_of_n_curve_follows_the_same_convention_in_n() -> None:
    one, grid = bon.curve(P0, R, 4), bon.curve(P0, R, [4])
    for f in bon.BON_CURVE_FIELDS:
        assert np.ndim(getattr(one, f)) == 0
        assert getattr(one, f) == getattr(grid, f)[0]
    law = bon.law_curve(toys.Gaussian(), 8)
    assert np.ndim(law.gain) == 0 and law.kl == pytest.approx(np.log(8) - 7 / 8)


def test_one_policy_gives_one_excess() -> None:
    pi = tilting.tilt(P0, R, 0.7)
    one = constrained.excess_over_frontier(pi, P0, R)
    assert isinstance(one, float) and abs(one) < 1e-9
    assert constrained.excess_over_frontier(np.stack([pi, P0]), P0, R).shape == (2,)


def test_dataclass_fields_are_numpy_scalars_that_behave_as_floats() -> None:
    f = tilting.frontier(P0, R, 1.0)
    assert isinstance(f.kl, float) and f"{f.gain:.3f}" == f"{float(f.gain):.3f}"
    assert f.as_dict()["kl"] == float(f.kl)  # plain floats for json
    assert dataclasses.replace(f).expected_reward == pytest.approx(f.base_mean + f.gain)


def test_bad_input_keeps_its_message() -> None:
    with pytest.raises(ValueError, match="beta must be > 0"):
        tilting.frontier(P0, R, -1.0)
    with pytest.raises(ValueError, match="beta must be a scalar or a 1-D grid"):
        estimator.estimate_frontier(SAMPLES, [[1.0]])
    with pytest.raises(ValueError, match="KL budgets must be"):
        estimator.gain_at_budget(SAMPLES, -0.1)
    with pytest.raises(ValueError, match="kl_budgets contains NaN"):
        constrained.frontier_gain_at(P0, R, np.nan)


@settings(max_examples=40, deadline=None)
@given(
    st.floats(min_value=1e-3, max_value=1e3),
    st.lists(st.floats(min_value=1e-3, max_value=1e3), min_size=1, max_size=5),
)
def test_frontier_scalar_and_grid_agree_for_any_beta(beta: float, grid: list[float]) -> None:
    one = tilting.frontier(P0, R, beta)
    together = tilting.frontier(P0, R, [*grid, beta])
    for f in tilting.FRONTIER_FIELDS:
        _assert_scalar(getattr(one, f), f)
        assert getattr(together, f).shape == (len(grid) + 1,)
        assert getattr(together, f)[-1] == pytest.approx(getattr(one, f), rel=1e-12, abs=1e-300)


@settings(max_examples=25, deadline=None)
@given(
    st.floats(min_value=0.05, max_value=50.0),
    st.lists(st.floats(min_value=0.05, max_value=50.0), min_size=1, max_size=4),
)
def test_estimate_scalar_and_grid_agree_for_any_beta(beta: float, grid: list[float]) -> None:
    one = estimator.estimate_frontier(SAMPLES, beta, IDS)
    together = estimator.estimate_frontier(SAMPLES, [*grid, beta], IDS)
    for f in estimator.ESTIMATE_FIELDS:
        _assert_scalar(getattr(one, f), f)
        np.testing.assert_allclose(getattr(together, f)[-1], getattr(one, f), rtol=1e-12, atol=1e-15)
