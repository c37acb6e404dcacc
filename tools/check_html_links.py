"""Offline internal-link checker for a built HTML site (stdlib only).

Checks every relative href/src in every *.html under ROOT: the target file must
exist and, when there is a #fragment, an element with that id (or <a name>) must
exist in the target page. External (scheme://, mailto:, data:, javascript:) links
are skipped. Usage: python tools/check_html_links.py _build/html
"""

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id",) + (("name",) if tag == "a" else ()):
            if a.get(key):
                self.ids.add(a[key])
        for key in ("href", "src"):
            if a.get(key) and not (tag == "link" and a.get("rel") in ("preconnect", "dns-prefetch")):
                self.links.append((key, a[key], self.getpos()[0]))


def main(root: str) -> int:
    root_p = Path(root).resolve()
    pages = {}
    for f in root_p.rglob("*.html"):
        if f.relative_to(root_p).parts[0] in ("_static", "_sources"):
            continue  # theme templates, copied sources
        c = _Collect()
        c.feed(f.read_text(encoding="utf-8", errors="replace"))
        pages[f] = c
    bad = 0
    for page, c in sorted(pages.items()):
        c.links = [x for x in c.links if "{{" not in x[1]]
        for _key, url, line in c.links:
            u = urlsplit(url)
            if u.scheme or url.startswith("//"):
                continue  # external: not checked offline
            target = (page.parent / unquote(u.path)).resolve() if u.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                print(f"{page.relative_to(root_p)}:{line}: missing file {url}")
                bad += 1
            elif u.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else set()
                if unquote(u.fragment) not in ids:
                    print(f"{page.relative_to(root_p)}:{line}: missing anchor {url}")
                    bad += 1
    print(f"checked {len(pages)} pages, {sum(len(c.links) for c in pages.values())} links: {bad} broken")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "_build/html"))
