"""The Colab bootstrap cell: taken from the chapters themselves and run against a fake pip.

``tools/pin_bootstrap.py`` writes the cell; here it is extracted from ``book/lm-lab.md`` (and
a theory chapter) and executed with ``subprocess.run`` (pip), ``importlib.util.find_spec``
(what is installed), ``importlib.metadata.distributions`` (versions before and after) and
``importlib.import_module`` replaced, so every branch runs in a second, without a network.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import pin_bootstrap  # noqa: E402

REF = pin_bootstrap.release_ref()
LM_SPEC = f"alignlimits[lm,tasks] @ git+https://github.com/alignlimits/alignlimits@{REF}"


def cell(slug: str) -> str:
    nb = jupytext.read(ROOT / "book" / f"{slug}.md", fmt="md:myst")
    return next(c.source for c in nb.cells if c.cell_type == "code")


class FakePip:
    """Records each ``subprocess.run`` call and answers with ``returncode`` and ``stderr``."""

    def __init__(self, returncode: int = 0, stderr: str = "") -> None:
        self.calls: list[list[str]] = []
        self.returncode, self.stderr = returncode, stderr

    def __call__(self, args, **kwargs):
        self.calls.append(list(args))
        return subprocess.CompletedProcess(args, self.returncode, stdout="", stderr=self.stderr)


def run_cell(source: str, *, missing=(), pip: FakePip | None = None, versions=None, broken=()) -> FakePip:
    """Execute the bootstrap with ``missing`` modules absent before the install, a fake pip, optional
    ``versions`` (the distribution versions before and after pip) and ``broken`` modules that fail to import."""
    pip = pip or FakePip()
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name in missing else real_find_spec(name, *args)

    def import_module(name, *args):
        if name in broken:
            raise ImportError(f"libfoo.so: cannot open shared object file (importing {name})")
        return SimpleNamespace(__name__=name)

    snapshots = iter(versions or [])
    real_distributions = importlib.metadata.distributions

    def distributions():
        table = next(snapshots, None)
        if table is None:  # unchanged versions: the real installed distributions
            return list(real_distributions())
        return [SimpleNamespace(metadata={"Name": n}, version=v) for n, v in table.items()]

    with (  # import_module last: mock.patch itself imports each target with it
        mock.patch("importlib.util.find_spec", find_spec),
        mock.patch("subprocess.run", pip),
        mock.patch("importlib.metadata.distributions", distributions),
        mock.patch("importlib.import_module", import_module),
    ):
        exec(compile(source, "bootstrap", "exec"), {})
    return pip


def test_every_bootstrap_is_rendered_from_one_source_and_pinned_with_the_launch_buttons():
    assert pin_bootstrap.main([]) == 0, "run `python tools/pin_bootstrap.py --write`, then regenerate the .ipynb"
    files = pin_bootstrap.bootstrap_files()
    assert len(files) >= 15 and ROOT / "book" / "lm-lab.md" in files
    config = (ROOT / "_config.yml").read_text(encoding="utf-8")
    assert pin_bootstrap.launch_branch(config) == REF
    stale = config.replace(f"branch: {REF}", "branch: main")
    assert pin_bootstrap.launch_branch(stale) == "main"  # the check sees a mismatch …
    assert pin_bootstrap.launch_branch(pin_bootstrap.BRANCH.sub(lambda m: m.group(1) + REF, stale)) == REF  # … --write


def test_every_declared_distribution_has_a_module_to_check():
    declared = pin_bootstrap.declared()
    assert {"", "lm", "tasks"} <= set(declared)
    missing = sorted(d for dists in declared.values() for d in dists if d not in pin_bootstrap.MODULES)
    assert not missing, f"add these to MODULES in tools/pin_bootstrap.py: {missing}"
    assert pin_bootstrap.modules(["tasks", "lm"])[:2] == ["alignlimits", "numpy"]
    assert "hatesonar" in pin_bootstrap.modules(["lm", "tasks"]) and "torch" not in pin_bootstrap.modules([])
    with pytest.raises(ValueError, match="unknown extras"):
        pin_bootstrap.modules(["gpu"])


def test_extras_are_read_from_either_form_of_the_cell():
    for text, want in [
        ('```{code-cell} ipython3\n%pip install -q "alignlimits[lm] @ git+u@v1"\n```', ["lm"]),
        ('```{code-cell} ipython3\n:tags: [remove-cell]\n_bootstrap(\n    "alignlimits[tasks, lm] @ git+u@v1",\n```',
         ["lm", "tasks"]),
        ('```{code-cell} ipython3\n_bootstrap("alignlimits @ git+u@v1", [])\n```', []),
        ("```{code-cell} ipython3\nimport numpy\n```", None),
    ]:
        assert pin_bootstrap.extras_of(text) == want, text


def test_nothing_installed_when_everything_is_there(capsys):
    pip = run_cell(cell("lm-lab"))
    assert pip.calls == [] and capsys.readouterr().out == ""


def test_the_base_package_present_and_an_extra_missing_installs_the_extras(capsys):
    pip = run_cell(cell("lm-lab"), missing={"rouge_score"})
    assert pip.calls == [[sys.executable, "-m", "pip", "install", "-q", LM_SPEC]]
    out = capsys.readouterr().out
    assert f"Installing {LM_SPEC}" in out and "Installed." in out


def test_a_failed_install_raises_one_readable_error():
    pip = FakePip(1, "Collecting alignlimits\nERROR: Could not find a version that satisfies the requirement torch\n")
    with pytest.raises(RuntimeError) as err:
        run_cell(cell("lm-lab"), missing={"hatesonar"}, pip=pip)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"Installing {LM_SPEC} failed (pip exit status 1: ERROR: Could not find a version")
    assert "run this cell again" in message


def test_a_replaced_compiled_dependency_asks_for_a_restart_and_says_why():
    assert "numpy" in sys.modules  # imported in this runtime, as in Colab
    before = {"numpy": "2.0.2", "torch": "2.6.0", "alignlimits": "0.1.0"}
    after = {"numpy": "2.4.6", "torch": "2.6.0", "alignlimits": "0.1.0", "hatesonar": "0.1.0"}
    with pytest.raises(RuntimeError) as err:
        run_cell(cell("lm-lab"), missing={"hatesonar"}, versions=[before, after])
    message = str(err.value)
    assert message.startswith("Restart the runtime") and "numpy 2.0.2 -> 2.4.6" in message
    assert "already imported in this runtime" in message and "torch" not in message  # torch was not replaced
    # the same change to a package this runtime has not imported needs no restart
    before["numpy"], after["numpy"] = "9.9", "9.9"
    before["a-distribution-nobody-imported"], after["a-distribution-nobody-imported"] = "1.0", "2.0"
    run_cell(cell("lm-lab"), missing={"hatesonar"}, versions=[before, after])


def test_an_import_that_still_fails_after_the_install_is_named():
    with pytest.raises(ImportError, match=r"^onnxruntime does not import after installing alignlimits\[lm,tasks\]"):
        run_cell(cell("lm-lab"), missing={"onnxruntime"}, broken={"onnxruntime"})


def test_a_theory_chapter_installs_the_base_package_only():
    pip = run_cell(cell("objective"), missing={"sympy"})
    assert pip.calls[0][-1] == f"alignlimits @ git+https://github.com/alignlimits/alignlimits@{REF}"
    assert '"torch"' not in cell("objective")  # not among the modules it checks
