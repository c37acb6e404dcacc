"""Every public function and class of the numeric core documents itself with a runnable example.

The examples run as doctests in ``make unit`` (``pytest --doctest-modules`` on the modules
below); these tests make sure none is missing and that the Makefile runs them all.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Symbolic modules documented on their own terms (none at present).
NOT_HERE: set[str] = set()
NUMERIC_CORE = [
    *(f"alignlimits.{m}" for m in ("divergences", "tilting", "estimator", "certify", "bon", "toys", "proxy", "dpo",
                                   "overlay")),
    *(f"alignlimits.{m}" for m in ("constrained", "scaling", "tiers", "lab", "cache", "tables")),
    *(
        f"alignlimits.symbolic.{p.stem}"
        for p in sorted((ROOT / "alignlimits" / "symbolic").glob("*.py"))
        if p.stem != "__init__" and p.stem not in NOT_HERE
    ),
]
#: A numpydoc ``Examples`` section: the heading, its underline, then at least one ``>>>`` line.
EXAMPLES = re.compile(r"^Examples\n-{8,}\n(?:.*\n)*?>>> ", re.MULTILINE)


def _public(module_name: str) -> list[tuple[str, object]]:
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    assert names is not None, f"{module_name} has no __all__: its public API is undeclared"
    objects = [(n, getattr(module, n)) for n in names]
    return [(n, obj) for n, obj in objects if inspect.isfunction(obj) or inspect.isclass(obj)]


@pytest.mark.parametrize("module_name", NUMERIC_CORE)
def test_every_public_function_and_class_has_an_examples_section(module_name: str) -> None:
    public = _public(module_name)
    assert public, f"{module_name} exports no function or class"
    missing = [name for name, obj in public if not EXAMPLES.search(inspect.getdoc(obj) or "")]
    assert not missing, f"{module_name}: no numpydoc 'Examples' section with a >>> line in {missing}"


@pytest.mark.parametrize("module_name", NUMERIC_CORE)
def test_the_examples_are_doctests_that_check_an_output(module_name: str) -> None:
    # An example that prints nothing checks nothing: each needs at least one expected output.
    finder = doctest.DocTestFinder()
    for name, obj in _public(module_name):
        tests = [t for t in finder.find(obj, name) if t.name == name]
        assert tests and any(ex.want for t in tests for ex in t.examples), f"{module_name}.{name}: no expected output"


def test_the_makefile_runs_the_doctests_of_every_module() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^unit:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe is not None, "the Makefile has no unit target"
    lines = recipe.group(1)
    assert "--doctest-modules" in lines
    flat = [m.rsplit(".", 1)[1] for m in NUMERIC_CORE if m.count(".") == 1]
    absent = [m for m in flat if not re.search(rf"[{{,/]{m}[,}}.]", lines)]
    assert not absent, f"make unit does not doctest {absent}"
    assert "alignlimits/symbolic/*.py" in lines, "make unit does not doctest alignlimits/symbolic"
