"""The built site as a reader meets it: every page loads cleanly, math renders, search works, buttons are there."""
from __future__ import annotations

import re

import pytest

from conftest import HTML, SCREENSHOTS

PAGES = sorted(p.relative_to(HTML).as_posix() for p in (HTML / "chapters").glob("*.html"))
NOTEBOOK_PAGES = [p for p in PAGES if re.match(r"chapters/\d", p)]


def _open(page, site_url, rel):
    response = page.goto(f"{site_url}/{rel}", wait_until="networkidle")
    assert response is not None and response.ok, f"{rel}: HTTP {response.status if response else 'no response'}"
    return response


def test_site_has_the_chapters():
    assert "chapters/intro.html" in PAGES and "chapters/01_background.html" in PAGES


@pytest.mark.parametrize("rel", PAGES)
def test_page_loads_without_errors_or_outside_requests(page, site_url, rel):
    _open(page, site_url, rel)
    page.wait_for_timeout(300)  # let MathJax finish its work
    assert not page.external, f"{rel} tried to load from outside the site: {page.external}"
    assert not page.failed, f"{rel} had failed requests: {page.failed}"
    assert not page.console_errors, f"{rel} logged console errors: {page.console_errors}"


def test_math_renders_with_the_local_mathjax(page, site_url):
    _open(page, site_url, "chapters/01_background.html")
    page.wait_for_selector("mjx-container", timeout=15000)
    assert page.locator("mjx-container").count() > 5
    assert page.evaluate("() => window.MathJax && window.MathJax.version").startswith("3.")


def test_search_finds_a_term(page, site_url):
    _open(page, site_url, "search.html?q=sigmoid")
    page.wait_for_selector("#search-results li", timeout=15000)
    hits = page.locator("#search-results li a").all_inner_texts()
    assert any("Background" in h for h in hits), hits


def test_launch_and_download_buttons(page, site_url):
    _open(page, site_url, "chapters/01_background.html")
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    assert any("mybinder.org/v2/gh/" in h and "01_background.ipynb" in h for h in hrefs), "no Binder launch link"
    assert any("colab.research.google.com/github/" in h and "01_background.ipynb" in h for h in hrefs), "no Colab link"
    assert any(h.endswith("_sources/chapters/01_background.ipynb") for h in hrefs), "no .ipynb download"
    assert page.locator(".btn-download-pdf-button, button[onclick*='print']").count() >= 1


def test_no_widget_manager_or_saved_widget_state_on_the_pages():
    """The ipywidgets explorers run in a live kernel only: their output is removed from the pages, and the site loads
    no widget manager (ipywidgets 8's manager calls MathJax 2's API, which the site's MathJax 3 lacks)."""
    for rel in NOTEBOOK_PAGES:
        text = (HTML / rel).read_text()
        assert "application/vnd.jupyter.widget-state+json" not in text, f"{rel} carries saved widget state"
        assert "application/vnd.jupyter.widget-view+json" not in text, f"{rel} shows a widget view"
        assert "embed-amd" not in text and "require.js" not in text, f"{rel} loads a widget manager"


def test_screenshots_for_the_build_artefacts(page, site_url):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, rel in (("landing", "chapters/intro.html"), ("chapter01", "chapters/01_background.html")):
        _open(page, site_url, rel)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000


EXPLORER_PAGES = [p for p in NOTEBOOK_PAGES if 'class="vega-explorer"' in (HTML / p).read_text()]

_CONTROL_STATES = """() => Array.from(document.querySelectorAll('div.vega-explorer')).map(explorer => ({
    id: explorer.id,
    controls: Array.from(explorer.querySelectorAll('.vega-bind')).map(bind => {
        const input = bind.querySelector('input, select');
        return {kind: input.tagName === 'SELECT' ? 'select' : input.type, name: bind.querySelector('.vega-bind-name')
                ? bind.querySelector('.vega-bind-name').textContent : ''};
    }),
}))"""


def _svg(page, explorer_id):
    return page.evaluate("async id => await window.gradbookExplorers[id].toSVG()", explorer_id)


def _change(page, explorer_id, index, kind):
    """Move control number ``index`` of an explorer to another of its values, as a reader would."""
    bind = page.locator(f"#{explorer_id} .vega-bind").nth(index)
    if kind == "range":
        page.evaluate("""([id, i]) => {
            const input = document.querySelectorAll('#' + id + ' .vega-bind')[i].querySelector('input');
            const step = Number(input.step), min = Number(input.min), max = Number(input.max);
            const value = Number(input.value) + step <= max ? Number(input.value) + step : min;
            input.value = value;
            input.dispatchEvent(new Event('input', {bubbles: true}));
            input.dispatchEvent(new Event('change', {bubbles: true}));
        }""", [explorer_id, index])
    elif kind == "select":
        select = bind.locator("select")
        options = select.locator("option").all()
        current = select.input_value()
        other = next(o.get_attribute("value") for o in options if o.get_attribute("value") != current)
        select.select_option(other)
    else:  # radio
        radios = bind.locator("input[type=radio]").all()
        next(r for r in radios if not r.is_checked()).check()
    page.evaluate("id => window.gradbookExplorers[id].runAsync().then(() => true)", explorer_id)


def test_the_chapters_have_kernel_free_explorers():
    assert EXPLORER_PAGES, "no page carries a kernel-free explorer"


@pytest.mark.parametrize("rel", EXPLORER_PAGES)
def test_every_control_of_every_explorer_changes_its_chart(page, site_url, rel):
    _open(page, site_url, rel)
    page.evaluate("() => window.gradbookExplorersReady.then(() => true)")
    explorers = page.evaluate(_CONTROL_STATES)
    assert explorers and all(e["controls"] for e in explorers), explorers
    for explorer in explorers:
        assert page.evaluate("id => Boolean(window.gradbookExplorers[id])", explorer["id"]), explorer["id"]
        assert page.locator(f"#{explorer['id']} .vega-fallback").is_hidden()  # the live chart replaced the PNG
        for index, control in enumerate(explorer["controls"]):
            before = _svg(page, explorer["id"])
            _change(page, explorer["id"], index, control["kind"])
            after = _svg(page, explorer["id"])
            assert after != before, f"{rel}: moving {control['name'] or index} of {explorer['id']} changed nothing"
    assert not page.external, f"{rel} tried to load from outside the site: {page.external}"
    assert not page.console_errors, f"{rel} logged console errors: {page.console_errors}"


@pytest.mark.parametrize("rel", EXPLORER_PAGES)
def test_explorers_degrade_to_their_png_without_javascript(browser, site_url, rel):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{site_url}/{rel}")
    fallbacks = page.locator("div.vega-explorer img.vega-fallback")
    assert fallbacks.count() >= 1
    for i in range(fallbacks.count()):
        image = fallbacks.nth(i)
        assert image.is_visible() and image.get_attribute("alt")
        assert page.evaluate("img => img.naturalWidth", image.element_handle()) > 100
    context.close()
