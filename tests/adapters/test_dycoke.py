"""DyCoke (temporal merging + decode-time KV pruning) as a patch of every adapter (issue 13).

What is proven: with everything kept the patched model generates and scores exactly as the
unpatched one, and ``unpatch`` restores it; the prefill is stage 1 exactly (``dycoke_ttm``'s
logits); at every decoding step layers >= L attend to text + generated + P chosen video tokens
(the mask a later hook sees), layers < L to everything; the decode scores equal eager
attention's weights; the re-choice follows the cosine rule; a padded batch decodes each row as
it decodes alone.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")

from adapter_models import BUILDERS, inputs_for, strip_es  # noqa: E402
from test_padding import _pad  # noqa: E402

import entropy_select as es  # noqa: E402

MODEL_TYPES = tuple(BUILDERS)
LAYERS, L = 4, 2


def _model(model_type: str, attn: str = "sdpa"):
    return BUILDERS[model_type](attn, layers=LAYERS)


def _runtime(model):
    return model._entropy_select.in_model


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_keeping_everything_is_exact_and_unpatch_restores(model_type):
    model = _model(model_type)
    x = inputs_for(model_type)
    logits = model(**strip_es(x)).logits
    tokens = model.generate(**strip_es(x), max_new_tokens=4, do_sample=False)
    es.patch(model, selector="dycoke", retention=1.0, layer=L, decode_retention=1.0)
    assert torch.equal(model(**x).logits, logits)
    assert torch.equal(model.generate(**x, max_new_tokens=4, do_sample=False), tokens)
    assert _runtime(model).everything and _runtime(model).last["steps"] == 3  # scored, none hidden
    es.unpatch(model)
    assert torch.equal(model(**strip_es(x)).logits, logits)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_prefill_is_dycoke_ttm(model_type):
    x = inputs_for(model_type)
    model = es.patch(_model(model_type), selector="dycoke_ttm", retention=0.5)
    expected = model(**x).logits
    es.patch(model, selector="dycoke", retention=0.5, layer=L)
    assert torch.equal(model(**x).logits, expected)


def _attended(model, layers):
    """Per decoding step and layer, how many keys the layer's mask lets the last query see."""
    seen: dict[int, list[int]] = {}
    handles = []
    for i in layers:

        def hook(module, args, kwargs, i=i):
            if args[0].shape[1] != 1:
                return
            mask = kwargs.get("attention_mask")
            if mask is None:  # SDPA without padding: every cached key and the new one
                # the cache keyword of a decoder layer differs between transformers versions
                cache = next(
                    kwargs[k]
                    for k in ("cache", "past_key_values", "past_key_value")
                    if kwargs.get(k) is not None
                )
                count = cache.get_seq_length(i) + 1
            else:
                row = mask[0, 0, -1]
                ok = row if row.dtype == torch.bool else row > torch.finfo(row.dtype).min / 2
                count = int(ok.sum())
            seen.setdefault(i, []).append(count)

        layer = model.model.language_model.layers[i]
        handles.append(layer.register_forward_pre_hook(hook, with_kwargs=True))
    return seen, handles


@pytest.mark.parametrize("attn", ("eager", "sdpa"))
@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_decoding_steps_attend_to_the_reduced_set_from_layer_l(model_type, attn):
    x = inputs_for(model_type)
    model = es.patch(
        _model(model_type, attn), selector="dycoke", retention=0.5, layer=L, decode_retention=0.3
    )
    seen, handles = _attended(model, range(LAYERS))
    steps = 4
    model.generate(**x, max_new_tokens=steps + 1, do_sample=False)
    for h in handles:
        h.remove()
    state = model._entropy_select
    short = state.last["short_length"]
    video = int(_runtime(model).video.sum())  # N': video tokens after stage 1
    P = max(1, int(0.3 * video + 1e-9))
    full = [short + t + 1 for t in range(steps)]
    reduced = [n - (video - P) for n in full]
    assert video - P > 0
    for i in range(LAYERS):
        assert seen[i] == (full if i < L else reduced), i
    assert _runtime(model).last["steps"] == steps
    assert int(_runtime(model).last["chosen"].sum()) == P


def test_decode_scores_are_eager_attention_weights():
    x = inputs_for("qwen2_5_vl")
    model = es.patch(_model("qwen2_5_vl", "eager"), selector="dycoke", retention=0.5, layer=L)
    weights = []
    attn = model.model.language_model.layers[L - 1].self_attn
    handle = attn.register_forward_hook(lambda m, a, out: weights.append(out[1]))
    model.generate(**x, max_new_tokens=3, do_sample=False)
    handle.remove()
    runtime = _runtime(model)
    Lp = runtime.video.shape[1]
    expected = weights[-1][0, :, -1].float().mean(0)[:Lp] * runtime.video[0]
    assert torch.allclose(runtime.previous[0], expected, atol=1e-6)


def test_the_choice_changes_only_when_the_attention_cosine_drops():
    x = inputs_for("qwen2_5_vl")
    model = _model("qwen2_5_vl")
    es.patch(model, selector="dycoke", retention=0.5, layer=L, threshold=-1.0)
    model.generate(**x, max_new_tokens=6, do_sample=False)
    last = _runtime(model).last
    assert (last["steps"], int(last["updates"])) == (5, 1)
    es.patch(model, selector="dycoke", retention=0.5, layer=L, threshold=1.0)
    model.generate(**x, max_new_tokens=6, do_sample=False)
    last = _runtime(model).last
    assert int(last["updates"]) >= 4  # a cosine of exactly 1 between steps is all but impossible


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_padded_batch_decodes_each_row_as_alone(model_type):
    if model_type == "internvl":
        one, two = inputs_for(model_type, seed=0), inputs_for(model_type, start=40, image=True)
    else:
        one, two = inputs_for(model_type), inputs_for(model_type, start=50, pre=7, seed=5)
    model = es.patch(_model(model_type), selector="dycoke", retention=0.5, layer=L)
    alone = [model.generate(**p, max_new_tokens=4, do_sample=False)[0, -4:] for p in (one, two)]
    both = model.generate(**_pad([one, two], "left"), max_new_tokens=4, do_sample=False)
    for row, expected in enumerate(alone):
        assert torch.equal(both[row, -4:], expected)


def test_bad_settings_name_the_valid_ones():
    model = _model("llava_onevision")
    with pytest.raises(ValueError, match="decode_retention must be in"):
        es.patch(model, selector="dycoke", decode_retention=0)
    with pytest.raises(ValueError, match="valid options are: decode_retention, layer, threshold"):
        es.patch(model, selector="dycoke", tau=1)
    with pytest.raises(ValueError, match=r"\[1, 4\)"):
        es.patch(model, selector="dycoke", layer=4)
    with pytest.raises(ValueError, match="layer must be an int >= 1"):
        es.patch(model, selector="dycoke", layer=0)
