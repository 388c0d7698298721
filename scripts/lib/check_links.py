#!/usr/bin/env python3
"""The docs checks of scripts/check-docs (standard library only).

  check_links.py blocks FILE_OR_DIR...   every ```sh/bash/console block is marked:
                                         <!-- ci: .ci/run step N ... --> or <!-- not run by CI -->
  check_links.py links BOOK_DIR FILE.md  every internal link and #anchor of the built book's
                                         HTML and of the Markdown file resolves
"""
import html.parser
import pathlib
import re
import sys
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOT_RUN = "<!-- not run by CI -->"
CI_MARK = re.compile(r"^<!-- ci: \.ci/run step (\d+)\b.*-->$")
SHELL_FENCE = re.compile(r"^```(sh|bash|console)\s*$")
errors = []
checked = {"links": 0, "anchors": 0}


def error(where, message):
    errors.append(f"{where}: {message}")


def markdown_files(args):
    for arg in args:
        path = ROOT / arg
        yield from sorted(path.rglob("*.md")) if path.is_dir() else [path]


def ci_steps():
    """The step numbers in .ci/run's header comment ('#   6. scripts/test ...')."""
    steps = set()
    for line in (ROOT / ".ci/run").read_text().splitlines():
        if not line.startswith("#"):
            break
        m = re.match(r"^#\s+(\d+)\.\s", line)
        if m:
            steps.add(int(m.group(1)))
    return steps


def check_blocks(args):
    steps = ci_steps()
    for path in markdown_files(args):
        rel = path.relative_to(ROOT)
        lines = path.read_text().splitlines()
        fence = None
        for i, line in enumerate(lines):
            if fence is None and line.startswith("```"):
                fence = line[: len(line) - len(line.lstrip("`"))]
                if SHELL_FENCE.match(line):
                    above = lines[i - 1].strip() if i else ""
                    m = CI_MARK.match(above)
                    if m and int(m.group(1)) not in steps:
                        error(f"{rel}:{i + 1}", f"'{above}' names no step of .ci/run's header")
                    elif not m and above != NOT_RUN:
                        error(f"{rel}:{i + 1}", "command block without '<!-- ci: .ci/run step N ... -->' "
                              f"or '{NOT_RUN}' on the line above it")
            elif fence is not None and line.startswith(fence) and line.strip() == fence:
                fence = None


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(key):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            if attrs.get(key) is not None:
                self.links.append((self.getpos()[0], attrs[key]))


def github_slug(text):
    text = re.sub(r"`([^`]*)`", r"\1", text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def markdown_targets(path):
    """Anchors of a Markdown file as GitHub renders it, and its links (line, target)."""
    ids, links, seen, fence = set(), [], {}, None
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if fence is None and line.startswith("```"):
            fence = line[: len(line) - len(line.lstrip("`"))]
            continue
        if fence is not None:
            if line.strip() == fence:
                fence = None
            continue
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            slug = github_slug(m.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            ids.add(slug if count == 0 else f"{slug}-{count}")
        ids.update(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", line))
        prose = re.sub(r"`[^`]*`", "", line)
        for target in re.findall(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\)", prose):
            links.append((n, target))
        for target in re.findall(r"<a\s+href=\"([^\"]+)\"", prose):
            links.append((n, target))
    return ids, links


def check_target(where, base_dir, source, target, anchors_of):
    parsed = urllib.parse.urlsplit(target)
    if parsed.scheme or target.startswith("//"):
        return
    checked["links"] += 1
    path = urllib.parse.unquote(parsed.path)
    dest = source if path == "" else (base_dir / path).resolve()
    if not dest.exists():
        error(where, f"link to a missing file: {target}")
        return
    fragment = urllib.parse.unquote(parsed.fragment)
    if fragment and dest.is_file():
        ids = anchors_of(dest)
        checked["anchors"] += ids is not None
        if ids is not None and fragment not in ids:
            error(where, f"no anchor '#{fragment}' in {dest.relative_to(ROOT)}: {target}")


_cache = {}


def anchors_of(path):
    if path not in _cache:
        if path.suffix == ".html":
            page = Page()
            page.feed(path.read_text())
            _cache[path] = page.ids
        elif path.suffix == ".md":
            _cache[path] = markdown_targets(path)[0]
        else:
            _cache[path] = None  # a fragment into another kind of file is not checked
    return _cache[path]


def check_links(book, markdown):
    book = ROOT / book
    pages = [p for p in sorted(book.rglob("*.html")) if p.name != "404.html"]
    if not pages:
        error(book.relative_to(ROOT), "no HTML pages: was the book built?")
    for page_path in pages:
        page = Page()
        page.feed(page_path.read_text())
        _cache[page_path] = page.ids
        for line, target in page.links:
            where = f"{page_path.relative_to(ROOT)}:{line}"
            check_target(where, page_path.parent, page_path, target, anchors_of)
    for md in markdown:
        path = ROOT / md
        for line, target in markdown_targets(path)[1]:
            check_target(f"{md}:{line}", path.parent, path, target, anchors_of)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "blocks":
        check_blocks(sys.argv[2:])
    elif len(sys.argv) >= 3 and sys.argv[1] == "links":
        check_links(sys.argv[2], sys.argv[3:])
        print(f"checked {checked['links']} internal links, {checked['anchors']} of them with an anchor")
    else:
        sys.exit(__doc__)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        sys.exit(f"check-docs: {len(errors)} problem(s) above")


main()
