"""es.patch / es.unpatch on things that are not supported models (issue 15, point 7)."""

import pytest
import torch

import entropy_select as es


def test_patch_of_a_plain_module_says_it_is_not_a_supported_model():
    with pytest.raises(ValueError) as info:
        es.patch(torch.nn.Linear(4, 4))
    message = str(info.value)
    assert "Linear is not a supported Hugging Face model" in message
    assert "llava_onevision, qwen2_5_vl, qwen3_vl" in message and "None" not in message


def test_patch_of_an_unsupported_model_type_names_it():
    model = torch.nn.Linear(2, 2)
    model.config = type("C", (), {"model_type": "llama"})()
    with pytest.raises(ValueError, match="model_type 'llama' \\(Linear\\); supported: internvl"):
        es.patch(model)


def test_unpatch_of_an_unpatched_model_is_a_silent_noop(capsys):
    model = torch.nn.Linear(4, 4)
    before = dict(model.__dict__)
    assert es.unpatch(model) is model
    assert model.__dict__ == before and capsys.readouterr() == ("", "")
    assert "no-op" in es.unpatch.__doc__
