"""Fail when a Python cross-reference in the built book renders as unlinked text.

A ``{func}``, ``{mod}``, ``{class}``, ``{meth}``, ``{data}``, ``{attr}`` (or ``{py:…}``)
role in a chapter, and a ``:func:`` … role in a docstring on the API reference page,
becomes ``<code class="xref py py-func …">``. Sphinx wraps it in a link when the
target is documented (book/api.md) and leaves it as plain code otherwise — without a
warning unless ``nitpicky`` is on, which would also flag every type named in a
docstring. This check reads the HTML instead: every such ``<code>`` must sit inside an
``<a href>``. Names from other libraries cannot link offline (no intersphinx) and are
let through by ``--external`` (a regular expression on the rendered name).

The site must also have the API reference page, and at least one role: a check that
finds nothing to check fails rather than passing. Usage::

    python tools/check_roles.py _build/html
"""

from __future__ import annotations

import argparse
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

API_PAGE = "book/api.html"
# Third-party names have no target offline; anything of ours must link.
EXTERNAL = r"^~?(numpy|scipy|sympy|torch|transformers|tokenizers|matplotlib|sklearn|jupytext)\."
# Pages Sphinx generates itself: viewcode's highlighted sources, the sources, the index.
SKIP = ("_modules/", "_sources/", "_static/", "genindex.html", "py-modindex.html", "search.html")


class _Roles(HTMLParser):
    """Collect (line, role, text, linked) for every Python-domain xref ``<code>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.roles: list[tuple[int, str, str, bool]] = []
        self._stack: list[tuple[str, bool]] = []  # open elements: (tag, is a link)
        self._code: list | None = None  # the role being read: [line, role, text parts, linked]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "code" and "xref" in classes and "py" in classes and self._code is None:
            role = next((c[3:] for c in classes if c.startswith("py-")), "?")
            linked = any(is_link for _, is_link in self._stack)
            self._code = [self.getpos()[0], role, [], linked]
        if tag not in ("br", "img", "input", "meta", "link", "hr", "wbr"):
            self._stack.append((tag, tag == "a" and bool(a.get("href"))))

    def handle_endtag(self, tag: str) -> None:
        if tag == "code" and self._code is not None:
            line, role, parts, linked = self._code
            self.roles.append((line, role, "".join(parts).strip(), linked))
            self._code = None
        # pop up to the matching open tag (tolerates unclosed <p>, <li> …)
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break

    def handle_data(self, data: str) -> None:
        if self._code is not None:
            self._code[2].append(data)


def roles_in(html: str) -> list[tuple[int, str, str, bool]]:
    """(line, role, rendered text, linked) of every Python-domain role in one page."""
    parser = _Roles()
    parser.feed(html)
    parser.close()
    return parser.roles


def check(root: Path, external: str = EXTERNAL) -> tuple[list[str], int, int]:
    """Problems found, roles checked and pages read under the built site ``root``."""
    ext = re.compile(external)
    problems: list[str] = []
    checked = pages = 0
    if not (root / API_PAGE).is_file():
        problems.append(f"{root / API_PAGE}: the API reference page is missing")
    for page in sorted(root.rglob("*.html")):
        rel = page.relative_to(root).as_posix()
        if rel.startswith(SKIP) or rel in SKIP:
            continue
        pages += 1
        for line, role, text, linked in roles_in(page.read_text(encoding="utf-8")):
            checked += 1
            if not linked and not ext.search(text):
                problems.append(f"{rel}:{line}: {{{role}}}`{text}` does not resolve (no link)")
    if checked == 0:
        problems.append(f"{root}: no Python roles found in {pages} pages: is this a built book?")
    return problems, checked, pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("html_root", nargs="?", default="_build/html", type=Path)
    parser.add_argument("--external", default=EXTERNAL, help="regex of rendered names allowed to stay unlinked")
    args = parser.parse_args(argv)
    problems, checked, pages = check(args.html_root, args.external)
    for problem in problems:
        print(problem)
    print(f"checked {checked} Python roles on {pages} pages: {len(problems)} problems")
    if problems:
        print(
            "Fix the name (a typo, a private or moved object), or document it on book/api.md.",
            file=sys.stderr,
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
