"""Device parity: every selector picks the same tokens on CUDA as on the CPU (float64 input)."""

from __future__ import annotations

import pytest
import torch

# tests/selectors has no __init__.py (a package named `selectors` would shadow the stdlib module),
# so its modules import each other by their top-level names.
from test_contract import check, video  # isort: skip

from entropy_select import selectors

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.mark.parametrize("name", selectors.available())
def test_cuda_matches_cpu(name):
    x = video((6, 5, 7), torch.float64, seed=4, batch=2)
    for K in (1, 37, 105, 210):
        cpu = selectors.get(name)(x, budget=K)
        gpu = selectors.get(name)(x.cuda(), budget=K)
        assert gpu.keep_index.device.type == "cuda"
        assert torch.equal(gpu.keep_index.cpu(), cpu.keep_index)
        assert torch.equal(gpu.frame_budget.cpu(), cpu.frame_budget)
        torch.testing.assert_close(gpu.tokens.cpu(), cpu.tokens)
        if cpu.assignment is not None:
            assert torch.equal(gpu.assignment.cpu(), cpu.assignment)


@pytest.mark.parametrize("name", selectors.available())
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_contract(name, dtype):
    x = video((4, 3, 5), dtype, seed=9).cuda()
    for K in (1, 20, 60):
        sel = selectors.get(name)(x, budget=K)
        cpu_view = type(sel)(
            **{k: (v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in sel.__dict__.items()}
        )
        check(cpu_view, x.cpu(), K, name)
