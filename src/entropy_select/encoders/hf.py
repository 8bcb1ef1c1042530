"""SigLIP / CLIP vision towers through Hugging Face transformers, as ``hf:<id or local path>``.

For users who have such weights (LLaVA-OneVision's tower is SigLIP-so400m at 384 px, 27×27
patches): the features are the patch tokens of the tower's last layer (or ``layer=``), with the
CLIP class token dropped, laid out as the ``[T, H, W, D]`` grid the selectors take. Nothing is
downloaded: the model must be a local directory or already in the Hugging Face cache.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from ..io import require
from .base import Encoder

__all__ = ["HFVisionEncoder"]

# Fallback normalisation when the model has no preprocessor_config.json.
_DEFAULT_STATS = {
    "clip": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
    "siglip": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}
_SUPPORTED = ("siglip", "siglip_vision_model", "clip", "clip_vision_model")


class HFVisionEncoder(Encoder):
    """A SigLIP or CLIP vision tower loaded with ``transformers.AutoModel`` (offline only).

    Args:
        model: a Hugging Face model id already in the local cache, or a local directory holding
            ``config.json`` and weights of a SigLIP/CLIP model or vision model.
        layer: hidden-state index to take (default None: ``last_hidden_state``; LLaVA-style
            CLIP uses -2).
        device: torch device (default CPU).
        dtype: weights and compute dtype (default float32).

    Raises:
        ImportError: transformers missing. ValueError: not found locally, or not a SigLIP/CLIP
        model (the message lists the supported model types).
    """

    def __init__(
        self,
        model: str,
        layer: int | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        transformers = require("transformers", "hf", "hf: encoders")
        try:
            config = transformers.AutoConfig.from_pretrained(model, local_files_only=True)
        except (OSError, ValueError) as err:
            reason = str(err).strip().rstrip(".")  # transformers' messages end in "."
            raise ValueError(
                f"cannot load {model!r} offline: {reason}. Give a local directory, or download "
                "it first (e.g. `hf download <id>`); entropy-select never downloads at run time"
            ) from None
        if config.model_type not in _SUPPORTED:
            raise ValueError(
                f"hf:{model} is a {config.model_type!r} model; supported: {', '.join(_SUPPORTED)}"
            )
        vision_config = getattr(config, "vision_config", None) or config
        net = transformers.AutoModel.from_pretrained(model, local_files_only=True, dtype=dtype)
        # Full SigLIP/CLIP models hold the tower in .vision_model; vision-only models are the tower.
        self.tower = getattr(net, "vision_model", net).eval().to(device)
        self.device, self.dtype, self.layer = torch.device(device), dtype, layer
        size, patch = int(vision_config.image_size), int(vision_config.patch_size)
        self.input_size = (size, size)
        self.grid = (size // patch, size // patch)
        self.dim = int(vision_config.hidden_size)
        self.mean, self.std = self._stats(
            model, "clip" if "clip" in config.model_type else "siglip"
        )
        self.name = f"hf:{model}" + (f"#layer{layer}" if layer is not None else "")
        self._version = self._weights_version(model)

    @staticmethod
    def _stats(model: str, family: str) -> tuple[tuple, tuple]:
        """image_mean / image_std from the model's preprocessor_config.json, else the family's."""
        from transformers.utils import cached_file

        try:
            path = cached_file(
                model,
                "preprocessor_config.json",
                local_files_only=True,
                _raise_exceptions_for_missing_entries=False,
            )
        except (OSError, ValueError):
            path = None
        if path:
            cfg = json.loads(Path(path).read_text())
            if "image_mean" in cfg and "image_std" in cfg:
                return tuple(cfg["image_mean"]), tuple(cfg["image_std"])
        return _DEFAULT_STATS[family]

    @staticmethod
    def _weights_version(model: str) -> str:
        """Modification times of a local directory's weight files (new weights miss the cache)."""
        path = Path(model)
        if not path.is_dir():
            return ""
        files = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin"))
        return ",".join(str(f.stat().st_mtime_ns) for f in files)

    @property
    def cache_key(self) -> str:
        return f"{super().cache_key}[{self._version}]"

    def forward_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """Shapes: pixels [B, 3, S, S] -> [B, S/p, S/p, D] (class token dropped)."""
        out = self.tower(
            pixel_values=pixels.to(self.device, self.dtype),
            output_hidden_states=self.layer is not None,
        )
        tokens = out.last_hidden_state if self.layer is None else out.hidden_states[self.layer]
        B, L, D = tokens.shape  # [B, L, D]
        H, W = self.grid
        if L == H * W + 1:
            tokens = tokens[:, 1:]  # CLIP: drop the class token
        elif L != H * W:
            side = math.isqrt(L)
            raise ValueError(
                f"expected {H * W} patch tokens from hf:{self.name}, got {L} ({side}²?)"
            )
        return tokens.reshape(B, H, W, D)  # [B, H, W, D]
