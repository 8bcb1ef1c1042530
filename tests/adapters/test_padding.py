"""Padded batches on both sides, in ``forward`` and ``generate``, for every adapter (issue 17).

A batch of two different videos with prompts of different lengths, padded on the left or on the
right, must give each row what that row gives alone: the shortened prompt keeps the caller's
padding side (a fault that re-pads every batch on the left is caught here), and InternVL's
merged ``pixel_values`` / ``video_frame_ranges`` work across rows.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")

from adapter_models import BUILDERS, PAD, inputs_for  # noqa: E402

import entropy_select as es  # noqa: E402

MODEL_TYPES = tuple(BUILDERS)


def _two_prompts(model_type: str) -> tuple[dict, dict]:
    """Two different videos whose prompts differ in length."""
    if model_type == "llava_onevision":
        return inputs_for(model_type, start=0, seed=0), inputs_for(
            model_type, start=50, pre=7, seed=5
        )
    return inputs_for(model_type, start=0, seed=0), inputs_for(
        model_type, start=50, seed=5, num_frames=4
    )


def _pad(batch: list[dict], side: str) -> dict:
    """Pad one-row prompts on ``side`` into one batch (ids, mask, token types, visual inputs)."""
    L = max(b["input_ids"].shape[1] for b in batch)
    cols: dict[str, list] = {"input_ids": [], "attention_mask": [], "mm_token_type_ids": []}
    for b in batch:
        n = b["input_ids"].shape[1]

        def pad(t, value, n=n):
            fill = torch.full((1, L - n), value, dtype=t.dtype)
            return torch.cat([fill, t] if side == "left" else [t, fill], 1)

        cols["input_ids"].append(pad(b["input_ids"], PAD))
        cols["attention_mask"].append(pad(torch.ones(1, n, dtype=torch.long), 0))
        if "mm_token_type_ids" in b:
            cols["mm_token_type_ids"].append(pad(b["mm_token_type_ids"], 0))
    out = {k: torch.cat(v) for k, v in cols.items() if v}
    for key in ("pixel_values_videos", "video_grid_thw", "pixel_values"):
        if key in batch[0]:
            out[key] = torch.cat([b[key] for b in batch])
    if "video_frame_ranges" in batch[0]:  # InternVL: rows of the merged pixel_values
        ranges, row = [], 0
        for b in batch:
            ranges += [(s + row, e + row) for s, e in b["video_frame_ranges"]]
            row += b["pixel_values"].shape[0]
        out["video_frame_ranges"] = ranges
    return out


def _lm_masks(model):
    """The attention masks the language model receives, one per call."""
    masks = []

    def hook(module, args, kwargs):
        masks.append(kwargs.get("attention_mask"))

    handle = model.model.language_model.register_forward_pre_hook(hook, with_kwargs=True)
    return masks, handle


def _assert_padded_on(mask: torch.Tensor, side: str) -> None:
    """Each row's ones are one contiguous run touching the ``side`` opposite its padding."""
    for row in mask:
        n = int(row.sum())
        ones = torch.ones(n, dtype=row.dtype)
        real = row[-n:] if side == "left" else row[:n]
        assert torch.equal(real, ones), (side, row.tolist())


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_padded_forward_gives_each_row_its_own_logits(model_type, side):
    model = BUILDERS[model_type]()
    one, two = _two_prompts(model_type)
    batch = _pad([one, two], side)
    with es.compressed(model, retention=0.35):
        masks, handle = _lm_masks(model)
        together = model(**batch).logits
        handle.remove()
        alone = [model(**x).logits for x in (one, two)]
    if masks[0] is not None and masks[0].dim() == 2:
        _assert_padded_on(masks[0], side)
    assert together.shape[1] == max(a.shape[1] for a in alone)
    for row, single in enumerate(alone):
        n = single.shape[1]
        got = together[row, -n:] if side == "left" else together[row, :n]
        torch.testing.assert_close(got, single[0], rtol=1e-4, atol=1e-4, msg=f"row {row}")


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_padded_generate(model_type, side):
    """Left padding (generate's convention): every row generates what it generates alone.

    Right padding: the shortened prompt stays right-padded and the returned sequences carry the
    caller's prompt; the row that fills the shortened prompt generates what it does alone (a
    shorter right-padded row continues after its padding, which Hugging Face's own decoder-only
    ``generate`` does too; pad on the left to generate a batch).
    """
    model = BUILDERS[model_type]()
    one, two = _two_prompts(model_type)
    batch = _pad([one, two], side)
    L = batch["input_ids"].shape[1]
    with es.compressed(model, retention=0.35):
        masks, handle = _lm_masks(model)
        together = model.generate(**batch, max_new_tokens=4, do_sample=False)
        handle.remove()
        alone = [model.generate(**x, max_new_tokens=4, do_sample=False) for x in (one, two)]
    assert torch.equal(together[:, :L], batch["input_ids"])
    prefill = masks[0]
    if prefill is not None and prefill.dim() == 2:
        _assert_padded_on(prefill, side)
    for row, single in enumerate(alone):
        same = torch.equal(together[row, L:], single[0, -4:])
        if side == "left":
            assert same, row
        elif prefill is not None and prefill.dim() == 2 and bool(prefill[row].all()):
            assert same, row
