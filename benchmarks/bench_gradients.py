"""Benchmarks of gradbook.gradients and gradbook.diagnostics on this machine: run ``make bench`` (or
``python benchmarks/bench_gradients.py``).

1. **GradientMonitor's overhead** on the article's MNIST CNN (``gradbook.models.seed_cnn``: RMSprop, categorical
   cross-entropy, batches of 64, trained on ``gradbook.data.load_mnist()``) against plain ``fit`` in the same process,
   goal ≤ 1.10×. The rejected design — a fixed probe batch of 64 images measured with ``layer_gradient_norms`` after
   every (or every 10th) step — is timed alongside, as the evidence for measuring the training gradients instead.
2. **layer_gradient_norms compiled vs eager**: the one ``tf.function`` against the same computation run eagerly
   (``compiled=False``: one tape, then a Python loop over the layers' norms) and against the naive eager loop that
   runs one forward and backward pass per layer; goal ≥ 3× faster than the eager loop. The speed-ups are medians of
   ratios paired repeat by repeat.

Timings on a shared 2-core machine are noisy (other work throttles whole seconds at a time), so each variant trains
its own copy of the model on the same chunks of 8 batches, the variants interleaved chunk by chunk in a shuffled
order; each step is timed (from batch begin to batch end, after the other callbacks). The table reports the median
step time and its ratio to plain ``fit``: the median over chunks of the paired ratios of each chunk's median step
time and of its CPU time; and, least disturbed by other work, the ratio of the steps' low quartiles. Results are
also written to ``benchmarks/results/`` (not committed).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

from gradbook.data import load_mnist, mnist_batch, resolve_source, to_float  # noqa: E402
from gradbook.diagnostics import GradientMonitor  # noqa: E402
from gradbook.gradients import kernel_layers, layer_gradient_norms  # noqa: E402
from gradbook.models import deep_mlp, seed_cnn  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
MONITOR_GOAL, SPEEDUP_GOAL = 1.10, 3.0
PROBE_SIZE = 64


class StepTimer(keras.callbacks.Callback):
    """Wall time of every training step, from batch begin to batch end (after the other callbacks' batch end)."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[float] = []

    def on_train_batch_begin(self, batch, logs=None):
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(time.perf_counter() - self._t0)


class ProbeBatch(keras.callbacks.Callback):
    """The rejected design: ``layer_gradient_norms`` on a fixed probe batch after every ``every``-th step."""

    def __init__(self, x, y, every: int) -> None:
        super().__init__()
        self.x, self.y, self.every, self.seen, self.rows = x, y, every, 0, []
        self.loss = keras.losses.CategoricalCrossentropy()  # one object: the compiled function is reused

    def on_train_batch_end(self, batch, logs=None):
        if self.seen % self.every == 0:
            self.rows.append(layer_gradient_norms(self.model, self.x, self.y, loss=self.loss))
        self.seen += 1


def bench_monitor(rounds: int, samples: int, seed: int, chunk: int = 8) -> pd.DataFrame:
    """Every variant trains its own copy of the CNN on the same chunks of ``chunk`` batches, interleaved chunk by chunk
    in a shuffled order, so that all of them see the same machine load; each step is timed."""
    (x_train, y_train), _ = load_mnist(verbose=False)
    x = to_float(x_train[:samples], channels=True)
    y = keras.utils.to_categorical(y_train[:samples], 10)
    variants = {
        "plain fit": lambda: [],
        "GradientMonitor(every=1)": lambda: [GradientMonitor(every=1)],
        "GradientMonitor(every=10)": lambda: [GradientMonitor(every=10)],
        f"probe batch {PROBE_SIZE}, every step": lambda: [ProbeBatch(x[:PROBE_SIZE], y[:PROBE_SIZE], 1)],
        f"probe batch {PROBE_SIZE}, every 10": lambda: [ProbeBatch(x[:PROBE_SIZE], y[:PROBE_SIZE], 10)],
    }
    runs = {}
    for name, make in variants.items():
        model = seed_cnn(seed=seed)
        model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
        callbacks = make()
        model.fit(x[:640], y[:640], batch_size=64, epochs=1, verbose=0, callbacks=callbacks)  # trace, warm up
        runs[name] = (model, callbacks)
    size = 64 * chunk
    starts = list(range(0, len(x) - size + 1, size))
    step_ms = {name: [] for name in variants}  # per chunk: median step time
    all_ms = {name: [] for name in variants}  # every step
    cpu_s = {name: [] for name in variants}  # per chunk: process CPU time
    rng = np.random.default_rng(seed)
    for r in range(rounds):
        for start in starts:
            for name in rng.permutation(list(variants)):
                model, callbacks = runs[name]
                timer = StepTimer()
                start_cpu = time.process_time()
                model.fit(x[start:start + size], y[start:start + size], batch_size=64, epochs=1, verbose=0,
                          shuffle=False, callbacks=callbacks + [timer])
                cpu_s[name].append(time.process_time() - start_cpu)
                steps = 1e3 * np.array(timer.steps[1:])  # the first step of a fit call sets up
                step_ms[name].append(np.median(steps))
                all_ms[name].extend(steps)
        print(f"  round {r + 1}/{rounds}: median step " + ", ".join(
            f"{n.split(',')[0][:22]} {np.median(step_ms[n][-len(starts):]):.1f} ms" for n in variants), flush=True)
    plain_ms, plain_cpu = np.array(step_ms["plain fit"]), np.array(cpu_s["plain fit"])
    plain_q1 = np.percentile(all_ms["plain fit"], 25)
    rows = []
    for name in variants:
        ms, cpu, q1 = np.array(step_ms[name]), np.array(cpu_s[name]), np.percentile(all_ms[name], 25)
        rows.append({"variant": name, "step ms (median)": np.median(all_ms[name]), "step ms (low quartile)": q1,
                     "× plain (step time, paired)": np.median(ms / plain_ms),
                     "× plain (CPU time, paired)": np.median(cpu / plain_cpu),
                     "× plain (low quartile)": q1 / plain_q1})
    monitor = runs["GradientMonitor(every=1)"][1][0]
    assert monitor.history.shape[1] == len(kernel_layers(runs["plain fit"][0])) and len(monitor.history) > 0
    table = pd.DataFrame(rows).set_index("variant")
    table.attrs["pairs"] = len(plain_ms)
    return table


def _naive_loop(model, x, y, loss):
    """How one might write it by hand: one eager forward and backward pass per layer."""
    norms = []
    for layer in kernel_layers(model):
        with tf.GradientTape() as tape:
            value = tf.reduce_mean(loss(y, model(x, training=False)))
        norms.append(float(tf.norm(tape.gradient(value, layer.kernel))))
    return norms


def bench_norms(repeats: int, seed: int) -> pd.DataFrame:
    x_flat, y = mnist_batch(256)
    x_img, _ = mnist_batch(256, flatten=False)
    cases = {
        "deep_mlp(20) sigmoid, batch 256": (deep_mlp(20, seed=seed), x_flat,
                                            keras.losses.SparseCategoricalCrossentropy(from_logits=True)),
        "seed_cnn, batch 256": (seed_cnn(seed=seed), x_img, keras.losses.SparseCategoricalCrossentropy()),
    }
    rows = []
    for label, (model, x, loss) in cases.items():
        start = time.perf_counter()
        first = layer_gradient_norms(model, x, y, loss=loss)
        trace = time.perf_counter() - start
        eager_check = layer_gradient_norms(model, x, y, loss=loss, compiled=False)
        np.testing.assert_allclose(first.values, eager_check.values, rtol=1e-4)
        xt, yt = tf.constant(x), tf.constant(y)
        timings = {"compiled": [], "eager": [], "naive": []}
        runs = {"compiled": lambda: layer_gradient_norms(model, x, y, loss=loss),
                "eager": lambda: layer_gradient_norms(model, x, y, loss=loss, compiled=False),
                "naive": lambda: _naive_loop(model, xt, yt, loss)}
        for i in range(repeats):  # the variants back to back, so that each repeat is a fair pair
            for name, run in runs.items():
                if name == "naive" and i % 5:  # one pass per layer: slow, and far from the goal anyway
                    continue
                start = time.perf_counter()
                run()
                timings[name].append(time.perf_counter() - start)
        compiled, eager, naive = (np.array(timings[k]) for k in ("compiled", "eager", "naive"))
        rows.append({"model": label, "layers": len(first), "compiled ms (median)": 1e3 * np.median(compiled),
                     "first call ms (traces)": 1e3 * trace, "eager ms (median)": 1e3 * np.median(eager),
                     "naive loop ms (median)": 1e3 * np.median(naive),
                     "speed-up vs eager": float(np.median(eager / compiled)),
                     "speed-up vs naive loop": float(np.median(naive / compiled[::5]))})
    return pd.DataFrame(rows).set_index("model")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="passes over the images per variant (default 7)")
    parser.add_argument("--samples", type=int, default=4000, help="training images per epoch (default 4000)")
    parser.add_argument("--repeats", type=int, default=21, help="timed calls per layer_gradient_norms variant")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2048 images, 7 repeats: a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.samples, args.repeats = 2, 2048, 7
    pd.set_option("display.width", 160)
    pd.set_option("display.max_columns", 20)
    print(f"gradbook benchmarks — TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs "
          f"({platform.processor() or platform.machine()}), MNIST source {resolve_source()!r}, "
          f"{args.rounds} rounds × {args.samples} images in chunks of 8 batches of 64", flush=True)
    print("\n1. GradientMonitor overhead on the article's CNN:", flush=True)
    monitor = bench_monitor(args.rounds, args.samples, args.seed)
    print("\n2. layer_gradient_norms: compiled vs eager", flush=True)
    norms = bench_norms(args.repeats, args.seed)
    print("\nGradientMonitor vs plain fit (medians):")
    print(monitor.to_string(float_format=lambda v: f"{v:.3f}"))
    print("\nlayer_gradient_norms (medians):")
    print(norms.to_string(float_format=lambda v: f"{v:.2f}"))
    ratios = monitor.loc["GradientMonitor(every=1)", ["× plain (step time, paired)", "× plain (CPU time, paired)",
                                                      "× plain (low quartile)"]]
    print(f"\ngoal GradientMonitor(every=1) ≤ {MONITOR_GOAL:.2f}× plain fit: {ratios.iloc[0]:.3f}× step time, "
          f"{ratios.iloc[1]:.3f}× CPU time (medians of {monitor.attrs['pairs']} paired chunks), "
          f"{ratios.iloc[2]:.3f}× low-quartile step time — {'met' if ratios.max() <= MONITOR_GOAL else 'NOT met'}")
    for model, row in norms.iterrows():
        verdict = lambda v: "met" if v >= SPEEDUP_GOAL else "NOT met"  # noqa: E731
        print(f"goal layer_gradient_norms compiled ≥ {SPEEDUP_GOAL:.0f}× faster, {model}: "
              f"{row['speed-up vs eager']:.1f}× vs eager compiled=False ({verdict(row['speed-up vs eager'])}), "
              f"{row['speed-up vs naive loop']:.1f}× vs the per-layer eager loop "
              f"({verdict(row['speed-up vs naive loop'])})")
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    monitor.to_csv(RESULTS / f"monitor-{stamp}.csv")
    norms.to_csv(RESULTS / f"norms-{stamp}.csv")
    print(f"results written to {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
