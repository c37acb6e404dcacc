r"""Check in headless Chromium that no code output, table or display equation of the built book overflows.

Usage::

    python tools/check_overflow.py _build/html                      # every page (make book runs this)
    python tools/check_overflow.py _build/html --pages lm-frontier notation   # quick iteration
    python tools/check_overflow.py _build/html --phone-scroll-fails  # also list what scrolls on a phone

Every HTML page under the folder is loaded (``genindex``, ``search``, ``py-modindex``,
redirects, ``_static``, ``_sources`` and ``_modules`` are skipped) in the system Chromium through
Playwright, with every non-``file:`` request aborted so the check runs offline exactly as
the published book renders from disk. MathJax typesetting and web fonts are awaited before
anything is measured, and every ``<details>`` is opened so folded solutions are measured too.

What is measured (the *elements*), on the article (``article.bd-article``; ``<body>`` when a
page has none):

* **output** — a code cell's printed text (``.cell_output pre``) and any other code-cell output
  that is neither text nor a table (``.cell_output .output`` with no ``pre`` or ``table``);
* **table** — every ``<table>`` (results tables of :func:`alignlimits.tables.table`, Markdown
  tables such as the notation page's);
* **equation** — every MathJax display equation (``mjx-container[display="true"]``).

Each page is measured at **1280 px** (a laptop) and, if it is a chapter page (one with
executed code cells, i.e. a notebook), again at **400 px** (a phone).

What counts as overflow. An element's *extent* is the box its content needs if nothing cut
it off (its left edge to its left edge + ``scrollWidth``). Walking from the element up to the
article, every ancestor (and the element itself) whose ``overflow-x`` is not ``visible`` and
whose visible box is narrower than the extent is a problem of one of these kinds:

* ``clipped`` — the box has ``overflow-x: hidden``/``clip``: part of the content is simply not
  shown. Always a failure: a reader cannot know something is missing.
* ``hidden scroll`` — the box scrolls (``auto``/``scroll``) but shows no scrollbar (no space is
  taken by one, e.g. ``scrollbar-width: none``): the content is hidden unless one happens to
  swipe. Always a failure.
* ``scrolls`` — the box scrolls with a visible scrollbar. A failure at 1280 px, where a
  textbook's evidence must be readable as laid out; at 400 px acceptable for a table or an
  equation (they cannot be reflowed; the scrollbar says there is more), but a failure for a
  code output, which must wrap on a phone.
* ``wraps N aligned line(s)`` (code outputs at 1280 px only) — the output wraps long lines (as
  the book's CSS makes every output do, so nothing is cut off) and a line laid out in columns
  (two or more gaps of two or more spaces: a fixed-width results table) is wider than
  the output: wrapped, its columns no longer line up. Such results belong in a real table
  (:func:`alignlimits.tables.table`) or on lines that fit. Prose lines may wrap.

A scroll box that holds the extent ends the walk, and the box itself becomes the extent.
Whatever is left must then lie within the article's content box (``column``: the element spills
over the text column into the margins or the sidebar) and within the viewport (``viewport``:
the page itself scrolls sideways). One pixel of slack absorbs sub-pixel rounding.

Chromium's scrollbars are kept (Playwright hides them in headless mode by default), so a
visible scrollbar takes space as it does on a desktop browser, and ``hidden scroll`` can be told
apart from ``scrolls``.

Prints one line per problem — page, width, kind of element, a snippet of it (the TeX of an
equation), the kind of problem and by how many pixels — then a summary with the time taken;
exit status 1 if there is any problem, 2 if Chromium or the pages are missing. One browser
loads ``--workers`` pages side by side (default: the CPU count, at most 4).
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from browser import chromium

#: Viewport widths in CSS pixels: every page at the first, chapter pages also at the second.
DESKTOP, PHONE = 1280, 400
#: Page names never checked: generated index and search pages have no content to overflow.
SKIP_NAMES = ("genindex.html", "search.html", "py-modindex.html")
SKIP_DIRS = ("_static", "_sources", "_modules", "_images")
REDIRECT = re.compile(r"<meta[^>]+http-equiv=.?refresh", re.IGNORECASE)

# Measures one page at the current viewport width. Returns [kind, snippet, problem, px, id].
MEASURE = r"""
([phone, strict]) => {
  const TOL = 1;
  const col = document.querySelector('article.bd-article') || document.body;
  const cs = getComputedStyle(col), cr = col.getBoundingClientRect();
  const colLeft = cr.left + col.clientLeft + parseFloat(cs.paddingLeft);
  const colRight = cr.left + col.clientLeft + col.clientWidth - parseFloat(cs.paddingRight);
  const viewport = document.documentElement.clientWidth;
  const items = [];
  col.querySelectorAll('.cell_output pre').forEach(e => items.push([e, 'output']));
  col.querySelectorAll('.cell_output .output').forEach(e => {
    if (!e.querySelector('pre, table')) items.push([e, 'output']);
  });
  col.querySelectorAll('table').forEach(e => items.push([e, 'table']));
  col.querySelectorAll('mjx-container[display="true"]').forEach(e => items.push([e, 'equation']));
  const tex = (e) => {
    try {
      const found = MathJax.startup.document.getMathItemsWithin(e);
      if (found.length) return found[0].math;
    } catch (err) { /* no MathJax on the page */ }
    return e.textContent;
  };
  const snippet = (e, kind) => {
    const caption = kind === 'table' && e.querySelector('caption');
    const head = kind === 'table' && Array.from(e.querySelectorAll('thead th'), th => th.textContent.trim());
    let text = kind === 'equation' ? tex(e)
      : caption ? caption.textContent : head && head.length ? head.join(' | ') : e.textContent;
    text = text.replace(/\s+/g, ' ').trim();
    return text.length > 70 ? text.slice(0, 67) + '...' : text;
  };
  const out = [];
  const ctx = document.createElement('canvas').getContext('2d');
  for (const [el, kind] of items) {
    if (!el.getClientRects().length) continue;          // not displayed (display: none)
    const r = el.getBoundingClientRect();
    let left = r.left, right = Math.max(r.right, r.left + el.clientLeft + el.scrollWidth);
    const problems = [];
    for (let node = el; node && node !== col; node = node.parentElement) {
      const s = getComputedStyle(node);
      if (s.overflowX === 'visible') continue;
      const nr = node.getBoundingClientRect();
      const inLeft = nr.left + node.clientLeft, inRight = inLeft + node.clientWidth;
      const excess = Math.max(right - inRight, inLeft - left);
      if (excess <= TOL) continue;
      if (s.overflowX === 'hidden' || s.overflowX === 'clip') {
        problems.push(['clipped', excess]);
        left = Math.max(left, nr.left); right = Math.min(right, nr.right);
        continue;
      }
      const bar = node.offsetHeight - node.clientHeight
        - parseFloat(s.borderTopWidth) - parseFloat(s.borderBottomWidth);
      if (bar <= 0) problems.push(['hidden scroll', excess]);
      else if (!phone || kind === 'output' || strict) problems.push(['scrolls', excess]);
      left = nr.left; right = nr.right;                  // the scroll box holds the content
      break;
    }
    if (kind === 'output' && el.tagName === 'PRE' && !phone && !problems.length) {
      const s = getComputedStyle(el);
      if (s.whiteSpace !== 'pre' && s.whiteSpace !== 'nowrap') {     // a wrapping output: what wraps?
        ctx.font = `${s.fontStyle} ${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
        const room = el.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
        const aligned = el.textContent.split('\n').filter(l => (l.match(/\S {2,}(?=\S)/g) || []).length >= 2);
        const widths = aligned.map(l => ctx.measureText(l).width);
        const wide = widths.map((w, i) => [w, aligned[i]]).filter(([w]) => w > room + TOL);
        if (wide.length) {
          const line = wide[0][1].replace(/\s+/g, ' ').trim();
          out.push([kind, line.length > 70 ? line.slice(0, 67) + '...' : line,
                    `wraps ${wide.length} aligned line(s)`, Math.round(Math.max(...wide.map(([w]) => w)) - room)]);
        }
      }
    }
    const spill = Math.max(right - colRight, colLeft - left);
    if (spill > TOL) problems.push(['column', spill]);
    if (right - viewport > TOL) problems.push(['viewport', right - viewport]);
    for (const [problem, px] of problems) out.push([kind, snippet(el, kind), problem, Math.round(px)]);
  }
  return out;
}
"""

WAIT_FOR_MATH = """
async () => {
  if (document.querySelector('script[src*="mathjax" i]')) {
    for (let i = 0; i < 600 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
      await new Promise(r => setTimeout(r, 50));
    if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return 'MathJax never started';
    await MathJax.startup.promise;
  }
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  await document.fonts.ready;
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return '';
}
"""


@dataclass(frozen=True)
class Problem:
    page: str
    width: int
    kind: str
    snippet: str
    problem: str
    px: int

    def __str__(self) -> str:
        return f"{self.page} @{self.width}px: {self.kind} {self.problem} by {self.px}px: {self.snippet!r}"




def pages(root: Path, patterns: list[str] | None = None) -> list[Path]:
    """The HTML pages under ``root`` to check, sorted; ``patterns`` (globs or substrings of the path) filter them."""
    found = []
    for path in sorted(root.rglob("*.html")):
        rel = path.relative_to(root)
        if rel.name in SKIP_NAMES or any(part in SKIP_DIRS for part in rel.parts[:-1]):
            continue
        if REDIRECT.search(path.read_text(encoding="utf-8", errors="replace")[:2000]):
            continue  # the root index.html only forwards to the first page
        if patterns and not any(fnmatch.fnmatch(rel.as_posix(), p) or p in rel.as_posix() for p in patterns):
            continue
        found.append(path)
    return found


def check(
    root: Path,
    paths: list[Path],
    *,
    workers: int = 2,
    phone_width: int = PHONE,
    phone_scroll_fails: bool = False,
    verbose: bool = False,
) -> tuple[list[Problem], int]:
    """Load each page at :data:`DESKTOP` (chapter pages also at ``phone_width``); the problems and the checks run.

    One browser; ``workers`` tabs load pages side by side (each tab is its own renderer process).
    """
    return asyncio.run(_check(root, paths, workers, phone_width, phone_scroll_fails, verbose))


async def _check(
    root: Path, paths: list[Path], workers: int, phone_width: int, phone_scroll_fails: bool, verbose: bool
) -> tuple[list[Problem], int]:
    from playwright.async_api import async_playwright

    results: dict[Path, list[Problem]] = {}
    checks = 0
    queue = list(paths)

    async def worker(context) -> None:
        nonlocal checks
        page = await context.new_page()
        while queue:
            path = queue.pop(0)
            name = path.relative_to(root).as_posix()
            started = time.monotonic()
            await page.set_viewport_size({"width": DESKTOP, "height": 900})
            await page.goto(path.resolve().as_uri(), wait_until="load", timeout=180_000)
            error = await page.evaluate(WAIT_FOR_MATH)
            if error:
                raise SystemExit(f"{name}: {error}")
            widths = [DESKTOP]
            if await page.evaluate("() => !!document.querySelector('div.cell')"):  # executed code cells: a chapter
                widths.append(phone_width)
            found = []
            for width in widths:
                if width != DESKTOP:
                    # The layout reflows with the viewport; MathJax's CHTML output is plain CSS.
                    await page.set_viewport_size({"width": width, "height": 900})
                    await page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
                checks += 1
                for kind, snippet, problem, px in await page.evaluate(MEASURE, [width != DESKTOP, phone_scroll_fails]):
                    found.append(Problem(name, width, kind, snippet, problem, px))
            results[path] = found
            if verbose:
                print(f"  {name}: {time.monotonic() - started:.1f}s at {widths}", flush=True)
        await page.close()

    async with async_playwright() as p:
        # --hide-scrollbars is Playwright's headless default: without it, a visible scrollbar
        # takes space as on a desktop browser, which tells "scrolls" from "hidden scroll".
        browser = await p.chromium.launch(
            executable_path=chromium(), args=["--no-sandbox"], ignore_default_args=["--hide-scrollbars"]
        )
        context = await browser.new_context(viewport={"width": DESKTOP, "height": 900})
        # Every request that is not for a local file fails. Only those are routed: a route for
        # every request would send each local file through Python too.
        await context.route(re.compile(r"^(?!file:)"), lambda route: route.abort())
        await asyncio.gather(*(worker(context) for _ in range(max(1, min(workers, len(paths))))))
        await browser.close()
    return [problem for path in paths for problem in results[path]], checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("root", nargs="?", default="_build/html", help="the built HTML folder")
    parser.add_argument(
        "--pages", nargs="+", metavar="PATTERN", help="only pages whose path matches (glob or substring)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="pages loaded side by side (default: CPUs, at most 4)",
    )
    parser.add_argument(
        "--phone-scroll-fails",
        action="store_true",
        help="also report tables and equations that scroll (visibly) at the phone width: to find them, not required",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print each page's time as it is checked")
    args = parser.parse_args(argv)
    root = Path(args.root)
    paths = pages(root, args.pages)
    if not paths:
        print(f"no HTML pages to check under {root}" + (f" matching {args.pages}" if args.pages else ""),
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        chromium()
    except SystemExit as missing:
        print(missing, file=sys.stderr)
        return 2
    start = time.monotonic()
    problems, checks = check(
        root, paths, workers=args.workers, phone_scroll_fails=args.phone_scroll_fails, verbose=args.verbose
    )
    for problem in problems:
        print(problem)
    seconds = time.monotonic() - start
    pages_hit = len({p.page for p in problems})
    print(f"overflow: {len(problems)} problems on {pages_hit} of {len(paths)} pages "
          f"({checks} page-widths checked at {DESKTOP}/{PHONE}px) in {seconds:.0f}s")  # fmt: skip
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
