import dataclasses

import pytest

from entropy_select import EntropySelectConfig


def test_paper_config_follows_spec():
    c = EntropySelectConfig.paper()
    assert (c.spatial_window, c.temporal_window, c.past_window, c.tau, c.alpha) == (
        5,
        3,
        3,
        1.0,
        0.5,
    )
    assert (c.top_q, c.alloc_tau, c.min_frame_tokens, c.max_frame_tokens) == (0.3, 0.1, 4, None)
    assert (c.grid, c.coverage, c.grid_fusion, c.entropy_mode) == (4, 0.5, False, "paper")
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.tau = 2.0


def test_library_default_differs_from_paper_only_where_measured():
    default, paper = EntropySelectConfig(), EntropySelectConfig.paper()
    changed = {
        f.name
        for f in dataclasses.fields(default)
        if getattr(default, f.name) != getattr(paper, f.name)
    }
    assert changed == {"entropy_mode", "grid_fusion", "fusion_weight"}
    assert default.entropy_mode == "complement_minmax" and default.grid_fusion is True
    assert default.fusion_weight == "mean" and default.alpha == paper.alpha == 0.5


def test_new_options_are_validated():
    with pytest.raises(ValueError, match="pick one"):
        EntropySelectConfig(context_share=0.5)  # grid_fusion is on by default
    with pytest.raises(ValueError, match="context_share"):
        EntropySelectConfig(grid_fusion=False, context_share=1.0)
    with pytest.raises(ValueError, match="fusion_weight"):
        EntropySelectConfig(fusion_weight="median")
    with pytest.raises(ValueError, match="fusion_share"):
        EntropySelectConfig(fusion_share=0.0)
    with pytest.raises(ValueError, match="fusion_grid"):
        EntropySelectConfig(fusion_grid=0)
    c = EntropySelectConfig.from_kwargs(fusion_grid="none", context_share="0.25", grid_fusion="0")
    assert c.fusion_grid is None and c.context_share == 0.25 and c.grid_fusion is False


def test_from_kwargs_parses_strings():
    c = EntropySelectConfig.from_kwargs(
        tau="0.1", grid="2", grid_fusion="true", max_frame_tokens="none", entropy_mode="minmax"
    )
    assert c.tau == 0.1 and c.grid == 2 and c.grid_fusion is True and c.max_frame_tokens is None
    assert EntropySelectConfig.from_kwargs(max_frame_tokens="12").max_frame_tokens == 12
    base = EntropySelectConfig(alpha=0.7)
    assert EntropySelectConfig.from_kwargs(base, tau=2).alpha == 0.7


def test_from_kwargs_rejects_unknown_keys_listing_valid_ones():
    with pytest.raises(ValueError, match="unknown.*windw.*valid keys are: spatial_window"):
        EntropySelectConfig.from_kwargs(windw=3)
    with pytest.raises(ValueError, match="cannot parse tau"):
        EntropySelectConfig.from_kwargs(tau="fast")
    with pytest.raises(ValueError, match="cannot parse grid_fusion"):
        EntropySelectConfig.from_kwargs(grid_fusion="maybe")


@pytest.mark.parametrize(
    "kw,exc",
    [
        ({"spatial_window": 2}, ValueError),
        ({"spatial_window": -1}, ValueError),
        ({"past_window": 4}, ValueError),
        ({"temporal_window": 0}, ValueError),
        ({"tau": 0}, ValueError),
        ({"tau": float("nan")}, ValueError),
        ({"alloc_tau": -1}, ValueError),
        ({"alpha": 1.5}, ValueError),
        ({"top_q": 0}, ValueError),
        ({"coverage": -0.1}, ValueError),
        ({"min_frame_tokens": -1}, ValueError),
        ({"max_frame_tokens": 0}, ValueError),
        ({"grid": 0}, ValueError),
        ({"entropy_mode": "max"}, ValueError),
        ({"grid": 2.0}, TypeError),
        ({"tau": "1"}, TypeError),
        ({"grid_fusion": 1}, TypeError),
        ({"coverage": "0.5"}, TypeError),
        ({"coverage": 1.5}, ValueError),
        ({"top_q": 1.5}, ValueError),
        ({"alpha": True}, TypeError),
        ({"max_frame_tokens": 2.0}, TypeError),
        ({"temporal_window": 1.0}, TypeError),
    ],
)
def test_validation(kw, exc):
    (name,) = kw
    with pytest.raises(exc, match=rf"^{name} must"):  # the message names the bad field
        EntropySelectConfig(**kw)


@pytest.mark.parametrize("text", ["none", "None", "NULL", "null", "", " none "])
def test_from_kwargs_max_frame_tokens_none(text):
    base = EntropySelectConfig(max_frame_tokens=8)
    assert EntropySelectConfig.from_kwargs(base, max_frame_tokens=text).max_frame_tokens is None
    assert EntropySelectConfig.from_kwargs(base, max_frame_tokens="6").max_frame_tokens == 6


@pytest.mark.parametrize(
    "text,value",
    [(t, True) for t in ("1", "true", "True", "yes", "ON")]
    + [(t, False) for t in ("0", "false", "FALSE", "no", "off")],
)
def test_from_kwargs_booleans(text, value):
    for base in (EntropySelectConfig(grid_fusion=True), EntropySelectConfig(grid_fusion=False)):
        assert EntropySelectConfig.from_kwargs(base, grid_fusion=text).grid_fusion is value
