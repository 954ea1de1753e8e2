"""Sphinx extension: glued numbers in scientific notation read like a textbook, not a log.

The chapters glue computed numbers with a format, ``{glue:text}`ratio:.1e```, which Python renders as ``1.1e-12``.
This transform rewrites such pasted numbers (myst-nb marks them with the class ``pasted-text``) as ``1.1 × 10⁻¹²``
on every page; the glued value itself, in the notebook's outputs, stays the computed number. Only whole pasted
values in e-notation are touched, so prose, code and printed outputs are left as they are.
"""
from __future__ import annotations

import re

from docutils import nodes
from sphinx.transforms import SphinxTransform

_E_NOTATION = re.compile(r"^(?P<sign>[-+−]?)(?P<mantissa>\d+(?:\.\d+)?)[eE](?P<exponent>[-+]?\d+)$")
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def textbook(text: str) -> str:
    """``"8.2e+06"`` → ``"8.2 × 10⁶"``, ``"-1.1e-12"`` → ``"−1.1 × 10⁻¹²"``, ``"2.5e+00"`` → ``"2.5"``; anything
    that is not a number in e-notation is returned unchanged."""
    match = _E_NOTATION.match(text.strip())
    if match is None:
        return text
    sign = "−" if match["sign"] in ("-", "−") else ""
    exponent = int(match["exponent"])
    if exponent == 0:
        return f"{sign}{match['mantissa']}"
    return f"{sign}{match['mantissa']} × 10{str(exponent).translate(_SUPERSCRIPT)}"


class TextbookNumbers(SphinxTransform):
    """Rewrite every pasted glue value that is a number in e-notation."""

    default_priority = 900  # after myst-nb has pasted the glued values

    def apply(self, **kwargs) -> None:
        for node in self.document.findall(nodes.inline):
            if "pasted-text" not in node.get("classes", []):
                continue
            text = node.astext()
            new = textbook(text)
            if new != text:
                node.children = [nodes.Text(new)]


def setup(app):
    app.add_post_transform(TextbookNumbers)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
