"""Tiny random-weight video LLM checkpoints with REAL processors, for the lmms-eval tests.

``save_checkpoint(model_type, path)`` writes what ``from_pretrained`` needs for lmms-eval's model
classes to load the checkpoint as if it came from the hub: the model (random weights, tiny
config), a BPE tokenizer trained here on a small corpus, and the Hugging Face processor of the
model type (image and video processors configured in code, a chat template). Everything is built
offline in about a second per model. The video processors need torchvision.

Token ids of the special tokens are fixed by their order in :data:`SPECIALS` (the trainer puts
special tokens first), and the model configs use those ids.

Usage as a script (what the CLI test runs in lmms-eval's environment)::

    python tests/integrations/tiny_vlms.py OUT_DIR   # OUT_DIR/<model_type>/ for each type
"""

from __future__ import annotations

import sys
from pathlib import Path

MODEL_TYPES = ("llava_onevision", "qwen2_5_vl", "qwen3_vl")

SPECIALS = ["<pad>", "<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>"]
SPECIALS += ["<|vision_end|>", "<|image_pad|>", "<|video_pad|>", "<image>", "<video>"]
IDS = {t: i for i, t in enumerate(SPECIALS)}

_TEXT = dict(
    vocab_size=256,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    bos_token_id=IDS["<|endoftext|>"],
    eos_token_id=IDS["<|im_end|>"],
    pad_token_id=IDS["<pad>"],
)

#: a Qwen-style chat template: each content item is text, an image or a video placeholder
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'video' or 'video' in item %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif item['type'] == 'image' or 'image' in item %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif 'text' in item %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = [
    "what happens in the video? a car drives down the street.",
    "is the person talking? yes, the man in the car is talking on the phone.",
    "how many scene cuts are there? five. the bikes pass by.",
    "describe the clip: an animated rabbit in a green forest, the sun is shining.",
    "answer with one word: yes or no. which colour is the car? red, blue, green, white.",
    "user assistant system question answer video frame time second",
]


def tokenizer():
    """A byte-level BPE tokenizer trained on a small corpus (<= 256 ids, specials first)."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=256,
        special_tokens=SPECIALS,
        # printable ASCII only (byte-level: space is "Ġ", newline "Ċ"), so that every token a
        # random model emits decodes to visible text and different answers read differently
        initial_alphabet=[chr(c) for c in range(33, 127)] + ["Ġ", "Ċ"],
        limit_alphabet=98,
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer)
    for t, i in IDS.items():
        assert tok.token_to_id(t) == i, (t, tok.token_to_id(t), i)
    assert tok.get_vocab_size() <= _TEXT["vocab_size"]
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        additional_special_tokens=SPECIALS[2:],
    )


def config(model_type: str):
    """Tiny model configs (values from the project's ASSETS notes); ids match :func:`tokenizer`."""
    import transformers

    if model_type == "llava_onevision":
        return transformers.LlavaOnevisionConfig(
            text_config={"model_type": "qwen2", **_TEXT},
            vision_config={
                "model_type": "siglip_vision_model",
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "image_size": 56,
                "patch_size": 14,
                "vision_use_head": False,
            },
            image_token_id=IDS["<image>"],
            video_token_id=IDS["<video>"],
            vision_feature_select_strategy="full",
            vision_feature_layer=-1,
            image_grid_pinpoints=[[56, 56]],
            tie_word_embeddings=False,
        )
    qwen = dict(
        image_token_id=IDS["<|image_pad|>"],
        video_token_id=IDS["<|video_pad|>"],
        vision_start_token_id=IDS["<|vision_start|>"],
        vision_end_token_id=IDS["<|vision_end|>"],
    )
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64)
    vision.update(spatial_merge_size=2, temporal_patch_size=2)
    if model_type == "qwen2_5_vl":
        rope = {"rope_type": "default", "rope_theta": 1e4, "mrope_section": [2, 3, 3]}
        vision.update(patch_size=14, window_size=56, fullatt_block_indexes=[1])
        return transformers.Qwen2_5_VLConfig(
            text_config={**_TEXT, "rope_parameters": rope}, vision_config=vision, **qwen
        )
    if model_type == "qwen3_vl":
        rope = {"rope_type": "default", "rope_theta": 1e4, "mrope_section": [4, 2, 2]}
        rope["mrope_interleaved"] = True
        vision.update(patch_size=16, num_position_embeddings=64, deepstack_visual_indexes=[0, 1])
        return transformers.Qwen3VLConfig(
            text_config={**_TEXT, "head_dim": 16, "rope_parameters": rope},
            vision_config=vision,
            **qwen,
        )
    raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")


MODEL_CLASSES = {
    "llava_onevision": "LlavaOnevisionForConditionalGeneration",
    "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
    "qwen3_vl": "Qwen3VLForConditionalGeneration",
}


def processor(model_type: str):
    """The model type's real Hugging Face processor, configured for the tiny vision towers."""
    import transformers

    tok = tokenizer()
    if model_type == "llava_onevision":
        size = {"height": 56, "width": 56}
        common = dict(size=size, do_center_crop=False, do_convert_rgb=True)
        return transformers.LlavaOnevisionProcessor(
            image_processor=transformers.LlavaOnevisionImageProcessor(
                **common, image_grid_pinpoints=[[56, 56]]
            ),
            video_processor=transformers.LlavaOnevisionVideoProcessor(**common),
            tokenizer=tok,
            num_image_tokens=16,  # (56 / 14)^2 patches per frame before pooling
            vision_feature_select_strategy="full",
            chat_template=None,  # lmms-eval's llava_hf falls back to its Vicuna template
        )
    patch = 14 if model_type == "qwen2_5_vl" else 16
    pixels = dict(
        min_pixels=(2 * patch) ** 2,
        max_pixels=(4 * 2 * patch) ** 2,  # at most 8x8 patches (4x4 merged tokens) per frame
        patch_size=patch,
        merge_size=2,
        temporal_patch_size=2,
    )
    image_cls = transformers.Qwen2VLImageProcessor
    if model_type == "qwen2_5_vl":
        video_cls, proc_cls = transformers.Qwen2VLVideoProcessor, transformers.Qwen2_5_VLProcessor
    else:
        video_cls, proc_cls = transformers.Qwen3VLVideoProcessor, transformers.Qwen3VLProcessor
    size = {"shortest_edge": pixels.pop("min_pixels"), "longest_edge": pixels.pop("max_pixels")}
    return proc_cls(
        image_processor=image_cls(size=size, **pixels),
        video_processor=video_cls(size=size, **pixels),
        tokenizer=tok,
        chat_template=QWEN_CHAT_TEMPLATE,
    )


def save_checkpoint(model_type: str, path: str | Path, seed: int = 0) -> Path:
    """Write a tiny random checkpoint with its processor to ``path`` (created).

    The directory name must not contain ``A<digits>B`` (Qwen3's loader reads it as a MoE size).
    """
    import torch
    import transformers

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = getattr(transformers, MODEL_CLASSES[model_type])(config(model_type))
    model.generation_config.pad_token_id = IDS["<pad>"]
    model.save_pretrained(path)
    processor(model_type).save_pretrained(path)
    return path


if __name__ == "__main__":
    out = Path(sys.argv[1])
    for name in sys.argv[2:] or MODEL_TYPES:
        print(save_checkpoint(name, out / name))
