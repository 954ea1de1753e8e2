"""Copy the JavaScript the book needs from site/node_modules into site/static/vendor, so the site loads nothing from a CDN:
MathJax for the equations, and Vega, Vega-Lite and vega-embed (with the book's own explorers.js) for the kernel-free
explorers.

Sphinx copies site/static (``html_static_path`` in _config.yml) into the site's ``_static``; the pages are in
``chapters/``, so from a page the files are at ``../_static/vendor/``.

Run by `make vendor` after `npm ci --prefix site`. The versions are pinned in site/package-lock.json; the few default
CDN addresses compiled into these bundles (fallbacks the book never uses) are pointed at the local copies instead,
and the script fails loudly if a pinned bundle no longer contains the text it patches.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

SITE = Path(__file__).resolve().parent
MODULES = SITE / "node_modules"
VENDOR = SITE / "static" / "vendor"

# The default CDN prefixes compiled into these bundles, as fallbacks the book never uses (MathJax's speech maps, an
# old-IE polyfill). They are rewritten to the local copy, so that no file of the site names a CDN and nothing can be
# fetched from one. A pinned bundle that lacks them makes the script fail.
CDN_PREFIXES = ("https://cdn.jsdelivr.net/npm/", "https://unpkg.com/", "https://cdnjs.cloudflare.com/ajax/libs/")
LOCAL = "../_static/vendor/"
MUST_PATCH = ["mathjax/tex-mml-chtml.js"]
MATHJAX_PARTS = ["tex-mml-chtml.js", "input", "output/chtml", "ui", "a11y", "sre", "adaptors"]
VEGA_BUNDLES = [("vega", "vega.min.js"), ("vega-lite", "vega-lite.min.js"), ("vega-embed", "vega-embed.min.js")]


def main() -> int:
    if not MODULES.is_dir():
        print(f"{MODULES} is missing: run `npm ci --prefix site` first", file=sys.stderr)
        return 1
    if VENDOR.exists():
        shutil.rmtree(VENDOR)
    VENDOR.mkdir(parents=True)
    (VENDOR / "vega").mkdir()
    for package, bundle in VEGA_BUNDLES:
        shutil.copy2(MODULES / package / "build" / bundle, VENDOR / "vega" / bundle)
    shutil.copy2(SITE / "explorers.js", VENDOR / "explorers.js")
    for part in MATHJAX_PARTS:
        src, dst = MODULES / "mathjax" / "es5" / part, VENDOR / "mathjax" / part
        shutil.copytree(src, dst) if src.is_dir() else (dst.parent.mkdir(parents=True, exist_ok=True),
                                                         shutil.copy2(src, dst))
    patched = {}
    for path in VENDOR.rglob("*"):
        if path.suffix not in (".js", ".css", ".json", ".html"):
            continue
        text = path.read_text(encoding="utf-8")
        count = sum(text.count(prefix) for prefix in CDN_PREFIXES)
        if count:
            for prefix in CDN_PREFIXES:
                text = text.replace(prefix, LOCAL)
            path.write_text(text, encoding="utf-8")
            patched[path.relative_to(VENDOR).as_posix()] = count
    missing = [rel for rel in MUST_PATCH if rel not in patched]
    if missing:
        print(f"no CDN default found in {missing}: was a pinned version changed?", file=sys.stderr)
        return 1
    size = sum(p.stat().st_size for p in VENDOR.rglob("*") if p.is_file()) / 2**20
    print(f"vendored MathJax and Vega into {VENDOR} ({size:.1f} MiB); "
          f"CDN defaults pointed at the local copy in {len(patched)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
