"""Shortening a prompt once its visual tokens are selected: ids, masks, positions, labels together.

Every adapter ends in the same place: the model's placeholder run for a video holds ``N`` tokens,
the selector kept ``K`` of them, and the language model must see a sequence in which only those
``K`` placeholders remain (paper §3: "the selected tokens are passed to the language model").
This module does that in one place, for every per-token tensor at once, so that ``input_ids``,
``attention_mask``, ``labels``, token-type ids and position ids can never disagree.

Shapes (B rows, L prompt length, L' the shortened length, P placeholders in the whole batch):
    keep:          [B, L] bool   True for every token that stays (text, padding, kept visual)
    placeholder:   [B, L] bool   True at the video placeholders, filled row-major by the model
    keep_visual:   [P] bool      one flag per placeholder, in the same row-major order
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

__all__ = [
    "expand_placeholder_keep",
    "shorten",
    "restore_prompt",
    "padding_side",
]


def expand_placeholder_keep(placeholder: torch.Tensor, keep_visual: torch.Tensor) -> torch.Tensor:
    """Sequence-level keep mask from the per-placeholder flags.

    The models fill placeholders with ``masked_scatter``, i.e. in row-major order over ``[B, L]``;
    ``keep_visual`` lists the flags of the concatenated visual tokens in that same order.

    Args:
        placeholder: where the visual placeholders are.
        keep_visual: whether each placeholder's token is kept.

    Returns:
        ``keep``: True at every non-placeholder position and at kept placeholders.

    Shapes:
        placeholder: [B, L] bool, keep_visual: [P] bool with P = placeholder.sum() -> [B, L] bool
    """
    count = int(placeholder.sum())
    if keep_visual.numel() != count:
        raise ValueError(
            f"the prompt holds {count} visual placeholders but the features give "
            f"{keep_visual.numel()} tokens; the placeholder runs and the visual inputs disagree"
        )
    keep = ~placeholder
    keep[placeholder] = keep_visual.to(device=placeholder.device, dtype=torch.bool)
    return keep


def padding_side(attention_mask: torch.Tensor | None) -> str:
    """``"left"`` when any row starts with padding (the ``generate`` convention), else ``"right"``.

    Shapes:
        attention_mask: [B, L] or None
    """
    if attention_mask is None or attention_mask.shape[-1] == 0:
        return "right"
    return "left" if bool((attention_mask[:, 0] == 0).any()) else "right"


def shorten(
    keep: torch.Tensor,
    tensors: Mapping[str, tuple[torch.Tensor | None, int]],
    attention_mask: torch.Tensor | None,
) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """Drop the positions where ``keep`` is False from every per-token tensor, re-padding rows.

    Rows may lose different numbers of tokens (videos of different lengths); the result is
    padded to the longest kept row, on the side the input was padded on (left when any row of
    ``attention_mask`` starts with 0, else right), with each tensor's own pad value; the input's
    own padding (``attention_mask == 0``) is dropped first, so a batch is no longer than its
    longest shortened row. Kept
    tokens keep their order. A new attention mask marks the added padding with 0; it is
    created (all ones where kept) when rows end up with different lengths and none was given.

    Args:
        keep: which positions stay.
        tensors: name -> (tensor or None, pad value). Each tensor's LAST dimension is the
            sequence (``[B, L]`` ids/masks/labels, ``[R, B, L]`` multi-row positions).
        attention_mask: the prompt's 2-D mask, or None.

    Returns:
        ``(shortened, attention_mask)``: the shortened tensors under the same names (None ones
        are left out) and the shortened mask (None when none was needed).

    Shapes:
        keep: [B, L] bool; tensors: [..., B, L] -> [..., B, L']; attention_mask: [B, L] -> [B, L']
    """
    Bsz, L = keep.shape
    if attention_mask is not None:  # the caller's padding goes too; rows are re-padded below
        keep = keep & attention_mask.to(device=keep.device).bool()
    counts = keep.sum(dim=1)  # [B] tokens left in each row
    new_len = int(counts.max()) if Bsz else 0
    side = padding_side(attention_mask)
    offset = (new_len - counts) if side == "left" else torch.zeros_like(counts)
    rank = keep.long().cumsum(dim=1) - 1  # [B, L] destination of each kept token, before offset
    rows, cols = keep.nonzero(as_tuple=True)  # kept (row, column) pairs, row-major
    dest = rank[rows, cols] + offset[rows]

    def gather(t: torch.Tensor, pad: int) -> torch.Tensor:
        out = t.new_full((*t.shape[:-2], Bsz, new_len), pad)
        out[..., rows, dest] = t[..., rows, cols]
        return out

    shortened = {name: gather(t, pad) for name, (t, pad) in tensors.items() if t is not None}
    ragged = bool((counts != new_len).any())
    if attention_mask is not None:
        new_mask = gather(attention_mask, 0)
    elif ragged:
        new_mask = gather(torch.ones_like(keep, dtype=torch.long), 0)
    else:
        new_mask = None
    return shortened, new_mask


def restore_prompt(output, prompt_ids: torch.Tensor, short_len: int):
    """Put the caller's full prompt back in front of the generated tokens.

    ``generate`` ran on the shortened prompt, so its sequences start with ``short_len`` compressed
    prompt tokens; callers slice ``out[:, len(prompt):]`` to get the answer, so the returned
    sequences carry the prompt they passed in.

    Shapes:
        output (or output.sequences): [B, short_len + new] -> [B, L + new]
    """

    def fix(seq: torch.Tensor) -> torch.Tensor:
        if seq.shape[0] != prompt_ids.shape[0]:  # num_return_sequences > 1: repeat the prompt
            rep = seq.shape[0] // prompt_ids.shape[0]
            prompt = prompt_ids.repeat_interleave(rep, dim=0)
        else:
            prompt = prompt_ids
        return torch.cat([prompt.to(seq.device, seq.dtype), seq[:, short_len:]], dim=1)

    if isinstance(output, torch.Tensor):
        return fix(output)
    if getattr(output, "sequences", None) is not None:
        output.sequences = fix(output.sequences)
    return output
