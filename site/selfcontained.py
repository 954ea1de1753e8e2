"""Sphinx extension: keep the built site self-contained.

Jupyter Book 1.x always loads sphinx-thebe, which adds to every page a script naming thebe's CDN address (declared
twice, a console error on every page) and a Binder configuration block, even with ``launch_buttons.thebe: false``.
The book does not use Thebe (a live kernel needs a reachable Binder; the static site must read offline), so this
extension drops those assets from every page. It also drops the saved state of ipywidgets that executing a notebook
records: the widget explorers run in a live kernel only (their output is removed from the pages, and the site loads
no widget manager), so the state would only add weight.
"""
from __future__ import annotations

import re

_THEBE_CONFIG = re.compile(r'<script type="text/x-thebe-config">.*?</script>\s*', re.DOTALL)


_WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _is_dropped(asset) -> bool:
    name = str(getattr(asset, "filename", asset) or "")
    attributes = getattr(asset, "attributes", {})
    body = str(attributes.get("body", ""))
    return "sphinx-thebe" in name or "THEBE_JS_URL" in body or attributes.get("type") == _WIDGET_STATE


def _strip(app, pagename, templatename, context, doctree):
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [asset for asset in context[key] if not _is_dropped(asset)]
    if "body" in context:
        context["body"] = _THEBE_CONFIG.sub("", context["body"])


def setup(app):
    app.connect("html-page-context", _strip, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
