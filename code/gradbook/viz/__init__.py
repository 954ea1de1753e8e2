"""Figures and interactive explorers for the book's notebooks; only notebooks import this subpackage (gradbook's other
modules compute, they never draw).

- ``plots``: the book's colour-blind-safe palette (Okabe & Ito) and the plots several chapters share;
- ``explorers``: ipywidgets explorers that re-measure and redraw as the reader moves their controls.
"""
