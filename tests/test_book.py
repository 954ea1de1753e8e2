"""The book's structure: what _toc.yml lists is what nbval executes, and every notebook is stored clean."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOC_FILES = re.findall(r"file:\s*([^\s#]+)", (ROOT / "_toc.yml").read_text())
NOTEBOOKS = sorted(p for p in (ROOT / "chapters").glob("*.ipynb"))


def _source(path):
    for ext in ("", ".ipynb", ".md"):
        if (ROOT / (path + ext)).exists():
            return ROOT / (path + ext)
    return None


def test_toc_entries_exist():
    missing = [f for f in TOC_FILES if _source(f) is None]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def test_every_notebook_is_in_the_toc_so_nbval_runs_exactly_the_book():
    listed = {_source(f) for f in TOC_FILES}
    assert NOTEBOOKS, "no chapter notebooks found"
    assert set(NOTEBOOKS) <= listed, f"notebooks missing from _toc.yml: {sorted(set(NOTEBOOKS) - listed)}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_clean_and_checks_its_claims(nb):
    data = json.loads(nb.read_text())
    code = [c for c in data["cells"] if c["cell_type"] == "code"]
    assert not any(c.get("outputs") or c.get("execution_count") for c in code), "store notebooks without outputs"
    checks = [c for c in code if "remove-cell" in c.get("metadata", {}).get("tags", [])
              and "assert" in "".join(c["source"])]
    assert checks, "no check cell (tag remove-cell, with assert)"
    assert any("glue(" in "".join(c["source"]) for c in code), "no glued numbers"
    for cell in code:  # every claim goes through gradbook.repro.checks: strict in builds, a message for readers
        source = "".join(cell["source"])
        bare = [line for line in source.splitlines() if line.startswith("assert ")]
        assert not bare, f"assert outside `with checks():` in a cell: {bare[0]}"
        assert "default_rng(" not in source, "seed NumPy with gradbook.repro.rng(seed), so GRADBOOK_SEED_SHIFT reaches it"


HIDDEN = {"remove-cell", "remove-input", "hide-input", "hide-cell"}


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_visible_code_fits_the_page_and_figure_code_is_folded(nb):
    """Code a reader sees unfolded fits the text column (88 characters at 1366 px); code that only draws a figure
    (it glues one) sits behind a toggle, or is the teaching code of an explorer that the page also shows."""
    for index, cell in enumerate(json.loads(nb.read_text())["cells"]):
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell["cell_type"] != "code" or tags & HIDDEN:
            continue
        source = "".join(cell["source"])
        long = [line for line in source.splitlines() if len(line) > 88]
        assert not long, f"cell {index}: a visible line of {len(long[0])} characters: {long[0]!r}"
        if 'glue("fig_' in source and "Explorer(" not in source:
            raise AssertionError(f"cell {index} draws a figure in view: tag it hide-input")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_every_literal_glue_name_is_glued_once(nb):
    """myst-nb warns (and the build fails) when a page glues one name twice."""
    names = re.findall(r"""glue\(\s*["']([^"'{}]+)["']""", "".join(
        "".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"))
    twice = sorted({n for n in names if names.count(n) > 1})
    assert not twice, f"glued more than once: {twice}"


def _repository_url():
    match = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", (ROOT / "_config.yml").read_text(), re.MULTILINE)
    assert match, "_config.yml has no repository url"
    return match.group(1).rstrip("/")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_installs_gradbook_from_the_configured_repository(nb):
    """Colab opens a notebook alone: its first code cell installs gradbook when missing, from _config.yml's repo."""
    first = next(c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
    source = "".join(first["source"])
    assert 'find_spec("gradbook") is None' in source and "%pip install" in source
    assert f"git+{_repository_url()}#subdirectory=code" in source
    assert "\nimport gradbook" in source, "import gradbook in the first cell: it quiets TensorFlow's C++ log"
