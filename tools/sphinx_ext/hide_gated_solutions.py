"""Hide gated solutions (``solution-start`` / ``solution-end``) for the student build.

sphinx-exercise 1.2.1 honours ``hide_solutions = True`` for gated solutions by making
``solution-start`` return nothing, which leaves the matching ``solution-end`` node (and
everything between the two directives) orphaned in the document: the HTML build then
crashes on the unknown end node, and the solution's body would leak if it did not.

This extension, loaded *after* ``sphinx_exercise``, replaces the ``solution-start``
directive: when ``hide_solutions`` is true it still registers the directive with
sphinx-exercise's gated-structure check, but returns a marker node. A transform that
runs before sphinx-exercise merges gated solutions then deletes the marker, every
sibling after it and the matching ``solution-end`` node. With ``hide_solutions``
false the extension changes nothing.

It also drops sphinx-book-theme's "download source" buttons when ``html_copy_source``
is false (the student build): they would link to a ``_sources/`` folder that is, on
purpose, not published.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx_exercise.directive import SolutionStartDirective
from sphinx_exercise.nodes import solution_end_node


class hidden_solution_marker(nodes.Element):  # docutils node naming convention
    """Where a hidden gated solution started; removed (with its body) by RemoveHiddenSolutions."""


class HidingSolutionStartDirective(SolutionStartDirective):
    def run(self):
        if not self.env.app.config.hide_solutions:
            return super().run()
        super().run()  # keep sphinx-exercise's start/end bookkeeping consistent; returns []
        return [hidden_solution_marker()]


class RemoveHiddenSolutions(SphinxTransform):
    # after CheckGatedDirectives (1), before MergeGatedSolutions (10)
    default_priority = 9

    def apply(self) -> None:
        for marker in list(self.document.findall(hidden_solution_marker)):
            parent = marker.parent
            start = parent.index(marker)
            following = range(start + 1, len(parent.children))
            end = next((i for i in following if isinstance(parent.children[i], solution_end_node)), None)
            if end is None:
                raise ValueError(
                    f"{self.env.docname}: a hidden solution-start has no solution-end at the same level; "
                    "close every solution-start with a solution-end in the same section"
                )
            for child in parent.children[start : end + 1]:
                parent.remove(child)


SOURCE_BUTTONS = {"download-source-button", "download-notebook-button"}


def drop_source_buttons(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    if app.config.html_copy_source:
        return
    for group in context.get("header_buttons", []):
        if group.get("label") == "download-buttons":
            group["buttons"] = [b for b in group["buttons"] if b.get("label") not in SOURCE_BUTTONS]


def setup(app: Sphinx) -> dict[str, Any]:
    if "sphinx_exercise" not in app.extensions:
        app.setup_extension("sphinx_exercise")
    app.add_node(hidden_solution_marker)
    app.add_directive("solution-start", HidingSolutionStartDirective, override=True)
    app.add_transform(RemoveHiddenSolutions)
    app.connect("html-page-context", drop_source_buttons, priority=900)  # after the theme adds them
    return {"parallel_read_safe": True, "parallel_write_safe": True}
