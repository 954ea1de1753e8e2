import pytest

from gradbook.architecture import layer_table
from gradbook.models import deep_mlp, seed_cnn


def test_seed_cnn_table_shapes_params_and_receptive_fields():
    table = layer_table(seed_cnn())
    assert table["parameters"].sum() == 93_322
    assert table.loc["conv_1", "output shape"] == "(26, 26, 32)"
    assert table.loc["pool_2", "output shape"] == "(5, 5, 64)"
    assert table.loc["conv_3", "output shape"] == "(3, 3, 64)"
    # rf grows 3 → 4 → 8 → 10 → 18 (by hand: rf += (k - 1) * jump; jump *= stride)
    assert table["rf"].tolist()[:5] == [3, 4, 8, 10, 18]
    assert table.loc["dense_1", "rf"] == 28


def test_mlp_table_has_no_receptive_field():
    table = layer_table(deep_mlp(2, 8))
    assert "rf" not in table.columns and table["parameters"].sum() == 784 * 8 + 8 + 8 * 8 + 8 + 8 * 10 + 10


def test_layer_table_rejects_non_models():
    with pytest.raises(TypeError, match="keras.Model"):
        layer_table("seed_cnn")
