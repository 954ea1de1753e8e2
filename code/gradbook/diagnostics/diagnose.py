"""``diagnose``: one call that measures a model on a batch and says what is wrong — vanishing or exploding gradients,
saturated or dead units, NaN/inf — with the evidence, the likely cause, the remedy and the book's section about it.

Its rules are ``THRESHOLDS``, the kinds of finding ``KINDS``, and its links ``BOOK_SECTIONS`` (absolute URLs into the
published book, ``BOOK_URL``).
"""
from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from gradbook._keras import (all_layers, check_batch, check_model, check_targets, kept_state, resolve_loss,
                             tap_activations)
from gradbook._validate import instance, number, one_of, type_error
from gradbook.gradients.layers import _measured_layers, first_last_ratio

BOOK_URL = "https://deep-gradients.github.io/deep-gradients/"
"""The published book, the GitHub Pages site of the repository named in the book's ``_config.yml``."""

BOOK_SECTIONS: dict[str, str] = {key: BOOK_URL + page for key, page in {
    "vanishing": "chapters/04a_activation_weight_scale.html#sec-layer-gain",
    "exploding": "chapters/04c_float32_overflow.html#ch-mechanism-exploding",
    "activations": "chapters/06a_activations_init.html#sec-activation-functions",
    "dead_units": "chapters/06a_activations_init.html#sec-dead-relus",
    "initialisation": "chapters/06a_activations_init.html#sec-initialisation",
    "normalisation": "chapters/06b_normalization_residual.html#sec-batch-norm",
    "bn_trap": "chapters/06b_normalization_residual.html#sec-bn-trap",
    "residual": "chapters/06b_normalization_residual.html#sec-residual",
    "clipping": "chapters/06c_clipping_recurrent.html#sec-clipping",
}.items()}
"""Where the book explains each finding and its remedies, as absolute URLs (``BOOK_URL`` + chapter page + section
label) that work wherever a report is shown, in a reader's own notebook too. The only place these links are written."""

THRESHOLDS: dict[str, float] = {
    "vanishing_ratio": 1e-2,
    "exploding_ratio": 1e2,
    "grad_weight_ratio": 1e2,
    "saturated_frac": 0.5,
    "dead_frac": 0.5,
}
"""The rules behind ``diagnose``'s findings (override any of them with ``diagnose(..., thresholds={...})``):

- ``vanishing_ratio`` (1e-2): ‖∂ℒ/∂W‖ of the first kernel layer over that of the last below it — two orders of
  magnitude: with one learning rate for all layers, the first learns a hundred times slower than the last; or the
  across-sample ``spread`` of the last hidden activation over the first's below it — the differences between inputs
  fade before they reach the output. Healthy networks at initialisation (ReLU + He, tanh + Glorot, the article's
  CNN) have both ratios between 0.1 and 10.
- ``exploding_ratio`` (1e2): the same two ratios above it — the gradient grows a hundredfold toward the input, or
  the activations toward the output.
- ``grad_weight_ratio`` (1e2): ‖∂ℒ/∂W‖ / ‖W‖ of a layer above it — one SGD step at Keras' default learning rate 0.01
  would move the weights by more than their own norm (healthy networks start near 0.01–1).
- ``saturated_frac`` (0.5): more than half of a sigmoid/tanh layer's outputs within 0.01 of its bounds, where the
  derivative is below 4 % (sigmoid) or 2 % (tanh) of its maximum.
- ``dead_frac`` (0.5): more than half of a ReLU layer's units output exactly 0 for every sample of the batch, so they
  get no gradient at all.
"""

KINDS = ("vanishing", "exploding", "saturation", "dead_units", "nonfinite")
"""The kinds of finding, in the order ``diagnose`` reports them."""
_RELU_KINDS = ("relu", "relu6")  # exactly zero below 0: a unit can die
_PROBABILITY_OUTPUTS = ("softmax", "log_softmax")


@dataclass(frozen=True)
class Finding:
    """One problem ``diagnose`` found: what, where, the numbers that show it, why, what to do, and where to read more.

    Attributes:
        kind: one of ``"vanishing"``, ``"exploding"``, ``"saturation"``, ``"dead_units"``, ``"nonfinite"``.
        layers: the layers concerned, input → output.
        evidence: the measured numbers (and the thresholds they crossed), by name.
        cause: the likely cause.
        remedy: what to try.
        link: the book's section that explains it (an absolute URL; see ``BOOK_SECTIONS``).

    Example:
        >>> f = Finding("vanishing", ("dense_1",), {"first_last_ratio": 1e-9}, "sigmoid", "ReLU + He", "ch4.html")
        >>> str(f).splitlines()[0]
        '[vanishing] dense_1'
    """

    kind: str
    layers: tuple[str, ...]
    evidence: dict[str, float]
    cause: str
    remedy: str
    link: str

    def __post_init__(self) -> None:
        one_of("kind", self.kind, KINDS)

    def evidence_text(self) -> str:
        """The evidence as one line: ``name value, name value, …``."""
        return ", ".join(f"{k} {_fmt(v)}" for k, v in self.evidence.items())

    def __str__(self) -> str:
        return (f"[{self.kind}] {_name_list(self.layers)}\n  evidence: {self.evidence_text()}\n"
                f"  cause:    {self.cause}\n  remedy:   {self.remedy}\n  see:      {self.link}")


@dataclass
class DiagnosticReport:
    """What ``diagnose`` measured on one batch, and its findings. ``str(report)`` is plain text; a notebook shows it
    as tables.

    Attributes:
        model_name: the model's name.
        samples: the batch size.
        loss: the batch loss.
        training: whether the model ran in training mode (``notes`` says why when ``diagnose`` chose it).
        gradients: per kernel layer (input → output): ``type``, ``grad_norm`` ‖∂ℒ/∂W‖, ``weight_norm`` ‖W‖,
            ``grad_weight_ratio``, ``fan_in_var`` (fan-in × Var(W): 1 keeps a linear/tanh layer's scale, 2 a ReLU
            layer's — He), ``grad_nonfinite_frac``.
        activations: per activation (every layer with a nonlinearity whose output can be tapped): ``activation``,
            ``mean``, ``std``, ``spread`` (the std across samples, averaged over units: how much the layer's output
            differs from one input to another), ``zero_frac``, ``dead_frac`` (units zero on every sample),
            ``saturated_frac``, ``nonfinite_frac``. Empty when intermediate outputs cannot be reached (subclassed
            models).
        findings: the ``Finding`` list; empty for a healthy model.
        first_last_ratio: ‖∂ℒ/∂W_first‖ / ‖∂ℒ/∂W_last‖ (NaN when undefined).
        notes: what could not be measured, and why.

    Example:
        >>> from gradbook.models import deep_mlp
        >>> x = np.random.default_rng(0).uniform(size=(64, 784))
        >>> report = diagnose(deep_mlp(3, 16, "relu", "he_normal"), x, np.arange(64) % 10)
        >>> report.healthy, list(report.gradients.index)
        (True, ['dense_1', 'dense_2', 'dense_3', 'logits'])
    """

    model_name: str
    samples: int
    loss: float
    training: bool
    gradients: pd.DataFrame
    activations: pd.DataFrame
    findings: list[Finding] = field(default_factory=list)
    first_last_ratio: float = float("nan")
    notes: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """True when there is no finding."""
        return not self.findings

    @property
    def kinds(self) -> list[str]:
        """The kinds of the findings, in order."""
        return [f.kind for f in self.findings]

    def _header(self) -> str:
        mode = "training" if self.training else "inference"
        return (f"Gradient diagnosis of {self.model_name!r} on {self.samples} samples ({mode} mode): loss "
                f"{_fmt(self.loss)}, first/last gradient ratio {_fmt(self.first_last_ratio)}")

    def __repr__(self) -> str:
        return f"<DiagnosticReport {self.model_name!r}: {len(self.findings)} finding(s) {self.kinds}>"

    def __str__(self) -> str:
        lines = [self._header(), ""]
        if self.findings:
            lines.append(f"{len(self.findings)} finding(s):")
            lines.extend(str(f) for f in self.findings)
        else:
            lines.append("No findings: gradients reach every layer at a usable scale; no saturation, no dead units, "
                         "all values finite.")
        lines.extend(f"note: {n}" for n in self.notes)
        lines += ["", "Gradients per kernel layer (input → output):", _table_text(self.gradients)]
        if len(self.activations):
            lines += ["", "Activations:", _table_text(self.activations)]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        parts = [f"<p><strong>{esc(self._header())}</strong></p>"]
        if self.findings:
            rows = "".join(
                f"<tr><td><strong>{esc(f.kind)}</strong></td><td>{esc(_name_list(f.layers))}</td>"
                f"<td>{esc(f.evidence_text())}</td><td>{esc(f.cause)}</td><td>{esc(f.remedy)}</td>"
                f"<td><a href=\"{esc(f.link)}\">{esc(f.link)}</a></td></tr>" for f in self.findings)
            parts.append("<table><thead><tr><th>finding</th><th>layers</th><th>evidence</th><th>likely cause</th>"
                         f"<th>remedy</th><th>read more</th></tr></thead><tbody>{rows}</tbody></table>")
        else:
            parts.append("<p>No findings: gradients reach every layer at a usable scale; no saturation, no dead "
                         "units, all values finite.</p>")
        parts.extend(f"<p><em>note: {esc(n)}</em></p>" for n in self.notes)
        parts.append("<p>Gradients per kernel layer (input → output)</p>")
        parts.append(self.gradients.to_html(float_format=_fmt, na_rep="nan"))
        if len(self.activations):
            parts.append("<p>Activations</p>")
            parts.append(self.activations.to_html(float_format=_fmt, na_rep="nan"))
        return "\n".join(parts)


def _fmt(value: Any) -> str:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(value)
    value = float(value)
    if not np.isfinite(value):
        return str(value)
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.3g}"
    return f"{value:.2e}"


def _name_list(names: Any, limit: int = 6) -> str:
    names = list(names)
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:3])}, …, {names[-1]} ({len(names)} layers)"


def _table_text(frame: pd.DataFrame) -> str:
    return frame.to_string(float_format=_fmt, na_rep="nan")


def untouched_batch_norm(model: keras.Model) -> list[str]:
    """The BatchNormalization layers (nested ones too) whose moving statistics are still at their initial values,
    mean 0 and variance 1: in inference mode they would not normalise at all.

    Example:
        >>> from gradbook.models import deep_mlp
        >>> untouched_batch_norm(deep_mlp(2, 8, batch_norm=True))
        ['bn_1', 'bn_2']
    """
    return [layer.name for layer in all_layers(check_model(model, built=False))
            if isinstance(layer, keras.layers.BatchNormalization) and layer.built
            and np.all(layer.moving_mean.numpy() == 0) and np.all(layer.moving_variance.numpy() == 1)]


def _mode(training: Any, untouched: list[str]) -> tuple[bool, list[str]]:
    """The mode to run in, and a note saying why (or warning that an explicit choice measures what training does not
    see)."""
    if training is not None:
        if not isinstance(training, (bool, np.bool_)):
            raise type_error("training", "True, False or None (None: chosen for the model)", training)
        training = bool(training)
        if training or not untouched:
            return training, []
        return False, [f"inference mode asked for, but the BatchNormalization layers {_name_list(untouched)} still "
                       "have their initial moving statistics (mean 0, variance 1), so they do not normalise: these "
                       f"are not the gradients training sees (training=None would choose training mode; see "
                       f"{BOOK_SECTIONS['bn_trap']})"]
    if untouched:
        return True, [f"training mode (chosen by training=None): the BatchNormalization layers "
                      f"{_name_list(untouched)} still have their initial moving statistics (mean 0, variance 1), with "
                      f"which inference mode would not normalise at all; measured as fit trains, on the batch's "
                      f"statistics (dropout on), and every non-trainable variable restored afterwards (see "
                      f"{BOOK_SECTIONS['bn_trap']})"]
    return False, ["inference mode (chosen by training=None: no BatchNormalization layer has its initial moving "
                   "statistics); pass training=True to measure as fit trains (dropout on, BatchNormalization on the "
                   "batch's statistics)"]


def diagnose(model: keras.Model, x: Any, y: Any, loss: Any = None, *, training: bool | None = None,
             thresholds: Mapping[str, float] | None = None) -> DiagnosticReport:
    """Measure a model's gradients and activations on one batch and say what is wrong: vanishing or exploding
    gradients, saturated or dead units, NaN/inf — with the evidence, the likely cause and the remedy.

    Use it at initialisation, before training, or at any point during training. It runs one forward and backward
    pass (and one more forward pass to read the activations) and changes nothing in the model: after a run in
    training mode every non-trainable variable (BatchNorm's moving statistics, dropout's random state) is restored.
    The rules are in ``THRESHOLDS``; the findings link to the book's sections in ``BOOK_SECTIONS``.

    The mode: ``training=None`` (the default) chooses training mode when the model has BatchNormalization layers
    whose moving statistics are still at their initial values (``untouched_batch_norm``) — a model at
    initialisation, whose BN layers would divide by 1 in inference mode and do nothing, so that inference-mode
    gradients are not what training sees — and inference mode otherwise; ``report.training`` says which was used and
    ``report.notes`` why. ``True`` or ``False`` forces a mode.

    Works for Sequential, functional and subclassed models with one input, and Dense and convolutional layers (any
    layer with a ``kernel``; nested models are looked into). Activation statistics need the layers' outputs: they
    are measured for Sequential and functional models, nested ones included (every layer with a nonlinearity, as
    ``gradbook.gradients.activation_stats`` reads them); a subclassed model's intermediate outputs cannot be tapped,
    so its findings rest on the gradients alone (vanishing, exploding, nonfinite), and ``report.notes`` says so. For
    a subclassed model, "first" and "last" layer follow the order in which its layers were created.

    Args:
        model: a Keras model (built, or buildable by calling it on ``x``).
        x: a batch of inputs (for dead units and saturation, ≥ 64 samples give reliable fractions).
        y: its targets: integer class labels, or arrays shaped like the model's output.
        loss: a Keras loss (object or name); default: the compiled loss, else cross-entropy — on probabilities when
            the model's outputs are non-negative rows summing to 1 (softmax), on logits otherwise.
        training: ``None`` to choose as above, ``True`` for training mode (dropout on, BatchNorm on batch
            statistics, as ``fit`` runs the model), ``False`` for inference mode.
        thresholds: overrides of ``THRESHOLDS`` entries.

    Returns:
        A ``DiagnosticReport``: ``report.findings`` (empty when healthy), ``report.gradients``,
        ``report.activations``, ``str(report)`` as plain text, a table in a notebook.

    Raises:
        TypeError: ``model`` is not a Keras model, or an argument has the wrong type.
        ValueError: ``x`` or ``y`` does not fit the model, or a bad ``loss`` or ``thresholds``.

    Example:
        >>> from gradbook.data import mnist_batch
        >>> from gradbook.models import deep_mlp
        >>> x, y = mnist_batch(256)
        >>> diagnose(deep_mlp(20, activation="sigmoid"), x, y).kinds
        ['vanishing']
    """
    model = check_model(model, built=False)
    limits = dict(THRESHOLDS)
    for key, value in instance("thresholds", thresholds or {}, Mapping, "a dict of THRESHOLDS entries").items():
        one_of("thresholds key", key, THRESHOLDS)
        limits[key] = number(f"thresholds[{key!r}]", value, above=0)
    x_arr, _ = check_batch(model, x)
    if not model.built:
        _run(model, x_arr[:1], False)
    if y is None:
        raise type_error("y", "the targets of x (an array)", y)
    x_arr, y_arr = check_batch(model, x_arr, y)
    layers = _measured_layers(model)
    kernels = [layer.kernel for layer in layers]
    training, notes = _mode(training, untouched_batch_norm(model))
    with kept_state(model, keep=training):
        with tf.GradientTape() as tape:
            pred = _run(model, tf.constant(x_arr), training)
            if isinstance(pred, (list, tuple, dict)):
                raise ValueError(f"model must have a single output; got {model.name!r} with several")
            pred_np = np.asarray(pred)
            check_targets(y_arr, pred_np.shape)
            loss_fn, _ = resolve_loss(model, loss, y_arr, lambda: pred_np)
            try:
                value = tf.reduce_mean(loss_fn(tf.constant(y_arr), pred))
            except (ValueError, tf.errors.InvalidArgumentError) as exc:
                raise ValueError(f"loss must compare y with the model's output (pass loss=…, e.g. a sparse loss for "
                                 f"integer labels); got {loss!r}, which failed: {exc}") from exc
        grads = tape.gradient(value, kernels)
        tap = tap_activations(model, x_arr, training=training)
    notes += tap.notes
    if tap.stats.empty and any("subclassed" in note for note in tap.notes):
        notes[-1] += "; the findings rest on the gradients alone (vanishing, exploding, nonfinite)"

    rows = []
    for layer, kernel, grad in zip(layers, kernels, grads):
        w = np.asarray(kernel, dtype=np.float64)
        g = np.zeros_like(w) if grad is None else np.asarray(tf.convert_to_tensor(grad), dtype=np.float64)
        w_norm, g_norm = float(np.linalg.norm(w)), float(np.linalg.norm(g))
        fan_in = int(np.prod(w.shape[:-1])) if w.ndim > 1 else 1
        rows.append({"layer": layer.name, "type": type(layer).__name__, "grad_norm": g_norm, "weight_norm": w_norm,
                     "grad_weight_ratio": g_norm / w_norm if w_norm > 0 else np.nan,
                     "fan_in_var": fan_in * float(np.var(w)) if np.all(np.isfinite(w)) else np.nan,
                     "grad_nonfinite_frac": float(1 - np.isfinite(g).mean()),
                     "weights_nonfinite": bool(not np.all(np.isfinite(w)))})
    gradients = pd.DataFrame(rows).set_index("layer")
    weights_bad = gradients.pop("weights_nonfinite")
    norms = gradients["grad_norm"]
    ratio = float("nan")
    if len(norms) >= 2 and np.isfinite(norms.iloc[[0, -1]]).all() and norms.iloc[-1] > 0:
        ratio = first_last_ratio(norms)
    elif len(norms) < 2:
        notes.append("one kernel layer only: no first/last gradient ratio")
    if len(x_arr) < 32 and len(tap.stats):
        notes.append(f"only {len(x_arr)} samples: a unit may look dead or saturated by chance")
    report = DiagnosticReport(model_name=model.name, samples=len(x_arr), loss=float(value), training=training,
                              gradients=gradients, activations=tap.stats, first_last_ratio=ratio, notes=notes)
    report.findings = _findings(report, limits, tap.output_layers, weights_bad, x_arr)
    return report


def _run(model: keras.Model, x: Any, training: bool) -> Any:
    """``model(x, training=training)``; a batch the model cannot run on is a ``ValueError`` that says so."""
    try:
        return model(x, training=training)
    except (ValueError, TypeError, tf.errors.InvalidArgumentError) as exc:
        raise ValueError(f"x must be a batch that model {model.name!r} can run on; got per-sample shape "
                         f"{tuple(x.shape[1:])}, which does not fit: {exc}") from exc


def _findings(report: DiagnosticReport, limits: dict[str, float], output_layers: list[str], weights_bad: pd.Series,
              x: np.ndarray) -> list[Finding]:
    g, acts, ratio = report.gradients, report.activations, report.first_last_ratio
    findings = []
    kinds = set(acts["activation"]) if len(acts) else set()
    mean_gain = float(np.nanmedian(g["fan_in_var"])) if g["fan_in_var"].notna().any() else float("nan")

    # How much the hidden activations differ between samples, last over first (forward vanishing/exploding).
    hidden = acts[~acts.index.isin(output_layers) & ~acts["activation"].isin(_PROBABILITY_OUTPUTS)] \
        if len(acts) else acts
    spread = hidden["spread"][np.isfinite(hidden["spread"]) & (hidden["spread"] > 0)] if len(hidden) \
        else pd.Series(dtype=float)
    forward = float(spread.iloc[-1] / spread.iloc[0]) if len(spread) >= 2 else float("nan")

    norms = g["grad_norm"]
    finite = norms[np.isfinite(norms)]
    last = norms.iloc[-1]
    # Vanishing: the gradient fades toward the input, or the activations fade toward the output.
    grad_vanish = np.isfinite(ratio) and ratio < limits["vanishing_ratio"]
    fwd_vanish = np.isfinite(forward) and forward < limits["vanishing_ratio"]
    if grad_vanish or fwd_vanish:
        if grad_vanish:
            layers = tuple(finite.index[finite < limits["vanishing_ratio"] * last])
        else:
            layers = tuple(spread.index[spread < limits["vanishing_ratio"] * spread.iloc[0]])
        evidence = {"first_last_ratio": ratio}
        if grad_vanish and len(norms) > 2:
            evidence["per_layer_factor"] = float(ratio ** (1 / (len(norms) - 1)))
        if np.isfinite(forward):
            evidence["activation_spread_last_first"] = forward
        evidence["median_fan_in_var"] = mean_gain
        evidence["threshold"] = limits["vanishing_ratio"]
        saturating = sorted(kinds & {"sigmoid", "tanh"})
        if saturating:
            cause = (f"{' and '.join(saturating)} layers: each multiplies the backpropagated gradient by its "
                     "derivative (σ′ ≤ ¼, tanh′ ≤ 1 and far less when saturated), so over many layers the product "
                     "shrinks geometrically")
        elif fwd_vanish or mean_gain < 0.9 * (2.0 if kinds & set(_RELU_KINDS) else 1.0):
            cause = (f"weights too small for the depth (median fan-in × Var(W) = {_fmt(mean_gain)}; He "
                     "initialisation gives 2 for ReLU, Glorot about 1): each layer scales the signal by less than "
                     "one, in the forward and the backward pass")
        else:
            cause = ("a per-layer factor below one multiplied over the depth: saturating activations or weights "
                     "initialised too small")
        findings.append(Finding(
            "vanishing", layers, evidence, cause,
            "ReLU-family activations with He initialisation (Glorot for tanh); BatchNormalization; residual "
            "connections; or fewer layers", BOOK_SECTIONS["vanishing"]))

    # Exploding: the gradient grows toward the input, is huge next to the weights, or the activations blow up.
    gw = g["grad_weight_ratio"][np.isfinite(g["grad_weight_ratio"])]
    big = gw[gw > limits["grad_weight_ratio"]]
    grad_explode = np.isfinite(ratio) and ratio > limits["exploding_ratio"]
    fwd_explode = np.isfinite(forward) and forward > limits["exploding_ratio"]
    if grad_explode or len(big) or fwd_explode:
        concerned = set(big.index)
        if grad_explode:
            concerned |= set(finite.index[finite > limits["exploding_ratio"] * last])
        if fwd_explode:
            concerned |= set(spread.index[spread > limits["exploding_ratio"] * spread.iloc[0]])
        order = list(g.index) + [n for n in acts.index if n not in g.index]
        layers = tuple(n for n in order if n in concerned)
        evidence = {"first_last_ratio": ratio, "max_grad_weight_ratio": float(gw.max()) if len(gw) else np.nan}
        if np.isfinite(forward):
            evidence["activation_spread_last_first"] = forward
        evidence["median_fan_in_var"] = mean_gain
        evidence["threshold_ratio"] = limits["exploding_ratio"]
        evidence["threshold_grad_weight"] = limits["grad_weight_ratio"]
        cause = (f"weights too large for the depth (median fan-in × Var(W) = {_fmt(mean_gain)}; He initialisation "
                 "gives 2 for ReLU, Glorot about 1): each layer multiplies the signal by more than one, forward and "
                 "backward, so it grows geometrically — at initialisation, or when a too-large learning rate has "
                 "grown the weights")
        findings.append(Finding(
            "exploding", layers, evidence, cause,
            "He (ReLU) or Glorot (tanh, sigmoid) initialisation; a lower learning rate; gradient clipping "
            "(clipnorm=1.0); BatchNormalization", BOOK_SECTIONS["exploding"]))

    if len(acts):
        findings += _fraction_finding(
            "saturation", acts, "saturated_frac", limits,
            "pre-activations too large: sigmoid is flat beyond |z| ≈ 4.6 and tanh beyond |z| ≈ 2.6, where the "
            "derivative is almost 0 — weights initialised too large, inputs not scaled, or weights grown in training",
            "scale the inputs (to [0, 1] or standardised); Glorot initialisation; BatchNormalization before the "
            "activation; or a non-saturating activation (ReLU family)", BOOK_SECTIONS["activations"])
        findings += _fraction_finding(
            "dead_units", acts[acts["activation"].isin(_RELU_KINDS)], "dead_frac", limits,
            "ReLU units whose input is negative for every sample, so they output 0 and receive no gradient: large "
            "negative biases, a too-large learning rate that pushed them there, or a deep plain ReLU stack whose "
            "inputs have become alike",
            "Leaky ReLU, ELU or GELU; He initialisation with zero biases; a lower learning rate; BatchNormalization",
            BOOK_SECTIONS["dead_units"])

    # Non-finite values anywhere: input, weights, activations, gradients, loss.
    bad_grads = list(g.index[g["grad_nonfinite_frac"] > 0])
    bad_acts = list(acts.index[acts["nonfinite_frac"] > 0]) if len(acts) else []
    bad_weights = list(weights_bad.index[weights_bad])
    input_bad = float(1 - np.isfinite(x).mean())
    if bad_grads or bad_acts or bad_weights or input_bad > 0 or not np.isfinite(report.loss):
        order = list(acts.index) + list(g.index)
        layers = tuple(dict.fromkeys(n for n in order if n in set(bad_grads + bad_acts + bad_weights)))
        evidence = {"loss": report.loss, "layers_nonfinite_gradients": len(bad_grads),
                    "layers_nonfinite_activations": len(bad_acts), "layers_nonfinite_weights": len(bad_weights),
                    "input_nonfinite_frac": input_bad}
        if input_bad > 0:
            cause = "the input batch holds NaN or inf values"
            remedy = "clean the data (check for missing values and divisions by zero in preprocessing)"
        elif bad_weights:
            cause = (f"the weights of {_name_list(bad_weights)} are already NaN/inf: an earlier update diverged "
                     "(exploding gradients or a too-large learning rate)")
            remedy = ("restart from a checkpoint or re-initialise; then a lower learning rate and gradient clipping "
                      "(clipnorm=1.0)")
        else:
            cause = ("values overflowed float32 (largest ≈ 3.4e38) — an exploding forward or backward pass — or an "
                     "operation undefined at its input (log 0, 0/0) in the loss or a custom layer")
            remedy = ("He/Glorot initialisation, a lower learning rate and gradient clipping (clipnorm=1.0); a "
                      "numerically stable loss (from_logits=True)")
        findings.append(Finding("nonfinite", layers, evidence, cause, remedy, BOOK_SECTIONS["clipping"]))
    return findings


def _fraction_finding(kind: str, acts: pd.DataFrame, column: str, limits: dict[str, float], cause: str, remedy: str,
                      link: str) -> list[Finding]:
    """A finding for the activation layers whose ``column`` (a fraction) is above its threshold, or none."""
    over = acts[acts[column] > limits[column]]
    if not len(over):
        return []
    evidence = {**{f"{column}[{n}]": float(v) for n, v in over[column].items()}, "threshold": limits[column]}
    return [Finding(kind, tuple(over.index), evidence, cause, remedy, link)]
