"""The one configuration object of ENTROPY-SELECT (SPEC §1-6).

Every field is a flat scalar; every default says where it comes from: the paper's value or ours
(where the paper gives none, SPEC pins it and we keep SPEC's choice).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

ENTROPY_MODES = ("paper", "minmax", "complement", "complement_minmax")
MINMAX_SCOPES = ("video", "frame")
FRAME_BUDGET_RULES = ("softmax", "online")


@dataclass(frozen=True)
class EntropySelectConfig:
    """Hyper-parameters of ENTROPY-SELECT, in SPEC order.

    The defaults are the library's, chosen by the real-video quality benchmark
    (``benchmarks/results/quality``, ``docs/choosing-the-default.md``): they differ from the paper
    in two fields, ``alpha`` (1.0: the entropy term alone) and ``grid_fusion`` (on).
    :meth:`paper` gives the paper's configuration exactly as SPEC pins it.

    ``entropy_mode`` chooses how the window entropy enters the score:

    - ``"paper"``: ``Ĥ = H / log n`` exactly as Eq. 2 and SPEC §1.
    - ``"minmax"``: ``Ĥ`` min-max normalised over the video (so it spans [0, 1]).
    - ``"complement"``: ``1 − Ĥ`` (high on boundaries, see SPEC "Measured property").
    - ``"complement_minmax"``: ``1 − minmax(Ĥ)``.

    Causal counterparts of the two whole-video steps (for streaming; ``docs/algorithm.md``,
    "Streaming"): ``minmax_scope="frame"`` min-max normalises ``Ĝ`` (and ``Ĥ`` in the ``minmax``
    modes) over each frame instead of the video; ``frame_budget_rule="online"`` replaces the
    softmax of Eq. 4 by the online rule of :func:`entropy_select.core.causal.online_budget_step`
    (then ``retention`` is the rule's rate and ``K = Σ B_f <= ceil(r·N)``).
    """

    spatial_window: int = 5  # k, paper §4.1
    temporal_window: int = 3  # K_t (frames including the current one), paper §4.1
    past_window: int = 3  # k_p, paper §4.1
    tau: float = 1.0  # τ of Eq. 2, paper §4.1
    alpha: float = 1.0  # α of S = αĤ + (1−α)Ĝ: ours, by measurement (the paper's §3.3 is 0.5)
    top_q: float = 0.3  # q of the robust frame mean, paper §3.4
    alloc_tau: float = 0.1  # τ_alloc of Eq. 4: the paper gives none; SPEC's choice
    min_frame_tokens: int = 4  # B_min, paper §3.4
    max_frame_tokens: int | None = None  # B_max: the paper gives none; None means m (SPEC)
    grid: int = 4  # g, paper §3.3
    coverage: float = 0.5  # ρ: the paper gives none; SPEC's choice
    grid_fusion: bool = True  # SPEC §6: ours, by measurement (the paper has no fusion)
    entropy_mode: str = "paper"  # Eq. 2 as written (SPEC §1)
    minmax_scope: str = "video"  # SPEC §2 (whole video); "frame": causal, ours (streaming)
    frame_budget_rule: str = "softmax"  # Eq. 4 (SPEC §4); "online": causal, ours (streaming)

    def __post_init__(self) -> None:
        for name in ("spatial_window", "past_window"):
            value = getattr(self, name)
            _check_int(name, value)
            if value < 1 or value % 2 == 0:
                raise ValueError(f"{name} must be a positive odd integer, got {value}")
        _check_int("temporal_window", self.temporal_window)
        if self.temporal_window < 1:
            raise ValueError(f"temporal_window must be >= 1, got {self.temporal_window}")
        _check_positive_float("tau", self.tau)
        _check_positive_float("alloc_tau", self.alloc_tau)
        _check_unit_float("alpha", self.alpha, allow_zero=True)
        _check_unit_float("top_q", self.top_q, allow_zero=False)
        _check_unit_float("coverage", self.coverage, allow_zero=True)
        _check_int("min_frame_tokens", self.min_frame_tokens)
        if self.min_frame_tokens < 0:
            raise ValueError(f"min_frame_tokens must be >= 0, got {self.min_frame_tokens}")
        if self.max_frame_tokens is not None:
            _check_int("max_frame_tokens", self.max_frame_tokens)
            if self.max_frame_tokens < 1:
                raise ValueError(f"max_frame_tokens must be >= 1, got {self.max_frame_tokens}")
        _check_int("grid", self.grid)
        if self.grid < 1:
            raise ValueError(f"grid must be >= 1, got {self.grid}")
        if not isinstance(self.grid_fusion, bool):
            raise TypeError(f"grid_fusion must be a bool, got {type(self.grid_fusion).__name__}")
        if self.entropy_mode not in ENTROPY_MODES:
            raise ValueError(
                f"entropy_mode must be one of {', '.join(ENTROPY_MODES)}; got {self.entropy_mode!r}"
            )
        if self.minmax_scope not in MINMAX_SCOPES:
            raise ValueError(
                f"minmax_scope must be one of {', '.join(MINMAX_SCOPES)}; got {self.minmax_scope!r}"
            )
        if self.frame_budget_rule not in FRAME_BUDGET_RULES:
            raise ValueError(
                f"frame_budget_rule must be one of {', '.join(FRAME_BUDGET_RULES)}; "
                f"got {self.frame_budget_rule!r}"
            )

    @classmethod
    def paper(cls) -> EntropySelectConfig:
        """The paper's configuration (Eq. 1-4 and §4.1's values; SPEC's choices where it is
        silent): ``alpha=0.5`` and no grid fusion, every other field at its default."""
        return cls(alpha=0.5, grid_fusion=False)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The valid keys of :meth:`from_kwargs`, in SPEC order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_kwargs(
        cls, base: EntropySelectConfig | None = None, **kwargs: Any
    ) -> EntropySelectConfig:
        """Build a config from keyword values, converting strings (for CLIs and ``k=v`` lists).

        Args:
            base: the config to start from (default: the defaults).
            **kwargs: field values; strings are parsed to the field's type
                (``"none"`` gives ``None`` for ``max_frame_tokens``; ``"true"/"false"`` for bools).

        Raises:
            ValueError: an unknown key (the message lists the valid ones) or a bad value.
        """
        valid = cls.field_names()
        unknown = sorted(set(kwargs) - set(valid))
        if unknown:
            raise ValueError(
                f"unknown EntropySelectConfig key(s): {', '.join(unknown)}; "
                f"valid keys are: {', '.join(valid)}"
            )
        defaults = cls()
        converted = {k: _convert(k, v, getattr(defaults, k)) for k, v in kwargs.items()}
        return dataclasses.replace(base if base is not None else defaults, **converted)


_INT_FIELDS = {
    "spatial_window",
    "temporal_window",
    "past_window",
    "min_frame_tokens",
    "max_frame_tokens",
    "grid",
}
_FLOAT_FIELDS = {"tau", "alpha", "top_q", "alloc_tau", "coverage"}


def _convert(key: str, value: Any, default: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        if key in _INT_FIELDS:
            if key == "max_frame_tokens" and text.lower() in ("none", "null", ""):
                return None
            return int(text)
        if key in _FLOAT_FIELDS:
            return float(text)
        if key == "grid_fusion":
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
    except ValueError:
        raise ValueError(f"cannot parse {key}={value!r} as {type(default).__name__}") from None
    return text


def _check_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")


def _check_positive_float(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")


def _check_unit_float(name: str, value: Any, *, allow_zero: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value <= 1):
        interval = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{name} must be in {interval}, got {value}")
