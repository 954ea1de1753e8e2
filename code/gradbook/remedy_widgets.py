"""Interactive explorers for chapter 6, the remedies (ipywidgets). Only notebooks import this module.

Each explorer has the same shape as ``gradbook.widgets.GradientExplorer``: ``controls`` (the widgets by name),
``widget`` (what to display), ``measure()`` (numbers for the current settings), ``draw()`` (a new
``matplotlib.figure.Figure`` of them) and ``figure`` (the latest one, usable as a static figure without a kernel).

- ``CliffExplorer``: gradient descent on Pascanu et al.'s recurrent cliff, with and without clipping — the knobs are
  the clipping threshold and the learning rate.
- ``ShatteredGradientExplorer``: ``dy/dx`` along a line of inputs for a plain BN-ReLU network and a residual one —
  the knobs are the depth and the scale of the residual branches' initialisation.
- ``ForgetBiasExplorer``: how far back an LSTM's gradient reaches — the knob is the forget gate's bias.
"""
from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
from IPython.display import display
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from gradbook._checks import positive_float, positive_int
from gradbook.jacobian import autocorrelation, gradient_along_line
from gradbook.models import deep_mlp, init_residual_branches
from gradbook.plots import OKABE_ITO
from gradbook.recurrent import cliff, descend_cliff, gradient_through_time


class _Explorer:
    """Controls above an output area; every change re-measures and redraws."""

    controls: dict[str, Any]

    def _assemble(self, rows: list[list[str]]) -> None:
        self.output = widgets.Output()
        self.widget = widgets.VBox([widgets.HBox([self.controls[n] for n in row]) for row in rows] + [self.output])
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.figure: Figure | None = None
        self.update(show=False)

    def settings(self) -> dict[str, Any]:
        """The current value of every control, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def measure(self) -> Any:  # pragma: no cover - each explorer defines it
        raise NotImplementedError

    def draw(self) -> Figure:  # pragma: no cover - each explorer defines it
        raise NotImplementedError

    def update(self, show: bool = True) -> None:
        """Re-measure, redraw ``figure`` and (when ``show``) replace what the output area displays."""
        self.measure()
        self.figure = self.draw()
        if show:
            with self.output:
                self.output.clear_output(wait=True)
                display(self.figure)

    def _on_change(self, change: dict) -> None:
        self.update(show=True)

    def _ipython_display_(self) -> None:
        with self.output:
            self.output.clear_output(wait=True)
            display(self.figure)
        display(self.widget)


class CliffExplorer(_Explorer):
    """Gradient descent on ``gradbook.recurrent.cliff`` from one start, plain and clipped, over the loss surface.

    Attributes:
        paths: ``{"plain": DataFrame, "clipped": DataFrame}`` of the latest runs (``descend_cliff``'s output).

    Example:
        >>> explorer = CliffExplorer(clip=2.0, learning_rate=0.1, iterations=20)
        >>> float(explorer.paths["clipped"]["step_norm"].max()) <= 2.0 * 0.1 + 1e-9   # moving a slider re-runs
        True
    """

    def __init__(self, w0: float = 8.75, b0: float = -1.5, *, clip: float = 10.0, learning_rate: float = 0.1,
                 iterations: int = 150) -> None:
        self.w0, self.b0 = float(w0), float(b0)
        self.iterations = positive_int("iterations", iterations)
        clip = positive_float("clip", clip)
        learning_rate = positive_float("learning_rate", learning_rate)
        if not 0.1 <= clip <= 100:
            raise ValueError(f"clip must be between 0.1 and 100; got {clip!r}")
        if not 0.01 <= learning_rate <= 0.3:
            raise ValueError(f"learning_rate must be between 0.01 and 0.3; got {learning_rate!r}")
        w, b = np.meshgrid(np.linspace(-8.0, 10.0, 361), np.linspace(-4.0, 8.0, 241))
        self.grid = (w, b, cliff(w, b)["loss"].to_numpy().reshape(w.shape))
        self.controls = {
            "clip": widgets.FloatLogSlider(value=clip, base=10, min=-1, max=2, step=0.1, description="clip at",
                                           continuous_update=False),
            "learning_rate": widgets.FloatSlider(value=learning_rate, min=0.01, max=0.3, step=0.01,
                                                 description="learning rate", continuous_update=False),
        }
        self.paths: dict[str, pd.DataFrame] = {}
        self._assemble([["clip", "learning_rate"]])

    def measure(self) -> dict[str, pd.DataFrame]:
        """Run plain and clipped gradient descent for the current settings; returns and stores ``paths``."""
        s = self.settings()
        kw = {"learning_rate": float(s["learning_rate"]), "iterations": self.iterations}
        self.paths = {"plain": descend_cliff(self.w0, self.b0, **kw),
                      "clipped": descend_cliff(self.w0, self.b0, clip=float(s["clip"]), **kw)}
        return self.paths

    def draw(self) -> Figure:
        """Left: the loss surface and both paths; right: the loss of each iteration (log scale)."""
        s = self.settings()
        fig = Figure(figsize=(9.0, 3.8), layout="constrained")
        ax_map, ax_loss = fig.subplots(1, 2)
        w, b, loss = self.grid
        mesh = ax_map.pcolormesh(w, b, loss, norm=LogNorm(vmin=1e-3, vmax=1e2), cmap="Greys", shading="auto")
        fig.colorbar(mesh, ax=ax_map, label="loss $L(w, b)$")
        styles = {"plain": (OKABE_ITO["vermillion"], "no clipping"),
                  "clipped": (OKABE_ITO["blue"], f"clipped at {float(s['clip']):.3g}")}
        for key, path in self.paths.items():
            colour, label = styles[key]
            ax_map.plot(path["w"], path["b"], "-o", color=colour, markersize=2, linewidth=1, label=label)
            ax_loss.plot(path.index, path["loss"], color=colour, label=label)
        ax_map.plot([self.w0], [self.b0], "k*", markersize=9, label="start")
        ax_map.set(xlim=(w.min(), w.max()), ylim=(b.min(), b.max()), xlabel="$w$", ylabel="$b$",
                   title="the loss surface and the two paths")
        ax_map.legend(loc="upper right", fontsize=8, frameon=True, facecolor="white", framealpha=0.9)
        ax_loss.set_yscale("log")
        ax_loss.set(xlabel="iteration", ylabel="loss", title=f"learning rate {float(s['learning_rate']):.2f}")
        ax_loss.legend(fontsize=8)
        return fig


class ShatteredGradientExplorer(_Explorer):
    """``dy/dx`` along a line of 256 inputs for a plain BN-ReLU MLP and a residual one of the same depth.

    Both are ``deep_mlp(depth, width, "relu", "he_normal", batch_norm=True, input_dim=1, num_classes=1)``; the
    residual one has ``residual=True`` and its branches re-drawn with ``init_residual_branches(scale=branch_scale)``.
    Both run in training mode (BatchNormalization with the batch's statistics).

    Attributes:
        curves: ``{"plain": dydx, "residual": dydx}`` of the latest measurement; ``x`` the inputs.
        correlations: the lag-1 autocorrelation of each curve.

    Example:
        >>> explorer = ShatteredGradientExplorer(depth=4, width=16)
        >>> sorted(explorer.correlations)
        ['plain', 'residual']
    """

    def __init__(self, depth: int = 24, *, width: int = 128, branch_scale: float = 1.0, seed: int = 0,
                 max_depth: int = 48) -> None:
        self.width = positive_int("width", width)
        self.seed = positive_int("seed", seed, minimum=0)
        max_depth = positive_int("max_depth", max_depth, minimum=2)
        depth = positive_int("depth", depth, minimum=2)
        if depth > max_depth:
            raise ValueError(f"depth must be at most max_depth={max_depth}; got {depth}")
        branch_scale = positive_float("branch_scale", branch_scale, allow_zero=True)
        if branch_scale > 1:
            raise ValueError(f"branch_scale must be between 0 and 1; got {branch_scale!r}")
        self.controls = {
            "depth": widgets.IntSlider(value=depth, min=2, max=max_depth, step=1, description="depth",
                                       continuous_update=False),
            "branch_scale": widgets.FloatSlider(value=branch_scale, min=0.0, max=1.0, step=0.05,
                                                description="branch init ×", continuous_update=False),
        }
        self.x = np.zeros(0)
        self.curves: dict[str, np.ndarray] = {}
        self.correlations: dict[str, float] = {}
        self._assemble([["depth", "branch_scale"]])

    def measure(self) -> dict[str, float]:
        """Build both networks for the current settings and measure ``dy/dx``; returns ``correlations``."""
        s = self.settings()
        common = dict(width=self.width, activation="relu", initializer="he_normal", batch_norm=True, input_dim=1,
                      num_classes=1, seed=self.seed)
        plain = deep_mlp(s["depth"], **common)
        residual = init_residual_branches(deep_mlp(s["depth"], residual=True, **common),
                                          scale=float(s["branch_scale"]), seed=self.seed)
        for key, model in (("plain", plain), ("residual", residual)):
            self.x, self.curves[key] = gradient_along_line(model, training=True)
            self.correlations[key] = autocorrelation(self.curves[key])
        return self.correlations

    def draw(self) -> Figure:
        """The two gradient curves side by side, each normalised by its largest magnitude."""
        s = self.settings()
        fig = Figure(figsize=(9.0, 3.2), layout="constrained")
        axes = fig.subplots(1, 2, sharey=True)
        colours = {"plain": OKABE_ITO["vermillion"], "residual": OKABE_ITO["blue"]}
        for ax, (key, g) in zip(axes, self.curves.items()):
            ax.plot(self.x, g / np.max(np.abs(g)), color=colours[key], linewidth=1)
            ax.set(xlabel="input $x$", title=f"{key}: lag-1 autocorrelation {self.correlations[key]:.2f}")
        axes[0].set_ylabel(r"$dy/dx$ (scaled to max 1)")
        fig.suptitle(f"depth {s['depth']}, width {self.width}, BN-ReLU; residual branches initialised "
                     f"He × {float(s['branch_scale']):.2f}", fontsize=10)
        return fig


class ForgetBiasExplorer(_Explorer):
    """‖∂h_T/∂x_t‖ over t for an LSTM with a chosen forget-gate bias, next to fixed reference curves: SimpleRNN, GRU
    and LSTMs with the ``reference_biases``.

    Attributes:
        curves: ``{label: norms}`` of the latest measurement (``gradient_through_time``'s output), the references
            first and the slider's LSTM (label ``"LSTM"``) last.

    Example:
        >>> explorer = ForgetBiasExplorer(3.0, reference_biases=(1.0,), steps=10, units=4)
        >>> list(explorer.curves)
        ['SimpleRNN', 'GRU', 'LSTM, forget bias 1', 'LSTM']
    """

    def __init__(self, forget_bias: float = 1.0, *, reference_biases: tuple[float, ...] = (), steps: int = 100,
                 units: int = 64, seed: int = 0) -> None:
        self.steps = positive_int("steps", steps, minimum=2)
        self.units = positive_int("units", units)
        self.seed = positive_int("seed", seed, minimum=0)
        for value in (forget_bias, *reference_biases):
            if not (isinstance(value, (int, float)) and -2 <= value <= 6):
                raise ValueError(f"forget_bias and reference_biases must be numbers between -2 and 6; got {value!r}")
        self.references = {
            "SimpleRNN": gradient_through_time("simple_rnn", self.steps, self.units, seed=self.seed),
            "GRU": gradient_through_time("gru", self.steps, self.units, seed=self.seed),
            **{f"LSTM, forget bias {b:g}": gradient_through_time("lstm", self.steps, self.units, forget_bias=b,
                                                                 seed=self.seed) for b in reference_biases},
        }
        self.controls = {"forget_bias": widgets.FloatSlider(value=float(forget_bias), min=-2.0, max=6.0, step=0.5,
                                                            description="forget bias", continuous_update=False)}
        self.curves: dict[str, np.ndarray] = {}
        self._assemble([["forget_bias"]])

    def measure(self) -> dict[str, np.ndarray]:
        """Measure the LSTM for the current forget bias; returns and stores ``curves`` (with the references)."""
        lstm = gradient_through_time("lstm", self.steps, self.units, forget_bias=float(self.settings()["forget_bias"]),
                                     seed=self.seed)
        self.curves = {**self.references, "LSTM": lstm}
        return self.curves

    def draw(self) -> Figure:
        """All curves on one log axis, the most recent input on the right; the references thin, the slider's thick."""
        fig = Figure(figsize=(7.0, 3.6), layout="constrained")
        ax = fig.subplots()
        t = np.arange(1, self.steps + 1)
        fixed = {"SimpleRNN": OKABE_ITO["vermillion"], "GRU": OKABE_ITO["green"]}
        for label, norms in self.curves.items():
            shown = np.where(norms > 0, norms, np.nan)  # exact zeros (underflow) cannot be drawn on a log axis
            if label == "LSTM":
                name = f"LSTM, forget bias {float(self.settings()['forget_bias']):g} (slider)"
                ax.plot(t, shown, color=OKABE_ITO["blue"], linewidth=2.2, label=name)
            else:
                ax.plot(t, shown, color=fixed.get(label, OKABE_ITO["sky_blue"]), linewidth=1.2, label=label)
        ax.set_yscale("log")
        ax.set(xlabel=f"input step $t$ (the state read is $h_{{{self.steps}}}$)",
               ylabel=r"$\|\partial h_T / \partial x_t\|$", title=f"{self.units} units, at initialisation")
        ax.legend(fontsize=8)
        return fig
