#!/usr/bin/env python
"""Check the built docs site (make docs): every internal link and anchor resolves, and, where Debian's
chromium is installed, a real browser renders the index and a module page (screenshots) and the role page
shows the argument-spec markup rendered (C() as code, no raw markup left).

    python tools/check_docs_site.py SITE_DIR [--screenshots DIR]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

MODULE_PAGE = "collections/auditops/deckhouse/audit_policy_module.html"
ROLE_PAGE = "collections/auditops/deckhouse/control_plane_audit_role.html"
RAW_MARKUP = re.compile(r"\b[CIOVRMUL]\([^)]")


class _Page(HTMLParser):
    def __init__(self):
        HTMLParser.__init__(self)
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        for key in ("href", "src"):
            if attrs.get(key) and not (tag == "link" and key == "href" and attrs.get("rel") == "canonical"):
                self.links.append(attrs[key])


def _parse(path):
    page = _Page()
    with open(path, encoding="utf-8") as handle:
        page.feed(handle.read())
    return page


def broken_links(site):
    pages = {}
    for folder, dummy, files in os.walk(site):
        for name in files:
            if name.endswith(".html"):
                path = os.path.join(folder, name)
                pages[os.path.relpath(path, site)] = _parse(path)
    broken = []
    for rel, page in sorted(pages.items()):
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc:
                continue  # external: not this site's concern offline
            target = rel if not parts.path else os.path.normpath(os.path.join(os.path.dirname(rel), unquote(parts.path)))
            if not os.path.exists(os.path.join(site, target)):
                broken.append("%s: %s (no %s)" % (rel, link, target))
            elif parts.fragment and target in pages and unquote(parts.fragment) not in pages[target].ids:
                broken.append("%s: %s (no anchor #%s in %s)" % (rel, link, parts.fragment, target))
    return len(pages), broken


def _chromium():
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def _browser(chromium, *args):
    profile = tempfile.mkdtemp(prefix="auditops-chromium-")
    try:
        return subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                               "--user-data-dir=" + profile] + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, timeout=120, check=True).stdout.decode("utf-8")
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _text(html):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", html)))


def browser_check(site, shots):
    chromium = _chromium()
    if chromium is None:
        print("check_docs_site: no chromium installed (apt-get install chromium); browser check skipped")
        return []
    problems = []
    os.makedirs(shots, exist_ok=True)
    for page, shot in (("index.html", "index.png"), (MODULE_PAGE, "module.png")):
        path = os.path.join(shots, shot)
        _browser(chromium, "--window-size=1280,1400", "--hide-scrollbars", "--screenshot=" + path,
                 "file://" + os.path.join(site, page))
        if not os.path.exists(path) or os.path.getsize(path) < 20000:
            problems.append("%s: the screenshot of %s is missing or blank" % (shot, page))
        else:
            print("check_docs_site: %s rendered, screenshot %s" % (page, path))
    dom = _browser(chromium, "--dump-dom", "file://" + os.path.join(site, ROLE_PAGE))
    raw = sorted(set(RAW_MARKUP.findall(_text(dom))))
    if raw:
        problems.append("%s: raw documentation markup in the rendered page: %s" % (ROLE_PAGE, ", ".join(raw)))
    if "ansible-option-value" not in dom or "<code" not in dom:
        problems.append("%s: no rendered option values or code in the page" % ROLE_PAGE)
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site")
    parser.add_argument("--screenshots", help="where the screenshots go (default SITE/../docs-screenshots)")
    args = parser.parse_args(argv)
    site = os.path.abspath(args.site)
    count, problems = broken_links(site)
    print("check_docs_site: %d pages, %d broken internal links" % (count, len(problems)))
    problems += browser_check(site, args.screenshots or os.path.join(os.path.dirname(site), "docs-screenshots"))
    for problem in problems:
        print("  " + problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
