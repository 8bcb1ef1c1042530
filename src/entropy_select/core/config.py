"""The one configuration object of ENTROPY-SELECT (SPEC §1-6).

Every field is a flat scalar; every default says where it comes from: the paper's value or ours
(where the paper gives none, SPEC pins it and we keep SPEC's choice).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

from .options import convert_option

ENTROPY_MODES = ("paper", "minmax", "complement", "complement_minmax")
FUSION_WEIGHTS = ("score", "mean")
MINMAX_SCOPES = ("video", "frame")
FRAME_BUDGET_RULES = ("softmax", "online")


@dataclass(frozen=True)
class EntropySelectConfig:
    """Hyper-parameters of ENTROPY-SELECT, in SPEC order.

    The defaults are the library's, chosen on the dev part of the detail-and-gist benchmark and
    reported on its test part (``docs/choosing-the-default.md``). They differ from the paper in
    three fields: ``entropy_mode="complement_minmax"`` (the entropy term is high on boundaries,
    where SPEC's measured property says Eq. 2 is low), ``grid_fusion`` on and
    ``fusion_weight="mean"`` (plain means of each cell's dropped tokens).
    :meth:`paper` gives the paper's configuration exactly as SPEC pins it; :meth:`balanced` spends
    most of the budget on context summaries.

    ``entropy_mode`` chooses how the window entropy enters the score:

    - ``"paper"``: ``Ĥ = H / log n`` exactly as Eq. 2 and SPEC §1.
    - ``"minmax"``: ``Ĥ`` min-max normalised over the video (so it spans [0, 1]).
    - ``"complement"``: ``1 − Ĥ`` (high on boundaries, see SPEC "Measured property").
    - ``"complement_minmax"``: ``1 − minmax(Ĥ)``.

    Causal counterparts of the whole-video steps (for streaming; ``docs/algorithm.md`` §8):
    ``minmax_scope="frame"`` min-max normalises ``Ĝ`` (and ``Ĥ`` in the ``minmax`` modes, and the
    rarity term) over each frame instead of the video; ``frame_budget_rule="online"`` replaces the
    softmax of Eq. 4 by the online rule of :func:`entropy_select.core.causal.online_budget_step`
    (then ``retention`` is the rule's rate and ``K = Σ B_f <= ceil(r·N)``).
    """

    spatial_window: int = 5  # k, paper §4.1
    temporal_window: int = 3  # K_t (frames including the current one), paper §4.1
    past_window: int = 3  # k_p, paper §4.1
    tau: float = 1.0  # τ of Eq. 2, paper §4.1
    alpha: float = 0.5  # α of S = α·term(Ĥ) + (1−α)Ĝ, paper §3.3
    top_q: float = 0.3  # q of the robust frame mean, paper §3.4
    alloc_tau: float = 0.1  # τ_alloc of Eq. 4: the paper gives none; SPEC's choice
    min_frame_tokens: int = 4  # B_min, paper §3.4
    max_frame_tokens: int | None = None  # B_max: the paper gives none; None means m (SPEC)
    grid: int = 4  # g, paper §3.3
    coverage: float = 0.5  # ρ: the paper gives none; SPEC's choice
    grid_fusion: bool = True  # SPEC §6: ours, by measurement (the paper has no fusion)
    fusion_grid: int | None = None  # g' of the fused cells (None: grid): ours, SPEC §6 uses g
    fusion_share: float = 0.5  # fused slots <= floor(B_f·share): SPEC §6's 1/2
    fusion_weight: str = "mean"  # plain "mean" cell summaries (ours, by measurement) or "score"
    context_share: float = 0.0  # share of B_f pooled into equal-count context tokens (ours)
    rarity: float = 0.0  # β: weight of the frame-rarity term in the score (ours)
    entropy_mode: str = "complement_minmax"  # 1 − minmax(Ĥ): ours, by measurement (SPEC §1 note)
    minmax_scope: str = "video"  # SPEC §2 (whole video); "frame": causal, ours (streaming)
    frame_budget_rule: str = "softmax"  # Eq. 4 (SPEC §4); "online": causal, ours (streaming)
    bank_rate: float = 0.25  # γ: share of the banked tokens the online rule adds a frame (ours)

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
        if self.fusion_grid is not None:
            _check_int("fusion_grid", self.fusion_grid)
            if self.fusion_grid < 1:
                raise ValueError(f"fusion_grid must be >= 1, got {self.fusion_grid}")
        _check_unit_float("fusion_share", self.fusion_share, allow_zero=False)
        if self.fusion_weight not in FUSION_WEIGHTS:
            raise ValueError(
                f"fusion_weight must be one of {', '.join(FUSION_WEIGHTS)}; "
                f"got {self.fusion_weight!r}"
            )
        _check_unit_float("context_share", self.context_share, allow_zero=True)
        if self.context_share >= 1:
            raise ValueError(f"context_share must be in [0, 1), got {self.context_share}")
        if self.context_share > 0 and self.grid_fusion:
            raise ValueError("context_share > 0 and grid_fusion are two ways to merge: pick one")
        _check_unit_float("rarity", self.rarity, allow_zero=True)
        if self.entropy_mode not in ENTROPY_MODES:
            raise ValueError(
                f"entropy_mode must be one of {', '.join(ENTROPY_MODES)}; got {self.entropy_mode!r}"
            )
        _check_unit_float("bank_rate", self.bank_rate, allow_zero=True)
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
        silent): ``entropy_mode="paper"``, ``alpha=0.5``, no grid fusion."""
        return cls(alpha=0.5, entropy_mode="paper", grid_fusion=False, fusion_weight="score")

    @classmethod
    def balanced(cls) -> EntropySelectConfig:
        """The ``balanced`` preset: three quarters of each frame's budget pooled into equal-count
        context tokens, the rest kept by the default's score (``docs/choosing-the-default.md``)."""
        return cls(grid_fusion=False, context_share=0.75)

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
        hints = typing.get_type_hints(cls)
        converted = {
            k: convert_option(k, v, getattr(defaults, k), hints.get(k)) for k, v in kwargs.items()
        }
        return dataclasses.replace(base if base is not None else defaults, **converted)


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
