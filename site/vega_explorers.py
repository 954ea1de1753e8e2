"""Sphinx extension: load Vega, Vega-Lite and vega-embed on the pages that have a kernel-free explorer, and only there.

A chapter's explorer is an HTML output made by ``gradbook.viz.vega.Explorer``: a ``<div class="vega-explorer">`` with
the Vega-Lite spec and a PNG of its default view. The libraries (pinned in ``site/package.json`` and copied into
``_static/vendor/vega`` by ``site/vendor.py``) and ``explorers.js``, which draws every explorer of the page, are added
to the pages whose body holds such a div, in the order the UMD builds expect (Vega, then Vega-Lite, then
vega-embed). No page loads RequireJS, so the UMD builds attach themselves to ``window`` rather than calling
``define()``.
"""
from __future__ import annotations

MARKER = 'class="vega-explorer"'
SCRIPTS = ("vendor/vega/vega.min.js", "vendor/vega/vega-lite.min.js", "vendor/vega/vega-embed.min.js",
           "vendor/explorers.js")


def _add_scripts(app, pagename, templatename, context, doctree) -> None:
    if MARKER not in context.get("body", ""):
        return
    for priority, path in enumerate(SCRIPTS, start=600):
        app.add_js_file(path, priority=priority)


def setup(app):
    app.connect("html-page-context", _add_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
