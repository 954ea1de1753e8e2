"""Checks of the built HTML that need no browser: self-contained (no CDN), every figure described."""
from __future__ import annotations

import re

from bs4 import BeautifulSoup

from conftest import HTML

CDN = re.compile(r"cdn\.jsdelivr\.net|cdnjs\.cloudflare\.com|unpkg\.com|ajax\.googleapis\.com|code\.jquery\.com"
                 r"|cdn\.mathjax\.org|polyfill\.io", re.IGNORECASE)


def _files(*suffixes):
    return [p for p in HTML.rglob("*") if p.is_file() and p.suffix in suffixes]


def test_no_file_of_the_site_names_a_cdn():
    offenders = {}
    for path in _files(".html", ".js", ".css"):
        found = sorted(set(CDN.findall(path.read_text(encoding="utf-8", errors="ignore"))))
        if found:
            offenders[path.relative_to(HTML).as_posix()] = found
    assert not offenders, offenders


def test_every_image_in_the_chapters_has_alt_text():
    missing = []
    for path in (HTML / "chapters").glob("*.html"):
        for img in BeautifulSoup(path.read_text(), "html.parser").select("main img"):
            if not (img.get("alt") or "").strip():
                missing.append(f"{path.name}: {img.get('src')}")
    assert not missing, missing


def test_scripts_and_styles_are_served_locally():
    for path in (HTML / "chapters").glob("*.html"):
        soup = BeautifulSoup(path.read_text(), "html.parser")
        for tag, attr in (("script", "src"), ("link", "href")):
            for el in soup.find_all(tag):
                url = el.get(attr) or ""
                if tag == "link" and "stylesheet" not in (el.get("rel") or []) and "preload" not in (el.get("rel") or []):
                    continue
                assert not url.startswith(("http:", "https:", "//")), f"{path.name} loads {url}"
