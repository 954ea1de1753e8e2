"""The book's figures: one colour-blind-safe palette (Okabe & Ito) and the plots that several chapters share.

Only notebooks (and ``gradbook.viz.explorers``) import this module; the computing modules never draw.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from gradbook._validate import instance, one_of

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
    """Matplotlib settings for the book: white figure background (readable in the theme's dark mode), grid, sizes.

    Example:
        >>> use_book_style()
        >>> mpl.rcParams["figure.facecolor"], mpl.rcParams["axes.grid"]
        ('white', True)
    """
    mpl.rcParams.update({
        "figure.figsize": (7.0, 4.0), "figure.dpi": 100, "savefig.dpi": 150,
        "figure.facecolor": "white", "savefig.facecolor": "white", "axes.facecolor": "white",
        "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
        "axes.prop_cycle": mpl.cycler(color=[OKABE_ITO[k] for k in
                                             ("blue", "vermillion", "green", "orange", "purple", "sky_blue", "black")]),
        "legend.frameon": False, "font.size": 10,
    })


def color_for(label: str) -> str | None:
    """The book's colour for a label that starts with an activation name (``"relu + He"`` → ReLU's blue), else None.

    Example:
        >>> color_for("relu + He") == OKABE_ITO["blue"], color_for("baseline")
        (True, None)
    """
    instance("label", label, str, "a string")
    key = label.lower().replace("-", "_").replace(" ", "_")
    for name in sorted(ACTIVATION_COLORS, key=len, reverse=True):
        if key.startswith(name):
            return ACTIVATION_COLORS[name]
    return None


def _plot_curves(curves: Mapping[str, Any], ax: plt.Axes | None,
                 styles: Mapping[str, Mapping[str, Any]] | None) -> plt.Axes:
    """One line per variant, x from 1, in the book's colour for its label; non-finite values leave gaps."""
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError(f"curves must hold at least one variant (a dict label → values); got {curves!r}")
    if ax is None:
        _, ax = plt.subplots()
    for label, values in curves.items():
        values = np.asarray(values, dtype=float)
        kw = {"color": color_for(label), "marker": "o", "markersize": 3}
        kw.update((styles or {}).get(label, {}))
        ax.plot(np.arange(1, len(values) + 1), np.where(np.isfinite(values), values, np.nan), label=label, **kw)
    return ax


def plot_layer_norms(curves: Mapping[str, pd.Series | np.ndarray], ax: plt.Axes | None = None, *,
                     ylabel: str = r"$\|\partial \mathcal{L} / \partial W^l\|$", title: str | None = None,
                     styles: Mapping[str, Mapping[str, Any]] | None = None) -> plt.Axes:
    """Per-layer values (input → output) of several variants on one log axis, one line each.

    Example:
        >>> ax = plot_layer_norms({"sigmoid": np.logspace(-12, 0, 21)})
        >>> ax.get_yscale(), [line.get_label() for line in ax.get_lines()]
        ('log', ['sigmoid'])
    """
    ax = _plot_curves(curves, ax, styles)
    ax.set_yscale("log")
    ax.set_xlabel("layer $l$ (1 = next to the input)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


def plot_layer_norms_with_theory(measured: Mapping[str, pd.Series | np.ndarray],
                                 predicted: Mapping[str, pd.Series | np.ndarray], ax: plt.Axes | None = None, *,
                                 theory_label: str = "mean-field theory", **kwargs: Any) -> plt.Axes:
    """``plot_layer_norms`` of the measured curves, each with its prediction as a dashed line of the same colour.

    ``predicted`` maps some (or all) labels of ``measured`` to predicted values for the same layers; the legend gets
    one entry for all the dashed lines. Non-finite measurements (overflow) leave gaps in the lines. ``kwargs`` go
    to ``plot_layer_norms``.

    Example:
        >>> norms = np.logspace(-12, 0, 21)
        >>> ax = plot_layer_norms_with_theory({"sigmoid": norms}, {"sigmoid": norms})
        >>> [line.get_linestyle() for line in ax.get_lines()]
        ['-', '--']
    """
    unknown = sorted(set(predicted) - set(measured))
    if unknown:
        raise ValueError(f"predicted must have only labels of measured, {sorted(measured)}; got also {unknown}")
    measured = {label: np.asarray(values, dtype=float) for label, values in measured.items()}
    measured = {label: np.where(np.isfinite(values), values, np.nan) for label, values in measured.items()}
    ax = plot_layer_norms(measured, ax, **kwargs)
    colours = {line.get_label(): line.get_color() for line in ax.get_lines()}
    for label, values in predicted.items():
        values = np.asarray(values, dtype=float)
        ax.plot(np.arange(1, len(values) + 1), values, linestyle="--", linewidth=1.2, color=colours.get(label),
                label="_nolegend_", alpha=0.9)
    if predicted:
        handles, labels = ax.get_legend_handles_labels()
        proxy = mpl.lines.Line2D([], [], color=OKABE_ITO["black"], linestyle="--", linewidth=1.2)
        ax.legend(handles + [proxy], labels + [theory_label])
    return ax


def _history_axes(history: pd.DataFrame, ax: plt.Axes | None) -> plt.Axes:
    """Check a ``GradientMonitor.history`` and return the axes to draw it on (new ones when ``ax`` is None)."""
    instance("history", history, pd.DataFrame, "a pandas.DataFrame (GradientMonitor.history)")
    if history.empty:
        raise ValueError("history must hold at least one recorded step; got an empty history")
    if ax is None:
        _, ax = plt.subplots()
    return ax


def plot_gradient_heatmap(history: pd.DataFrame, ax: plt.Axes | None = None, *, vmin: float | None = None,
                          vmax: float | None = None, cmap: str = "viridis") -> plt.Axes:
    """A layer × step heatmap of log10 gradient norms, from ``GradientMonitor.history`` (rows: input at the top).

    Example:
        >>> frame = pd.DataFrame([[1e-3, 1.0], [2e-3, 0.5]], index=[0, 5], columns=["dense_1", "logits"])
        >>> ax = plot_gradient_heatmap(frame)
        >>> ax.get_images()[0].get_array().shape       # layers × recorded steps
        (2, 2)
    """
    ax = _history_axes(history, ax)
    values = np.log10(np.clip(history.to_numpy(dtype=float).T, 1e-30, None))
    steps = history.index.to_numpy()
    image = ax.imshow(values, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest",
                      extent=(steps[0], steps[-1] if len(steps) > 1 else steps[0] + 1, len(history.columns) - 0.5, -0.5))
    ax.set_yticks(range(len(history.columns)), labels=list(history.columns))
    ax.set_xlabel("training step")
    ax.grid(False)
    ax.figure.colorbar(image, ax=ax, label=r"$\log_{10} \|\partial \mathcal{L} / \partial W\|$")
    return ax


def plot_gradient_lines(history: pd.DataFrame, ax: plt.Axes | None = None, *, cmap: str = "viridis") -> plt.Axes:
    """One line per layer of ``GradientMonitor.history`` on a log axis, coloured from input (dark) to output.

    Example:
        >>> frame = pd.DataFrame([[1e-3, 1.0], [2e-3, 0.5]], index=[0, 5], columns=["dense_1", "logits"])
        >>> ax = plot_gradient_lines(frame)
        >>> [line.get_label() for line in ax.get_lines()]
        ['dense_1', 'logits']
    """
    ax = _history_axes(history, ax)
    colors = plt.get_cmap(cmap)(np.linspace(0.0, 0.9, len(history.columns)))
    for color, name in zip(colors, history.columns):
        ax.plot(history.index, history[name], color=color, label=name, linewidth=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(r"$\|\partial \mathcal{L} / \partial W\|$")
    ax.legend(fontsize=8, ncols=2)
    return ax


def plot_loss_curves(curves: Mapping[str, Any], ax: plt.Axes | None = None, *, chance: float | None = None,
                     xlabel: str = "epoch", ylabel: str = "training loss", title: str | None = None,
                     styles: Mapping[str, Mapping[str, Any]] | None = None, log: bool = False) -> plt.Axes:
    """Loss curves of several variants on one axis (x from 1), with an optional dashed line at the chance loss.

    Each value of ``curves`` is a sequence of losses; non-finite values (a diverged run) are left out of its line.

    Example:
        >>> ax = plot_loss_curves({"relu + He": [2.2, 1.5, 0.9]}, chance=float(np.log(10)))
        >>> [line.get_label() for line in ax.get_lines()]
        ['relu + He', 'chance (2.30)']
    """
    ax = _plot_curves(curves, ax, styles)
    if chance is not None:
        ax.axhline(chance, color=OKABE_ITO["grey"], linestyle="--", linewidth=1, label=f"chance ({chance:.2f})")
    ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


GATED_CELLS = ("lstm", "gru")


def _diagram_parts(ax: plt.Axes) -> tuple[Any, Any, Any]:
    """Three drawing helpers bound to ``ax``: a gate box, an operation circle, an arrow along points."""
    from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

    def box(x: float, y: float, text: str, color: str) -> None:
        ax.add_patch(FancyBboxPatch((x - 0.3, y - 0.22), 0.6, 0.44, boxstyle="round,pad=0.02", facecolor=color,
                                    edgecolor=OKABE_ITO["black"], linewidth=1, zorder=3))
        ax.text(x, y, text, ha="center", va="center", fontsize=12, zorder=4)

    def op(x: float, y: float, text: str) -> None:
        ax.add_patch(Circle((x, y), 0.17, facecolor="white", edgecolor=OKABE_ITO["black"], linewidth=1, zorder=3))
        ax.text(x, y, text, ha="center", va="center", fontsize=8 if len(text) > 1 else 12, zorder=4)

    def arrow(*points: tuple[float, float], color: str = OKABE_ITO["black"], width: float = 1.2) -> None:
        for (x0, y0), (x1, y1) in zip(points[:-2], points[1:-1]):
            ax.plot([x0, x1], [y0, y1], color=color, linewidth=width, zorder=1, solid_capstyle="round")
        ax.add_patch(FancyArrowPatch(points[-2], points[-1], arrowstyle="-|>", mutation_scale=11, color=color,
                                     linewidth=width, shrinkA=0, shrinkB=0, zorder=2))

    return box, op, arrow


def gate_diagram(cell: str, ax: plt.Axes | None = None) -> plt.Axes:
    """A schematic of Keras' LSTM or GRU cell: gates (boxes: orange a sigmoid, green a tanh), element-wise operations
    (circles), and — thick, blue — the direct path along which the state, and its gradient, pass to the next step.

    The LSTM's direct path runs along the cell state, ``c_t = f_t ⊙ c_{t−1} + …``; the GRU's along the hidden state,
    ``h_t = z_t ⊙ h_{t−1} + …`` (``gradbook.gradients.recurrent_gates`` gives every equation). Every gate reads
    ``x_t`` and ``h_{t−1}`` (the thin line along the bottom).

    Args:
        cell: ``"lstm"`` or ``"gru"``.
        ax: the axes to draw on; a new figure when omitted.

    Returns:
        The axes, with the diagram and no axis lines.

    Example:
        >>> ax = gate_diagram("gru")
        >>> ax.get_title()
        'GRU (Keras, reset_after=True)'
    """
    one_of("cell", cell, GATED_CELLS)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 3.4))
    else:
        instance("ax", ax, plt.Axes, "a matplotlib Axes")
    box, op, arrow = _diagram_parts(ax)
    path, sigmoid, tanh = OKABE_ITO["blue"], "#FBE3C2", "#CDEBDD"  # the direct path; light orange, light green
    thick = {"color": path, "width": 3.0}
    r = 0.17  # the radius of an operation circle

    def direct_path(times: float, plus: float, before: str, after: str) -> None:
        """The thick line at height 3 from ``before`` to ``after``, through a × at ``times`` and a + at ``plus``."""
        arrow((0.0, 3.0), (times - r, 3.0), **thick)
        arrow((times + r, 3.0), (plus - r, 3.0), **thick)
        arrow((plus + r, 3.0), (7.2, 3.0), **thick)
        op(times, 3.0, "×")
        op(plus, 3.0, "+")
        ax.text(0.0, 3.12, before, fontsize=12, va="bottom")
        ax.text(7.2, 3.12, after, fontsize=12, va="bottom", ha="right")

    if cell == "lstm":
        direct_path(2.5, 4.5, "$c_{t-1}$", "$c_t$")
        ax.plot([0.0, 5.5], [0.6, 0.6], color=OKABE_ITO["black"], linewidth=1.2, zorder=1)
        for x in (1.5, 2.5, 3.5):
            arrow((x, 0.6), (x, 1.23))
        arrow((5.5, 0.6), (5.5, 0.88))
        arrow((1.5, 0.25), (1.5, 0.6))
        ax.text(0.0, 0.5, "$h_{t-1}$", fontsize=12, va="top")
        ax.text(1.5, 0.2, "$x_t$", fontsize=12, va="top", ha="center")
        box(1.5, 1.45, "$f_t$", sigmoid)
        box(2.5, 1.45, "$i_t$", sigmoid)
        box(3.5, 1.45, r"$\tilde c_t$", tanh)
        box(5.5, 1.1, "$o_t$", sigmoid)
        arrow((1.5, 1.67), (1.5, 2.5), (2.5, 2.5), (2.5, 3.0 - r))
        arrow((2.5, 1.67), (2.5, 2.0), (3.0 - r, 2.0))
        arrow((3.5, 1.67), (3.5, 2.0), (3.0 + r, 2.0))
        op(3.0, 2.0, "×")
        arrow((3.0, 2.0 + r), (3.0, 2.5), (4.5, 2.5), (4.5, 3.0 - r))
        arrow((5.5, 3.0), (5.5, 2.52))
        box(5.5, 2.3, r"$\tanh$", tanh)
        arrow((5.5, 2.08), (5.5, 1.75 + r))
        op(5.5, 1.75, "×")
        arrow((5.5, 1.32), (5.5, 1.75 - r))
        arrow((5.5 + r, 1.75), (7.2, 1.75))
        ax.text(7.2, 1.85, "$h_t$", fontsize=12, va="bottom", ha="right")
        ax.set_title("LSTM (Keras)")
    else:
        direct_path(3.5, 5.5, "$h_{t-1}$", "$h_t$")
        ax.plot([0.7, 0.7, 5.5], [3.0, 0.6, 0.6], color=OKABE_ITO["black"], linewidth=1.2, zorder=1)
        for x in (1.5, 2.5, 5.5):
            arrow((x, 0.6), (x, 1.23))
        arrow((1.5, 0.25), (1.5, 0.6))
        ax.text(1.5, 0.2, "$x_t$", fontsize=12, va="top", ha="center")
        box(1.5, 1.45, "$z_t$", sigmoid)
        box(2.5, 1.45, "$r_t$", sigmoid)
        box(5.5, 1.45, r"$\tilde h_t$", tanh)
        arrow((2.5, 1.67), (2.5, 1.9), (4.95, 1.9), (4.95, 1.45), (5.2, 1.45))  # r_t acts inside the candidate
        arrow((1.5, 1.67), (1.5, 2.3), (4.5 - r, 2.3))
        arrow((3.5, 2.3), (3.5, 3.0 - r))
        op(4.5, 2.3, "1−")
        arrow((4.5 + r, 2.3), (5.5 - r, 2.3))
        op(5.5, 2.3, "×")
        arrow((5.5, 1.67), (5.5, 2.3 - r))
        arrow((5.5, 2.3 + r), (5.5, 3.0 - r))
        ax.set_title("GRU (Keras, reset_after=True)")
    ax.set_xlim(-0.2, 7.4)
    ax.set_ylim(0.0, 3.45)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax
