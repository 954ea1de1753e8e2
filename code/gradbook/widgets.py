"""Interactive explorers for the book's notebooks (ipywidgets). Only notebooks import this module.

``GradientExplorer`` measures a ``deep_mlp`` at initialisation on a fixed batch (``gradbook.gradients``) and draws its
per-layer gradient norms and activation statistics next to the mean-field prediction (``gradbook.theory``), live, as
the reader moves the depth, activation, initialiser and weight-scale controls.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
from IPython import get_ipython
from IPython.display import display
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gradbook._checks import one_of, positive_float, positive_int
from gradbook.gradients import activation_stats, first_last_ratio, kernel_layers, layer_gradient_norms
from gradbook.models import ACTIVATIONS, deep_mlp, make_initializer
from gradbook.plots import plot_layer_norms_with_theory
from gradbook.repro import resolve_seed
from gradbook.theory import mean_field

# Initialisers the explorer offers: every named one that needs no extra argument ("normal" needs a std: use scale).
EXPLORER_INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal", "orthogonal")
_MAX_CACHED_MODELS = 6


def _span_at_least(ax: Any, decades: float) -> None:
    """Widen a log axis to ``decades`` around its data, so that noise of a few percent does not fill the panel."""
    low, high = ax.get_ylim()
    if low > 0 and high > 0 and np.log10(high / low) < decades:
        centre = np.sqrt(low * high)
        ax.set_ylim(centre / 10 ** (decades / 2), centre * 10 ** (decades / 2))


class GradientExplorer:
    """Per-layer gradient norms and activation spread of ``deep_mlp`` at initialisation, measured against theory.

    The weights are exactly ``deep_mlp(depth, width, activation, initializer, seed=seed)``'s, multiplied by
    ``scale``. Models are built once per (activation, depth) and re-initialised in place when only the initialiser
    or the scale changes, so moving a slider costs one forward and backward pass.

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
        self.width = positive_int("width", width)
        self.seed = positive_int("seed", seed, minimum=0)
        max_depth = positive_int("max_depth", max_depth, minimum=2)
        depth = positive_int("depth", depth, minimum=2)
        if depth > max_depth:
            raise ValueError(f"depth must be at most max_depth={max_depth}; got {depth}")
        one_of("activation", activation, ACTIVATIONS)
        one_of("initializer", initializer, EXPLORER_INITIALIZERS)
        scale = positive_float("scale", scale)
        if not 0.25 <= scale <= 4.0:
            raise ValueError(f"scale must be between 0.25 and 4; got {scale!r}")
        self.x = np.asarray(x, dtype=np.float32)
        self.y = np.asarray(y)
        if self.x.ndim != 2 or len(self.x) == 0 or len(self.x) != len(self.y):
            raise ValueError(f"x must be a non-empty (N, features) batch and y its N labels; got shapes "
                             f"{self.x.shape} and {self.y.shape}")
        self.input_second_moment = float(np.mean(self.x.astype(np.float64) ** 2))
        self._models: OrderedDict[tuple[str, int], Any] = OrderedDict()
        self.norms: pd.Series | None = None
        self.stats: pd.DataFrame | None = None
        self.theory: pd.DataFrame | None = None
        self.figure: Figure | None = None

        self.controls = {
            "depth": widgets.IntSlider(value=depth, min=2, max=max_depth, step=1, description="depth",
                                       continuous_update=False),
            "activation": widgets.Dropdown(options=list(ACTIVATIONS), value=activation, description="activation"),
            "initializer": widgets.Dropdown(options=list(EXPLORER_INITIALIZERS), value=initializer,
                                            description="initialiser"),
            "scale": widgets.FloatLogSlider(value=scale, base=2, min=-2, max=2, step=0.125, description="× scale",
                                            readout_format=".2f", continuous_update=False),
        }
        self.output = widgets.Output()
        self.widget = widgets.VBox([widgets.HBox([self.controls["depth"], self.controls["scale"]]),
                                    widgets.HBox([self.controls["activation"], self.controls["initializer"]]),
                                    self.output])
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.update(show=False)

    def settings(self) -> dict[str, Any]:
        """The current settings: ``depth``, ``width``, ``activation``, ``initializer``, ``scale``, ``seed``."""
        values = {name: control.value for name, control in self.controls.items()}
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
        """A new figure of the latest measurement: gradient norms (left) and activation spread (right), with theory."""
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
                                     title="gradient of each layer's weights")
        if not finite.any():
            ax_grad.text(0.5, 0.5, "no finite gradient norm:\nfloat32 overflow", transform=ax_grad.transAxes,
                         ha="center", va="center")
        std = self.stats["std"].to_numpy(dtype=float)
        plot_layer_norms_with_theory({label: std}, {label: self.theory["act_std"].values}, ax_act,
                                     ylabel=r"std of the activations $a^l$", title="forward signal")
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

    def update(self, show: bool = True) -> None:
        """Re-measure, redraw ``figure`` and (when ``show``) replace what the output area displays."""
        self.measure()
        self.figure = self.draw()
        if show and get_ipython() is not None:  # outside IPython there is nowhere to show it
            with self.output:
                self.output.clear_output(wait=True)
                display(self.figure)

    def _on_change(self, change: dict) -> None:
        self.update(show=True)

    def _ipython_display_(self) -> None:
        if get_ipython() is None:
            return
        with self.output:
            self.output.clear_output(wait=True)
            display(self.figure)
        display(self.widget)
