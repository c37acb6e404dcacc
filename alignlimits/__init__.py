"""alignlimits: the theoretical limits of KL-regularised language-model alignment.

The package is layered; a module imports only from its own layer and the ones below
(``tests/test_layers.py`` walks every import and fails on an arrow back up, or a cycle)::

    experiments  runs: tier configs, results files with provenance, the frontier experiment,
        │        RL sweeps, tuning, controls, statistics over runs, the experiments CLI
    rl           algorithms only: GRPO and PPO, their losses, metrics and training loop
        │
    tasks        prompts, rewards and held-out judges behind one Task protocol
        │
    lm           language models: loading, sampling, log-probs, exact sequence KL, the enumerable LM
        │
    core         numpy/scipy/sympy only: divergences, tilting, estimator, certify, symbolic,
                 toys, bon, proxy, dpo, constrained, scaling, lab, plotting, widgets, tiers, cache,
                 assets (where weights and data come from; stdlib only)

``cli`` (the ``alignlimits`` command) sits on top; nothing in the package imports it or
``experiments``. The numeric core imports without torch; torch enters in ``lm`` and
above. Import submodules explicitly, e.g. ``from alignlimits import tilting``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
