"""Tests for tools/check_roles.py (unlinked Python roles fail the book build) and the API page.

book/api.md documents the package with one ``automodule`` per public module, layer by
layer. A new module needs its line there (``test_api_page_documents_every_public_module``
says which). ``automodule :members:`` documents a module constant only when it has a
``#:`` doc comment and, if the module has ``__all__``, is listed there; a constant that a
docstring or chapter names with ``{data}`` but automodule skips gets an ``autodata`` line
after its module, to be deleted once automodule documents it (else it is described twice
and the -W build fails).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
try:
    import check_roles
finally:
    sys.path.pop(0)

LINKED = (
    '<a class="reference internal" href="api.html#alignlimits.bon.estimate" title="alignlimits.bon.estimate">'
    '<code class="xref py py-func docutils literal notranslate"><span class="pre">alignlimits.bon.estimate()</span>'
    "</code></a>"
)
UNLINKED = (
    '<code class="xref py py-func docutils literal notranslate"><span class="pre">alignlimits.bon.estmate()</span>'
    "</code>"
)
EXTERNAL = '<code class="xref py py-class docutils literal notranslate"><span class="pre">torch.Tensor</span></code>'
# Not Python roles: plain inline code and a std-domain reference.
OTHER = '<code class="docutils literal notranslate">x</code> <span class="xref std std-ref">Label</span>'


def site(tmp_path: Path, chapter: str, *, api: bool = True) -> Path:
    (tmp_path / "book").mkdir(parents=True)
    (tmp_path / "book" / "chapter.html").write_text(f"<html><body><p>{chapter}</p>\n</body></html>", encoding="utf-8")
    if api:
        (tmp_path / "book" / "api.html").write_text(f"<html><body><dl><dd>{LINKED}</dd></dl></body></html>")
    return tmp_path


def test_linked_external_and_other_code_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = site(tmp_path, f"See {LINKED}, {EXTERNAL} and {OTHER}.")
    assert check_roles.main([str(root)]) == 0
    assert "checked 3 Python roles on 2 pages: 0 problems" in capsys.readouterr().out


def test_unlinked_role_fails_with_page_line_and_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = site(tmp_path, f"{LINKED}\n<li>{UNLINKED}</li>")
    assert check_roles.main([str(root)]) == 1
    out = capsys.readouterr().out
    assert "book/chapter.html:2: {func}`alignlimits.bon.estmate()` does not resolve" in out
    assert "1 problems" in out


def test_a_closed_link_does_not_cover_a_later_role(tmp_path: Path) -> None:
    # an <a> that closed before the role, and unclosed <p>s, must not make the role "linked"
    root = site(tmp_path, f'<a href="x.html">x</a><p>one<p>two {UNLINKED}')
    problems, checked, _ = check_roles.check(root)
    assert checked == 2 and len(problems) == 1 and "estmate" in problems[0]
    # an anchor without href (a target, not a link) does not count either
    (root / "book" / "chapter.html").write_text(f'<a id="here">{UNLINKED}</a>', encoding="utf-8")
    assert len(check_roles.check(root)[0]) == 1


def test_external_names_are_configurable(tmp_path: Path) -> None:
    root = site(tmp_path, EXTERNAL)
    assert check_roles.main([str(root)]) == 0
    assert check_roles.main([str(root), "--external", r"^numpy\."]) == 1


def test_generated_pages_are_skipped(tmp_path: Path) -> None:
    root = site(tmp_path, LINKED)
    (root / "_modules").mkdir()
    (root / "_modules" / "bon.html").write_text(UNLINKED, encoding="utf-8")
    assert check_roles.main([str(root)]) == 0


def test_missing_api_page_or_no_roles_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_roles.main([str(site(tmp_path / "a", LINKED, api=False))]) == 1
    assert "API reference page is missing" in capsys.readouterr().out
    empty = tmp_path / "b"
    (empty / "book").mkdir(parents=True)
    (empty / "book" / "api.html").write_text("<p>no roles</p>", encoding="utf-8")
    assert check_roles.main([str(empty)]) == 1
    assert "no Python roles found" in capsys.readouterr().out


def public_modules() -> set[str]:
    """Every importable public module of the package, from the file tree (nothing imported)."""
    pkg = ROOT / "alignlimits"
    found = set()
    for path in pkg.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(p.startswith("_") for p in parts[1:]) or "__pycache__" in parts:
            continue
        found.add(".".join(parts))
    return found


def test_api_page_documents_every_public_module() -> None:
    text = (ROOT / "book" / "api.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\.\. automodule:: (\S+)", text, flags=re.MULTILINE)
    assert len(listed) == len(set(listed)), "a module is listed twice on book/api.md"
    missing, stale = public_modules() - set(listed), set(listed) - public_modules()
    assert not missing, f"add these modules to book/api.md (in their layer's section): {sorted(missing)}"
    assert not stale, f"book/api.md lists modules that no longer exist: {sorted(stale)}"


def automodule_documents(source: str, const: str) -> bool:
    """Whether ``automodule :members:`` documents module constant ``const`` by itself: it has
    a ``#:`` doc comment, and the module has no ``__all__`` or lists it there."""
    if not re.search(rf"^#:.*\n{const}\b", source, flags=re.MULTILINE):
        return False
    for node in ast.parse(source).body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets) and node.value is not None:
            return const in ast.literal_eval(node.value)
    return True


def test_api_page_lists_constants_explicitly_only_while_undocumented() -> None:
    # A constant named by a {data} role needs an entry to link to. `automodule :members:`
    # gives it one only with a `#:` doc comment (and a place in __all__, if the module has
    # one); book/api.md lists the others with `autodata`. Both at once would describe it
    # twice, which fails the -W build.
    text = (ROOT / "book" / "api.md").read_text(encoding="utf-8")
    for name in re.findall(r"^\.\. autodata:: (\S+)", text, flags=re.MULTILINE):
        module, _, const = name.rpartition(".")
        path = ROOT.joinpath(*module.split("."))
        source = (path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).read_text(encoding="utf-8")
        assert re.search(rf"^{const}\b", source, flags=re.MULTILINE), f"{name} no longer exists"
        assert not automodule_documents(source, const), (
            f"automodule documents {name} now: delete its `.. autodata::` line from book/api.md"
        )
