"""Checking a model: ``diagnose`` (one call on a batch: what is wrong, why, what to do, where the book explains it) and
``GradientMonitor`` (a callback that records the per-layer gradient norms while ``fit`` trains).

Both live in their own module (``gradbook.diagnostics.diagnose``, ``gradbook.diagnostics.monitor``) and are imported
here, so ``from gradbook.diagnostics import diagnose, GradientMonitor`` (or ``from gradbook import …``) is all a
reader needs.
"""
from gradbook.diagnostics.diagnose import (BOOK_SECTIONS, BOOK_URL, KINDS, THRESHOLDS, DiagnosticReport, Finding,
                                           diagnose, untouched_batch_norm)
from gradbook.diagnostics.monitor import GradientMonitor

__all__ = ["BOOK_SECTIONS", "BOOK_URL", "KINDS", "THRESHOLDS", "DiagnosticReport", "Finding", "GradientMonitor",
           "diagnose", "untouched_batch_norm"]
