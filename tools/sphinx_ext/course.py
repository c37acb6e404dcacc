"""The course page's tables, computed by the build, and the links between chapters and assignments.

Four directives:

``{syllabus}`` (on the course page)
    One row per chapter in reading order (``_toc.yml``, less the parts named in
    ``:skip-parts:``): reading time (its word and equation counts on hover), the run time
    the build measured, prerequisites and assignments. Its body is a YAML mapping from each
    chapter (a docname relative to the page, as ``{doc}`` takes it) to the chapters it
    needs; the build warns (an error under ``-W``) when a chapter has no entry, a
    prerequisite does not come earlier in reading order, or a chapter's overview says
    "You need" with a link to a chapter that its entry does not list.
``{course-plan}`` ``:weeks: N``
    The chapters in reading order cut into N consecutive weeks of balanced reading time,
    each assignment due in the week its last chapter is read.
``{course-assignments}``
    One row per assignment master in ``assignments/``, with a link target
    ``assignment-<name>`` for the chapters to point at.
``{assignments-for}`` (in each chapter)
    One sentence naming the chapter's assignment(s), linked to those targets.

Which chapters an assignment goes with is data in one place: the ``alignlimits:
chapters:`` list in the YAML header of its master (docnames such as ``book/objective``).

Reading time is ``words / words-per-minute + equations * seconds-per-equation / 60``.
Words are counted in the chapter's doctree: prose, figure captions, theorems and
exercises, each inline formula one word; code cells, their outputs, display equations
and exercise solutions are not prose. Run times are myst-nb's execution data for the
same build (what ``{nb-exec-table}`` shows), formatted by myst-nb's own formatter, so the
two pages cannot disagree; ``tools/check_course.py`` checks the built HTML for that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml
from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import docname_join, logging
from sphinx.util.docutils import SphinxDirective

LOGGER = logging.getLogger(__name__)

SYLLABUS_CLASS = "course-syllabus"
PLAN_CLASS = "course-plan"
ASSIGNMENTS_CLASS = "course-assignments"
LINKS_CLASS = "course-assignment-links"
RUNTIME_HEADER = "Run time (s)"
WORDS_PER_MINUTE = 150.0  # careful reading of mathematical prose, well below the ~250 of light reading
SECONDS_PER_EQUATION = 30.0
NOT_EXECUTED = "—"  # a chapter without code: nothing to run
FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)
QUESTION = re.compile(r"```\{raw-cell\}\n# BEGIN QUESTION\n(.*?)```", re.S)
TITLE = re.compile(r"^# (.+)$", re.M)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Assignment:
    """An assignment master: its name, title, chapters (docnames) and points per question."""

    name: str
    title: str
    chapters: tuple[str, ...]
    points: tuple[float, ...]

    @property
    def label(self) -> str:
        return f"assignment-{self.name}"


def read_assignment(path: Path) -> Assignment:
    """Read one master's name, title, ``alignlimits: chapters:`` and its questions' points."""
    text = path.read_text(encoding="utf-8")
    header = FRONT_MATTER.match(text)
    meta = (yaml.safe_load(header.group(1)) or {}) if header else {}
    chapters = (meta.get("alignlimits") or {}).get("chapters")
    if not chapters or not isinstance(chapters, list) or not all(isinstance(c, str) for c in chapters):
        raise ValueError(
            f"{path}: its YAML header needs `alignlimits: {{chapters: [book/<chapter>, ...]}}` "
            "(the chapters this assignment goes with)"
        )
    title = TITLE.search(text)
    points = tuple(float((yaml.safe_load(block) or {}).get("points", 0)) for block in QUESTION.findall(text))
    return Assignment(
        name=path.stem,
        title=title.group(1).strip() if title else path.stem,
        chapters=tuple(chapters),
        points=points,
    )


def read_assignments(folder: Path) -> list[Assignment]:
    """Every master in ``folder`` (``*.md`` but README.md), sorted by name."""
    return [read_assignment(p) for p in sorted(folder.glob("*.md")) if p.name.lower() != "readme.md"]


def toc_chapters(toc: dict, skip_parts: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(docname, part caption) of every chapter of a jb-book ``_toc.yml``, in reading order."""
    skip = set(skip_parts)
    out: list[tuple[str, str]] = []

    def walk(entries: list[dict], caption: str) -> None:
        for entry in entries:
            if "file" in entry:
                out.append((str(entry["file"]).removesuffix(".md").removesuffix(".ipynb"), caption))
            walk(entry.get("sections", []), caption)

    for part in toc.get("parts", []):
        if part.get("caption", "") not in skip:
            walk(part.get("chapters", []), part.get("caption", ""))
    walk(toc.get("chapters", []), "")
    return out


def reading_minutes(words: int, equations: int, words_per_minute: float, seconds_per_equation: float) -> float:
    """Minutes to read ``words`` of prose and ``equations`` display equations at the given rates.

    >>> reading_minutes(1500, 10, 150, 30)
    15.0
    """
    if words_per_minute <= 0 or seconds_per_equation < 0:
        raise ValueError(f"rates must be positive, got {words_per_minute} words/min, {seconds_per_equation} s/equation")
    return words / words_per_minute + equations * seconds_per_equation / 60


def plan_weeks(loads: Sequence[float], weeks: int, breaks: Iterable[int] = ()) -> list[int]:
    """Cut ``loads`` (in reading order) into ``weeks`` consecutive non-empty groups.

    Returns the index at which each week starts. The heaviest week is as light as it can
    be; among the cuts that achieve that, the most fall on ``breaks`` (indices that start
    a new part of the book), so that parts stay together where balance allows.

    >>> plan_weeks([3, 1, 1, 1, 3, 1], 3, breaks=[4])
    [0, 2, 4]
    """
    n = len(loads)
    if not 1 <= weeks <= n:
        raise ValueError(f"cannot spread {n} chapters over {weeks} weeks (each week needs at least one chapter)")
    prefix = [0.0]
    for x in loads:
        prefix.append(prefix[-1] + x)
    on_break = set(breaks)

    def load(i: int, j: int) -> float:
        return prefix[j] - prefix[i]

    # best[k][j]: smallest possible heaviest week over loads[:j] in k weeks.
    inf = float("inf")
    best = [[inf] * (n + 1) for _ in range(weeks + 1)]
    best[0][0] = 0.0
    for k in range(1, weeks + 1):
        for j in range(k, n + 1):
            best[k][j] = min(max(best[k - 1][i], load(i, j)) for i in range(k - 1, j))
    limit = best[weeks][n] * (1 + 1e-12)
    # Among cuts whose every week stays within the limit, the most cuts on part breaks.
    score: list[list[float]] = [[-inf] * (n + 1) for _ in range(weeks + 1)]
    choice = [[0] * (n + 1) for _ in range(weeks + 1)]
    score[0][0] = 0
    for k in range(1, weeks + 1):
        for j in range(k, n + 1):
            for i in range(k - 1, j):
                if score[k - 1][i] == -inf or load(i, j) > limit:
                    continue
                s = score[k - 1][i] + (1 if i in on_break else 0)
                if s > score[k][j]:
                    score[k][j], choice[k][j] = s, i
    starts, j = [], n
    for k in range(weeks, 0, -1):
        j = choice[k][j]
        starts.append(j)
    return starts[::-1]


def rates(options: dict) -> tuple[float, float]:
    """(words per minute, seconds per display equation) of a ``{syllabus}``'s options, or the defaults."""
    return (
        options.get("words-per-minute", WORDS_PER_MINUTE),
        options.get("seconds-per-equation", SECONDS_PER_EQUATION),
    )


def runtime_text(exec_data: dict | None) -> str:
    """A chapter's run time exactly as ``{nb-exec-table}`` prints it (myst-nb's own formatter)."""
    if not exec_data:
        return NOT_EXECUTED
    # The same function the execution table uses: the two pages cannot round differently.
    from myst_nb.ext.execution_tables import _key2transform

    return _key2transform["runtime"](exec_data.get("runtime"))


# --------------------------------------------------------------------------- counting prose


SKIP_NODES: tuple[type[nodes.Node], ...] = (
    nodes.literal_block,
    nodes.comment,
    nodes.raw,
    nodes.substitution_definition,
    nodes.system_message,
    nodes.target,
    addnodes.toctree,
    addnodes.only,
)


def _skip(node: nodes.Node) -> bool:
    from sphinx_exercise.nodes import solution_node

    if isinstance(node, (*SKIP_NODES, solution_node)):
        return True
    if isinstance(node, nodes.Element):
        if str(node.get("nb_element", "")).startswith("cell_code"):
            return True  # a code cell: its source and outputs
        if LINKS_CLASS in node.get("classes", []):
            return True
    return False


def prose_counts(doctree: nodes.Node) -> tuple[int, int]:
    """(words of prose, display equations) in a doctree; an inline formula counts as one word."""
    words = equations = 0
    stack = [doctree]
    while stack:
        node = stack.pop()
        if _skip(node):
            continue
        if isinstance(node, nodes.math_block):
            equations += 1
            continue
        if isinstance(node, nodes.math):
            words += 1
            continue
        if isinstance(node, nodes.Text):
            words += sum(1 for token in str(node).split() if any(ch.isalnum() for ch in token))
            continue
        stack.extend(node.children)
    return words, equations


NEED = re.compile(r"\bYou\s+need\b")
SENTENCE_END = re.compile(r"\.(\s|$)")


def needed_refs(doctree: nodes.Node) -> list[tuple[str, str]]:
    """(reftype, target) of the links in the "You need …" sentence of the "In this chapter" overview."""
    for para in doctree.findall(nodes.paragraph):
        children = [c for c in para.children if not (isinstance(c, nodes.Text) and not str(c).strip())]
        if not (
            children and isinstance(children[0], nodes.strong) and children[0].astext().startswith("In this chapter")
        ):
            continue
        # The paragraph's text with one placeholder character per inline element (a formula's
        # "0.5" must not end a sentence), and where each link sits in it.
        text, links = "", []
        for child in para.children:
            if isinstance(child, nodes.Text):
                text += str(child)
                continue
            links += [
                (len(text), r) for r in child.findall(addnodes.pending_xref) if r.get("reftype") in ("doc", "ref")
            ]
            text += "\N{OBJECT REPLACEMENT CHARACTER}"
        need = NEED.search(text)
        if need is None:
            return []
        end = SENTENCE_END.search(text, need.end())
        stop = end.start() if end else len(text)
        return [(r["reftype"], r["reftarget"]) for at, r in links if need.end() <= at < stop]
    return []


# --------------------------------------------------------------------------- environment


def _store(env: BuildEnvironment) -> dict[str, dict[str, Any]]:
    if not hasattr(env, "course_docs"):
        env.course_docs = {}
    return env.course_docs


def collect(app: Sphinx, doctree: nodes.document) -> None:
    env = app.env
    words, equations = prose_counts(doctree)
    needs = []
    for reftype, target in needed_refs(doctree):
        needs.append((reftype, docname_join(env.docname, target) if reftype == "doc" else target))
    _store(env).setdefault(env.docname, {}).update(words=words, equations=equations, needs=needs)


def purge(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    _store(env).pop(docname, None)


def merge(app: Sphinx, env: BuildEnvironment, docnames: set[str], other: BuildEnvironment) -> None:
    for docname in docnames:
        if docname in _store(other):
            _store(env)[docname] = _store(other)[docname]


def pages_to_update(app: Sphinx, env: BuildEnvironment) -> list[str]:
    # The course page's tables read every chapter: write it again whenever anything was built.
    return sorted(d for d, data in _store(env).items() if data.get("course_tables"))


def _assignments(env: BuildEnvironment) -> list[Assignment]:
    """The assignment masters; a master without its chapters is a build warning (an error under -W)."""
    folder = Path(env.srcdir) / env.config.course_assignments_dir
    found, warned = [], env.app.__dict__.setdefault("_course_warned", set())
    for path in sorted(folder.glob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        env.note_dependency(str(path))
        try:
            found.append(read_assignment(path))
        except ValueError as err:
            if str(err) not in warned:  # once per build, not once per chapter
                warned.add(str(err))
                LOGGER.warning(str(err), type="course", subtype="assignment")
    return found


# --------------------------------------------------------------------------- nodes and directives


class syllabus_placeholder(nodes.General, nodes.Element):  # docutils node naming convention
    """Replaced by the syllabus table once every chapter has been read and executed."""


class plan_placeholder(nodes.General, nodes.Element):
    """Replaced by the week-by-week plan once every chapter has been read."""


def _positive_number(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError(f"{text} is not positive")
    return value


def _parts(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


SYLLABUS_OPTIONS = {
    "skip-parts": _parts,
    "words-per-minute": _positive_number,
    "seconds-per-equation": float,
}


class SyllabusDirective(SphinxDirective):
    has_content = True
    option_spec: ClassVar[dict] = dict(SYLLABUS_OPTIONS)

    def run(self) -> list[nodes.Node]:
        try:
            body = yaml.safe_load("\n".join(self.content)) or {}
        except yaml.YAMLError as err:
            raise self.error(f"syllabus: the body is not YAML ({err})") from err
        if not isinstance(body, dict):
            raise self.error("syllabus: the body must map each chapter to the list of chapters it needs")
        prerequisites = {
            docname_join(self.env.docname, str(k)): [docname_join(self.env.docname, str(p)) for p in (v or [])]
            for k, v in body.items()
        }
        data = _store(self.env).setdefault(self.env.docname, {})
        data.update(course_tables=True, prerequisites=prerequisites, syllabus_options=dict(self.options))
        node = syllabus_placeholder(options=dict(self.options), prerequisites=prerequisites)
        self.set_source_info(node)
        return [node]


class PlanDirective(SphinxDirective):
    option_spec: ClassVar[dict] = {"weeks": directives.positive_int}

    def run(self) -> list[nodes.Node]:
        if "weeks" not in self.options:
            raise self.error("course-plan needs :weeks: N")
        _store(self.env).setdefault(self.env.docname, {})["course_tables"] = True
        node = plan_placeholder(options=dict(self.options))
        self.set_source_info(node)
        return [node]


def _table(
    classes: list[str], headers: list[str], rows: list[list[nodes.Node | str]], caption: str = ""
) -> nodes.table:
    table = nodes.table(classes=["colwidths-auto", *classes])
    if caption:
        # With numfig on, a captioned table needs an id (made in a post-transform, it gets no number).
        table["ids"] = [nodes.make_id(classes[0])]
        table += nodes.title(text=caption)
    group = nodes.tgroup(cols=len(headers))
    table += group
    group.extend(nodes.colspec(colwidth=1) for _ in headers)
    head = nodes.thead()
    group += head
    head += nodes.row("", *(nodes.entry("", nodes.paragraph(text=h)) for h in headers))
    body = nodes.tbody()
    group += body
    for cells in rows:
        row = nodes.row()
        for cell in cells:
            para = cell if isinstance(cell, nodes.paragraph) else nodes.paragraph("", "", *_as_nodes(cell))
            row += nodes.entry("", para)
        body += row
    return table


def _as_nodes(cell: nodes.Node | str | list) -> list[nodes.Node]:
    if isinstance(cell, str):
        return [nodes.Text(cell)]
    if isinstance(cell, list):
        return cell
    return [cell]


def _doc_link(refdoc: str, docname: str, text: str | None = None) -> addnodes.pending_xref:
    """A link to a chapter; without ``text`` it shows the chapter's title (resolved once all are read)."""
    return addnodes.pending_xref(
        "",
        nodes.inline(text=text or docname),
        refdoc=refdoc,
        refdomain="std",
        reftype="doc",
        reftarget="/" + docname,
        refexplicit=text is not None,
        refwarn=True,
        classes=["xref", "doc"],
    )


def _label_link(refdoc: str, label: str, text: str) -> addnodes.pending_xref:
    return addnodes.pending_xref(
        "",
        nodes.inline(text=text),
        refdoc=refdoc,
        refdomain="std",
        reftype="ref",
        reftarget=label,
        refexplicit=True,
        refwarn=True,
        classes=["xref", "std", "std-ref"],
    )


def _joined(items: list[nodes.Node], last: str = ", ") -> list[nodes.Node]:
    """The items separated by commas (and ``last`` before the last one)."""
    out: list[nodes.Node] = []
    for i, item in enumerate(items):
        if i:
            out.append(nodes.Text(last if i == len(items) - 1 else ", "))
        out.append(item)
    return out


class AssignmentsDirective(SphinxDirective):
    """The table of assignments, each row a link target for the chapters."""

    def run(self) -> list[nodes.Node]:
        std = self.env.get_domain("std")
        rows = []
        for a in _assignments(self.env):
            anchor = nodes.paragraph("", "", nodes.literal(text=a.name), ids=[a.label])
            std.note_hyperlink_target(a.label, self.env.docname, a.label, a.title)
            chapters = [_doc_link(self.env.docname, c) for c in a.chapters]
            rows.append(
                [
                    anchor,
                    _joined(chapters),
                    f"{len(a.points)} ({sum(a.points):g} points)",
                ]
            )
        headers = ["Assignment", "Chapters", "Questions"]
        return [_table([ASSIGNMENTS_CLASS], headers, rows)]


class AssignmentsForDirective(SphinxDirective):
    """One sentence in a chapter: its assignment(s), linked to the course page's table."""

    def run(self) -> list[nodes.Node]:
        docname = self.env.docname
        _store(self.env).setdefault(docname, {})["has_links"] = True
        mine = [a for a in _assignments(self.env) if docname in a.chapters]
        para = nodes.paragraph(classes=[LINKS_CLASS])
        para += nodes.strong(text="Autograded assignment: ")
        if not mine:
            para += nodes.Text("none for this chapter.")
            return [para]
        for i, a in enumerate(mine):
            if i:
                para += nodes.Text("; ")
            para += _label_link(docname, a.label, a.name)
            others = [nodes.emphasis("", "", _doc_link(docname, c)) for c in a.chapters if c != docname]
            # " (on this chapter)", " (on this chapter and X)", " (on this chapter, X and Y)"
            para.extend(_joined([nodes.Text(" (on this chapter"), *others], last=" and "))
            para += nodes.Text(")")
        para += nodes.Text(".")
        return [para]


# --------------------------------------------------------------------------- post-transform


@dataclass
class Chapter:
    number: int
    docname: str
    part: str
    title: str
    words: int
    equations: int
    minutes: float
    runtime: str


class CourseTables(SphinxPostTransform):
    """Fill the syllabus and the plan from every chapter's counts and execution data."""

    default_priority = 8  # before the references they contain are resolved (10), as nb-exec-table

    def run(self, **kwargs: Any) -> None:
        for node in list(self.document.findall(syllabus_placeholder)):
            node.replace_self(self.syllabus(node))
        for node in list(self.document.findall(plan_placeholder)):
            node.replace_self(self.plan(node))

    def chapters(self, options: dict) -> list[Chapter]:
        from myst_nb.sphinx_ import NbMetadataCollector

        env = self.env
        toc_path = Path(env.srcdir) / getattr(env.config, "external_toc_path", "_toc.yml")
        toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
        wpm, spe = rates(options)
        out = []
        for i, (docname, part) in enumerate(toc_chapters(toc, options.get("skip-parts", ())), start=1):
            data = _store(env).get(docname, {})
            exec_data = NbMetadataCollector.get_doc_data(env).get(docname, {}).get("exec_data")
            words, equations = data.get("words", 0), data.get("equations", 0)
            out.append(
                Chapter(
                    number=i,
                    docname=docname,
                    part=part,
                    title=env.titles[docname].astext() if docname in env.titles else docname,
                    words=words,
                    equations=equations,
                    minutes=reading_minutes(words, equations, wpm, spe),
                    runtime=runtime_text(exec_data),
                )
            )
        return out

    def warn(self, node: nodes.Node, message: str) -> None:
        LOGGER.warning(message, location=node, type="course", subtype="syllabus")

    def resolve_label(self, label: str) -> str | None:
        return self.env.get_domain("std").labels.get(label, (None,))[0]

    def check(
        self,
        node: nodes.Node,
        chapters: list[Chapter],
        prerequisites: dict[str, list[str]],
        assignments: list[Assignment],
    ) -> None:
        order = {c.docname: c.number for c in chapters}
        for c in chapters:
            if c.docname not in prerequisites:
                self.warn(node, f"syllabus: no prerequisites entry for {c.docname} (add `{c.docname}: []` or its list)")
                continue
            for p in prerequisites[c.docname]:
                if order.get(p, c.number) >= c.number:
                    self.warn(node, f"syllabus: {c.docname} needs {p}, which does not come before it in _toc.yml")
            for reftype, target in _store(self.env).get(c.docname, {}).get("needs", []):
                doc = target if reftype == "doc" else self.resolve_label(target)
                if doc in order and doc != c.docname and doc not in prerequisites[c.docname]:
                    self.warn(
                        node,
                        f"syllabus: {c.docname}'s overview says it needs {doc}, "
                        "which its prerequisites entry does not list",
                    )
        for extra in sorted(set(prerequisites) - set(order)):
            self.warn(node, f"syllabus: {extra} is not a chapter of the syllabus")
        for a in assignments:
            for doc in a.chapters:
                if doc not in order:
                    self.warn(node, f"assignment {a.name}: chapter {doc} is not a chapter of the syllabus")
                elif not _store(self.env).get(doc, {}).get("has_links"):
                    self.warn(node, f"assignment {a.name}: chapter {doc} has no {{assignments-for}} directive")

    def syllabus(self, node: syllabus_placeholder) -> nodes.Node:
        env, docname = self.env, self.env.docname
        chapters = self.chapters(node["options"])
        assignments = _assignments(env)
        self.check(node, chapters, node["prerequisites"], assignments)
        number = {c.docname: c.number for c in chapters}
        rows = []
        for c in chapters:
            needs = sorted(number[p] for p in node["prerequisites"].get(c.docname, []) if p in number)
            mine = [a for a in assignments if c.docname in a.chapters]
            rows.append(
                [
                    str(c.number),
                    _doc_link(docname, c.docname, c.title),
                    # the counts behind the minutes, on hover: a column each would not fit the page
                    nodes.abbreviation(
                        text=f"{c.minutes:.0f}",
                        explanation=f"{c.words} words, {c.equations} display equation{'' if c.equations == 1 else 's'}",
                    ),
                    c.runtime,
                    ", ".join(map(str, needs)) or "–",
                    _joined([_label_link(docname, a.label, a.name) for a in mine]) or "–",
                ]
            )
        headers = ["#", "Chapter", "Reading (min)", RUNTIME_HEADER, "Needs", "Assignment"]
        wpm, spe = rates(node["options"])
        caption = (
            f"Reading time at {wpm:g} words a minute and {spe:g} s per display equation (hover for the counts); "
            f"run time as measured by this build, at the {_tier()} tier."
        )
        return _table([SYLLABUS_CLASS], headers, rows, caption)

    def plan(self, node: plan_placeholder) -> nodes.Node:
        env, docname = self.env, self.env.docname
        options = _store(env).get(docname, {}).get("syllabus_options")
        if options is None:
            self.warn(node, "course-plan: put a {syllabus} on the same page (the plan uses its chapters and rates)")
            return nodes.paragraph()
        chapters = self.chapters(options)
        breaks = [i for i in range(1, len(chapters)) if chapters[i].part != chapters[i - 1].part]
        try:
            starts = plan_weeks([c.minutes for c in chapters], node["options"]["weeks"], breaks)
        except ValueError as err:
            self.warn(node, f"course-plan: {err}")
            return nodes.paragraph()
        ends = [*starts[1:], len(chapters)]
        week_of = {c.docname: w for w, (s, e) in enumerate(zip(starts, ends, strict=True)) for c in chapters[s:e]}
        assignments = _assignments(env)
        rows = []
        for w, (s, e) in enumerate(zip(starts, ends, strict=True)):
            due = [a for a in assignments if a.chapters and max(week_of.get(c, -1) for c in a.chapters) == w]
            links = _joined([_doc_link(docname, c.docname, f"{c.number}. {c.title}") for c in chapters[s:e]])
            rows.append(
                [
                    str(w + 1),
                    links,
                    f"{sum(c.minutes for c in chapters[s:e]):.0f}",
                    _joined([_label_link(docname, a.label, a.name) for a in due]) or "–",
                ]
            )
        return _table([PLAN_CLASS], ["Week", "Read", "Reading (min)", "Assignment due"], rows)


def _tier() -> str:
    from alignlimits.tiers import current_tier

    return current_tier()


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("course_assignments_dir", "assignments", "env")
    app.add_node(syllabus_placeholder)
    app.add_node(plan_placeholder)
    app.add_directive("syllabus", SyllabusDirective)
    app.add_directive("course-plan", PlanDirective)
    app.add_directive("course-assignments", AssignmentsDirective)
    app.add_directive("assignments-for", AssignmentsForDirective)
    app.add_post_transform(CourseTables)
    app.connect("doctree-read", collect)
    app.connect("env-purge-doc", purge)
    app.connect("env-merge-info", merge)
    app.connect("env-updated", pages_to_update)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}


__all__ = [
    "Assignment",
    "plan_weeks",
    "prose_counts",
    "read_assignment",
    "read_assignments",
    "reading_minutes",
    "runtime_text",
    "setup",
    "toc_chapters",
]
