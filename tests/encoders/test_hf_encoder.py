import pytest
import torch

transformers = pytest.importorskip("transformers")

from entropy_select.encoders import get_encoder  # noqa: E402


@pytest.fixture(scope="module")
def tiny_siglip(tmp_path_factory):
    """A random-weight SigLIP vision tower (56 px, patch 14 → 4×4 tokens of 32 channels)."""
    cfg = transformers.SiglipVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=56,
        patch_size=14,
    )
    torch.manual_seed(0)
    model = transformers.SiglipVisionModel(cfg).eval()
    path = tmp_path_factory.mktemp("siglip")
    model.save_pretrained(path)
    return path, model


def test_siglip_tokens_match_the_tower(tiny_siglip):
    path, model = tiny_siglip
    enc = get_encoder(f"hf:{path}")
    assert enc.grid == (4, 4) and enc.dim == 32 and enc.input_size == (56, 56)
    assert enc.mean == (0.5, 0.5, 0.5)
    frames = torch.randint(
        0, 256, (3, 40, 70, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1)
    )
    out = enc.encode(frames, batch_size=2)
    assert out.shape == (3, 4, 4, 32)
    with torch.no_grad():
        ref = model(pixel_values=enc.preprocess(frames)).last_hidden_state  # [3, 16, 32]
    torch.testing.assert_close(out.reshape(3, 16, 32), ref, atol=1e-5, rtol=1e-5)
    assert torch.equal(out, enc.encode(frames, batch_size=2))
    layer0 = get_encoder(f"hf:{path}", layer=1).encode(frames[:1])
    assert layer0.shape == (1, 4, 4, 32) and not torch.allclose(layer0, out[:1])


def test_clip_drops_class_token(tmp_path):
    cfg = transformers.CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        image_size=32,
        patch_size=16,
        projection_dim=16,
    )
    transformers.CLIPVisionModel(cfg).save_pretrained(tmp_path)
    enc = get_encoder(f"hf:{tmp_path}")
    assert enc.mean[0] == pytest.approx(0.48145466)  # CLIP statistics without a preprocessor file
    out = enc.encode(torch.zeros(2, 32, 32, 3, dtype=torch.uint8))
    assert out.shape == (2, 2, 2, 32)


def test_hf_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot load .* offline"):
        get_encoder(f"hf:{tmp_path / 'missing'}")
    cfg = transformers.BertConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=4,
        intermediate_size=64,
        vocab_size=50,
    )
    transformers.BertModel(cfg).save_pretrained(tmp_path / "bert")
    with pytest.raises(ValueError, match="supported: siglip"):
        get_encoder(f"hf:{tmp_path / 'bert'}")


def test_preprocessor_stats_name_and_offline_loading(tiny_siglip, tmp_path, monkeypatch):
    """The model's own image_mean/std win over the family's; the name is the spec; loading never
    asks the hub (local_files_only)."""
    import json
    import shutil

    path, _ = tiny_siglip
    local = tmp_path / "with_stats"
    shutil.copytree(path, local)
    stats = {"image_mean": [0.1, 0.2, 0.3], "image_std": [0.4, 0.5, 0.6]}
    (local / "preprocessor_config.json").write_text(json.dumps(stats))
    seen = []
    real = transformers.AutoConfig.from_pretrained

    def spy(*args, **kwargs):
        seen.append(kwargs.get("local_files_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", spy)
    enc = get_encoder(f"hf:{local}")
    assert enc.mean == (0.1, 0.2, 0.3) and enc.std == (0.4, 0.5, 0.6)
    assert enc.name == f"hf:{local}"
    assert get_encoder(f"hf:{path}").mean == (0.5, 0.5, 0.5)  # SigLIP's own default
    assert seen and all(flag is True for flag in seen)
