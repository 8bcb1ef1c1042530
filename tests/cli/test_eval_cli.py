"""``entropy-select eval``: a small real run end to end (real clips, real encoder, real photos)."""

from __future__ import annotations

import json

import pytest
import torch

from entropy_select.cli import main

pytest.importorskip("skimage")
pytest.importorskip("av")


def test_eval_all_writes_both_families(tmp_path, capsys):
    out = tmp_path / "q"
    code = main(
        [
            "eval",
            "--task",
            "all",
            "--split",
            "test",
            "--videos",
            "1",
            "--selectors",
            "uniform,entropy_select",
            "--retentions",
            "0.25",
            "--detail-retentions",
            "0.25",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    names = {p.name for p in out.iterdir()}
    for stem in ("gist_test", "detail_test"):
        assert {f"{stem}.json", f"{stem}.md", f"{stem}.png"} <= names
    assert "quality_test.md" in names
    det = json.loads((out / "detail_test.json").read_text())
    labels = {
        "uniform",
        "entropy_select:paper",
        "entropy_select:default",
        "entropy_select:balanced",
    }
    assert set(det["summary"]) == labels
    assert det["meta"]["placements"] == 10 and det["meta"]["split"] == "test"
    for row in det["rows"]:
        assert 0 <= row["recall"] <= 1 and row["readout"] in (0.0, 1.0)
    gist = json.loads((out / "gist_test.json").read_text())
    assert set(gist["mean_rank"]) == labels | {"control:scrambled_means"}
    assert "detail_json" in capsys.readouterr().out
    assert "control:scrambled_means (control)" in (out / "quality_test.md").read_text()


@pytest.mark.parametrize(
    "args,match",
    [
        (["--retentions", "0"], "--retentions must be in (0, 1]"),
        (["--detail-retentions", "a,b"], "comma-separated"),
        (["--videos", "0"], "videos"),
    ],
)
def test_eval_bad_arguments(tmp_path, capsys, args, match):
    code = main(["eval", "--out", str(tmp_path / "x"), *args])
    assert code != 0
    assert match in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_needle_library_is_cached(tmp_path):
    from entropy_select.encoders import FeatureCache, get_encoder
    from entropy_select.eval.detail import cached_needle_library

    enc = get_encoder("mobilenet_v2")
    store = FeatureCache(tmp_path)
    first = cached_needle_library(enc, store)
    assert len(list(tmp_path.glob("needles-*.safetensors"))) == 1

    class NoPixels:  # the same encoder, but any re-encoding fails
        cache_key = enc.cache_key
        mean, std, classify = enc.mean, enc.std, enc.classify

        def forward_pixels(self, x):
            raise AssertionError("the library was built again instead of read from the cache")

    again = cached_needle_library(NoPixels(), store)
    assert [(n.source, n.box, n.label) for n in again] == [
        (n.source, n.box, n.label) for n in first
    ]
    assert all(torch.equal(a.image, b.image) for a, b in zip(again, first, strict=True))
    # another encoder key is another entry
    NoPixels.cache_key = "other"
    with pytest.raises(AssertionError, match="built again"):
        cached_needle_library(NoPixels(), store)
