"""gradbook.frontiers.compute: multiply-adds layer by layer (checked by hand) and throughput measurement."""
import keras
import numpy as np
import pytest

from gradbook.frontiers.compute import Throughput, conv2d_macs, layer_flops, measure_throughput
from gradbook.models import deep_mlp, seed_cnn


def test_seed_cnn_macs_by_hand():
    table = layer_flops(seed_cnn())
    # conv_2: output 11 x 11 x 64, each value a 3 x 3 x 32 dot product
    assert table.loc["conv_2", "macs"] == 11 * 11 * 64 * 3 * 3 * 32 == 2_230_272
    assert table.loc["conv_1", "macs"] == 26 * 26 * 32 * 3 * 3 * 1
    assert table.loc["conv_3", "macs"] == 3 * 3 * 64 * 3 * 3 * 64
    assert table.loc["dense_1", "macs"] == 576 * 64 and table.loc["output", "macs"] == 64 * 10
    assert table.loc[["pool_1", "pool_2", "flatten"], "macs"].sum() == 0
    assert table["macs"].sum() == 2_794_240 and table["flops"].sum() == 2 * 2_794_240
    assert table["parameters"].sum() == 93_322
    # conv_3 and dense_1 have the same number of weights; each conv_3 weight is used at 3 x 3 positions
    assert table.loc["conv_3", "parameters"] == table.loc["dense_1", "parameters"] == 36_928
    assert table.loc["conv_3", "macs"] == 9 * table.loc["dense_1", "macs"]
    assert table.loc["conv_1", "activations"] == 26 * 26 * 32
    # each kernel weight is used once per output position: 26 x 26 for conv_1, once for a dense layer
    assert table.loc["conv_1", "uses_per_weight"] == 26 * 26 and table.loc["dense_1", "uses_per_weight"] == 1


def test_dense_network_macs():
    table = layer_flops(deep_mlp(2, 8))
    assert table["macs"].sum() == 784 * 8 + 8 * 8 + 8 * 10


def test_conv2d_macs_checks_its_arguments():
    assert conv2d_macs(1, 1, 1, 1, 1, 1) == 1
    with pytest.raises(ValueError, match="kernel_height must be an integer >= 1"):
        conv2d_macs(2, 2, 2, 0, 3, 1)


@pytest.mark.parametrize("mode", ["inference", "training"])
def test_measure_throughput(mode):
    result = measure_throughput(seed_cnn(), np.zeros((3, 28, 28, 1)), batch_size=4, repeats=2, mode=mode)
    assert isinstance(result, Throughput) and len(result.seconds) == 2 and result.batch_size == 4
    assert result.images_per_second > 0 and result.gflops_per_second > 0
    factor = 3 if mode == "training" else 1
    assert result.flops_per_image == factor * 2 * 2_794_240
    assert result.images_per_second == pytest.approx(4 / np.median(result.seconds))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"mode": "train"}, ValueError, "mode must be one of 'inference', 'training'"),
    ({"batch_size": 0}, ValueError, "batch_size must be an integer >= 1"),
    ({"repeats": 1.5}, TypeError, "repeats must be an integer >= 1"),
])
def test_measure_throughput_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        measure_throughput(seed_cnn(), np.zeros((2, 28, 28, 1)), **kwargs)


def test_wrong_inputs_are_rejected():
    with pytest.raises(TypeError, match="model must be a keras.Model"):
        layer_flops("seed_cnn")
    with pytest.raises(ValueError, match=r"x must be a non-empty batch of shape \(N, 28, 28, 1\)"):
        measure_throughput(seed_cnn(), np.zeros((2, 784)))
