import json

import pytest
import torch
from safetensors.torch import load_file

from course.model import HookedTransformer
from course.weights import WeightsError, load_model, save_model
from tests.conftest import tiny_config


def test_round_trip(tiny_model, tokens, tmp_path):
    card = save_model(tiny_model, tmp_path / "m.safetensors", {"recipe": "test"})
    loaded = load_model(tmp_path / "m.safetensors")
    torch.testing.assert_close(loaded(tokens), tiny_model(tokens))
    assert loaded.card["recipe"] == "test" and len(card["sha256"]) == 64


def test_float16_weights_load_as_the_rounded_model(tiny_model, tokens, tmp_path):
    """A recipe that ships float16 (Recipe.weights_dtype) halves the file; loading copies it back into
    float32 parameters, equal to the model rounded to float16."""
    path = tmp_path / "half.safetensors"
    card = save_model(tiny_model, path, dtype=torch.float16)
    assert card["weights_dtype"] == "float16" and "weights_dtype" not in save_model(tiny_model, tmp_path / "f.safetensors")
    assert card["bytes"] < 0.55 * (tmp_path / "f.safetensors").stat().st_size
    assert {v.dtype for v in load_file(str(path)).values()} == {torch.float16}
    loaded = load_model(path)
    for name, value in tiny_model.state_dict().items():
        assert loaded.state_dict()[name].dtype == torch.float32
        torch.testing.assert_close(loaded.state_dict()[name], value.half().float(), rtol=0, atol=0)


def test_truncated_file_is_named(tiny_model, tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(tiny_model, path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(WeightsError, match=r"m.safetensors is corrupt or was changed"):
        load_model(path)
    with pytest.raises(WeightsError, match=r"m.safetensors is not a readable safetensors file"):
        load_model(path, check_sha=False)


def test_tampered_byte_is_caught_by_the_checksum(tiny_model, tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(tiny_model, path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        load_model(path)


def test_mismatched_config_names_the_keys(tiny_model, tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(tiny_model, path)
    card = json.loads(path.with_suffix(".json").read_text())
    card["config"]["d_mlp"] = 80
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(WeightsError, match=r"wrong shapes.*blocks.0.mlp.W_in: file \(32, 64\) vs model \(32, 80\)"):
        load_model(path)


def test_missing_card_and_bad_json(tiny_model, tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(tiny_model, path)
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(WeightsError, match="not valid JSON"):
        load_model(path)
    path.with_suffix(".json").unlink()
    with pytest.raises(WeightsError, match="no card"):
        load_model(path)


def test_never_uses_pickle(tiny_model, tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(tiny_model, path)
    assert not path.read_bytes().startswith(b"PK") and b"\x80\x02" not in path.read_bytes()[:8]
