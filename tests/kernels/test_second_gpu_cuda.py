"""A video on another GPU than the current one (a model placed on ``cuda:1``): Triton launches
on the current device, so the fused path makes the video's device current for its launches
(``select_tokens_triton``, ``StreamingSelector.push``; the cached graph already did), and a
launch site's key holds each tensor's device index, so an address is passed to the launcher
only for the device combination a launch with the tensors (and the launcher's pointer check)
proved.

Needs two CUDA GPUs (skipped elsewhere); the CPU check of the site key is
``test_launch.py::test_raw_pointers_pass_addresses_to_the_launcher``.
"""

from __future__ import annotations

import pytest
import torch

import entropy_select as es

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
    pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA GPUs"),
]


def _same(a, b):
    assert torch.equal(a.keep_index.cpu(), b.keep_index.cpu())
    assert torch.equal(a.tokens.cpu(), b.tokens.cpu())
    assert torch.equal(a.frame_budget.cpu(), b.frame_budget.cpu())


@pytest.mark.parametrize("cuda_graph", [False, "auto"])
@pytest.mark.parametrize("preset", ["paper", "default"])
def test_a_video_on_the_second_gpu_selects_as_on_the_first(cuda_graph, preset):
    cfg = es.EntropySelectConfig.paper() if preset == "paper" else es.EntropySelectConfig()
    g = torch.Generator(device="cuda:0").manual_seed(0)
    x0 = torch.randn(6, 14, 14, 256, device="cuda:0", dtype=torch.bfloat16, generator=g)
    x1 = x0.to("cuda:1")
    with torch.cuda.device(0):  # cuda:0 current throughout, as in a process that never set it
        for _ in range(3):  # "auto": eager, capture, replay; each call on both GPUs in turn
            want = es.select_tokens(x0, retention=0.3, config=cfg, cuda_graph=cuda_graph)
            got = es.select_tokens(x1, retention=0.3, config=cfg, cuda_graph=cuda_graph)
            assert got.tokens.device == x1.device and got.keep_index.device == x1.device
            _same(got, want)
        torch.cuda.synchronize(0)
        torch.cuda.synchronize(1)


def test_a_stream_on_the_second_gpu_pushes_as_on_the_first():
    g = torch.Generator(device="cuda:0").manual_seed(1)
    frames = torch.randn(5, 14, 14, 128, device="cuda:0", dtype=torch.bfloat16, generator=g)
    with torch.cuda.device(0):
        s0 = es.StreamingSelector(retention=0.3, impl="triton")
        s1 = es.StreamingSelector(retention=0.3, impl="triton")
        for f in frames:
            a, b = s0.push(f), s1.push(f.to("cuda:1"))
            assert b.tokens.device == torch.device("cuda:1")
            assert torch.equal(a.keep_index.cpu(), b.keep_index.cpu())
            assert torch.equal(a.tokens.cpu(), b.tokens.cpu())
