"""The book's figures: one colour-blind-safe palette (Okabe & Ito) and the plots that several chapters share.

Only notebooks import this module; the computing modules never do.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

# Okabe & Ito (2008): distinguishable under the common colour-vision deficiencies.
OKABE_ITO = {
    "orange": "#E69F00", "sky_blue": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
    "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "black": "#000000", "grey": "#999999",
}
# One colour per activation function, the same in every chapter.
ACTIVATION_COLORS = {
    "sigmoid": OKABE_ITO["vermillion"], "tanh": OKABE_ITO["orange"], "relu": OKABE_ITO["blue"],
    "leaky_relu": OKABE_ITO["sky_blue"], "elu": OKABE_ITO["green"], "gelu": OKABE_ITO["purple"],
    "selu": OKABE_ITO["yellow"], "linear": OKABE_ITO["grey"],
}


def use_book_style() -> None:
    """Matplotlib settings for the book: white figure background (readable in the theme's dark mode), grid, sizes."""
    mpl.rcParams.update({
        "figure.figsize": (7.0, 4.0), "figure.dpi": 100, "savefig.dpi": 150,
        "figure.facecolor": "white", "savefig.facecolor": "white", "axes.facecolor": "white",
        "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
        "axes.prop_cycle": mpl.cycler(color=[OKABE_ITO[k] for k in
                                             ("blue", "vermillion", "green", "orange", "purple", "sky_blue", "black")]),
        "legend.frameon": False, "font.size": 10,
    })


def color_for(label: str) -> str | None:
    """The book's colour for a label that starts with an activation name (``"relu + He"`` → ReLU's blue), else None."""
    key = label.lower().replace("-", "_").replace(" ", "_")
    for name in sorted(ACTIVATION_COLORS, key=len, reverse=True):
        if key.startswith(name):
            return ACTIVATION_COLORS[name]
    return None


def plot_layer_norms(curves: Mapping[str, pd.Series | np.ndarray], ax: plt.Axes | None = None, *,
                     ylabel: str = r"$\|\partial L / \partial W_l\|$", title: str | None = None,
                     styles: Mapping[str, Mapping[str, Any]] | None = None) -> plt.Axes:
    """Per-layer values (input → output) of several variants on one log axis, one line each.

    Example:
        >>> ax = plot_layer_norms({"sigmoid": np.logspace(-12, 0, 21)})
    """
    if not curves:
        raise ValueError("curves must hold at least one variant")
    if ax is None:
        _, ax = plt.subplots()
    for label, values in curves.items():
        values = np.asarray(values, dtype=float)
        kw = {"color": color_for(label), "marker": "o", "markersize": 3}
        kw.update((styles or {}).get(label, {}))
        ax.plot(np.arange(1, len(values) + 1), values, label=label, **kw)
    ax.set_yscale("log")
    ax.set_xlabel("layer $l$ (1 = next to the input)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    return ax
