"""Kernel-free explorers for the book's static site: Vega-Lite charts over precomputed data, written with Altair.

An ipywidgets explorer (``gradbook.viz.explorers``) re-measures a network when a slider moves, so it needs a running
kernel. The explorers here need none: the notebook measures every setting of a small grid when the book is built, and
the chart's controls (sliders, drop-downs, radio buttons, bound to Vega-Lite parameters) only *filter* those rows in
the reader's browser. ``Explorer`` wraps a chart for the page: the spec, inline, and a PNG of its default view (for
a PDF, a feed reader, or a browser without JavaScript); the site's ``vega_explorers`` extension loads Vega, Vega-Lite
and vega-embed, served by the site itself, on the pages that have one.

- ``slider``, ``select``, ``radio``: the controls, as ``Control`` values;
- ``profile_chart``: per-layer (or per-step) curves of one or more signals, one panel each, filtered by the controls;
- ``Explorer``: what a notebook displays.
"""
from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gradbook._validate import instance, integer, number, one_of, type_error

MAX_BYTES = 300_000
"""The largest inline spec (data included) an explorer may carry, in bytes: it is downloaded with the page."""
KINDS = ("slider", "select", "radio")
SHARED = "*"
"""What a control column holds in the inline data for a row shown at every value of that control."""


@dataclass(frozen=True)
class Control:
    """One control of an explorer: a Vega-Lite parameter named ``name`` bound to an input element.

    Attributes:
        name: the data column it filters on (and the parameter's name).
        kind: ``"slider"``, ``"select"`` or ``"radio"``.
        value: the default, shown in the PNG.
        options: the values a select or radio offers (a slider's are ``minimum, minimum + step, … maximum``).
        labels: what a select or radio shows for each option.
        minimum, maximum, step: a slider's range.
        label: the text next to the control.

    Example:
        >>> control = select("activation", ["relu", "tanh"], "tanh", label="activation")
        >>> control.param().param.to_dict()["bind"]["input"]
        'select'
    """

    name: str
    kind: str
    value: Any
    label: str
    options: tuple[Any, ...] = ()
    labels: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None

    def values(self) -> tuple[Any, ...]:
        """Every value the control can take."""
        if self.kind != "slider":
            return self.options
        count = int(round((self.maximum - self.minimum) / self.step)) + 1
        return tuple(float(v) for v in np.round(self.minimum + self.step * np.arange(count), 10))

    def param(self) -> Any:
        """The Altair parameter, bound to its input element."""
        import altair as alt

        if self.kind == "slider":
            bind = alt.binding_range(min=self.minimum, max=self.maximum, step=self.step, name=f"{self.label} ")
        elif self.kind == "select":
            bind = alt.binding_select(options=list(self.options), labels=list(self.labels), name=f"{self.label} ")
        else:
            bind = alt.binding_radio(options=list(self.options), labels=list(self.labels), name=f"{self.label} ")
        return alt.param(name=self.name, value=self.value, bind=bind)


def _name(name: Any) -> str:
    instance("name", name, str, "a name made of letters, digits and underscores")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"name must be made of letters, digits and underscores, starting with a letter; got {name!r}")
    return name


def slider(name: str, minimum: float, maximum: float, step: float, value: float, *, label: str | None = None
           ) -> Control:
    """A slider over ``minimum, minimum + step, … maximum`` filtering the data column ``name``.

    Example:
        >>> slider("depth", 2, 10, 2, 6).values()
        (2.0, 4.0, 6.0, 8.0, 10.0)
    """
    minimum = number("minimum", minimum)
    maximum = number("maximum", maximum, above=minimum)
    step = number("step", step, above=0)
    value = number("value", value, minimum=minimum, maximum=maximum)
    control = Control(_name(name), "slider", value, label or name, minimum=minimum, maximum=maximum, step=step)
    if not np.isclose(control.values(), value).any():
        raise ValueError(f"value must be one of the slider's steps {control.values()}; got {value!r}")
    return control


def _choice(kind: str, name: str, options: Sequence[Any], value: Any, labels: Sequence[str] | None,
            label: str | None) -> Control:
    if isinstance(options, (str, bytes)) or not isinstance(options, Sequence) or not options:
        raise TypeError(f"options must be a non-empty list of values; got {options!r}")
    one_of("value", value, options)
    labels = tuple(str(o) for o in options) if labels is None else tuple(labels)
    if len(labels) != len(options):
        raise ValueError(f"labels must give one label per option, {len(options)}; got {len(labels)}")
    return Control(_name(name), kind, value, label or name, options=tuple(options), labels=labels)


def select(name: str, options: Sequence[Any], value: Any, *, labels: Sequence[str] | None = None,
           label: str | None = None) -> Control:
    """A drop-down offering ``options`` (shown as ``labels``), filtering the data column ``name``.

    Example:
        >>> select("activation", ["relu", "tanh"], "relu").labels
        ('relu', 'tanh')
    """
    return _choice("select", name, options, value, labels, label)


def radio(name: str, options: Sequence[Any], value: Any, *, labels: Sequence[str] | None = None,
          label: str | None = None) -> Control:
    """Radio buttons offering ``options`` (shown as ``labels``), filtering the data column ``name``.

    Example:
        >>> radio("init", ["glorot", "he"], "he").kind
        'radio'
    """
    return _choice("radio", name, options, value, labels, label)


def _compact(data: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """Floats rounded to ``digits`` significant digits (the inline data are downloaded with the page)."""
    out = data.copy()
    for column in out.select_dtypes("float").columns:
        values = out[column].to_numpy(dtype=float)
        finite = np.isfinite(values) & (values != 0)
        scale = np.zeros_like(values)
        scale[finite] = np.floor(np.log10(np.abs(values[finite])))
        factor = 10.0 ** (digits - 1 - scale)
        out[column] = np.where(finite, np.round(values * factor) / factor, values)
    return out


def profile_chart(data: pd.DataFrame, controls: Sequence[Control], *, x: str, y: str, color: str,
                  panel: str | None = None, x_title: str, y_titles: Mapping[str, str] | str,
                  colors: Mapping[str, str] | None = None, dashed: Sequence[str] = (), log_y: bool = True,
                  x_upto: str | None = None, width: int = 300, height: int = 220, title: str | None = None) -> Any:
    """Curves of ``y`` against ``x``, one line per ``color`` value, one panel per ``panel`` value, showing only the
    rows whose control columns equal the controls' current values.

    The data go into the spec inline, as CSV (a third of the size of JSON records), with floats rounded to four
    significant digits. A row whose control column is empty (NaN or None) is shown for every value of that control:
    a reference curve that does not depend on it.

    Args:
        data: long format: a column per control, ``x``, ``y``, ``color`` and (optionally) ``panel``.
        controls: the explorer's controls; each filters the column of its name.
        x, y, color, panel: column names.
        x_title: the x axis' title.
        y_titles: the y axis' title, or one per panel value.
        colors: a colour per ``color`` value (the book's palette); by default Vega's.
        dashed: ``color`` values drawn dashed (a prediction next to a measurement).
        log_y: a logarithmic y axis (rows with ``y <= 0`` or non-finite are left out).
        x_upto: the name of a slider: rows whose ``x`` exceeds its value are hidden. With it, curves that do not
            depend on that control (e.g. a network's forward signal, the same for its first ``depth`` layers at any
            depth) are stored once, for its largest value, and shared.
        width, height: of one panel, in pixels.
        title: the chart's title.

    Returns:
        An Altair chart (``alt.HConcatChart`` with one panel per ``panel`` value, or ``alt.Chart``).

    Example:
        >>> data = pd.DataFrame({"depth": [2, 2, 4, 4], "layer": [1, 2, 1, 2], "norm": [1.0, 2.0, 0.5, 2.0],
        ...                      "net": ["a"] * 4})
        >>> chart = profile_chart(data, [slider("depth", 2, 4, 2, 2)], x="layer", y="norm", color="net",
        ...                       x_title="layer", y_titles="norm")
        >>> sorted(chart.to_dict()["params"][0])
        ['bind', 'name', 'value']
    """
    import altair as alt

    instance("data", data, pd.DataFrame, "a pandas DataFrame in long format")
    controls = list(controls)
    for control in controls:
        instance("controls[...]", control, Control, "gradbook.viz.vega controls (slider, select, radio)")
    needed = list(dict.fromkeys([c.name for c in controls] + [x, y, color] + ([panel] if panel else [])))
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise ValueError(f"data must have the columns {needed}; missing {missing}")
    rows = data[needed].copy()
    if log_y:
        rows = rows[np.isfinite(rows[y].to_numpy(dtype=float)) & (rows[y] > 0)]
    rows = _compact(rows)
    # A row whose control column is empty (NaN/None) belongs to every value of that control: a reference curve. In
    # the CSV such a cell reads "*" (Vega reads every inline CSV value as a string; "==" compares "0.1" with 0.1).
    for control in controls:
        rows[control.name] = rows[control.name].astype(object).where(rows[control.name].notna(), SHARED)
    keep = " && ".join(f"(datum[{json.dumps(c.name)}] == {json.dumps(SHARED)} || datum[{json.dumps(c.name)}] == "
                       f"{c.name})" for c in controls) or "true"
    if x_upto is not None:
        sliders = [c.name for c in controls if c.kind == "slider"]
        instance("x_upto", x_upto, str, "the name of a slider")
        if x_upto not in sliders:
            raise ValueError(f"x_upto must name one of the sliders {sliders}; got {x_upto!r}")
        keep += f" && toNumber(datum[{json.dumps(x)}]) <= {x_upto}"
    domain = list(dict.fromkeys(rows[color]))
    scale = alt.Scale(domain=domain, range=[colors[d] for d in domain]) if colors else alt.Undefined
    if isinstance(dashed, str):
        raise type_error("dashed", f"a list of {color} values", dashed)
    unknown = [d for d in dashed if d not in domain]
    if unknown:
        raise ValueError(f"dashed must name values of the column {color!r} ({domain}); got {unknown}")
    dash = alt.StrokeDash(f"{color}:N", scale=alt.Scale(domain=domain, range=[[5, 3] if d in dashed else [1, 0]
                                                                               for d in domain]), legend=None)
    axis = alt.Axis(format=".0e") if log_y else alt.Undefined

    def one(panel_value: Any | None) -> Any:
        part = rows if panel_value is None else rows[rows[panel] == panel_value].drop(columns=panel)  # one value
        y_title = y_titles if isinstance(y_titles, str) else y_titles[panel_value]
        inline = alt.Data(values=part.to_csv(index=False), format=alt.DataFormat(type="csv"))  # compact
        return alt.Chart(inline).transform_filter(keep).mark_line(point=alt.OverlayMarkDef(size=18)).encode(
            x=alt.X(f"{x}:Q", title=x_title),
            y=alt.Y(f"{y}:Q", title=y_title, scale=alt.Scale(type="log" if log_y else "linear"), axis=axis),
            color=alt.Color(f"{color}:N", scale=scale, title=None, legend=alt.Legend(orient="bottom")),
            strokeDash=dash,
            tooltip=[alt.Tooltip(f"{x}:Q"), alt.Tooltip(f"{y}:Q", format=".3~g"), alt.Tooltip(f"{color}:N")],
        ).properties(width=width, height=height)

    panels = list(dict.fromkeys(rows[panel])) if panel else [None]
    chart = one(panels[0]) if len(panels) == 1 else alt.hconcat(*(one(p) for p in panels))
    chart = chart.add_params(*(c.param() for c in controls))
    if title:
        chart = chart.properties(title=title)
    return chart.configure_view(stroke=None).configure_axis(grid=True, gridOpacity=0.3)


class Explorer:
    """A chart for the static site: its Vega-Lite spec inline, and a PNG of its default view.

    Displayed in a notebook it is HTML: ``<div class="vega-explorer">`` with the spec (a JSON script), a target for
    the live chart and the PNG, which stays visible where the chart cannot be drawn (no JavaScript, or a kernel's
    front end without the site's Vega).

    Attributes:
        name: the explorer's id on its page (letters, digits, underscores).
        spec: the Vega-Lite spec (a dict).
        png: the default view as PNG bytes.
        nbytes: the size of the inline spec, data included, at most ``MAX_BYTES``.

    Example:
        >>> data = pd.DataFrame({"k": [1, 1, 2, 2], "t": [1, 2, 1, 2], "v": [1.0, 2.0, 3.0, 4.0], "c": ["a"] * 4})
        >>> chart = profile_chart(data, [slider("k", 1, 2, 1, 1)], x="t", y="v", color="c", x_title="t",
        ...                       y_titles="v")
        >>> explorer = Explorer(chart, name="demo", alt="a line that the slider moves up")
        >>> explorer.png[:4], 'class="vega-explorer"' in explorer._repr_html_()
        (b'\\x89PNG', True)
    """

    def __init__(self, chart: Any, *, name: str, alt: str, scale: float = 1.5) -> None:
        import vl_convert as vlc

        self.name = _name(name)
        instance("alt", alt, str, "a text saying what the explorer shows")
        if not alt.strip():
            raise ValueError("alt must say what the explorer shows; got an empty text")
        self.alt = alt
        self.spec = chart if isinstance(chart, dict) else chart.to_dict()
        instance("chart", self.spec, dict, "an Altair chart or a Vega-Lite spec (a dict)")
        self.nbytes = len(json.dumps(self.spec, separators=(",", ":")).encode())
        if self.nbytes > MAX_BYTES:
            raise ValueError(f"chart's spec must be at most {MAX_BYTES} bytes (its data are downloaded with the "
                             f"page): measure a coarser grid or round the data; got {self.nbytes} bytes")
        self.png = vlc.vegalite_to_png(self.spec, scale=number("scale", scale, above=0))

    def _repr_html_(self) -> str:
        spec = json.dumps(self.spec, separators=(",", ":")).replace("</", "<\\/")  # safe inside <script>
        image = base64.b64encode(self.png).decode()
        return (f'<div class="vega-explorer" id="explorer-{self.name}">'
                f'<script type="application/json" class="vega-spec">{spec}</script>'
                f'<div class="vega-target"></div>'
                f'<img class="vega-fallback" alt="{html.escape(self.alt)}" '
                f'src="data:image/png;base64,{image}" style="max-width: 100%">'
                f'</div>')

    def __repr__(self) -> str:
        return f"<Explorer {self.name!r}: {self.nbytes:,} bytes of spec>"


def grid_size(controls: Sequence[Control]) -> int:
    """How many settings the controls span together: the rows of data an explorer needs per curve point.

    Example:
        >>> grid_size([slider("depth", 2, 10, 2, 2), select("act", ["relu", "tanh"], "relu")])
        10
    """
    size = 1
    for control in controls:
        size *= len(control.values())
    return integer("grid size", size)
