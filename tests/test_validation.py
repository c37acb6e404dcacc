import numpy as np
import pytest

from alignlimits._roots import BudgetAtCeiling, root_of_decreasing
from alignlimits._validation import as_betas, as_discrete_problem, as_kl_budgets


def test_root_of_decreasing_finds_roots_far_from_the_start():
    for root in (-300.0, -3.0, 0.0, 5.0, 400.0):
        assert root_of_decreasing(lambda u, c=root: c - u, start=0.0, lowest=-1e4) == pytest.approx(root, abs=1e-9)


def test_root_of_decreasing_reports_a_numerical_ceiling():
    # excess never turns positive: the budget equals the supremum
    with pytest.raises(BudgetAtCeiling):
        root_of_decreasing(lambda u: -np.exp(u), start=0.0, lowest=-50.0)


def test_as_kl_budgets_keeps_shape_and_checks_values():
    assert as_kl_budgets(0.5).ndim == 0
    np.testing.assert_array_equal(as_kl_budgets([0.0, 1.0]), [0.0, 1.0])
    assert as_kl_budgets(np.inf, allow_inf=True) == np.inf
    for bad in (-0.1, np.nan, np.inf, [[0.1]], []):
        with pytest.raises(ValueError, match="budget"):
            as_kl_budgets(bad)


def test_as_betas_and_discrete_problem_errors():
    with pytest.raises(ValueError, match="> 0"):
        as_betas([1.0, -2.0])
    with pytest.raises(ValueError, match="1-D"):
        as_discrete_problem(np.full((2, 2), 0.5), np.zeros((2, 2)))
    p0, r = as_discrete_problem([0.5, 0.5], [1, 2])
    assert p0.dtype == r.dtype == np.float64
