"""The hf: encoder's error for a model it cannot load offline reads as one sentence."""

import pytest

from entropy_select.encoders import get_encoder


def test_missing_model_message_has_no_doubled_period(tmp_path):
    pytest.importorskip("transformers")
    for name in (str(tmp_path / "missing"), "/no/such/model"):
        with pytest.raises(ValueError, match="cannot load .* offline") as info:
            get_encoder(f"hf:{name}")
        message = str(info.value)
        assert ".." not in message and ". Give a local directory" in message, message
