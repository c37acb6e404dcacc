"""alignlimits: the theoretical limits of KL-regularised language-model alignment.

The numeric core (``divergences``, ``tilting``, ``symbolic``, ``tiers``) depends on
numpy, scipy and sympy only; torch is imported only by the language-model
subpackages. Import submodules explicitly, e.g. ``from alignlimits import tilting``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
