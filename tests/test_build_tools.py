"""The site's own build tools (site/): glued numbers in textbook notation, the execution cache's fingerprint."""
import os
from pathlib import Path

import pytest

import execution_cache
from textbook_numbers import textbook


@pytest.mark.parametrize("text, expected", [
    ("8.2e+06", "8.2 × 10⁶"), ("1.1e-12", "1.1 × 10⁻¹²"), ("-3e-05", "−3 × 10⁻⁵"), ("2.5e+00", "2.5"),
    ("1e+25", "1 × 10²⁵"), ("0.84", "0.84"), ("12%", "12%"), ("NaN", "NaN"), ("1,234", "1,234"),
])
def test_textbook_notation(text, expected):
    assert textbook(text) == expected


def test_fingerprint_follows_gradbook_the_lock_and_the_settings(monkeypatch, tmp_path):
    for name in execution_cache.SETTINGS:
        monkeypatch.delenv(name, raising=False)
    base = execution_cache.fingerprint()
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")  # the default, spelled out: the same outputs
    assert execution_cache.fingerprint() == base
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    onednn = execution_cache.fingerprint()
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS")
    monkeypatch.setenv("GRADBOOK_SEED_SHIFT", "1")
    shifted = execution_cache.fingerprint()
    assert len({base, onednn, shifted}) == 3
    monkeypatch.delenv("GRADBOOK_SEED_SHIFT")
    fake = tmp_path / "code" / "gradbook"  # a changed source file changes it too
    fake.mkdir(parents=True)
    for path in execution_cache._inputs():
        target = tmp_path / path.relative_to(execution_cache.ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    monkeypatch.setattr(execution_cache, "ROOT", tmp_path)
    assert execution_cache.fingerprint() == base
    source = (fake / "repro.py").read_text()
    (fake / "repro.py").write_text(source.replace('"""', '"""Reworded. ', 1) + "\n# a comment\n")
    assert execution_cache.fingerprint() == base        # a docstring or a comment changes no output
    (fake / "repro.py").write_text(source + "\nCHANGED = 1\n")
    assert execution_cache.fingerprint() != base


def test_a_stale_cache_is_emptied(tmp_path):
    cache = tmp_path / ".jupyter_cache"
    assert execution_cache.ensure_fresh(cache)          # new: stamped
    (cache / "executed-notebook").write_text("outputs")
    assert not execution_cache.ensure_fresh(cache)      # same fingerprint: kept
    assert (cache / "executed-notebook").exists()
    (cache / execution_cache.STAMP_NAME).write_text("another environment\n")
    assert execution_cache.ensure_fresh(cache)          # stale: emptied
    assert not (cache / "executed-notebook").exists()
