"""Interactive explorers for the book's notebooks (ipywidgets); only notebooks import this module.

Every explorer has the same shape: ``controls`` (the control widgets by name), ``widget`` (what to display: the
controls above an output area), ``settings()`` (the controls' values), ``measure()`` (numbers for the current
settings), ``draw()`` (a new ``matplotlib.figure.Figure`` of them) and ``figure`` (the latest one, usable as a static
figure without a kernel). Moving a control re-measures and redraws.

- ``GradientExplorer``: per-layer gradient norms and activation spread of ``deep_mlp`` at initialisation, against
  the mean-field prediction — depth, activation, initialiser and weight scale (chapter 4).
- ``CliffExplorer``: gradient descent on Pascanu et al.'s recurrent cliff, with and without clipping — the clipping
  threshold and the learning rate (chapter 6).
- ``ShatteredGradientExplorer``: ``dy/dx`` along a line of inputs for a plain BN-ReLU network and a residual one —
  the depth and the scale of the residual branches' initialisation (chapter 6).
- ``ForgetBiasExplorer``: how far back an LSTM's gradient reaches — the forget gate's bias (chapter 6).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
from IPython import get_ipython
from IPython.display import display
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gradbook._validate import integer, number, numeric, one_of
from gradbook.gradients import (activation_stats, autocorrelation, first_last_ratio, gradient_along_line,
                                gradient_through_time, kernel_layers, layer_gradient_norms)
from gradbook.models import ACTIVATIONS, deep_mlp, init_residual_branches, make_initializer
from gradbook.repro import resolve_seed
from gradbook.theory import mean_field
from gradbook.training import cliff, descend_cliff
from gradbook.viz.plots import OKABE_ITO, plot_layer_norms_with_theory

# Initialisers GradientExplorer offers: every named one that needs no extra argument ("normal" needs a std: use scale).
EXPLORER_INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal", "orthogonal")
_MAX_CACHED_MODELS = 6


def _span_at_least(ax: Any, decades: float) -> None:
    """Widen a log axis to ``decades`` around its data, so that noise of a few percent does not fill the panel."""
    low, high = ax.get_ylim()
    if low > 0 and high > 0 and np.log10(high / low) < decades:
        centre = np.sqrt(low * high)
        ax.set_ylim(centre / 10 ** (decades / 2), centre * 10 ** (decades / 2))


class _Explorer:
    """Controls above an output area; every change re-measures and redraws. A subclass sets ``controls``, defines
    ``measure`` and ``draw``, and calls ``_assemble`` with the rows of control names."""

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
            self._show_figure()

    def _show_figure(self) -> bool:
        """Show ``figure`` in the output area; False outside IPython, where there is nowhere to show it."""
        if get_ipython() is None:
            return False
        with self.output:
            self.output.clear_output(wait=True)
            display(self.figure)
        return True

    def _on_change(self, change: dict) -> None:
        self.update(show=True)

    def _ipython_display_(self) -> None:
        if self._show_figure():
            display(self.widget)


class GradientExplorer(_Explorer):
    """Per-layer gradient norms and forward signal of ``deep_mlp`` at initialisation, with mean-field theory where it
    makes a prediction.

    The left panel shows ``‖∂ℒ/∂W^l‖`` of every hidden layer with the prediction of ``gradbook.theory.mean_field``
    (dashed, anchored at the last hidden layer). The right panel shows the forward signal twice: its ``spread`` across
    the batch's samples (``activation_stats``: the std across samples, averaged over units), which decides whether the
    layers above can tell the samples apart, and its size, the ``std`` over units and samples, with mean-field theory's
    prediction of that std (dashed). Mean-field theory follows one typical input and predicts no spread, so the spread
    has no dashed line.

    The weights are exactly ``deep_mlp(depth, width, activation, initializer, seed=seed)``'s, multiplied by
    ``scale``. Models are built once per (activation, depth) and re-initialised in place when only the initialiser
    or the scale changes, so moving a slider costs one backward pass and a few forward passes.

    Attributes:
        widget: the ``ipywidgets.VBox`` to display (controls above the figure).
        controls: the control widgets by name: ``depth``, ``activation``, ``initializer``, ``scale``.
        figure: the current ``matplotlib.figure.Figure`` (also usable as a static figure without a kernel).
        norms, stats, theory: the latest measurement (``layer_gradient_norms`` of the hidden layers,
            ``activation_stats``) and prediction (``gradbook.theory.mean_field``).

    Example:
        >>> from gradbook.data import mnist_batch
        >>> x, y = mnist_batch(64, source="subset")
        >>> explorer = GradientExplorer(x, y, depth=5, width=32)
        >>> explorer.controls["activation"].value = "relu"     # re-measures and redraws
        >>> explorer.norms.index[0], explorer.settings()["activation"]
        ('dense_1', 'relu')
    """

    def __init__(self, x: Any, y: Any, *, depth: int = 20, width: int = 128, activation: str = "sigmoid",
                 initializer: str = "glorot_uniform", scale: float = 1.0, seed: int = 0, max_depth: int = 40) -> None:
        self.width = integer("width", width)
        self.seed = integer("seed", seed, minimum=0)
        max_depth = integer("max_depth", max_depth, minimum=2)
        depth = integer("depth", depth, minimum=2, maximum=max_depth)
        one_of("activation", activation, ACTIVATIONS)
        one_of("initializer", initializer, EXPLORER_INITIALIZERS)
        scale = number("scale", scale, minimum=0.25, maximum=4.0)
        self.x = numeric("x", x).astype(np.float32)
        self.y = numeric("y", y)
        if self.x.ndim != 2 or len(self.x) == 0 or len(self.x) != len(self.y):
            raise ValueError(f"x must be a non-empty (N, features) batch and y its N labels; got shapes "
                             f"{self.x.shape} and {self.y.shape}")
        self.input_second_moment = float(np.mean(self.x.astype(np.float64) ** 2))
        self._models: OrderedDict[tuple[str, int], Any] = OrderedDict()
        self.norms: pd.Series | None = None
        self.stats: pd.DataFrame | None = None
        self.theory: pd.DataFrame | None = None

        self.controls = {
            "depth": widgets.IntSlider(value=depth, min=2, max=max_depth, step=1, description="depth",
                                       continuous_update=False),
            "activation": widgets.Dropdown(options=list(ACTIVATIONS), value=activation, description="activation"),
            "initializer": widgets.Dropdown(options=list(EXPLORER_INITIALIZERS), value=initializer,
                                            description="initialiser"),
            "scale": widgets.FloatLogSlider(value=scale, base=2, min=-2, max=2, step=0.125, description="× scale",
                                            readout_format=".2f", continuous_update=False),
        }
        self._assemble([["depth", "scale"], ["activation", "initializer"]])

    def settings(self) -> dict[str, Any]:
        """The current settings: ``depth``, ``width``, ``activation``, ``initializer``, ``scale``, ``seed``."""
        values = super().settings()
        return {**values, "scale": float(values["scale"]), "width": self.width, "seed": self.seed}

    def _model(self, activation: str, depth: int):
        key = (activation, depth)
        if key not in self._models:
            self._models[key] = deep_mlp(depth, self.width, activation=activation, seed=self.seed)
            while len(self._models) > _MAX_CACHED_MODELS:
                self._models.popitem(last=False)
        self._models.move_to_end(key)
        return self._models[key]

    def _initialize(self, model, initializer: str, scale: float) -> None:
        # The same draws as deep_mlp(..., initializer, seed): layer k (dense_k, then the logits) uses seed + k.
        for k, layer in enumerate(kernel_layers(model), start=1):
            weights = make_initializer(initializer, resolve_seed(self.seed) + k)(tuple(layer.kernel.shape))
            layer.kernel.assign(np.asarray(weights) * scale)

    def measure(self) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
        """Measure the network of the current settings; returns ``(norms, stats, theory)`` and stores them."""
        s = self.settings()
        model = self._model(s["activation"], s["depth"])
        self._initialize(model, s["initializer"], s["scale"])
        hidden = [f"dense_{k}" for k in range(1, s["depth"] + 1)]
        self.norms = layer_gradient_norms(model, self.x, self.y)[hidden]
        self.stats = activation_stats(model, self.x)
        self.theory = mean_field(s["depth"], self.width, s["activation"], s["initializer"], scale=s["scale"],
                                 input_dim=self.x.shape[1], input_second_moment=self.input_second_moment)
        return self.norms, self.stats, self.theory

    def draw(self) -> Figure:
        """A new figure of the latest measurement: gradient norms (left), the activations' spread across samples and
        their std (right); dashed, mean-field theory of the gradient norms and of the std."""
        if self.norms is None:
            raise ValueError("nothing measured yet: call measure() first")
        s = self.settings()
        label = s["activation"]
        fig = Figure(figsize=(9.0, 3.6), layout="constrained")
        ax_grad, ax_act = fig.subplots(1, 2, sharex=True)
        finite = np.isfinite(self.norms.values) & (self.norms.values > 0)
        predicted = {}
        if finite[-1]:
            predicted[label] = self.theory["grad_norm"].values * float(self.norms.iloc[-1])
        plot_layer_norms_with_theory({label: np.where(finite, self.norms.values, np.nan)}, predicted, ax_grad,
                                     ylabel=r"$\|\partial \mathcal{L} / \partial W^l\|$",
                                     title="gradient of each layer's weights")
        if not finite.any():
            ax_grad.text(0.5, 0.5, "no finite gradient norm:\nfloat32 overflow", transform=ax_grad.transAxes,
                         ha="center", va="center")
        spread_label, size_label = f"{label}: spread across samples", "size: std over units and samples"
        curves = {spread_label: self.stats["spread"].to_numpy(dtype=float),
                  size_label: self.stats["std"].to_numpy(dtype=float)}
        plot_layer_norms_with_theory(curves, {size_label: self.theory["act_std"].values}, ax_act,
                                     styles={size_label: {"color": OKABE_ITO["grey"], "markersize": 2}},
                                     theory_label="mean-field theory of the std", ylabel=r"activations $a^l$",
                                     title="forward signal")
        for text in ax_act.get_legend().get_texts():
            text.set_fontsize(8)
        for ax in (ax_grad, ax_act):
            _span_at_least(ax, decades=2.0)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if finite[0] and finite[-1]:
            ratio = first_last_ratio(self.norms)
            predicted_ratio = float(self.theory["grad_norm"].iloc[0])
            summary = f"first/last layer: measured {ratio:.1e}, theory {predicted_ratio:.1e}"
        else:
            summary = f"{int((~finite).sum())} of {len(finite)} layers' gradient norms are not finite (overflow)"
        fig.suptitle(f"{label} + {s['initializer']} × {s['scale']:.2f}, depth {s['depth']}, width {self.width}: "
                     f"{summary}", fontsize=10)
        return fig


class CliffExplorer(_Explorer):
    """Gradient descent on ``gradbook.training.cliff`` from one start, plain and clipped, over the loss surface.

    Attributes:
        paths: ``{"plain": DataFrame, "clipped": DataFrame}`` of the latest runs (``descend_cliff``'s output).

    Example:
        >>> explorer = CliffExplorer(clip=2.0, learning_rate=0.1, iterations=20)
        >>> float(explorer.paths["clipped"]["step_norm"].max()) <= 2.0 * 0.1 + 1e-9   # moving a slider re-runs
        True
    """

    def __init__(self, w0: float = 8.75, b0: float = -1.5, *, clip: float = 10.0, learning_rate: float = 0.1,
                 iterations: int = 150) -> None:
        self.w0, self.b0 = number("w0", w0), number("b0", b0)
        self.iterations = integer("iterations", iterations)
        clip = number("clip", clip, minimum=0.1, maximum=100)
        learning_rate = number("learning_rate", learning_rate, minimum=0.01, maximum=0.3)
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
        self.width = integer("width", width)
        self.seed = integer("seed", seed, minimum=0)
        max_depth = integer("max_depth", max_depth, minimum=2)
        depth = integer("depth", depth, minimum=2, maximum=max_depth)
        branch_scale = number("branch_scale", branch_scale, minimum=0, maximum=1)
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
        self.steps = integer("steps", steps, minimum=2)
        self.units = integer("units", units)
        self.seed = integer("seed", seed, minimum=0)
        forget_bias = number("forget_bias", forget_bias, minimum=-2, maximum=6)
        reference_biases = [number(f"reference_biases[{i}]", b, minimum=-2, maximum=6)
                            for i, b in enumerate(reference_biases)]
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
