"""FastV as a patch of every adapter (issue 13), on tiny random models with 4 decoder layers.

What is proven: retention 1 reproduces the unpatched logits exactly and ``unpatch`` restores
them; layers < K see the whole prompt and layers >= K text + R visual tokens (forward hooks on
the decoder layers); the recomputed last-query scores equal eager attention's weights, and eager
and SDPA keep the same tokens; ``generate`` works, decodes at the unpruned model's positions and
the cache of layers >= K holds only the kept tokens; a padded batch keeps per row what the row
keeps alone (padded on either side); bad settings raise with the valid choice named.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")

from adapter_models import BUILDERS, inputs_for, num_visual, strip_es  # noqa: E402
from test_padding import _pad  # noqa: E402

import entropy_select as es  # noqa: E402
from entropy_select import selectors  # noqa: E402

MODEL_TYPES = tuple(BUILDERS)
QWEN_AND_INTERNVL = ("qwen2_5_vl", "qwen3_vl", "internvl")
LAYERS, K = 4, 2  # Qwen3-VL's tiny DeepStack has 2 levels: K must be >= 2


def _model(model_type: str, attn: str = "sdpa"):
    return BUILDERS[model_type](attn, layers=LAYERS)


def _runtime(model):
    return model._entropy_select.in_model


def _layer_lengths(model):
    """Record the sequence length every decoder layer sees (hidden states, positional arg)."""
    seen: dict[int, list[int]] = {}
    handles = []
    for i, layer in enumerate(model.model.language_model.layers):

        def hook(module, args, kwargs, i=i):
            seen.setdefault(i, []).append(args[0].shape[1])

        handles.append(layer.register_forward_pre_hook(hook, with_kwargs=True))
    return seen, handles


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_retention_one_is_exact_and_unpatch_restores(model_type):
    model = _model(model_type)
    x = inputs_for(model_type)
    reference = model(**strip_es(x)).logits
    es.patch(model, selector="fastv", retention=1.0, layer=K)
    assert torch.equal(model(**x).logits, reference)
    es.patch(model, selector="fastv", retention=0.25, layer=K)
    assert not torch.equal(model(**x).logits, reference)
    es.unpatch(model)
    assert torch.equal(model(**strip_es(x)).logits, reference)
    assert all(not layer._forward_pre_hooks for layer in model.model.language_model.layers)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_layers_from_k_see_text_and_the_kept_tokens(model_type):
    model = _model(model_type)
    x = inputs_for(model_type)
    L, N = x["input_ids"].shape[1], num_visual(model_type, x)
    es.patch(model, selector="fastv", retention=0.5, layer=K)
    seen, handles = _layer_lengths(model)
    logits = model(**x).logits
    for h in handles:
        h.remove()
    R = max(1, int(0.5 * N + 1e-9))
    assert logits.shape[1] == L  # the final norm gets the prompt's length back
    assert _runtime(model).last["budgets"] == {0: R}
    assert [seen[i][0] for i in range(LAYERS)] == [L] * K + [L - N + R] * (LAYERS - K)
    keep = _runtime(model).last["keep"]
    video = _video_positions(model, x)
    if model_type == "llava_onevision":  # the newline closing the video is kept like text
        video[0, video[0].nonzero()[-1]] = False
    assert torch.equal(keep | video, torch.ones_like(keep))  # all text kept
    assert int((keep & video).sum()) == R


def _video_positions(model, x):
    """The video placeholders of the prompt (not the image ones)."""
    ids = x["input_ids"]
    if model.config.model_type == "internvl":
        return ids == model.config.image_token_id  # these prompts hold no image
    return ids == model.config.video_token_id


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_scores_are_eager_attention_and_sdpa_keeps_the_same_set(model_type):
    x = inputs_for(model_type)
    eager = es.patch(_model(model_type, "eager"), selector="fastv", retention=0.5, layer=K)
    weights = []
    attn = eager.model.language_model.layers[K - 1].self_attn
    handle = attn.register_forward_hook(lambda m, a, out: weights.append(out[1]))
    eager(**x)
    handle.remove()
    expected = weights[0][0, :, -1].float().mean(0)  # head-mean of the last query's row
    assert torch.allclose(_runtime(eager).last["scores"][0], expected, atol=1e-6)
    sdpa = es.patch(_model(model_type, "sdpa"), selector="fastv", retention=0.5, layer=K)
    sdpa(**x)
    assert torch.equal(_runtime(sdpa).last["keep"], _runtime(eager).last["keep"])


def _decode_positions(model, x, steps=3):
    """Position ids the rotary embedding gets at each decoding step, and the generated ids."""
    seen = []
    rotary = model.model.language_model.rotary_emb
    handle = rotary.register_forward_pre_hook(
        lambda m, args: seen.append(args[1].clone()) if args[1].shape[-1] == 1 else None
    )
    out = model.generate(**x, max_new_tokens=steps, do_sample=False)
    handle.remove()
    return seen, out


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_generate_decodes_at_the_unpruned_positions_with_a_short_cache(model_type):
    x = inputs_for(model_type)
    plain = _model(model_type)
    expected, plain_out = _decode_positions(plain, strip_es(x))
    model = es.patch(_model(model_type), selector="fastv", retention=0.5, layer=K)
    caches = []

    def grab(module, args, kwargs):
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        if args[0].shape[1] == 1:
            caches.append((cache.layers[0].keys.shape[-2], cache.layers[K].keys.shape[-2]))

    handle = model.model.language_model.layers[K].register_forward_pre_hook(grab, with_kwargs=True)
    got, out = _decode_positions(model, x)
    handle.remove()
    assert out.shape == plain_out.shape
    assert torch.equal(out[:, : x["input_ids"].shape[1]], x["input_ids"])
    assert len(got) == len(expected) == 2
    for a, b in zip(got, expected, strict=True):
        assert torch.equal(a, b)
    L = x["input_ids"].shape[1]
    dropped = L - int(_runtime(model).last["keep"].sum())
    assert dropped > 0
    # before layer K runs at decoding step t, layer 0 already holds the step's token
    assert caches == [(L + t + 1, L - dropped + t) for t in range(2)]


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_padded_batch_keeps_per_row_what_each_row_keeps_alone(model_type):
    if model_type == "internvl":
        one, two = inputs_for(model_type, seed=0), inputs_for(model_type, start=40, image=True)
    else:
        one, two = inputs_for(model_type), inputs_for(model_type, start=50, pre=7, seed=5)
    model = es.patch(_model(model_type), selector="fastv", retention=0.5, layer=K)
    alone = []
    for p in (one, two):
        logits = model(**p).logits[0, -1]
        keep = _runtime(model).last["keep"][0]
        new = model.generate(**p, max_new_tokens=3, do_sample=False)[0, -3:]
        alone.append((logits, keep, new))
    batch = _pad([one, two], "left")
    logits = model(**batch).logits[:, -1]
    keep = _runtime(model).last["keep"]
    new = model.generate(**batch, max_new_tokens=3, do_sample=False)[:, -3:]
    for row, (ref_logits, ref_keep, ref_new) in enumerate(alone):
        assert torch.equal(keep[row, -ref_keep.shape[0] :], ref_keep)
        assert torch.allclose(logits[row], ref_logits, atol=1e-4)
        assert torch.equal(new[row], ref_new)  # decoding with the padded mask gathered
    right = _pad([one, two], "right")  # forward only: FastV's query is each row's last real token
    logits = model(**right).logits
    keep = _runtime(model).last["keep"]
    for row, (ref_logits, ref_keep, _) in enumerate(alone):
        n = ref_keep.shape[0]
        assert torch.equal(keep[row, :n], ref_keep)
        assert torch.allclose(logits[row, n - 1], ref_logits, atol=1e-4)


@pytest.mark.parametrize("model_type", QWEN_AND_INTERNVL)
def test_a_batch_of_unequal_videos_names_the_limit(model_type):
    # (LLaVA-OneVision takes the videos of a batch in one tensor: one frame count for all)
    one = inputs_for(model_type)
    two = inputs_for(model_type, num_frames=4, start=50, seed=5)
    model = es.patch(_model(model_type), selector="fastv", retention=0.5, layer=K)
    with pytest.raises(ValueError, match="same count in every row"):
        model(**_pad([one, two], "left"))


def test_selectors_get_says_how_to_patch_a_model():
    with pytest.raises(ValueError, match=r'es\.patch\(model, selector="fastv"'):
        selectors.get("fastv")
    assert "fastv" in selectors.in_model_names()


def test_bad_settings_name_the_valid_ones():
    model = _model("qwen3_vl")
    with pytest.raises(ValueError, match=r"layer must be >= 2"):
        es.patch(model, selector="fastv", layer=1)
    with pytest.raises(ValueError, match=r"\[1, 4\)"):
        es.patch(_model("qwen2_5_vl"), selector="fastv", layer=4)
    with pytest.raises(ValueError, match="valid options are: layer"):
        es.patch(_model("qwen2_5_vl"), selector="fastv", tau=0.1)
    model = es.patch(_model("qwen2_5_vl"), selector="fastv", layer="3")  # strings parse
    assert _runtime(model).layer == 3
    from entropy_select.integrations.lmms_eval import effective_config

    assert effective_config(model)["config"] == {"layer": 3}
    table = es.adapters.supported_in_model()
    assert set(table) == set(MODEL_TYPES)
    assert all(table[t]["fastv"]["options"] == {"layer": 2} for t in MODEL_TYPES)


def test_supported_lists_the_in_model_selectors():
    table = es.adapters.supported()
    names = ["dycoke", "fastv", "visionzip"]
    assert all(sorted(table[t]["in_model"]) == names for t in MODEL_TYPES)
    assert all("fastv: " in table[t]["notes"] for t in MODEL_TYPES)


def test_compressed_block_patches_and_restores_the_previous_patch():
    model = _model("qwen2_5_vl")
    x = inputs_for("qwen2_5_vl")
    es.patch(model, selector="dycoke", retention=0.5, layer=3)
    before = model(**x).logits
    with es.compressed(model, selector="fastv", retention=0.5, layer=K):
        assert _runtime(model).layer == K and model._entropy_select.selector is None
        inside = model(**x).logits
    assert model._entropy_select.selector_name == "dycoke" and _runtime(model).layer == 3
    assert torch.equal(model(**x).logits, before)
    assert not torch.equal(inside, before)


@pytest.mark.parametrize("selector", ("fastv", "dycoke"))
@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_unpatch_restores_every_attribute_and_hook_table(model_type, selector):
    from test_unpatch_restores import _differences, _snapshot

    model = _model(model_type)
    x = inputs_for(model_type)
    model(**strip_es(x))  # the model's own state (Qwen: rope_deltas) is now set
    before = _snapshot(model)
    es.patch(model, selector=selector, retention=0.5, layer=K)
    model(**x)
    model.generate(**x, max_new_tokens=3, do_sample=False)
    assert _runtime(model).last  # the hooks ran
    es.unpatch(model)
    differences = _differences(before, _snapshot(model))
    if selector == "fastv":  # no feature stage: Qwen's own forward rewrote its rope_deltas, as
        # it does unpatched (same values, a new tensor); the patch itself never writes it
        differences = [d for d in differences if d != "model.rope_deltas: changed"]
        if model_type.startswith("qwen"):
            assert torch.equal(model.model.rope_deltas, before["model"]["rope_deltas"])
    assert differences == []
