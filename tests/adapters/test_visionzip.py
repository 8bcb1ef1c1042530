"""VisionZip as an in-model selector of the four adapters (issue 13), on the tiny random models.

Proven here: ``visionzip_select`` meets the selector contract (the merging selectors' assignment
invariant included) and picks the dominant tokens, evenly spaced targets and most-similar
members it documents; on every adapter, retention 1.0 reproduces the unpatched logits exactly
and unpatch restores them and every attribute; the first decoder layer sees text + K (+ the
newline) tokens and, at the kept placeholders, exactly the Selection's (merged) tokens of the
model's own post-projector grid; the dominant tokens are those the real attention weights rank
first (eager ``output_attentions`` for SigLIP / InternViT; the eager kernel's weights for Qwen's
pseudo-CLS); eager and SDPA keep the same set; generate, padded batches (left and right) and
autograd work.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

from adapter_models import BUILDERS, IMAGE, VIDEO, inputs_for, num_visual, strip_es  # noqa: E402
from test_padding import _pad, _two_prompts  # noqa: E402
from test_unpatch_restores import _differences, _snapshot  # noqa: E402

import entropy_select as es  # noqa: E402
from entropy_select import selectors  # noqa: E402
from entropy_select.adapters import STATE_ATTR, spec_for  # noqa: E402
from entropy_select.adapters import visionzip as vz  # noqa: E402
from entropy_select.adapters._contract import inner_model  # noqa: E402


def _contract_check():
    """``check`` of tests/selectors/test_contract.py: every Selection invariant, one place."""
    path = Path(__file__).parents[1] / "selectors" / "test_contract.py"
    spec = importlib.util.spec_from_file_location("_selector_contract", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("_selector_contract", module)
    spec.loader.exec_module(module)
    return module.check


check = _contract_check()
MODEL_TYPES = tuple(BUILDERS)
# the tiny LLaVA-OV / InternVL frames hold 4 LLM tokens: with the paper's 10/64 a frame needs a
# budget of 4 (all of it) before it gets a contextual token, so the merge is exercised at 1/2
SHARES = (vz.CONTEXTUAL_SHARE, 0.5)


# ---- the selection itself --------------------------------------------------------------------


@pytest.mark.parametrize("share", (0.0, vz.CONTEXTUAL_SHARE, 0.5, 1.0))
def test_contract_and_assignment_invariant(share):
    g = torch.Generator().manual_seed(0)
    for T, H, W in ((1, 1, 1), (3, 2, 3), (5, 4, 4), (2, 7, 5)):
        x = torch.randn(T, H, W, 6, generator=g, dtype=torch.float64)
        s = torch.rand(T, H, W, generator=g)
        k = torch.randn(T, H, W, 3, generator=g)
        N = T * H * W
        for K in sorted({1, max(1, N // 3), N // 2 or 1, N - 1 or 1, N}):
            sel = vz.visionzip_select(x, s, k, K, share)
            check(sel, x, K, "visionzip")
            assert sel.assignment is not None


def test_known_choice_dominant_targets_and_members():
    """One 1x4x4 frame, K=8 at share 1/4: 6 dominant by score, 2 centred targets, members by key."""
    T, H, W = 1, 4, 4
    x = torch.arange(16, dtype=torch.float64).view(T, H, W, 1).expand(-1, -1, -1, 2).clone()
    s = torch.zeros(16)
    s[[0, 3, 5, 9, 12, 15]] = torch.tensor([6.0, 5, 4, 3, 2, 1])  # the 6 dominant tokens
    rest = [1, 2, 4, 6, 7, 8, 10, 11, 13, 14]  # R = 10 in raster order
    # targets at floor((2c+1)·10/4) = 2, 7 of the remaining list: tokens 4 and 11
    keys = torch.zeros(16, 2)
    keys[:, 0] = 1.0
    for i in (4, 1, 2, 6, 7):
        keys[i] = torch.tensor([1.0, 0.0])  # like token 4
    for i in (11, 8, 10, 13, 14):
        keys[i] = torch.tensor([0.0, 1.0])  # like token 11
    sel = vz.visionzip_select(x, s.view(T, H, W), keys.view(T, H, W, 2), 8, 0.25)
    assert sel.keep_index.tolist() == [0, 3, 4, 5, 9, 11, 12, 15]
    a = sel.assignment.tolist()
    assert [a[i] for i in (1, 2, 6, 7)] == [2, 2, 2, 2] and [a[i] for i in (8, 10, 13, 14)] == [
        5
    ] * 4
    assert sel.tokens[2, 0] == torch.tensor([4.0, 1, 2, 6, 7], dtype=torch.float64).mean()
    assert sel.tokens[5, 0] == torch.tensor([11.0, 8, 10, 13, 14], dtype=torch.float64).mean()
    assert all(a[i] >= 0 for i in rest)  # every remaining token is in a contextual token


def test_frame_split_follows_the_paper_ratio():
    D, C = vz.frame_split(64 * 3, 3, vz.CONTEXTUAL_SHARE)
    assert D == [54, 54, 54] and C == [10, 10, 10]  # the paper's 54 + 10 of 64
    D, C = vz.frame_split(7, 3, 0.5)
    assert [d + c for d, c in zip(D, C, strict=True)] == [2, 2, 3]  # an even split of K


def test_bad_input_raises():
    x = torch.randn(2, 3, 3, 4)
    with pytest.raises(ValueError, match="budget"):
        vz.visionzip_select(x, torch.rand(2, 3, 3), torch.randn(2, 3, 3, 2), 0)
    with pytest.raises(ValueError, match="match the grid"):
        vz.visionzip_select(x, torch.rand(2, 3, 4), torch.randn(2, 3, 3, 2), 3)
    with pytest.raises(ValueError, match="contextual_share"):
        vz.visionzip_select(x, torch.rand(2, 3, 3), torch.randn(2, 3, 3, 2), 3, 1.5)


# ---- the API -----------------------------------------------------------------------------------


def test_selectors_get_says_it_needs_a_model():
    with pytest.raises(
        ValueError, match=r'needs the model.*es\.patch\(model, selector="visionzip"'
    ):
        selectors.get("visionzip")
    assert "visionzip" not in selectors.available()  # not a feature-only selector


def test_supported_lists_visionzip_per_model_type():
    for name, row in es.adapters.supported().items():
        assert "visionzip" in row["in_model"] and "visionzip" in row["notes"], name


def test_bad_options_raise_and_leave_the_model_unpatched():
    model = BUILDERS["llava_onevision"]()
    with pytest.raises(ValueError, match="valid options are: contextual_share, layer"):
        es.patch(model, selector="visionzip", tau=0.1)
    with pytest.raises(ValueError, match="contextual_share"):
        es.patch(model, selector="visionzip", contextual_share=2)
    with pytest.raises(ValueError, match="layer"):
        es.patch(model, selector="visionzip", layer="x")
    assert STATE_ATTR not in model.__dict__
    es.patch(model, selector="visionzip", layer=9)  # checked when the layer is looked up
    with pytest.raises(ValueError, match="outside the vision encoder's 2 layers"):
        model(**inputs_for("llava_onevision"))
    es.unpatch(model)
    es.patch(model, selector="visionzip", contextual_share="0.5", layer="-1")  # lmms-eval strings
    assert model.__dict__[STATE_ATTR].selector.contextual_share == 0.5
    es.unpatch(model)


# ---- on the models -----------------------------------------------------------------------------


@pytest.mark.parametrize("attn", ("eager", "sdpa"))
@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_retention_one_is_exact_and_unpatch_restores(model_type, attn):
    model = BUILDERS[model_type](attn)
    kwargs = inputs_for(model_type)
    reference = model(**strip_es(kwargs)).logits
    for share in SHARES:
        with es.compressed(model, retention=1.0, selector="visionzip", contextual_share=share):
            assert torch.equal(model(**kwargs).logits, reference)
    es.patch(model, retention=0.25, selector="visionzip")
    model(**kwargs)
    es.unpatch(model)
    assert torch.equal(model(**strip_es(kwargs)).logits, reference)


def _first_layer_inputs(model):
    """The hidden states the first decoder layer receives, one tensor per call."""
    seen = []
    layer = inner_model(model).language_model.layers[0]

    def hook(module, args, kwargs):
        seen.append(args[0] if args else kwargs["hidden_states"])

    return seen, layer.register_forward_pre_hook(hook, with_kwargs=True)


def _grids(model, model_type, kwargs):
    """The unpatched model's own post-projector grids (the adapter's extract, nothing selected)."""
    spec = spec_for(model_type)
    original = getattr(inner_model(model), spec.hook)
    return spec.extract(model, original, kwargs).grids


@pytest.mark.parametrize("share", SHARES)
@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_llm_sees_text_plus_k_merged_tokens(model_type, share):
    """Hook-verified at the first decoder layer: text + K (+ newline) tokens, and at the kept
    placeholders exactly the Selection's tokens, each the mean of the grid tokens assigned to it."""
    model = BUILDERS[model_type]()
    kwargs = inputs_for(model_type)
    N, L = num_visual(model_type, kwargs), kwargs["input_ids"].shape[1]
    (grid,) = _grids(model, model_type, kwargs)
    seen, handle = _first_layer_inputs(model)
    for r in (0.25, 0.5):
        with es.compressed(model, retention=r, selector="visionzip", contextual_share=share):
            model(**kwargs)
            state = model.__dict__[STATE_ATTR]
            K = state.budget_for(N)
            (sel,) = state.last["selections"]
            keep = state.last["keep"][0]
        check(sel, grid.detach(), K, "visionzip")
        hidden = seen[-1]
        assert hidden.shape[1] == L - N + K  # text (+ LLaVA-OV's newline) + K
        ids = kwargs["input_ids"][0][keep]
        placeholder = VIDEO if model_type != "internvl" else IMAGE
        visual = hidden[0, ids == placeholder]
        if model_type == "internvl":
            assert visual.shape[0] == K
        else:
            assert visual.shape[0] == K + (model_type == "llava_onevision")
        torch.testing.assert_close(visual[:K], sel.tokens.to(visual.dtype), rtol=0, atol=0)
    handle.remove()
    if share == 0.5:  # the tiny grids merge at this share: some output is a mean of several
        assert bool((torch.bincount(sel.assignment[sel.assignment >= 0]) > 1).any())


def _oracle_scores(model, model_type, kwargs) -> torch.Tensor:
    """Per-token attention scores on the LLM grid from the real attention weights (eager).

    SigLIP: output_attentions of the feature layer, mean over heads and queries, through the
    model's own 2x2 pooling. InternViT: the CLS row, summed over pixel-unshuffle blocks. Qwen:
    the eager kernel's weights A of the last block per frame; softmax_j(mean_i log A_ij) equals
    the mean-query pseudo-CLS (the log-normaliser is constant in j), summed over 2x2 merges.
    """
    inner = inner_model(model)
    if model_type == "llava_onevision":
        pixels = kwargs["pixel_values_videos"][0]
        out = inner.vision_tower(pixels, output_attentions=True)
        received = out.attentions[-1].mean(dim=(1, 2))  # [F, n]
        return inner.apply_pooling(received[..., None])[..., 0]  # [F, h'w']
    if model_type == "internvl":
        out = inner.vision_tower(pixel_values=kwargs["pixel_values"], output_attentions=True)
        cls = out.attentions[-1][:, :, 0, 1:].mean(1)  # [R, n]
        R, n = cls.shape
        g = int(n**0.5)
        shuffled = inner.pixel_shuffle(cls.reshape(R, g, g, 1), scale_factor=0.5)
        return shuffled.sum(-1).flatten(1)
    # Qwen: capture the eager weights of the last block through its attention interface
    weights = []
    module = sys.modules[type(inner.visual.blocks[-1].attn).__module__]
    real = module.eager_attention_forward

    def spy(self, *args, **kw):
        out, w = real(self, *args, **kw)
        if self is inner.visual.blocks[-1].attn:
            weights.append(w)
        return out, w

    module.eager_attention_forward = spy
    try:
        inner.get_video_features(kwargs["pixel_values_videos"], kwargs["video_grid_thw"])
    finally:
        module.eager_attention_forward = real
    t, gh, gw = kwargs["video_grid_thw"][0].tolist()
    window = vz._qwen_window_order(model, kwargs["video_grid_thw"])
    scores = []
    for w in weights:  # one chunk per frame (the last block attends within a frame)
        A = w[0].float()  # [h, n, n] in the block's row order
        scores.append(torch.softmax(A.clamp_min(1e-30).log().mean(1), dim=-1).mean(0))
    s = torch.stack(scores)  # [t, n]
    if window is not None:
        s = s.reshape(-1, 4)[torch.argsort(window)].reshape(t, -1)
    return s.view(t, -1, 4).sum(-1)  # [t, h'w']


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_dominant_tokens_follow_the_real_attention(model_type):
    """With no contextual share, the kept tokens are each frame's top tokens by the real
    attention weights (computed independently, from the eager kernel)."""
    model = BUILDERS[model_type]("eager")
    kwargs = inputs_for(model_type)
    oracle = _oracle_scores(model, model_type, kwargs)  # [T, m]
    with es.compressed(model, retention=0.5, selector="visionzip", contextual_share=0.0):
        model(**kwargs)
        (sel,) = model.__dict__[STATE_ATTR].last["selections"]
    if model_type == "internvl":
        s, e = kwargs["video_frame_ranges"][0]
        oracle = oracle[s:e]
    torch.testing.assert_close(sel.scores.flatten(1), oracle.float(), rtol=1e-4, atol=1e-6)
    for f in range(oracle.shape[0]):
        kept = sel.keep_mask[f].flatten()
        top = torch.argsort(oracle[f], descending=True, stable=True)[: int(kept.sum())]
        assert sorted(top.tolist()) == kept.nonzero()[:, 0].tolist(), f


def test_qwen_window_order_is_checked(monkeypatch):
    """A wrong window order is caught against the model's own output order, not used."""
    model = BUILDERS["qwen2_5_vl"]()
    kwargs = inputs_for("qwen2_5_vl")
    real = vz._qwen_window_order

    def shifted(model, grid_thw):
        return real(model, grid_thw).roll(1)

    monkeypatch.setattr(vz, "_qwen_window_order", shifted)
    with es.compressed(model, retention=0.25, selector="visionzip"):
        with pytest.raises(RuntimeError, match="window order"):
            model(**kwargs)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_eager_and_sdpa_keep_the_same_set(model_type):
    kwargs = inputs_for(model_type)
    kept = {}
    for attn in ("eager", "sdpa"):
        model = BUILDERS[model_type](attn)
        with es.compressed(model, retention=0.5, selector="visionzip", contextual_share=0.5):
            model(**kwargs)
            (sel,) = model.__dict__[STATE_ATTR].last["selections"]
        kept[attn] = (sel.keep_index, sel.assignment)
    assert torch.equal(kept["eager"][0], kept["sdpa"][0])
    assert torch.equal(kept["eager"][1], kept["sdpa"][1])


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_generate_and_autograd_as_users_run_them(model_type):
    """No no_grad wrapper: generate returns the prompt plus new tokens; a loss on the patched
    logits back-propagates into the vision tower through the kept and merged tokens."""
    model = BUILDERS[model_type]()
    kwargs = inputs_for(model_type)
    L = kwargs["input_ids"].shape[1]
    es.patch(model, retention=0.5, selector="visionzip", contextual_share=0.5)
    try:
        out = model.generate(**kwargs, max_new_tokens=3, do_sample=False)
        logits = model(**kwargs).logits
    finally:
        es.unpatch(model)
    assert out.shape == (1, L + 3) and torch.equal(out[:, :L], kwargs["input_ids"])
    assert logits.requires_grad
    logits.float().square().mean().backward()
    vision = [p for n, p in model.named_parameters() if "vision" in n or "visual" in n]
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in vision)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_padded_batch_gives_each_row_its_own_result(model_type):
    model = BUILDERS[model_type]()
    one, two = _two_prompts(model_type)
    batch = _pad([one, two], "left")
    L = batch["input_ids"].shape[1]
    with es.compressed(model, retention=0.5, selector="visionzip", contextual_share=0.5):
        together = model.generate(**batch, max_new_tokens=3, do_sample=False)
        joint = model.__dict__[STATE_ATTR].last["selections"]
        alone, single_sel = [], []
        for x in (one, two):
            alone.append(model.generate(**x, max_new_tokens=3, do_sample=False))
            single_sel += model.__dict__[STATE_ATTR].last["selections"]
    for a, b in zip(joint, single_sel, strict=True):
        assert torch.equal(a.keep_index, b.keep_index)
    for row, single in enumerate(alone):
        assert torch.equal(together[row, L:], single[0, -3:]), row


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_unpatch_restores_every_attribute(model_type):
    model = BUILDERS[model_type]()
    kwargs = inputs_for(model_type)
    model(**strip_es(kwargs))
    before = _snapshot(model)
    es.patch(model, retention=0.25, selector="visionzip")
    model(**kwargs)
    model.generate(**kwargs, max_new_tokens=2, do_sample=False)
    state = model.__dict__[STATE_ATTR]
    assert state.last["short_length"] < state.last["prompt_length"]
    es.unpatch(model)
    assert _differences(before, _snapshot(model)) == []


@pytest.mark.parametrize("side", ("left", "right"))
@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_padded_forward_gives_each_row_its_own_logits(model_type, side):
    model = BUILDERS[model_type]()
    one, two = _two_prompts(model_type)
    batch = _pad([one, two], side)
    with es.compressed(model, retention=0.5, selector="visionzip", contextual_share=0.5):
        together = model(**batch).logits
        alone = [model(**x).logits for x in (one, two)]
    assert together.shape[1] == max(a.shape[1] for a in alone)
    for row, single in enumerate(alone):
        n = single.shape[1]
        got = together[row, -n:] if side == "left" else together[row, :n]
        torch.testing.assert_close(got, single[0], rtol=1e-4, atol=1e-4, msg=f"row {row}")
