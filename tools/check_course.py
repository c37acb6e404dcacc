"""Check that the course page's run times are the chapter-status table's, in the same built site.

Both tables come from myst-nb's execution data of one build (``{nb-exec-table}`` on
``book/chapter-status.md``, ``{syllabus}`` of tools/sphinx_ext/course.py on
``book/course.md``). This reads them back from the HTML and fails unless every chapter
the syllabus lists has, in both tables, the same run time — and a chapter the execution
table lists is missing from neither — so a change on either side (a rounding, a stale
page in an incremental build) cannot go unnoticed.

Usage: python tools/check_course.py _build/html
"""

from __future__ import annotations

import posixpath
import sys
from pathlib import Path
from urllib.parse import urlsplit

from bs4 import BeautifulSoup

STATUS_PAGE = "book/chapter-status.html"
COURSE_PAGE = "book/course.html"
STATUS_HEADER = "Run Time (s)"  # myst-nb's header
COURSE_HEADER = "Run time (s)"  # tools/sphinx_ext/course.py's RUNTIME_HEADER (then ", <tier> tier")
SYLLABUS_CLASS = "course-syllabus"
NOT_EXECUTED = "—"


def _cells(row) -> list:
    return row.find_all(["td", "th"], recursive=False)


def _table_rows(table, header_prefix: str, page: str) -> dict[str, str]:
    """{linked page (site-relative path): text of the column whose header starts with header_prefix}."""
    headers = [c.get_text(" ", strip=True) for c in _cells(table.find("thead").find("tr"))]
    column = next((i for i, h in enumerate(headers) if h.startswith(header_prefix)), None)
    if column is None:
        raise ValueError(f"{page}: no column headed {header_prefix!r} in {headers}")
    out = {}
    for row in table.find("tbody").find_all("tr", recursive=False):
        cells = _cells(row)
        link = next((c.find("a", href=True) for c in cells if c.find("a", href=True)), None)
        if link is None:
            raise ValueError(f"{page}: a row without a link to its chapter: {row.get_text(' ', strip=True)!r}")
        target = posixpath.normpath(posixpath.join(posixpath.dirname(page), urlsplit(link["href"]).path))
        out[target] = cells[column].get_text(strip=True)
    return out


def status_times(html: str) -> dict[str, str]:
    """{chapter page: run time} from the chapter-status page's execution table."""
    soup = BeautifulSoup(html, "html.parser")
    for table in soup.find_all("table"):
        head = table.find("thead")
        if head and STATUS_HEADER in head.get_text():
            return _table_rows(table, STATUS_HEADER, STATUS_PAGE)
    raise ValueError(f"{STATUS_PAGE}: no table headed {STATUS_HEADER!r} (the {{nb-exec-table}})")


def course_times(html: str) -> dict[str, str]:
    """{chapter page: run time} from the course page's syllabus."""
    soup = BeautifulSoup(html, "html.parser")
    table = soup.find("table", class_=SYLLABUS_CLASS)
    if table is None:
        raise ValueError(f"{COURSE_PAGE}: no table of class {SYLLABUS_CLASS!r} (the {{syllabus}})")
    return _table_rows(table, COURSE_HEADER, COURSE_PAGE)


def compare(status: dict[str, str], course: dict[str, str]) -> list[str]:
    """Every disagreement between the two tables, one line each (empty when they agree)."""
    problems = []
    for page, time in sorted(course.items()):
        if page in status and status[page] != time:
            problems.append(f"{page}: run time {time} on the course page, {status[page]} on the status page")
        elif page not in status and time != NOT_EXECUTED:
            problems.append(f"{page}: run time {time} on the course page, but the status page did not run it")
    for page in sorted(set(status) - set(course)):
        problems.append(f"{page}: executed (status page) but missing from the syllabus")
    if not any(page in status for page in course):
        problems.append("no chapter is in both tables: nothing was compared")
    return problems


def main(root: str) -> int:
    site = Path(root)
    status = status_times((site / STATUS_PAGE).read_text(encoding="utf-8"))
    course = course_times((site / COURSE_PAGE).read_text(encoding="utf-8"))
    problems = compare(status, course)
    for line in problems:
        print(line)
    both = sum(1 for page in course if page in status)
    print(f"course page vs status page: {both} run times compared, {len(problems)} disagreements")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
