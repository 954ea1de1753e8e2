"""The executed-notebook cache that the book build and the tests share, and that cannot go stale.

The book executes its notebooks through jupyter-cache (``_build/.jupyter_cache``), which matches a notebook by its
code alone. Outputs also depend on gradbook's code (its docstrings and comments aside), the pinned environment and the settings that change results
(``GRADBOOK_*``, ``TF_ENABLE_ONEDNN_OPTS``), so this module stamps the cache with a fingerprint of all of them and
empties it whenever the fingerprint changes. It is used three ways:

- as a **Sphinx extension** (``_config.yml``): before myst-nb executes anything, a cache whose stamp differs from
  the current fingerprint is emptied, so ``make book`` re-executes every notebook after any such change;
- as a **pytest plugin** (``pytest.ini``): every notebook that nbval executed with all its cells passing is stored in
  the cache, executed, so ``make test`` followed by ``make book`` executes each notebook once (``-p
  no:execution_cache`` turns it off, as ``make robustness`` does for its runs with other seeds);
- as a **command**, ``python site/execution_cache.py``, which prints the fingerprint (the deploy workflow's cache key).
"""
from __future__ import annotations

import ast
import copy
import hashlib
import os
import platform
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "_build" / ".jupyter_cache"
STAMP_NAME = "fingerprint.txt"
# Settings that change what the notebooks compute, with the value that leaving them unset means (gradbook's
# defaults), so that "unset" and "set to the default" share one fingerprint.
SETTINGS = {"GRADBOOK_SEED_SHIFT": "0", "GRADBOOK_MNIST": "subset", "GRADBOOK_CHECKS": "strict",
            "TF_ENABLE_ONEDNN_OPTS": "0"}


def _inputs() -> list[Path]:
    code = sorted((ROOT / "code" / "gradbook").rglob("*.py"))
    return code + [ROOT / "code" / "pyproject.toml", ROOT / "requirements.txt"]


def _code(path: Path) -> bytes:
    """What of a file can change a result: a Python module's syntax tree without its docstrings (and so without its
    comments and layout); any other file's bytes."""
    if path.suffix != ".py":
        return path.read_bytes()
    tree = ast.parse(path.read_bytes(), filename=str(path))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree).encode()


def fingerprint() -> str:
    """A hash of gradbook's code (docstrings, comments and layout aside: they change no output), the lock, the Python
    version and the settings that change results."""
    digest = hashlib.sha256()
    for path in _inputs():
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + _code(path) + b"\0")
    digest.update(f"python {platform.python_version()}\0".encode())
    names = sorted(set(SETTINGS) | {k for k in os.environ if k.startswith("GRADBOOK_")})
    for name in names:
        value = os.environ.get(name, "").strip() or SETTINGS.get(name, "")
        digest.update(f"{name}={value}\0".encode())
    return digest.hexdigest()[:20]


def ensure_fresh(cache: Path = CACHE) -> bool:
    """Empty ``cache`` unless its stamp is the current fingerprint; returns whether it was emptied."""
    stamp, current = cache / STAMP_NAME, fingerprint()
    if stamp.exists() and stamp.read_text().strip() == current:
        return False
    if cache.exists():
        shutil.rmtree(cache)
    cache.mkdir(parents=True)
    stamp.write_text(current + "\n")
    return True


# --------------------------------------------------------------------------------------------------------------------
# Sphinx extension
# --------------------------------------------------------------------------------------------------------------------

def _sphinx_config_inited(app, config) -> None:
    cache = Path(getattr(config, "nb_execution_cache_path", "") or CACHE)
    if ensure_fresh(cache):
        print(f"execution cache: gradbook, the lock or a setting changed; emptied {cache} (fingerprint "
              f"{fingerprint()})", file=sys.stderr)


def setup(app):
    app.connect("config-inited", _sphinx_config_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


# --------------------------------------------------------------------------------------------------------------------
# pytest plugin: nbval's executions fill the cache
# --------------------------------------------------------------------------------------------------------------------

_RUNS: dict[Path, dict] = {}


def _nbval_cell(item) -> bool:
    return type(item).__name__ == "IPyNbCell" and hasattr(item, "cell")


def pytest_runtest_makereport(item, call) -> None:
    if call.when != "call" or not _nbval_cell(item):
        return
    run = _RUNS.setdefault(Path(str(item.fspath)).resolve(), {"cells": {}, "seconds": 0.0, "failed": False})
    run.setdefault("notebook", getattr(item.parent, "nb", None))  # as nbval read it, not as the file may be now
    run["seconds"] += call.duration
    if call.excinfo is not None or item.test_outputs is None:
        run["failed"] = True
    else:
        run["cells"][item.cell_num] = list(item.test_outputs)


def pytest_sessionfinish(session, exitstatus) -> None:
    complete = {path: run for path, run in _RUNS.items() if not run["failed"] and run["cells"]}
    if not complete:
        return
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    ensure_fresh(CACHE)
    cache = get_cache(str(CACHE))
    stored = []
    for path, run in sorted(complete.items()):
        if run.get("notebook") is None:  # not an nbval run we recognise: nothing to store
            continue
        nb = copy.deepcopy(run["notebook"])
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        if sorted(run["cells"]) != list(range(len(code))):  # a partial run (-k, a failed collection): not cached
            continue
        for count, cell in enumerate(code, start=1):
            cell.execution_count = count
            cell.outputs = [nbformat.from_dict(_clean(out, count)) for out in run["cells"][count - 1]]
        cache.cache_notebook_bundle(CacheBundleIn(nb, str(path), data={"execution_seconds": run["seconds"]}),
                                    check_validity=True, overwrite=True)
        stored.append(path.name)
    if stored:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"execution cache: stored {len(stored)} executed notebooks for the book build")


def _clean(output: dict, count: int) -> dict:
    """An nbval output as nbformat stores it (nbval keeps the message type; display outputs need metadata)."""
    out = dict(output)
    if out.get("output_type") in ("display_data", "execute_result"):
        out.setdefault("metadata", {})
        if out["output_type"] == "execute_result":
            out["execution_count"] = count
    return out


if __name__ == "__main__":
    print(fingerprint())
