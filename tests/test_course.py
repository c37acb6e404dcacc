"""The course page: tools/sphinx_ext/course.py (syllabus, plan, chapter–assignment links), tools/check_course.py."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from docutils import nodes
from docutils.frontend import get_default_settings
from docutils.utils import new_document
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tools" / "sphinx_ext"))

import check_course  # noqa: E402
import course  # noqa: E402
import student_config  # noqa: E402


def _toc() -> dict:
    return yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- pure helpers


def test_reading_minutes_adds_prose_and_equations_and_rejects_bad_rates():
    assert course.reading_minutes(300, 0, 150, 30) == 2.0
    assert course.reading_minutes(0, 4, 150, 30) == 2.0
    assert course.reading_minutes(150, 2, 150, 90) == 4.0
    with pytest.raises(ValueError, match="rates must be positive"):
        course.reading_minutes(100, 1, 0, 30)
    with pytest.raises(ValueError, match="rates must be positive"):
        course.reading_minutes(100, 1, 150, -1)


def _brute_force(loads: list[int], weeks: int, breaks: set[int]) -> tuple[int, int]:
    """(lightest possible heaviest week, most cuts on breaks among the cuts that reach it)."""
    best = None
    for cuts in itertools.combinations(range(1, len(loads)), weeks - 1):
        starts = [0, *cuts]
        ends = [*cuts, len(loads)]
        heaviest = max(sum(loads[s:e]) for s, e in zip(starts, ends, strict=True))
        key = (heaviest, -sum(c in breaks for c in cuts))
        best = key if best is None or key < best else best
    return best[0], -best[1]


@settings(max_examples=150, deadline=None)
@given(
    loads=st.lists(st.integers(1, 30), min_size=1, max_size=8),
    data=st.data(),
)
def test_plan_weeks_is_optimal_against_brute_force(loads, data):
    weeks = data.draw(st.integers(1, len(loads)))
    breaks = set(data.draw(st.lists(st.integers(1, max(1, len(loads) - 1)), max_size=4)))
    starts = course.plan_weeks(loads, weeks, breaks)
    assert starts[0] == 0 and len(starts) == weeks
    assert all(a < b for a, b in itertools.pairwise([*starts, len(loads)])), "weeks must be non-empty and ordered"
    ends = [*starts[1:], len(loads)]
    heaviest = max(sum(loads[s:e]) for s, e in zip(starts, ends, strict=True))
    on_breaks = sum(s in breaks for s in starts[1:])
    assert (heaviest, on_breaks) == _brute_force(loads, weeks, breaks)


def test_plan_weeks_keeps_parts_together_when_balance_allows_and_rejects_impossible_plans():
    # [2, 2 | 2, 2]: cuts after index 1, 2 or 3 could all give a heaviest week of 4 or 6;
    # two weeks of 4 need the cut at 2, which is also the part break.
    assert course.plan_weeks([2, 2, 2, 2], 2, breaks=[2]) == [0, 2]
    # balance first: the break at 1 would leave a week of 6
    assert course.plan_weeks([2, 2, 2, 2], 2, breaks=[1]) == [0, 2]
    with pytest.raises(ValueError, match="cannot spread 2 chapters over 3 weeks"):
        course.plan_weeks([1, 1], 3)
    with pytest.raises(ValueError, match="cannot spread"):
        course.plan_weeks([1, 1], 0)


def test_toc_chapters_reads_parts_in_order_and_skips_the_named_ones():
    toc = {
        "root": "intro",
        "parts": [
            {"caption": "A", "chapters": [{"file": "a1"}, {"file": "a2.md", "sections": [{"file": "a2s"}]}]},
            {"caption": "Appendices", "chapters": [{"file": "z"}]},
        ],
    }
    assert course.toc_chapters(toc, ["Appendices"]) == [("a1", "A"), ("a2", "A"), ("a2s", "A")]
    assert course.toc_chapters(toc)[-1] == ("z", "Appendices")


def _doc(*children: nodes.Node) -> nodes.document:
    doc = new_document("<test>", get_default_settings())
    doc.extend(children)
    return doc


def test_prose_counts_skip_code_outputs_solutions_and_count_equations():
    from sphinx_exercise.nodes import exercise_node, solution_node

    cell = nodes.container(nb_element="cell_code")
    cell += nodes.literal_block(text="x = 1  # not prose")
    cell += nodes.container("", nodes.paragraph(text="printed output words"), nb_element="cell_code_output")
    doc = _doc(
        nodes.title(text="A title"),
        nodes.paragraph("", "", nodes.Text("Two words, "), nodes.math(text=r"\beta"), nodes.Text(" and — 3.")),
        nodes.math_block(text="a = b"),
        nodes.math_block(text="c = d"),
        cell,
        exercise_node("", nodes.paragraph(text="Exercise prose counts.")),
        solution_node("", nodes.paragraph(text="solution words never count here")),
        nodes.literal_block(text="a code block"),
        nodes.paragraph(text="links line", classes=[course.LINKS_CLASS]),
        nodes.comment(text="a comment"),
    )
    # "A title" 2 + "Two words," 2 + β 1 + "and" 1 + "3." 1 ("—" has no letter or digit) + 3 exercise words
    assert course.prose_counts(doc) == (10, 2)


def test_needed_refs_reads_only_the_you_need_sentence_of_the_overview():
    from sphinx import addnodes

    def ref(reftype: str, target: str) -> addnodes.pending_xref:
        return addnodes.pending_xref("", nodes.inline(text=target), reftype=reftype, reftarget=target)

    overview = nodes.paragraph(
        "",
        "",
        nodes.Text(""),
        nodes.strong(text="In this chapter."),
        nodes.Text(" We cite "),
        ref("doc", "not-needed"),
        nodes.Text(" first. You\nneed the tilt ("),
        ref("doc", "objective"),
        nodes.Text("), a value "),
        nodes.math(text="0.5"),  # a period inside a formula does not end the sentence
        nodes.Text(" and "),
        ref("ref", "best-of-n"),
        nodes.Text(". Later "),
        ref("doc", "after"),
        nodes.Text("."),
    )
    doc = _doc(nodes.paragraph("", "", ref("doc", "elsewhere")), overview)
    assert course.needed_refs(doc) == [("doc", "objective"), ("ref", "best-of-n")]
    assert course.needed_refs(_doc(nodes.paragraph(text="In this chapter. You need nothing."))) == []


def test_runtime_text_is_myst_nbs_own_format():
    assert course.runtime_text(None) == course.NOT_EXECUTED
    assert course.runtime_text({"runtime": 12.3456}) == "12.35"
    assert course.runtime_text({"runtime": None}) == "-"


def test_read_assignment_needs_its_chapters_and_counts_points(tmp_path):
    master = tmp_path / "hw.md"
    master.write_text(
        "---\nkernelspec: {name: python3}\nalignlimits:\n  chapters: [book/a, book/b]\n---\n\n"
        "# Assignment: homework\n\n```{raw-cell}\n# BEGIN QUESTION\nname: q1\npoints: 2\n```\n"
        "```{raw-cell}\n# BEGIN QUESTION\nname: q2\npoints: 3\n```\n",
        encoding="utf-8",
    )
    a = course.read_assignment(master)
    assert (a.name, a.title, a.chapters, a.points, a.label) == (
        "hw",
        "Assignment: homework",
        ("book/a", "book/b"),
        (2.0, 3.0),
        "assignment-hw",
    )
    master.write_text("---\nkernelspec: {name: python3}\n---\n# Assignment: x\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"hw\.md: its YAML header needs `alignlimits: \{chapters:"):
        course.read_assignment(master)


# --------------------------------------------------------------------------- the repository's own data


def test_every_assignment_names_existing_chapters_and_its_intro_names_them():
    chapters = dict(course.toc_chapters(_toc(), ["Appendices"]))
    assignments = course.read_assignments(ROOT / "assignments")
    assert len(assignments) >= 7
    for a in assignments:
        for docname in a.chapters:
            assert docname in chapters, f"{a.name}: {docname} is not a chapter in _toc.yml"
            source = (ROOT / f"{docname}.md").read_text(encoding="utf-8")
            assert "```{assignments-for}" in source, f"{docname} does not link to its assignment {a.name}"
        # the notebook students get names its chapters, by title, in its first paragraph
        text = (ROOT / "assignments" / f"{a.name}.md").read_text(encoding="utf-8")
        intro = " ".join(text.split("\n# Assignment:", 1)[1].split("\n\n")[1].split())
        titles = [
            re.search(r"^# (.+)$", (ROOT / f"{c}.md").read_text(encoding="utf-8"), re.M).group(1) for c in a.chapters
        ]
        assert intro.startswith("Companion to the chapter"), intro
        named = re.findall(r"\*([^*]+)\*", intro.split(".", 1)[0] if len(titles) == 1 else intro)
        assert set(titles) <= set(named), f"{a.name}: its intro should name {titles}, names {named}"


def test_syllabus_lists_every_chapter_and_only_earlier_prerequisites():
    text = (ROOT / "book" / "course.md").read_text(encoding="utf-8")
    body = re.search(r"```\{syllabus\}\n(?::[^\n]*\n)*\n(.*?)```", text, re.S).group(1)
    prerequisites = yaml.safe_load(body)
    order = [d.removeprefix("book/") for d, _ in course.toc_chapters(_toc(), ["Appendices"])]
    assert list(prerequisites) == order
    for chapter, needs in prerequisites.items():
        assert all(order.index(n) < order.index(chapter) for n in needs), chapter


def test_student_config_resolves_the_readers_local_extensions():
    reader = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert reader["sphinx"]["local_extensions"]["course"] == "tools/sphinx_ext"
    local = student_config.student_config(reader)["sphinx"]["local_extensions"]
    assert Path(local["course"]).is_absolute() and (Path(local["course"]) / "course.py").exists()
    assert (Path(local["hide_gated_solutions"]) / "hide_gated_solutions.py").exists()


# --------------------------------------------------------------------------- check_course.py


def _status_html(rows: dict[str, str]) -> str:
    body = "".join(
        f'<tr><td><p><a href="{page}"><span>book/{page}</span></a></p></td><td>2026</td><td>cache</td>'
        f"<td>{t}</td><td>✅</td></tr>"
        for page, t in rows.items()
    )
    head = "<tr><th>Document</th><th>Modified</th><th>Method</th><th>Run Time (s)</th><th>Status</th></tr>"
    return f"<table><thead>{head}</thead><tbody>{body}</tbody></table>"


def _course_html(rows: dict[str, str]) -> str:
    body = "".join(
        f'<tr><td>{i}</td><td><a href="{page}#">Title</a></td><td>{t}</td><td>–</td></tr>'
        for i, (page, t) in enumerate(rows.items(), start=1)
    )
    head = "<tr><th>#</th><th>Chapter</th><th>Run time (s), smoke tier</th><th>Needs</th></tr>"
    return f'<table class="course-syllabus table"><thead>{head}</thead><tbody>{body}</tbody></table>'


def test_check_course_reads_both_tables_and_reports_every_disagreement(tmp_path):
    status = check_course.status_times(_status_html({"a.html": "1.5", "b.html": "20.25"}))
    assert status == {"book/a.html": "1.5", "book/b.html": "20.25"}
    same = check_course.course_times(_course_html({"a.html": "1.5", "b.html": "20.25", "pre.html": "—"}))
    assert check_course.compare(status, same) == []
    assert check_course.compare(status, {**same, "book/b.html": "20.3"}) == [
        "book/b.html: run time 20.3 on the course page, 20.25 on the status page"
    ]
    problems = check_course.compare(status, {"book/a.html": "1.5", "book/pre.html": "3.0"})
    assert problems == [
        "book/pre.html: run time 3.0 on the course page, but the status page did not run it",
        "book/b.html: executed (status page) but missing from the syllabus",
    ]
    assert check_course.compare(status, {"book/pre.html": "—"})[-1].startswith("no chapter is in both tables")
    with pytest.raises(ValueError, match="no table of class 'course-syllabus'"):
        check_course.course_times("<table></table>")
    site = tmp_path / "site" / "book"
    site.mkdir(parents=True)
    (site / "chapter-status.html").write_text(_status_html({"a.html": "1.5"}), encoding="utf-8")
    (site / "course.html").write_text(_course_html({"a.html": "1.6"}), encoding="utf-8")
    assert check_course.main(str(tmp_path / "site")) == 1


# --------------------------------------------------------------------------- a whole build


CHAPTER = """\
---
jupytext:
  text_representation: {extension: .md, format_name: myst}
kernelspec: {display_name: Python 3, language: python, name: python3}
---

# Chapter

**In this chapter.** Something. You need {doc}`pre`.

```{code-cell} ipython3
print(1 + 1)
```

## Exercises

```{assignments-for}
```

```{exercise}
:label: ex-one
Do it.
```
"""

MASTER = """\
---
kernelspec: {display_name: Python 3, language: python, name: python3}
alignlimits:
  chapters: [book/chap]
---

# Assignment: homework

```{raw-cell}
# BEGIN QUESTION
name: q1
points: 2
```
"""


def _project(tmp_path: Path, prerequisites: str, execute: str) -> Path:
    src = tmp_path / "src"
    (src / "book").mkdir(parents=True)
    (src / "assignments").mkdir()
    (src / "assignments" / "hw.md").write_text(MASTER, encoding="utf-8")
    files = {
        "intro.md": "# Intro\n",
        "pre.md": "# Pre\n\nOne two three $x$ four.\n\n$$\na = b\n$$\n",
        "chap.md": CHAPTER,
        "chapter-status.md": "# Status\n\n```{nb-exec-table}\n```\n",
        "course.md": f"# Course\n\n```{{syllabus}}\n:skip-parts: Appendices\n:words-per-minute: 3\n"
        f":seconds-per-equation: 60\n\n{prerequisites}\n```\n\n```{{course-assignments}}\n```\n\n"
        "```{course-plan}\n:weeks: 2\n```\n",
    }
    for name, text in files.items():
        (src / "book" / name).write_text(text, encoding="utf-8")
    toc = {
        "format": "jb-book",
        "root": "book/intro",
        "parts": [
            {"caption": "Book", "chapters": [{"file": "book/pre"}, {"file": "book/chap"}]},
            {"caption": "Appendices", "chapters": [{"file": "book/chapter-status"}, {"file": "book/course"}]},
        ],
    }
    (src / "_toc.yml").write_text(yaml.safe_dump(toc), encoding="utf-8")
    (src / "conf.py").write_text(
        textwrap.dedent(f"""\
            import sys
            sys.path.insert(0, {str(ROOT / "tools" / "sphinx_ext")!r})
            extensions = ["myst_nb", "sphinx_exercise", "sphinx_external_toc", "course"]
            external_toc_path = "_toc.yml"
            myst_enable_extensions = ["dollarmath"]
            nb_execution_mode = {execute!r}
            numfig = True
            exclude_patterns = ["_build", "assignments"]
            """),
        encoding="utf-8",
    )
    return src


def _build(src: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sphinx", *flags, "-q", "-b", "html", str(src), str(src / "_build" / "html")],
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_built_course_page_matches_the_status_table_and_links_both_ways(tmp_path):
    src = _project(tmp_path, "pre: []\nchap: [pre]", execute="force")
    done = _build(src, "-W")
    assert done.returncode == 0, done.stderr
    site = src / "_build" / "html"
    assert check_course.main(str(site)) == 0
    course_page = (site / "book" / "course.html").read_text(encoding="utf-8")
    times = check_course.course_times(course_page)
    assert times["book/pre.html"] == course.NOT_EXECUTED
    assert re.fullmatch(r"\d+(\.\d+)?", times["book/chap.html"])
    # pre.md: "Pre" + "One two three" + x + "four." = 6 words at 3 a minute, 1 equation at 60 s: 3 minutes
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(course_page, "html.parser")
    rows = [
        [c.get_text(" ", strip=True) for c in tr.find_all("td")] for tr in soup.select("table.course-syllabus tbody tr")
    ]
    assert rows[0][:3] == ["1", "Pre", "3"]
    assert soup.select_one("table.course-syllabus tbody tr abbr")["title"] == "6 words, 1 display equation"
    assert rows[1][4:] == ["1", "hw"]  # chap needs chapter 1; its assignment
    assert soup.find(id="assignment-hw") is not None
    assert soup.select_one("table.course-assignments a[href='chap.html']") is not None
    plan = [
        [c.get_text(" ", strip=True) for c in tr.find_all("td")] for tr in soup.select("table.course-plan tbody tr")
    ]
    assert [row[0] for row in plan] == ["1", "2"] and plan[1][-1] == "hw"
    chapter = BeautifulSoup((site / "book" / "chap.html").read_text(encoding="utf-8"), "html.parser")
    links = chapter.select_one("p.course-assignment-links")
    assert links is not None and links.find("a", href="course.html#assignment-hw") is not None


def test_the_build_warns_about_a_missing_prerequisites_entry_and_a_chapter_without_its_link(tmp_path):
    src = _project(tmp_path, "pre: []", execute="off")
    text = (src / "book" / "chap.md").read_text(encoding="utf-8")
    (src / "book" / "chap.md").write_text(text.replace("```{assignments-for}\n```\n", ""), encoding="utf-8")
    done = _build(src)
    assert "no prerequisites entry for book/chap" in done.stderr
    assert "chapter book/chap has no {assignments-for} directive" in done.stderr
    src2 = _project(tmp_path / "second", "pre: []\nchap: []", execute="off")
    (src2 / "assignments" / "bad.md").write_text("---\nkernelspec: {name: python3}\n---\n# Bad\n", encoding="utf-8")
    done = _build(src2)
    assert "book/chap's overview says it needs book/pre, which its prerequisites entry does not list" in done.stderr
    assert done.stderr.count("bad.md: its YAML header needs `alignlimits: {chapters:") == 1  # once, not per page
