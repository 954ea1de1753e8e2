"""gradbook.viz.vega: the kernel-free explorers' controls, charts and HTML."""
import json

import numpy as np
import pandas as pd
import pytest

from gradbook.viz.vega import MAX_BYTES, Explorer, grid_size, profile_chart, radio, select, slider

DATA = pd.DataFrame({
    "depth": [2, 2, 4, 4, 2, 4], "act": ["relu", "relu", "relu", "relu", "tanh", "tanh"],
    "layer": [1, 2, 1, 2, 1, 1], "norm": [1.0, 2.0, 0.5, 0.0, 3.0, np.nan], "net": ["a"] * 6,
})


def _spec(chart):
    return chart.to_dict()


def test_controls_become_bound_parameters_that_filter_the_rows():
    chart = profile_chart(DATA, [slider("depth", 2, 4, 2, 4), select("act", ["relu", "tanh"], "relu")],
                          x="layer", y="norm", color="net", x_title="layer", y_titles="norm")
    spec = _spec(chart)
    params = {p["name"]: p for p in spec["params"]}
    assert params["depth"]["value"] == 4 and params["depth"]["bind"]["input"] == "range"
    assert params["act"]["bind"]["options"] == ["relu", "tanh"]
    text = json.dumps(spec)
    assert 'datum[\\"depth\\"] == depth' in text and 'datum[\\"act\\"] == act' in text
    csv = spec["data"]["values"]
    assert csv.splitlines()[0] == "depth,act,layer,norm,net"
    assert len(csv.splitlines()) == 1 + 4  # the zero and the NaN cannot go on a log axis: left out


def test_rows_with_an_empty_control_column_are_shared_by_every_value():
    data = DATA.assign(depth=[2, 2, 4, 4, None, None])
    spec = _spec(profile_chart(data, [slider("depth", 2, 4, 2, 2)], x="layer", y="norm", color="act",
                               x_title="layer", y_titles="norm", log_y=False))
    assert 'datum[\\"depth\\"] == \\"*\\"' in json.dumps(spec)
    assert "*,1,3.0,tanh" in spec["data"]["values"].splitlines()


def test_panels_and_colours():
    data = pd.concat([DATA.assign(signal="gradient"), DATA.assign(signal="spread")])
    spec = _spec(profile_chart(data, [select("act", ["relu", "tanh"], "relu")], x="layer", y="norm", color="net",
                               panel="signal", x_title="layer", y_titles={"gradient": "g", "spread": "s"},
                               colors={"a": "#0072B2"}))
    assert len(spec["hconcat"]) == 2
    assert [p["encoding"]["y"]["title"] for p in spec["hconcat"]] == ["g", "s"]
    assert spec["hconcat"][0]["encoding"]["color"]["scale"]["range"] == ["#0072B2"]


def test_each_panel_carries_only_its_rows_without_the_panel_column():
    data = pd.concat([DATA.assign(signal="gradient"), DATA.assign(signal="spread", norm=DATA.norm * 10)])
    spec = _spec(profile_chart(data, [select("act", ["relu", "tanh"], "relu")], x="layer", y="norm", color="net",
                               panel="signal", x_title="layer", y_titles="n"))
    first, second = (p["data"]["values"].splitlines() for p in spec["hconcat"])
    assert first[0] == second[0] == "act,layer,norm,net"
    assert "relu,1,1.0,a" in first and "relu,1,10.0,a" in second and "relu,1,10.0,a" not in first


def test_x_upto_hides_the_layers_above_the_sliders_value():
    data = DATA.assign(depth=[None] * 6)             # one curve for every depth, cut at the chosen one
    spec = _spec(profile_chart(data, [slider("depth", 2, 4, 2, 2)], x="layer", y="norm", color="act",
                               x_title="layer", y_titles="norm", x_upto="depth"))
    assert 'toNumber(datum[\\"layer\\"]) <= depth' in json.dumps(spec)
    with pytest.raises(ValueError, match="x_upto must name one of the sliders"):
        profile_chart(data, [select("act", ["relu", "tanh"], "relu")], x="layer", y="norm", color="net",
                      x_title="layer", y_titles="norm", x_upto="act")


def test_dashed_values_get_a_dash_pattern_and_the_others_a_solid_line():
    data = pd.concat([DATA.assign(net="measured"), DATA.assign(net="theory")])
    spec = _spec(profile_chart(data, [select("act", ["relu", "tanh"], "relu")], x="layer", y="norm", color="net",
                               x_title="layer", y_titles="norm", dashed=["theory"]))
    dash = spec["encoding"]["strokeDash"]["scale"]
    assert dash["domain"] == ["measured", "theory"] and dash["range"] == [[1, 0], [5, 3]]
    with pytest.raises(ValueError, match="dashed must name values of the column 'net'"):
        profile_chart(data, [], x="layer", y="norm", color="net", x_title="l", y_titles="n", dashed=["theroy"])
    with pytest.raises(TypeError, match="dashed must be a list"):
        profile_chart(data, [], x="layer", y="norm", color="net", x_title="l", y_titles="n", dashed="theory")


def test_a_control_can_also_be_the_colour():
    spec = _spec(profile_chart(DATA, [select("act", ["relu", "tanh"], "relu")], x="layer", y="norm", color="act",
                               x_title="layer", y_titles="norm", colors={"relu": "#0072B2", "tanh": "#E69F00"}))
    assert spec["encoding"]["color"]["scale"]["domain"] == ["relu", "tanh"]
    assert spec["data"]["values"].splitlines()[0] == "act,layer,norm"


def test_floats_are_rounded_to_four_significant_digits():
    data = pd.DataFrame({"k": [1, 1], "t": [1, 2], "v": [1.234567e-9, 98765.4321], "c": ["a", "a"]})
    csv = _spec(profile_chart(data, [slider("k", 1, 1.5, 0.5, 1)], x="t", y="v", color="c", x_title="t",
                              y_titles="v"))["data"]["values"]
    assert "1.235e-09" in csv and "98770.0" in csv


def test_explorer_html_carries_the_spec_and_a_png_of_the_default_view():
    chart = profile_chart(DATA, [slider("depth", 2, 4, 2, 2)], x="layer", y="norm", color="net", x_title="layer",
                          y_titles="norm")
    explorer = Explorer(chart, name="demo_1", alt="curves the slider moves")
    page = explorer._repr_html_()
    assert page.startswith('<div class="vega-explorer" id="explorer-demo_1">')
    assert '<script type="application/json" class="vega-spec">' in page and 'alt="curves the slider moves"' in page
    assert explorer.png[:8] == b"\x89PNG\r\n\x1a\n" and len(explorer.png) > 1000
    assert 0 < explorer.nbytes < 10_000


def test_explorer_refuses_data_too_large_for_a_page():
    big = pd.DataFrame({"k": 1, "t": np.arange(40_000), "v": np.linspace(1, 2, 40_000), "c": "a"})
    chart = profile_chart(big, [slider("k", 1, 2, 1, 1)], x="t", y="v", color="c", x_title="t", y_titles="v")
    with pytest.raises(ValueError, match=f"at most {MAX_BYTES} bytes"):
        Explorer(chart, name="big", alt="too much")


@pytest.mark.parametrize("call, error, match", [
    (lambda: slider("depth", 2, 10, 2, 3), ValueError, "value must be one of the slider's steps"),
    (lambda: slider("depth", 2, 1, 1, 2), ValueError, "maximum must be a finite number > 2"),
    (lambda: slider("1depth", 1, 2, 1, 1), ValueError, "name must be made of letters"),
    (lambda: select("act", "relu", "relu"), TypeError, "options must be a non-empty list"),
    (lambda: select("act", ["relu"], "tanh"), ValueError, "value must be one of"),
    (lambda: radio("act", ["a", "b"], "a", labels=["A"]), ValueError, "labels must give one label per option"),
    (lambda: profile_chart(DATA, [slider("depth", 2, 4, 2, 2)], x="layer", y="missing", color="net",
                           x_title="l", y_titles="n"), ValueError, "data must have the columns"),
    (lambda: profile_chart(DATA, ["depth"], x="layer", y="norm", color="net", x_title="l", y_titles="n"),
     TypeError, "controls"),
    (lambda: Explorer({"mark": "point"}, name="x", alt=" "), ValueError, "alt must say what the explorer shows"),
])
def test_bad_arguments_name_what_is_allowed(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_grid_size_multiplies_the_controls():
    assert grid_size([slider("d", 5, 30, 5, 5), select("a", list("abc"), "a"), radio("i", [1, 2], 1)]) == 36
