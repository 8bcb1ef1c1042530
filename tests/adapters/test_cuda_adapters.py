"""Every adapter with every selector kind on a CUDA GPU: the same answers as on the CPU.

The CPU suite cannot see a tensor created on the wrong device (a ``torch.arange`` without
``device=`` runs fine when everything is on the CPU); this file runs the tiny models of
``adapter_models`` in float64 on both devices, patched with our selector (its Triton path on the
GPU), FastV, DyCoke (both stages) and VisionZip, and compares the logits and the generated tokens.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")

from adapter_models import BUILDERS, inputs_for  # noqa: E402

import entropy_select as es  # noqa: E402

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

LAYERS = 4
SELECTORS = {
    "entropy_select": {},
    "fastv": {"layer": 3},  # past Qwen3-VL's DeepStack layers
    "dycoke": {"layer": 2, "decode_retention": 0.5},
    "visionzip": {},
}


def _to(kwargs: dict, device: str) -> dict:
    return {
        k: v.to(device) if isinstance(v, torch.Tensor) else v
        for k, v in kwargs.items()
    }  # fmt: skip


def _run(model_type: str, selector: str, device: str):
    model = BUILDERS[model_type]("sdpa", layers=LAYERS).double().to(device)
    x = _to(inputs_for(model_type), device)
    for key in ("pixel_values", "pixel_values_videos"):
        if key in x:
            x[key] = x[key].double()
    es.patch(model, selector=selector, retention=0.5, **SELECTORS[selector])
    logits = model(**x).logits
    tokens = model.generate(**x, max_new_tokens=4, do_sample=False)
    return logits.cpu(), tokens.cpu()


@pytest.mark.parametrize("selector", list(SELECTORS))
@pytest.mark.parametrize("model_type", list(BUILDERS))
def test_cuda_equals_cpu(model_type, selector):
    cpu_logits, cpu_tokens = _run(model_type, selector, "cpu")
    gpu_logits, gpu_tokens = _run(model_type, selector, "cuda")
    assert gpu_logits.shape == cpu_logits.shape
    torch.testing.assert_close(gpu_logits, cpu_logits, atol=1e-6, rtol=1e-6)
    assert torch.equal(gpu_tokens, cpu_tokens)


@pytest.mark.parametrize("model_type", list(BUILDERS))
def test_triton_path_in_the_adapters_equals_the_reference(model_type):
    """float32 on the GPU: the adapters through the Triton kernels (called twice, as a user's
    loop would) give the reference path's logits and tokens."""
    model = BUILDERS[model_type]("sdpa", layers=LAYERS).to("cuda")
    x = _to(inputs_for(model_type), "cuda")
    out = {}
    for impl in ("reference", "triton"):
        es.patch(model, retention=0.5, impl=impl)
        for _ in range(2):
            logits = model(**x).logits
            tokens = model.generate(**x, max_new_tokens=4, do_sample=False)
        out[impl] = logits, tokens
    torch.testing.assert_close(out["triton"][0], out["reference"][0], atol=1e-4, rtol=1e-4)
    assert torch.equal(out["triton"][1], out["reference"][1])
