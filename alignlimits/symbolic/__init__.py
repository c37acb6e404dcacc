"""SymPy derivations behind the book's theorems; each function returns expressions.

One module per part of the book, imported explicitly
(``from alignlimits.symbolic import objective``), so a chapter loads only what it
derives and parts can grow independently:

* :mod:`alignlimits.symbolic.objective` — the optimum of the KL-regularised objective;
* :mod:`alignlimits.symbolic.frontier` — the Jeffreys identity, cumulant and budget forms, closed forms;
* :mod:`alignlimits.symbolic.estimator` — the covariance form and the plug-in estimator's bias;
* :mod:`alignlimits.symbolic.bon` — the best-of-N law, its KL and win rate;
* :mod:`alignlimits.symbolic.proxy` — proxy rewards, the hacking loss and ensembles;
* :mod:`alignlimits.symbolic.dpo` — the DPO loss from the Gibbs tilt and its population optimum;
* :mod:`alignlimits.symbolic.rl` — the shaped reward at the optimum, KL estimators' gradients as losses.
* :mod:`alignlimits.symbolic.layout` — long results laid out over lines, to fit the page.

Tests check identities with ``sympy.simplify(lhs - rhs) == 0``, never by string.
"""
