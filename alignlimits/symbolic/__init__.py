"""SymPy derivations behind the book's theorems; each function returns expressions.

One module per part of the book, imported explicitly
(``from alignlimits.symbolic import objective``), so a chapter loads only what it
derives and parts can grow independently:

* :mod:`alignlimits.symbolic.objective` — the optimum of the KL-regularised objective.

Tests check identities with ``sympy.simplify(lhs - rhs) == 0``, never by string.
"""
