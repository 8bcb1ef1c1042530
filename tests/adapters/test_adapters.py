"""Hugging Face adapters on tiny random-weight models and frames of a real clip (carphone).

What is proven here (issue 5): keeping every token reproduces the unpatched logits exactly;
patch -> unpatch restores the instance; the prefill holds text + K (+1 newline for LLaVA-OV)
tokens; Qwen's kept tokens carry the M-RoPE positions they had in the unpruned prompt and
``generate`` continues after the prompt's maximum; a padded batch of two different videos gives
the greedy tokens of each video alone; images pass through untouched; eager and SDPA.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

pytest.importorskip("transformers")

from adapter_models import (  # noqa: E402
    ATTN,
    BUILDERS,
    IMAGE,
    PAD,
    VIDEO,
    inputs_for,
    num_visual,
    strip_es,
)

import entropy_select as es  # noqa: E402
from entropy_select import selectors  # noqa: E402
from entropy_select.adapters import STATE_ATTR  # noqa: E402

MODEL_TYPES = tuple(BUILDERS)
QWEN = ("qwen2_5_vl", "qwen3_vl")


def _capture_lm(model):
    """Record the keyword arguments of every language-model call (positions, masks, embeds)."""
    calls = []
    inner = model.model.language_model

    def hook(module, args, kwargs):
        calls.append({k: v for k, v in kwargs.items() if isinstance(v, (torch.Tensor, list))})

    handle = inner.register_forward_pre_hook(hook, with_kwargs=True)
    return calls, handle


def _null():
    import contextlib

    return contextlib.nullcontext()


def _left_pad(batch: list[dict], model_type: str) -> dict:
    """Left-pad a list of one-row prompts into one batch (ids, mask, token types, pixels)."""
    L = max(b["input_ids"].shape[1] for b in batch)
    ids, mask, types = [], [], []
    for b in batch:
        n = b["input_ids"].shape[1]
        ids.append(torch.cat([torch.full((1, L - n), PAD), b["input_ids"]], 1))
        mask.append(
            torch.cat(
                [torch.zeros(1, L - n, dtype=torch.long), torch.ones(1, n, dtype=torch.long)], 1
            )
        )
        if "mm_token_type_ids" in b:
            types.append(
                torch.cat([torch.zeros(1, L - n, dtype=torch.int), b["mm_token_type_ids"]], 1)
            )
    out = {"input_ids": torch.cat(ids), "attention_mask": torch.cat(mask)}
    if types:
        out["mm_token_type_ids"] = torch.cat(types)
    for key in ("pixel_values_videos", "video_grid_thw"):
        if key in batch[0]:
            out[key] = torch.cat([b[key] for b in batch])
    return out


# ---- API ------------------------------------------------------------------------------------


def test_import_is_torch_only():
    code = (
        "import sys, entropy_select as es; assert callable(es.patch); "
        "bad = [m for m in ('transformers', 'av', 'matplotlib', 'triton') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_supported_lists_model_types_and_versions():
    table = es.adapters.supported()
    assert set(table) == {"llava_onevision", "qwen2_5_vl", "qwen3_vl", "internvl"}
    assert all(row["tested"] for row in table.values())


def test_unsupported_model_type_raises_with_list():
    model = torch.nn.Linear(2, 2)
    model.config = type("C", (), {"model_type": "llama"})()
    with pytest.raises(ValueError, match="llava_onevision.*qwen2_5_vl"):
        es.patch(model)


def test_bad_arguments_raise():
    model = BUILDERS["llava_onevision"]()
    with pytest.raises(ValueError, match="retention"):
        es.patch(model, retention=1.5)
    with pytest.raises(ValueError, match="unknown selector"):
        es.patch(model, selector="nope")
    assert STATE_ATTR not in model.__dict__


def test_patch_is_idempotent_and_unpatch_restores_the_instance():
    model = BUILDERS["qwen2_5_vl"]()
    before_model, before_inner = dict(model.__dict__), dict(model.model.__dict__)
    es.patch(model, retention=0.5)
    es.patch(model, retention=0.25)  # replaces, does not stack
    assert model.__dict__[STATE_ATTR].retention == 0.25
    assert model.__dict__["forward"].__wrapped__ == type(model).forward.__get__(model)
    es.unpatch(model)
    es.unpatch(model)  # a no-op
    assert model.__dict__.keys() == before_model.keys()
    assert model.model.__dict__.keys() == before_inner.keys()
    assert "forward" not in model.__dict__ and "get_video_features" not in model.model.__dict__


def test_cuda_graph_option_reaches_the_selector():
    """``es.patch(model, cuda_graph=False)`` turns the selector's CUDA-graph cache off (default
    ``"auto"``)."""
    model = BUILDERS["llava_onevision"]()
    es.patch(model, retention=0.5)
    assert model.__dict__[STATE_ATTR].selector.cuda_graph == "auto"
    es.patch(model, retention=0.5, cuda_graph=False)
    assert model.__dict__[STATE_ATTR].selector.cuda_graph is False
    es.patch(model, retention=0.5, cuda_graph="false")  # a CLI's or lmms-eval's string
    assert model.__dict__[STATE_ATTR].selector.cuda_graph is False
    es.unpatch(model)


def test_compressed_restores_a_previous_patch():
    model = BUILDERS["llava_onevision"]()
    es.patch(model, retention=0.5)
    with es.compressed(model, retention=0.1):
        assert model.__dict__[STATE_ATTR].retention == 0.1
    assert model.__dict__[STATE_ATTR].retention == 0.5
    es.unpatch(model)
    with es.compressed(model, retention=0.1):
        pass
    assert STATE_ATTR not in model.__dict__


# ---- exactness at retention 1.0, and the prefill length -------------------------------------


@pytest.mark.parametrize("attn", ATTN)
@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_retention_one_is_exact_and_unpatch_restores(model_type, attn):
    model = BUILDERS[model_type](attn)
    kwargs = inputs_for(model_type)
    reference = model(**strip_es(kwargs)).logits
    es.patch(model, retention=1.0)
    patched = model(**kwargs).logits
    es.unpatch(model)
    restored = model(**strip_es(kwargs)).logits
    assert torch.equal(patched, reference)
    assert torch.equal(restored, reference)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_prefill_length_is_text_plus_k(model_type):
    model = BUILDERS[model_type]()
    kwargs = inputs_for(model_type)
    N = num_visual(model_type, kwargs)
    L = kwargs["input_ids"].shape[1]
    calls, handle = _capture_lm(model)
    with es.compressed(model, retention=0.25):
        logits = model(**kwargs).logits
    handle.remove()
    K = int(0.25 * N)
    assert logits.shape[1] == L - N + K  # text (+ LLaVA-OV's newline) + K
    assert calls[0]["inputs_embeds"].shape[1] == L - N + K
    assert STATE_ATTR not in model.__dict__  # unpatched after the block


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_every_registered_selector_and_changing_retention(model_type):
    model = BUILDERS[model_type]()
    kwargs = inputs_for(model_type)
    N, L = num_visual(model_type, kwargs), kwargs["input_ids"].shape[1]
    for name in selectors.available():
        for r in (0.5, 0.125):
            es.patch(model, retention=r, selector=name)
            assert model(**kwargs).logits.shape[1] == L - N + max(1, int(r * N)), name
    es.unpatch(model)


def test_llava_presized_placeholders_match_shortened_prompt():
    from entropy_select.adapters.llava_onevision import placeholder_count

    model = BUILDERS["llava_onevision"]()
    kwargs = inputs_for("llava_onevision")
    with es.compressed(model, retention=0.25):
        shortened = model(**kwargs).logits
        keep = model.__dict__[STATE_ATTR].last["keep"]
        ids = kwargs["input_ids"]
        n_full = int((ids == VIDEO).sum())
        k1 = placeholder_count(model.config, kwargs["pixel_values_videos"].shape[1], retention=0.25)
        assert k1 == int(keep[ids == VIDEO].sum()) and k1 < n_full
        presized = ids[keep][None]  # the prompt a K-sized processor would have produced
        direct = model(input_ids=presized, pixel_values_videos=kwargs["pixel_values_videos"]).logits
    assert torch.equal(direct, shortened)


# ---- Qwen: positions ------------------------------------------------------------------------


@pytest.mark.parametrize("model_type", QWEN)
def test_kept_tokens_carry_their_unpruned_positions(model_type):
    model = BUILDERS[model_type]()
    kwargs = inputs_for(model_type)
    full, _ = model.model.get_rope_index(
        kwargs["input_ids"],
        mm_token_type_ids=kwargs["mm_token_type_ids"],
        video_grid_thw=kwargs["video_grid_thw"],
    )  # [3, 1, L]
    calls, handle = _capture_lm(model)
    with es.compressed(model, retention=0.25):
        model(**kwargs)
        state = model.__dict__[STATE_ATTR]
        keep = state.last["keep"][0]
        (selection,) = state.last["selections"]
    handle.remove()
    used = calls[0]["position_ids"]  # [3, 1, L']
    assert torch.equal(used[:, 0], full[:, 0, keep])
    # Independently of the gather: the k-th kept video token is flat index keep_index[k] of the
    # (t, h, w) grid, so its positions are (start + t, start + i, start + j) per get_rope_index.
    ids = kwargs["input_ids"][0]
    video_pos = full[:, 0, ids == VIDEO]  # [3, N] positions of all video tokens, in order
    kept_video = used[:, 0, ids[keep] == VIDEO]  # [3, K]
    assert torch.equal(kept_video, video_pos[:, selection.keep_index])
    if model_type == "qwen3_vl":  # DeepStack pruned with the same indices
        K = selection.keep_index.numel()
        assert int(calls[0]["visual_pos_masks"].sum()) == K
        assert all(f.shape[0] == K for f in calls[0]["deepstack_visual_embeds"])
        assert int((ids[keep] == 252).sum()) == int((ids == 252).sum())  # vision starts kept


@pytest.mark.parametrize("attn", ATTN)
@pytest.mark.parametrize("model_type", QWEN)
def test_generate_continues_positions_after_the_prompt(model_type, attn):
    """Decode steps use exactly the positions the unpruned model uses (after the prompt)."""
    model = BUILDERS[model_type](attn)
    kwargs = inputs_for(model_type)
    L = kwargs["input_ids"].shape[1]
    runs = {}
    for patched in (False, True):
        calls, handle = _capture_lm(model)
        with es.compressed(model, retention=0.25) if patched else _null():
            out = model.generate(**kwargs, max_new_tokens=4, do_sample=False)
        handle.remove()
        runs[patched] = [c["position_ids"][-3:] for c in calls]  # the M-RoPE rows
        assert out.shape == (1, L + 4) and torch.equal(out[:, :L], kwargs["input_ids"])
    assert len(runs[True]) == 4  # prefill + 3 decode steps
    for plain, short in zip(runs[False][1:], runs[True][1:], strict=True):
        assert torch.equal(plain, short)
    # the prompt's positions are the unpruned ones at the kept tokens: decoding follows them
    assert torch.equal(runs[True][0][..., -1], runs[False][0][..., -1])


@pytest.mark.parametrize("model_type", QWEN)
def test_forward_decoding_loop_continues_like_the_unpruned_model(model_type):
    """A hand-written cache loop over forward: rope_deltas shifted by the dropped tokens."""
    model = BUILDERS[model_type]()
    kwargs = inputs_for(model_type)
    positions = {}
    for patched in (False, True):
        with es.compressed(model, retention=0.25) if patched else _null():
            out = model(**kwargs, use_cache=True)
            nxt = out.logits[:, -1:].argmax(-1)
            calls, handle = _capture_lm(model)
            model(input_ids=nxt, use_cache=True, **_cache_kwargs(out))
            handle.remove()
        positions[patched] = calls[0]["position_ids"]
    assert torch.equal(positions[True], positions[False])


@pytest.mark.parametrize("model_type", ["llava_onevision", "internvl"])
def test_generate_1d_rope(model_type):
    model = BUILDERS[model_type]()
    kwargs = inputs_for(model_type)
    with es.compressed(model, retention=0.25):
        out = model.generate(**kwargs, max_new_tokens=3, do_sample=False)
        short = model.__dict__[STATE_ATTR].last["short_length"]
    L = kwargs["input_ids"].shape[1]
    assert out.shape == (1, L + 3) and torch.equal(out[:, :L], kwargs["input_ids"])
    assert short < L


# ---- batches with padding -------------------------------------------------------------------


@pytest.mark.parametrize("attn", ATTN)
@pytest.mark.parametrize("model_type", ["llava_onevision", "qwen2_5_vl", "qwen3_vl"])
def test_padded_batch_of_two_videos_equals_each_alone(model_type, attn):
    model = BUILDERS[model_type](attn)
    extra = {} if model_type == "llava_onevision" else {"num_frames": 4}
    one = inputs_for(model_type, start=0, seed=0)
    two = inputs_for(model_type, start=50, pre=7, seed=5, **extra)  # other frames, longer text
    batch = _left_pad([one, two], model_type)
    with es.compressed(model, retention=0.35):
        together = model.generate(**batch, max_new_tokens=4, do_sample=False)
        alone = [model.generate(**x, max_new_tokens=4, do_sample=False) for x in (one, two)]
    L = batch["input_ids"].shape[1]
    for row, single in enumerate(alone):
        assert torch.equal(together[row, L:], single[0, single.shape[1] - 4 :]), row


# ---- images pass through --------------------------------------------------------------------


@pytest.mark.parametrize("model_type", ["qwen2_5_vl", "internvl"])
def test_images_are_untouched(model_type):
    model = BUILDERS[model_type]()
    kwargs = inputs_for(model_type, image=True)
    ids = kwargs["input_ids"][0]
    reference = model(**strip_es(kwargs)).logits
    with es.compressed(model, retention=1.0):
        assert torch.equal(model(**kwargs).logits, reference)
    with es.compressed(model, retention=0.25):
        model(**kwargs)
        keep = model.__dict__[STATE_ATTR].last["keep"][0]
    if model_type == "qwen2_5_vl":
        assert bool(keep[ids == IMAGE].all())
        assert int(keep[ids == VIDEO].sum()) == int(0.25 * int((ids == VIDEO).sum()))
    else:  # InternVL: the image's 4 tokens come first and all stay
        first_image = (ids == IMAGE).nonzero()[:4, 0]
        assert bool(keep[first_image].all())
        assert int(keep[ids == IMAGE].sum()) == 4 + int(0.25 * num_visual(model_type, kwargs))


def _cache_kwargs(out) -> dict:
    """The KV cache of ``out`` as the next call's keyword (``cache`` in transformers >= 5.2x,
    ``past_key_values`` in 5.17)."""
    if getattr(out, "cache", None) is not None:
        return {"cache": out.cache}
    return {"past_key_values": out.past_key_values}


# ---- autograd: what users run, the way they run it ------------------------------------------


@pytest.mark.parametrize("mode", ["grad", "no_grad", "inference_mode"])
@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_patched_forward_and_generate_under_every_autograd_mode(model_type, mode):
    """``es.patch`` + ``generate``/``forward`` with autograd on (the README's usage, no wrapper),
    under ``no_grad`` and under ``inference_mode``; with autograd on, a loss on the patched logits
    back-propagates into the vision tower through the kept tokens."""
    import contextlib

    model = BUILDERS[model_type]()
    kwargs = inputs_for(model_type)
    ctx = {
        "grad": contextlib.nullcontext,
        "no_grad": torch.no_grad,
        "inference_mode": torch.inference_mode,
    }[mode]
    es.patch(model, retention=0.35)
    try:
        with ctx():
            out = model.generate(**kwargs, max_new_tokens=2, do_sample=False)
            logits = model(**kwargs).logits
    finally:
        es.unpatch(model)
    assert out.shape[1] == kwargs["input_ids"].shape[1] + 2
    assert logits.requires_grad == (mode == "grad")
    if mode == "grad":
        logits.float().square().mean().backward()
        vision = [p for n, p in model.named_parameters() if "vision" in n or "visual" in n]
        assert vision and any(p.grad is not None and p.grad.abs().sum() > 0 for p in vision)
