import pytest
import sympy as sp

from alignlimits.symbolic import objective


@pytest.mark.parametrize("k", [2, 3, 4])
def test_stationary_point_is_the_gibbs_tilt(k):
    solution = objective.gibbs_optimum(k)
    tilt, _ = objective.gibbs_tilt_expressions(k)
    for found, expected in zip(solution.policy, tilt, strict=True):
        assert sp.simplify(found - expected) == 0
    # the solution satisfies stationarity and normalisation
    prob = solution.problem
    subs = dict(zip(prob.p, tilt, strict=True)) | {prob.lam: solution.multiplier}
    for p in prob.p:
        assert sp.simplify(sp.expand_log(sp.diff(prob.lagrangian, p).subs(subs), force=True)) == 0
    assert sp.simplify(sum(solution.policy) - 1) == 0


def test_hessian_is_negative_definite():
    solution = objective.gibbs_optimum(3)
    h = solution.hessian
    assert h.is_diagonal()
    for i, p in enumerate(solution.problem.p):
        assert sp.simplify(h[i, i] + solution.problem.beta / p) == 0
        assert h[i, i].is_negative


@pytest.mark.parametrize("k", [2, 3])
def test_gibbs_variational_identity_simplifies_to_zero(k):
    assert objective.identity_residual(objective.gibbs_variational_identity(k)) == 0


def test_identity_residual_detects_a_false_identity():
    prob = objective.simplex_problem(2)
    wrong = sp.Eq(prob.objective, prob.objective + prob.beta * sp.log(prob.q[0]))
    assert objective.identity_residual(wrong) != 0


def test_too_few_outcomes_raise():
    with pytest.raises(ValueError, match="at least 2"):
        objective.simplex_problem(1)
