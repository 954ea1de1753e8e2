"""Checks of the built HTML that need no browser: self-contained (no CDN), every figure described."""
from __future__ import annotations

import re
from pathlib import Path

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


def _weight(page: Path) -> dict:
    """Bytes a reader downloads for a page: its HTML and every local script, stylesheet and image it references."""
    soup = BeautifulSoup(page.read_text(), "html.parser")
    refs = set()
    for tag, attr in (("script", "src"), ("link", "href"), ("img", "src")):
        for el in soup.find_all(tag):
            url = (el.get(attr) or "").split("?")[0].split("#")[0]
            if url and not url.startswith(("data:", "http:", "https:", "//")):
                refs.add((page.parent / url).resolve())
    assets = sum(p.stat().st_size for p in refs if p.is_file())
    explorers = [len(s.string or "") for s in soup.select("div.vega-explorer script.vega-spec")]
    return {"html": page.stat().st_size, "assets": assets, "explorers": explorers}


def test_page_weights_are_reported_and_explorer_data_stay_small():
    """Writes _build/page-weights.txt (every page's weight) and holds each explorer's inline spec to 300 KB."""
    rows, too_big = [], []
    for page in sorted((HTML / "chapters").glob("*.html")):
        w = _weight(page)
        rows.append(f"{page.name:45s} html {w['html'] / 1024:8.0f} KiB  scripts/styles/images {w['assets'] / 1024:8.0f} "
                    f"KiB  explorers {len(w['explorers'])} ({', '.join(f'{b / 1024:.0f} KiB' for b in w['explorers'])})")
        too_big += [f"{page.name}: {b} bytes" for b in w["explorers"] if b > 300_000]
    (HTML.parent / "page-weights.txt").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))
    assert not too_big, too_big


# Every chapter with a knob carries a kernel-free explorer for it (the knob in brackets).
KNOBS = {"01_background": "depth", "03b_gradient_descent": "learning rate, feature scaling",
         "04b_backward_forward": "depth, activation, weight scale", "06a_activations_init": "activation, initialiser",
         "06b_normalization_residual": "BatchNorm, residual, depth", "06c_clipping_recurrent": "clipping, forget bias"}


def test_every_page_with_a_knob_has_a_kernel_free_explorer():
    missing = [f"{name} ({knob})" for name, knob in KNOBS.items()
               if 'class="vega-explorer"' not in (HTML / "chapters" / f"{name}.html").read_text()]
    assert not missing, f"pages without a kernel-free explorer: {missing}"
