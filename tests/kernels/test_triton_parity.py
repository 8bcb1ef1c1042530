"""Parity of the Triton kernels with the reference (SPEC §1-7), on a GPU and under the interpreter.

GPU tests carry the ``cuda`` marker and skip without one. Where Triton is installed, a few tiny
shapes also run on the CPU through Triton's interpreter (``TRITON_INTERPRET=1``, set by the
fixture in a subprocess-free way: the interpreter is chosen when a kernel is first launched).
Float outputs are judged against a float64 reference: the kernel's error may not exceed the
same-dtype reference's error plus a small allowance.
"""

from __future__ import annotations

import textwrap

import pytest
import torch
from interpreted import run_interpreted, run_interpreted_side_by_side
from selection_fields import assert_fields_equal

import entropy_select as es
from entropy_select.core.entropy import local_window_entropy
from entropy_select.core.gradient import spatial_gradient_magnitude

triton = pytest.importorskip("triton")
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

ODD_SHAPES = [
    (1, 7, 13, 27, 40),  # T=7, H=13, W=27, D not a power of two
    (2, 3, 2, 3, 129),  # H, W smaller than the window
    (1, 1, 5, 6, 33),  # T=1
    (1, 4, 14, 14, 200),  # 64 tokens a program: 256 + 64 band rows
    (2, 3, 16, 17, 128),  # 64 tokens a program, 256 + 128 band rows; channels in whole chunks
]
DTYPES = [torch.float32, torch.bfloat16, torch.float16]


def _errors(x: torch.Tensor, kernel_out, ref_fn):
    """(kernel error, same-dtype reference error) in max-abs against the float64 reference."""
    anchor = ref_fn(x.double())
    ref_same = ref_fn(x)  # the reference on the same (upcast-to-float32) input
    return (kernel_out.double() - anchor).abs().max().item(), (
        ref_same.double() - anchor
    ).abs().max().item()


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("shape", ODD_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tuning", ["band", "band_m64", "band_options_off"])
def test_window_entropy_and_gradient_match_float64(shape, dtype, tuning):
    """The band kernel at the library's plan, at 64 tokens a program, and with every code option
    of ``BAND_TUNING`` off (Round 11's kernel)."""
    from entropy_select.kernels.triton import window_entropy as we

    g = torch.Generator(device="cuda").manual_seed(hash((shape, str(dtype))) % 2**31)
    x = torch.randn(*shape, device="cuda", generator=g).to(dtype)
    opts = {
        "band": {},
        "band_m64": {"block_m": 64, "num_warps": 8},
        "band_options_off": {"tune": dict.fromkeys(we.BAND_TUNING, False)},
    }[tuning]
    window_entropy_and_gradient_triton = we.window_entropy_and_gradient_triton
    ent, grad = window_entropy_and_gradient_triton(x, **opts)
    err, ref_err = _errors(x, ent, local_window_entropy)
    assert err <= ref_err + 2e-6, (err, ref_err)
    err, ref_err = _errors(x, grad, spatial_gradient_magnitude)
    scale = spatial_gradient_magnitude(x.double()).abs().max().item()
    assert err <= ref_err + 2e-6 * scale, (err, ref_err)


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 16, 14, 14, 1152), (1, 4, 16, 17, 128)])
def test_identical_tokens_have_no_gradient_on_the_gpu(shape, dtype):
    """The gradient from the window's dots (``grad_gram``, the default): between identical
    tokens ``‖a‖² + ‖b‖² − 2⟨a, b⟩`` is exactly 0 on the tensor cores too (the same products
    summed in the same order wherever the pair sits in the tile), as the reference's difference
    is: frames of one colour have no gradient at all, and a letterbox bar none inside it; the
    whole selection of one-colour frames then has a zero normalised gradient, as the
    reference's."""
    g = torch.Generator(device="cuda").manual_seed(7)
    B, T, H, W, D = shape
    colours = torch.randn(B, T, 1, 1, D, device="cuda", generator=g).to(dtype)
    flat = colours.expand(B, T, H, W, D).contiguous()
    from entropy_select.kernels.triton import window_entropy_and_gradient_triton

    _, grad = window_entropy_and_gradient_triton(flat)
    assert torch.equal(grad, torch.zeros_like(grad)), grad.abs().max()
    out = es.select_tokens(flat, retention=0.35, impl="triton", cuda_graph=False)
    assert torch.equal(out.gradient, torch.zeros_like(out.gradient))
    x = torch.randn(*shape, device="cuda", generator=g).to(dtype)
    x[:, :, :4] = colours  # rows 0-3 one vector a frame: no gradient in rows 0-2
    _, grad = window_entropy_and_gradient_triton(x)
    assert torch.equal(grad[:, :, :3], torch.zeros_like(grad[:, :, :3]))
    assert (grad[:, :, 3:] > 0).all()


@cuda
@pytest.mark.cuda
def test_non_contiguous_and_windows():
    from entropy_select.kernels.triton import (
        local_window_entropy_triton,
        window_entropy_and_gradient_triton,
    )

    base = torch.randn(5, 9, 11, 2 * 70, device="cuda")
    x = base[..., ::2].transpose(1, 2)  # [5, 11, 9, 70], strided in W, H and D
    assert not x.is_contiguous()
    for k, kt, kp, tau in [(5, 3, 3, 1.0), (3, 1, 1, 0.1), (7, 4, 5, 0.5), (1, 2, 1, 1.0)]:
        out = local_window_entropy_triton(x, k, kt, kp, tau)
        ref = local_window_entropy(x.double(), k, kt, kp, tau)
        assert (out.double() - ref).abs().max().item() < 1e-5
        out = window_entropy_and_gradient_triton(x, k, kt, kp, tau)[0]  # the fused launcher
        assert (out.double() - ref).abs().max().item() < 1e-5


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("shape", ODD_SHAPES)
@pytest.mark.parametrize("retention", [0.05, 0.35, 1.0])
def test_select_tokens_triton_equals_reference(shape, retention):
    g = torch.Generator(device="cuda").manual_seed(7)
    x = torch.randn(*shape, device="cuda", generator=g)
    paper = es.EntropySelectConfig.paper()  # the gradient term keeps random inputs tie-free
    ref = es.select_tokens(x, retention=retention, impl="reference", config=paper)
    out = es.select_tokens(x, retention=retention, impl="triton", config=paper)
    assert torch.equal(out.keep_index, ref.keep_index)
    assert torch.equal(out.frame_budget, ref.frame_budget)
    assert torch.allclose(out.scores, ref.scores, atol=1e-5)
    assert torch.equal(out.tokens, ref.tokens)


PRESET_CASES = {
    "paper": es.EntropySelectConfig.paper(),
    "default": es.EntropySelectConfig(),
    "balanced": es.EntropySelectConfig.balanced(),
    "fusion_score_weights": es.EntropySelectConfig(fusion_weight="score"),
    "fusion_grid_2": es.EntropySelectConfig(fusion_grid=2, fusion_share=0.3, coverage=0.3),
    "frame_scope_minmax": es.EntropySelectConfig(minmax_scope="frame", entropy_mode="minmax"),
    "context_complement": es.EntropySelectConfig(
        entropy_mode="complement", grid_fusion=False, context_share=0.4, alpha=0.3
    ),
}


def _fusion_cut_ties(out, own, cfg, tol=1e-5) -> bool:
    """Whether every frame where ``out`` and ``own`` keep or merge differently has its fused
    cells' unselected score totals tied (within ``tol``, relative) at the cut of SPEC §6 (the loop
    oracle's ``ambiguous``), so that summing in another order may legitimately fuse another
    cell (and so anchor another token)."""
    from core import oracle  # tests/core/oracle.py

    if not cfg.grid_fusion or cfg.context_share > 0:
        return False
    B, T, H, W = out.scores.shape
    frames = {(b, t) for b, t, _, _ in (out.keep_mask != own.keep_mask).nonzero().tolist()}
    if out.assignment is not None and own.assignment is not None:
        diff = (out.assignment != own.assignment).nonzero().tolist()
        frames |= {(b, n // (H * W)) for b, n in diff}
    return bool(frames) and all(
        oracle.fuse_frame(
            out.scores[b, t].double().cpu(), int(out.frame_budget[b, t]), cfg.grid,
            cfg.coverage, cfg.fusion_grid, cfg.fusion_share, cfg.fusion_weight, tol=tol,
        )[1]
        for b, t in frames
    )  # fmt: skip


def _first_difference(out, ref) -> str:
    """Where two selections first differ: the keep set, or else the merge (the input, its slot
    in each, the anchors) with the scores involved."""
    if not torch.equal(out.keep_index, ref.keep_index):
        b, k = (out.keep_index != ref.keep_index).nonzero()[0].tolist()
        return f"video {b}: keep_index[{k}] is {int(out.keep_index[b, k])} here, " + (
            f"{int(ref.keep_index[b, k])} in the other"
        )
    b, n = (out.assignment != ref.assignment).nonzero()[0].tolist()
    flat = out.scores.reshape(out.scores.shape[0], -1)[b]
    slots = (int(out.assignment[b, n]), int(ref.assignment[b, n]))
    anchors = [int(out.keep_index[b, k]) if k >= 0 else None for k in slots]
    return (
        f"video {b}, input {n} (score {float(flat[n]):.9g}): slot {slots[0]} here, {slots[1]} "
        f"in the other; anchors {anchors}; "
        f"{int((out.assignment != ref.assignment).sum())} inputs differ"
    )


def assert_same_selection(out, ref, dtype, x=None, cfg=None):
    """The fused path's selection ``out`` against the reference's ``ref``.

    Always: scores and gradient within the kernel's rounding; frame budgets identical, or the
    core's Eq. 4 on the kernel's own scores where a near-tie moved one unit between two frames.
    Without ``x``: every integer output identical to the reference's, tokens exact (a plain
    selection) or within the rounding of a float32 mean in the output dtype.
    With ``x`` and ``cfg``: everything after the scores (keep set, merge, weights, tokens)
    identical to the core's SPEC §5-7 stages run on the kernel's own scores and budgets, except
    in frames whose fused cells' score totals tie at the fusion cut (summed in another order, a
    tie may go either way). Comparing the keep set with the reference's directly would also
    flag near-ties of the scores themselves, which the kernel's rounding may flip (seen on an
    H200 with ``fusion_grid=2`` on a 1×7×13×27×40 input)."""
    if not torch.equal(out.frame_budget, ref.frame_budget):
        # Eq. 4 is a softmax at temperature alloc_tau of each frame's top-q mean score, so the
        # scores' rounding (amplified by 1/span under a frame-scope minmax) can move a unit of
        # the largest-remainder rounding between two frames whose remainders nearly tie (seen on
        # an H200: 189/101 against 190/100, frame_scope_minmax, float32). The budgets must then
        # be the core's Eq. 4 on the kernel's own scores, exactly.
        from entropy_select.core.select import plan_frame_budget

        K = out.keep_index.shape[-1]
        own_budget, _ = plan_frame_budget(out.scores, cfg or es.EntropySelectConfig(), K)
        assert torch.equal(out.frame_budget, own_budget), (out.frame_budget, own_budget)
        assert (out.frame_budget - ref.frame_budget).abs().sum() <= 2 * out.frame_budget.shape[0]
    # the minmax entropy modes divide Ĥ by its span over the video (or frame): the kernel's
    # rounding of Ĥ (~1e-6) grows by 1/span in S (seen on an H200: 1.35e-5 with a span of ~0.3)
    span = (ref.entropy.amax() - ref.entropy.amin()).item()
    atol = 1e-5 / min(1.0, max(span, 1e-2))
    torch.testing.assert_close(out.scores, ref.scores, atol=atol, rtol=0)
    torch.testing.assert_close(out.gradient, ref.gradient, atol=1e-5, rtol=0)
    assert (out.assignment is None) == (ref.assignment is None)
    tol = 1e-5 if dtype == torch.float32 else 1e-2
    if x is not None:
        from entropy_select.core.select import select_from_scores

        own = select_from_scores(
            x, out.keep_index.shape[-1], cfg, out.scores, out.entropy, out.gradient,
            out.frame_budget,
        )  # fmt: skip
        same = torch.equal(out.keep_index, own.keep_index) and torch.equal(
            out.keep_mask, own.keep_mask
        )
        if same and out.assignment is not None:
            same = torch.equal(out.assignment, own.assignment)
        if not same:
            assert _fusion_cut_ties(out, own, cfg), _first_difference(out, own)
            return  # a tie at the fusion cut: either cell is SPEC §6 up to float32 rounding
        ref = own
    assert torch.equal(out.keep_index, ref.keep_index), _first_difference(out, ref)
    assert torch.equal(out.keep_mask, ref.keep_mask)
    if ref.assignment is None:
        assert torch.equal(out.tokens, ref.tokens)
        return
    assert torch.equal(out.assignment, ref.assignment), _first_difference(out, ref)
    torch.testing.assert_close(out.weights, ref.weights, atol=1e-4, rtol=0)
    if dtype == torch.float32 and x is not None:
        # a weighted mean summed in another order: rounding of order eps·Σ|w·x|/Σw, which can
        # exceed 1e-5 of a mean that cancels (1.6e-5 seen under the interpreter, |x| <= 4.4)
        tol = 1e-5 * max(1.0, float(x.abs().max()))
    torch.testing.assert_close(out.tokens.float(), ref.tokens.float(), atol=tol, rtol=tol)


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("preset", list(PRESET_CASES))
@pytest.mark.parametrize("shape", ODD_SHAPES + [(2, 16, 14, 14, 96)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_every_preset_on_the_fused_path_equals_reference(preset, shape, dtype):
    """Every preset and option the fused kernels cover (scores, budgets, grid fusion, context
    pooling, tokens, assignment) against the reference, retention 5% to 100%."""
    g = torch.Generator(device="cuda").manual_seed(11)
    x = torch.randn(*shape, device="cuda", generator=g).to(dtype)
    cfg = PRESET_CASES[preset]
    for retention in (0.05, 0.35, 0.8, 1.0):
        ref = es.select_tokens(x, retention=retention, impl="reference", config=cfg)
        out = es.select_tokens(x, retention=retention, impl="triton", config=cfg)
        assert_same_selection(out, ref, dtype, x, cfg)


@cuda
@pytest.mark.cuda
def test_fused_path_launches_a_handful_of_kernels():
    """The default config: three Triton kernels (four over 48 frames, where the budget kernel runs)
    and no other GPU work, no host synchronisation."""
    from torch.profiler import ProfilerActivity, profile

    for T, launches in ((16, 3), (65, 4)):
        x = torch.randn(T, 14, 14, 256, device="cuda", dtype=torch.bfloat16)
        for cfg in (es.EntropySelectConfig(), es.EntropySelectConfig.balanced()):
            es.select_tokens(x, retention=0.3, config=cfg, validate=False, cuda_graph=False)
            torch.cuda.synchronize()
            with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                es.select_tokens(x, retention=0.3, config=cfg, validate=False, cuda_graph=False)
            events = prof.events()
            kernels = [e.name for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
            assert len(kernels) == launches, kernels
            syncs = ("aten::item", "aten::_local_scalar_dense", "cudaStreamSynchronize")
            assert not [e.name for e in events if e.name in syncs]


@cuda
@pytest.mark.cuda
def test_autograd_through_the_fused_path():
    """Tokens that must carry gradient come from torch on the kernels' selection."""
    x = torch.randn(3, 5, 6, 16, device="cuda", requires_grad=True)
    for cfg in (es.EntropySelectConfig(), es.EntropySelectConfig.paper()):
        out = es.select_tokens(x, retention=0.3, config=cfg, impl="triton")
        ref = es.select_tokens(x.detach(), retention=0.3, config=cfg, impl="reference")
        assert torch.equal(out.keep_index, ref.keep_index)
        out.tokens.sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0
        x.grad = None


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("shape", [(1, 7, 13, 27), (2, 4, 3, 2), (1, 1, 32, 32), (3, 16, 14, 14)])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("grid,coverage", [(4, 0.5), (1, 0.0), (3, 1.0)])
def test_grid_select_kernel_equals_core(shape, ties, grid, coverage):
    from entropy_select.core.allocation import allocate_frame_budget
    from entropy_select.core.grid import grid_quota_topk
    from entropy_select.core.select import mask_to_index
    from entropy_select.kernels.triton.frame_select import grid_select_triton

    g = torch.Generator(device="cuda").manual_seed(3)
    s = torch.rand(*shape, device="cuda", generator=g)
    if ties:
        s = (s * 4).round() / 4
    N = s[0].numel()
    for K in (1, max(1, N // 20), N // 3 or 1, N):
        fb = allocate_frame_budget(s, K)
        keep, idx = grid_select_triton(s, fb, K, grid, coverage)
        ref = grid_quota_topk(s, fb, grid, coverage)
        assert torch.equal(keep, ref)
        assert torch.equal(idx, mask_to_index(ref.flatten(-3), K))


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("preset", ["paper", "default", "balanced"])
def test_cuda_graph_capture(preset):
    """Capture on one input, copy a NEW input into the captured buffer, replay: the result must be
    eager's on the new input (a graph that froze input-dependent values would replay the old)."""
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(6, 7, 9, 48, device="cuda", generator=g)
    new = torch.randn(6, 7, 9, 48, device="cuda", generator=g)
    cfg = PRESET_CASES[preset]
    fn = lambda: es.select_tokens(  # noqa: E731
        x, budget=50, impl="triton", validate=False, config=cfg, cuda_graph=False
    )
    # the two inputs choose differently, so replaying the captured input's choice would fail
    other = es.select_tokens(new, budget=50, config=cfg, cuda_graph=False)
    assert not torch.equal(fn().keep_index, other.keep_index)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        sel = fn()
    for inp in (new, x.clone()):  # a new input, then the captured one again
        x.copy_(inp)
        graph.replay()
        torch.cuda.synchronize()
        eager = es.select_tokens(
            inp.clone(), budget=50, impl="triton", config=cfg, cuda_graph=False
        )
        assert torch.equal(sel.keep_index, eager.keep_index)
        assert torch.equal(sel.frame_budget, eager.frame_budget)
        torch.testing.assert_close(sel.tokens, eager.tokens)
        torch.testing.assert_close(sel.scores, eager.scores)


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("preset", ["paper", "default", "balanced"])
def test_cached_cuda_graph_equals_eager(preset):
    """``cuda_graph=True``: one graph per shape, results equal to the eager fused path on every
    new input, earlier results untouched by later calls, other shapes get their own graph."""
    from entropy_select.kernels.triton import graphs

    graphs.clear()
    cfg = PRESET_CASES[preset]
    g = torch.Generator(device="cuda").manual_seed(5)
    xs = [torch.randn(2, 7, 9, 48, device="cuda", generator=g).bfloat16() for _ in range(3)]
    first = es.select_tokens(xs[0], budget=60, config=cfg, cuda_graph=True)
    saved = {k: v.clone() for k, v in vars(first).items() if isinstance(v, torch.Tensor)}
    for x in xs:
        out = es.select_tokens(x, budget=60, config=cfg, cuda_graph=True)
        eager = es.select_tokens(x, budget=60, config=cfg, impl="triton", cuda_graph=False)
        assert_fields_equal(out, eager)
    for name, value in saved.items():  # results are copies, not views of the graph's buffers
        assert torch.equal(getattr(first, name), value), name
    assert len(graphs.cached_shapes()) == 1
    es.select_tokens(xs[0][:, :5], budget=30, config=cfg, cuda_graph=True)
    assert len(graphs.cached_shapes()) == 2
    leaf = xs[0].float().requires_grad_()  # autograd: served eagerly, tokens carry gradient
    es.select_tokens(leaf, budget=60, config=cfg, cuda_graph=True).tokens.sum().backward()
    assert leaf.grad is not None and len(graphs.cached_shapes()) == 2
    graphs.clear()
    assert graphs.cached_shapes() == []


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("preset", list(PRESET_CASES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_auto_cuda_graph_equals_eager(preset, dtype):
    """The default ``cuda_graph="auto"``: a key's first call runs eagerly, its second captures,
    later calls replay; every call's result equals the eager fused path's on its own input
    exactly, and no result changes or shares storage with a later one (fresh copies, not views of
    the graph's buffers)."""
    from entropy_select.kernels.triton import graphs

    graphs.clear()
    cfg = PRESET_CASES[preset]
    g = torch.Generator(device="cuda").manual_seed(8)
    xs = [torch.randn(2, 7, 9, 48, device="cuda", generator=g).to(dtype) for _ in range(4)]
    results, saved = [], []
    for call, x in enumerate(xs):
        out = es.select_tokens(x, budget=70, config=cfg)  # one video [T, H, W, D]: unbatched
        assert len(graphs.cached_shapes()) == (0 if call == 0 else 1), call
        assert_fields_equal(out, es.select_tokens(x, budget=70, config=cfg, cuda_graph=False))
        results.append(out)
        saved.append({k: v.clone() for k, v in vars(out).items() if isinstance(v, torch.Tensor)})
    for out, before in zip(results, saved, strict=True):  # later replays changed nothing
        for name, value in before.items():
            assert torch.equal(getattr(out, name), value), name
    ptrs = [out.tokens.untyped_storage().data_ptr() for out in results]
    ptrs += [out.keep_index.untyped_storage().data_ptr() for out in results]
    assert len(set(ptrs)) == len(ptrs)  # no two results share storage
    es.select_tokens(xs[0], budget=71, config=cfg)  # another K: another key, eager at first
    assert len(graphs.cached_shapes()) == 1
    graphs.clear()


ZERO_COPY_CASES = [
    ("paper", torch.bfloat16),
    ("default", torch.bfloat16),
    ("balanced", torch.bfloat16),
    ("default", torch.float32),
    ("rarity_copies_in", torch.bfloat16),
]  # every preset; fewer dtypes than the other tests (each layout and alignment compiles)


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize(("preset", "dtype"), ZERO_COPY_CASES)
def test_cached_graph_reads_each_input_where_it_is(preset, dtype):
    """The replay reads the caller's features in place (the holder, no copy in): inputs at other
    addresses, 16-byte aligned or not (a view one element in: copied for that call), an input
    changed in place, and a channel-strided one each give the eager path's selection on THEIR
    features, field by field, with no copy held by the key. An unaligned input is compared with
    the eager path on the same values at an aligned address: Triton compiles other kernels for an
    unaligned address (narrower loads), whose sums may differ from the aligned ones' in the last
    bits of the scores, and the replay reads the call's aligned copy (a config that copies in:
    the key's copy, dense where the input has gaps). ``validate=True`` on the
    same graph raises the entry check's error for a poisoned input, aligned or not. A config
    whose selection reads the features in torch code (``rarity``) keeps a copy and gives the
    same."""
    from entropy_select.kernels.triton import graphs

    graphs.clear()
    cfg = PRESET_CASES.get(preset) or es.EntropySelectConfig(rarity=0.5)
    shape, K = (2, 6, 7, 9, 48), 70
    n = 2 * 6 * 7 * 9 * 48
    g = torch.Generator(device="cuda").manual_seed(21)

    def fresh(offset=0):  # [shape] starting ``offset`` elements into a new allocation
        return torch.randn(n + 8, device="cuda", generator=g).to(dtype)[offset : offset + n]

    def eager(x):  # the eager path on x's values in the layout the replay reads (see below)
        if preset == "rarity_copies_in":  # the key's copy: x's strides if dense, else contiguous
            x = graphs._static_input(x)
        elif x.data_ptr() % graphs.ALIGN:  # the call's aligned copy, x's strides
            x = graphs._aligned_copy(x).as_strided(x.shape, x.stride())
        return es.select_tokens(x, budget=K, config=cfg, cuda_graph=False)

    a, b, c = fresh().view(shape), fresh().view(shape), fresh(1).view(shape)
    assert a.data_ptr() % 16 == b.data_ptr() % 16 == 0 and c.data_ptr() % 16 != 0
    outs = []
    for k, x in enumerate([a, b, c, a, b]):
        if k == 3:
            a.copy_(torch.randn(shape, device="cuda", generator=g))  # same address, new values
        out = es.select_tokens(x, budget=K, config=cfg, cuda_graph=True)
        assert_fields_equal(out, eager(x))
        outs.append(out)
    assert not torch.equal(outs[0].keep_index, outs[1].keep_index)  # the inputs choose apart
    assert not torch.equal(outs[0].keep_index, outs[3].keep_index)  # a's new values, read anew
    assert len(graphs.cached_shapes()) == 1
    entry = next(iter(graphs._GRAPHS.values()))
    if preset == "rarity_copies_in":
        assert entry.holder is None and entry.static_x is not None
    else:
        assert entry.static_x is None and int(entry.holder[0]) == b.data_ptr()
        assert entry.tokens is None  # each call's tokens are written into its own tensor
    wide = torch.randn(*shape[:-1], 2 * shape[-1] + 1, device="cuda", generator=g).to(dtype)
    x = wide[..., 1::2]  # channel stride 2 and unaligned: another key, its copy for the call
    for _ in range(2):
        out = es.select_tokens(x, budget=K, config=cfg, cuda_graph=True)
        assert_fields_equal(out, eager(x))
    for x in (b, c):
        good = es.select_tokens(x, budget=K, config=cfg, cuda_graph=True, validate=True)
        assert_fields_equal(good, eager(x))
        bad = x.clone() if x is b else fresh(1).view(shape).copy_(x)
        bad[1, 2, 3, 4, 5] = float("nan")
        with pytest.raises(ValueError) as want:
            es.select_tokens(bad, budget=K, config=cfg, cuda_graph=False)
        with pytest.raises(ValueError) as err:
            es.select_tokens(bad, budget=K, config=cfg, cuda_graph=True)
        assert str(err.value) == str(want.value) and "1 NaN" in str(err.value)
    assert len(graphs.cached_shapes()) == 2  # the strided layout is another key; validate not
    graphs.clear()


@cuda
@pytest.mark.cuda
def test_auto_cuda_graph_falls_back_where_a_graph_cannot_serve():
    """Features that need gradient, explicit frame budgets and the online rule never use (or
    fill) the cache; an expanded (stride-0) input is served exactly (read in place)."""
    from entropy_select.kernels.triton import graphs

    graphs.clear()
    cfg = es.EntropySelectConfig()
    leaf = torch.randn(2, 5, 6, 7, 16, device="cuda", requires_grad=True)
    for _ in range(3):
        out = es.select_tokens(leaf, budget=40, config=cfg)
        assert out.tokens.requires_grad
        out.tokens.sum().backward()
    assert leaf.grad is not None and leaf.grad.abs().sum() > 0
    fb = torch.tensor([[8, 8, 8, 8, 8]] * 2, device="cuda")
    online = es.EntropySelectConfig(frame_budget_rule="online")
    for _ in range(3):
        es.select_tokens(leaf.detach(), frame_budget=fb, config=cfg)
        es.select_tokens(leaf.detach()[:1], retention=0.3, config=online)  # one video: its own K
    assert graphs.cached_shapes() == []
    wide = torch.randn(1, 5, 6, 1, 16, device="cuda").expand(1, 5, 6, 7, 16)  # W stride 0
    for _ in range(3):
        out = es.select_tokens(wide, budget=40, config=cfg)
        assert_fields_equal(out, es.select_tokens(wide, budget=40, config=cfg, cuda_graph=False))
    assert len(graphs.cached_shapes()) == 1
    graphs.clear()


@cuda
@pytest.mark.cuda
def test_auto_cuda_graph_across_inference_mode():
    """A key captured under ``torch.inference_mode`` (generate loops) serves later calls without
    it, and results equal the eager path's either way."""
    from entropy_select.kernels.triton import graphs

    graphs.clear()
    cfg = es.EntropySelectConfig()
    x = torch.randn(2, 6, 7, 9, 32, device="cuda")
    with torch.inference_mode():
        for _ in range(3):  # eager, capture, replay
            out = es.select_tokens(x, budget=80, config=cfg)
        assert_fields_equal(out, es.select_tokens(x, budget=80, config=cfg, cuda_graph=False))
    y = torch.randn_like(x)
    out = es.select_tokens(y, budget=80, config=cfg)
    assert_fields_equal(out, es.select_tokens(y, budget=80, config=cfg, cuda_graph=False))
    assert len(graphs.cached_shapes()) == 1
    graphs.clear()


@cuda
@pytest.mark.cuda
def test_auto_cuda_graph_on_another_stream():
    """Replays follow the caller's current stream: calls alternating between the default stream
    and a side stream (the side stream's results read there) equal the eager path."""
    from entropy_select.kernels.triton import graphs

    graphs.clear()
    cfg = es.EntropySelectConfig()
    g = torch.Generator(device="cuda").manual_seed(2)
    xs = [torch.randn(6, 7, 9, 48, device="cuda", generator=g) for _ in range(6)]
    side = torch.cuda.Stream()
    for k, x in enumerate(xs):
        if k % 2:
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                out = es.select_tokens(x, budget=90, config=cfg)
                keep = out.keep_index.clone()  # read on the stream that made it
            torch.cuda.current_stream().wait_stream(side)
        else:
            out = es.select_tokens(x, budget=90, config=cfg)
            keep = out.keep_index
        eager = es.select_tokens(x, budget=90, config=cfg, cuda_graph=False)
        assert torch.equal(keep, eager.keep_index), k
        torch.testing.assert_close(out.tokens, eager.tokens, atol=0, rtol=0)
    graphs.clear()


@cuda
@pytest.mark.cuda
def test_auto_cuda_graph_replay_is_a_few_host_calls():
    """After a key's capture, a call is the holder's two writes (fill kernels: the features' and
    the fresh tokens' addresses), one graph launch and one copy out: no host synchronisation, no
    Triton launch, no copy of the features or of the tokens."""
    from torch.profiler import ProfilerActivity, profile

    from entropy_select.kernels.triton import graphs

    graphs.clear()
    x = torch.randn(16, 14, 14, 256, device="cuda", dtype=torch.bfloat16)
    for _ in range(2):
        es.select_tokens(x, retention=0.3, validate=False)  # eager, then capture
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        es.select_tokens(x, retention=0.3, validate=False)
    host = torch.autograd.DeviceType.CPU  # the host's calls (the runtime API among them)
    names = [e.name for e in prof.events() if e.device_type == host]
    assert sum("GraphLaunch" in n for n in names) == 1, names
    launches = [n for n in names if "LaunchKernel" in n or "Memcpy" in n]
    assert len(launches) <= 3, launches  # the holder's two writes and the copy out
    syncs = ("aten::item", "aten::_local_scalar_dense", "cudaStreamSynchronize")
    assert not [n for n in names if n in syncs]
    graphs.clear()


@cuda
@pytest.mark.cuda
def test_float64_goes_to_reference_and_explicit_triton_raises():
    x = torch.randn(3, 4, 5, 8, device="cuda", dtype=torch.float64)
    auto = es.select_tokens(x, retention=0.3)
    assert auto.scores.dtype == torch.float64
    with pytest.raises(RuntimeError, match="float64"):
        es.select_tokens(x, retention=0.3, impl="triton")


_INTERP_SCRIPT = textwrap.dedent(
    """
    import torch, entropy_select as es
    from entropy_select.core.entropy import local_window_entropy
    from entropy_select.core.gradient import spatial_gradient_magnitude
    from entropy_select.kernels.triton import window_entropy_and_gradient_triton
    torch.manual_seed(0)
    x = torch.randn(1, 3, 2, 3, 12)[..., ::2]  # T=3, H, W < k, non-contiguous D=6
    ent, grad = window_entropy_and_gradient_triton(x)
    assert (ent.double() - local_window_entropy(x.double())).abs().max() < 1e-5
    assert (grad.double() - spatial_gradient_magnitude(x.double())).abs().max() < 1e-5
    xt = torch.randn(1, 3, 4, 3, 6).transpose(2, 3)  # frames not at the token stride: no FLAT
    ent, grad = window_entropy_and_gradient_triton(xt)
    assert (ent.double() - local_window_entropy(xt.double())).abs().max() < 1e-5
    assert (grad.double() - spatial_gradient_magnitude(xt.double())).abs().max() < 1e-5
    for bm, win in [(None, (5, 3, 3)), (16, (7, 4, 5)), (16, (1, 1, 1))]:
        x = torch.randn(2, 3, 3, 4, 20)[..., ::2]  # tiles that span rows, frames and videos
        ent, grad = window_entropy_and_gradient_triton(x, *win, block_m=bm)
        assert (ent.double() - local_window_entropy(x.double(), *win)).abs().max() < 1e-5
        assert (grad.double() - spatial_gradient_magnitude(x.double())).abs().max() < 1e-5
    # float16, not bfloat16: the interpreter's tl.dot of bfloat16 tiles returns garbage (Triton
    # 3.6 and 3.9: ~1e10 for products of randn), and the gradient comes from the dots now
    # (GRAD_GRAM); bfloat16 is checked on the GPU (the parity tests' DTYPES)
    y = torch.randn(2, 2, 2, 3, 6, dtype=torch.float16)
    paper = es.EntropySelectConfig.paper()
    ref = es.select_tokens(y, retention=0.35, impl="reference", config=paper)
    out = es.select_tokens(y, retention=0.35, impl="triton", config=paper)
    assert torch.equal(out.keep_index, ref.keep_index), (out.keep_index, ref.keep_index)
    from entropy_select.core.grid import grid_quota_topk
    from entropy_select.core.select import mask_to_index
    from entropy_select.core.allocation import allocate_frame_budget
    from entropy_select.kernels.triton.frame_select import grid_select_triton
    s = (torch.rand(2, 3, 5, 7) * 4).round() / 4  # many ties
    fb = allocate_frame_budget(s, 40)
    keep, idx = grid_select_triton(s, fb, 40, 2, 0.5)
    assert torch.equal(keep, grid_quota_topk(s, fb, 2, 0.5))
    assert torch.equal(idx, mask_to_index(keep.flatten(-3), 40))
    from entropy_select.core.allocation import frame_saliency
    from entropy_select.kernels.triton.scores import frame_budget_triton
    s = torch.rand(2, 70, 2, 3)  # two blocks of frames, tied weights, explicit bounds
    s[:, 2::3] = s[:, 1::3][:, : s[:, 2::3].shape[1]]
    cfg = es.EntropySelectConfig(min_frame_tokens=1, max_frame_tokens=5, alloc_tau=0.37)
    for K in (1, 70, 140, 420):
        want = allocate_frame_budget(s, K, 0.3, 0.37, 1, 5)
        got = frame_budget_triton(frame_saliency(s, 0.3).contiguous(), K, 6, cfg)
        assert torch.equal(got, want), (K, got, want)
    z = torch.randn(2, 3, 4, 5, 12)
    for cfg in (es.EntropySelectConfig(), es.EntropySelectConfig.balanced(),
                es.EntropySelectConfig(fusion_weight="score", minmax_scope="frame")):
        for r in (0.2, 0.6):
            ref = es.select_tokens(z, retention=r, impl="reference", config=cfg)
            out = es.select_tokens(z, retention=r, impl="triton", config=cfg)
            assert torch.equal(out.frame_budget, ref.frame_budget)
            assert torch.equal(out.keep_index, ref.keep_index)
            assert torch.equal(out.assignment, ref.assignment)
            torch.testing.assert_close(out.tokens, ref.tokens, atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(out.weights, ref.weights, atol=1e-4, rtol=0)
    print("ok")
    """
)


def test_interpreter_on_cpu():
    """The kernels under TRITON_INTERPRET=1 on CPU tensors (a fresh process: the flag is read
    when triton is imported)."""
    run_interpreted(_INTERP_SCRIPT)


_INTERP_UNBATCHED = textwrap.dedent(
    """
    import dataclasses, torch, entropy_select as es
    from entropy_select.selectors.entropy_select import PRESETS
    torch.manual_seed(0)
    x = torch.randn(3, 4, 5, 24)
    for name, cfg in PRESETS.items():
        for r in (0.3, 1.0):
            one = es.select_tokens(x, retention=r, impl="triton", config=cfg, cuda_graph=False)
            batch = es.select_tokens(x[None], retention=r, impl="triton", config=cfg,
                                     cuda_graph=False).unbatched()
            for f in dataclasses.fields(one):
                a, b = getattr(one, f.name), getattr(batch, f.name)
                assert (a is None) == (b is None), (name, f.name)
                if a is not None:
                    assert a.shape == b.shape and torch.equal(a, b), (name, r, f.name)
                    # allocated unbatched, not a view of a batch (the mask: a dtype view)
                    assert a._base is None or f.name == "keep_mask", (name, r, f.name)
            ref = es.select_tokens(x, retention=r, impl="reference", config=cfg)
            assert torch.equal(one.keep_index, ref.keep_index), (name, r)
    print("ok")
    """
)


def test_one_video_is_selected_unbatched_without_views():
    """A ``[T, H, W, D]`` video on the eager Triton path: every field of its Selection is
    allocated without the batch dimension (no ``Selection.unbatched()`` views: the eager call's
    host time is its latency) and equals the batch-of-one call's, unbatched, for every preset
    (interpreter, CPU)."""
    run_interpreted(_INTERP_UNBATCHED)


def test_the_band_kernel_reads_flat_videos_without_division(monkeypatch):
    """``FLAT`` (band rows at ``q·stride_w``, no division into frame, row and column) is on
    exactly where a video's tokens follow each other at the token stride (contiguous features,
    a channel-strided view of them), off for transposed frames; the interpreter script above
    checks both against the reference."""
    from entropy_select.kernels.triton import window_entropy as we

    seen = []
    monkeypatch.setattr(we.Site, "__call__", lambda site, grid, *a: seen.append(site.kwargs))
    base = torch.randn(1, 2, 5, 6, 16)
    layouts = {
        "contiguous": (base, True),
        "channel-strided": (base[..., ::2], True),
        "transposed": (torch.randn(1, 2, 6, 5, 8).transpose(2, 3), False),
        "frames apart": (torch.randn(1, 2, 7, 6, 8)[:, :, :5], False),
    }
    for name, (x, flat) in layouts.items():
        we.window_entropy_and_gradient_triton(x)  # the band kernel's launch, then the finish's
        assert seen[0].get("FLAT", False) is flat, name
        seen.clear()


_INTERP_FUSED_BUDGET = textwrap.dedent(
    """
    import torch, entropy_select as es
    from entropy_select.core.allocation import frame_saliency
    from entropy_select.kernels.triton.frame_select import frame_select_triton
    from entropy_select.kernels.triton.scores import budget_args, frame_budget_triton
    torch.manual_seed(0)
    cases = 0
    bounded = es.EntropySelectConfig(min_frame_tokens=1, max_frame_tokens=5, alloc_tau=0.37)
    default = es.EntropySelectConfig()
    for B, T, H, W, mode, cfg, K, features in [
        (1, 64, 1, 2, "select", default, 43, False),  # the largest video: one [64, 64] tile
        (1, 64, 1, 2, "select", bounded, 100, False),
        (3, 5, 2, 3, "fusion", default, 10, True),
        (3, 5, 2, 3, "context", bounded, 29, True),
        (3, 5, 2, 3, "select", bounded, 30, True),  # K = N
        (1, 1, 3, 3, "select", default, 1, True),  # one frame, K = 1
        (1, 17, 2, 2, "context", default, 22, True),
    ][LO:HI]:  # fmt: skip
        m = H * W
        s = torch.rand(B, T, H, W)
        s[:, 2::3] = s[:, 1::3][:, : s[:, 2::3].shape[1]]  # tied frames: ties by frame index
        x = torch.randn(B, T, H, W, 8) if features else None
        sal = frame_saliency(s, 0.3).contiguous()
        want = frame_budget_triton(sal, K, m, cfg)  # the budget kernel
        kw = dict(mode=mode, features=x, fusion_grid=2)
        old = frame_select_triton(s, want, K, **kw)
        fb = torch.full((B, T), -7, dtype=torch.int64)
        new = frame_select_triton(s, fb, K, _budget_from=(sal, budget_args(T, K, m, cfg)), **kw)
        assert torch.equal(fb, want), (B, T, K, mode, fb, want)
        for a, b in zip(old, new, strict=True):
            assert (a is None) == (b is None)
            assert a is None or torch.equal(a, b), (B, T, K, mode)
        cases += 1
    assert cases == HI - LO, cases
    print("ok")
    """
)


def test_frame_kernel_budgets_equal_the_budget_kernels_under_the_interpreter():
    """The frame kernel's own Eq. 4 budgets (``_budget_from``: the budget kernel's launch saved,
    videos of up to 64 frames) equal the budget kernel's, and so does everything it selects:
    ties between frames, explicit bounds, K from 1 to N, one frame and 64, a batch of three,
    every mode (interpreter, CPU: ~0.1 s a program, so a handful of cases, in three parts side
    by side: the two 64-frame videos, then the rest)."""
    parts = [(0, 1), (1, 2), (2, 7)]
    run_interpreted_side_by_side(
        [f"LO, HI = {lo}, {hi}\n" + _INTERP_FUSED_BUDGET for lo, hi in parts]
    )


_INTERP_FINISH_SCORES = textwrap.dedent(
    """
    import torch, entropy_select as es
    from entropy_select.kernels.triton import scores, select
    from entropy_select.kernels.triton.scores import finish_scores_triton, scores_triton
    from entropy_select.kernels.triton.window_entropy import (
        band_partials_triton, window_entropy_and_gradient_triton,
    )
    torch.manual_seed(0)
    cases = 0
    paper = es.EntropySelectConfig.paper()
    for B, T, H, W, cfg in [
        (1, 4, 5, 6, paper),  # 120 tokens: the last finish block part-filled
        (3, 2, 4, 5, es.EntropySelectConfig()),  # 40-token videos: blocks span two videos
        (2, 3, 3, 3, es.EntropySelectConfig(entropy_mode="minmax", tau=0.5)),
        (1, 1, 2, 3, es.EntropySelectConfig(entropy_mode="complement_minmax", top_q=0.5)),
    ]:  # fmt: skip
        x = torch.randn(B, T, H, W, 24)
        x[0, -1] = x[0, 0]  # a repeated frame
        minmax = torch.empty(B, 4, dtype=torch.int32)
        ent, grad = window_entropy_and_gradient_triton(
            x, cfg.spatial_window, cfg.temporal_window, cfg.past_window, cfg.tau, minmax=minmax
        )
        score, gnorm, sal = scores_triton(ent, grad, minmax, cfg)  # the two kernels
        counted = torch.full((B + 1, 4), -7, dtype=torch.int32)  # the band kernel readies it
        partial, grad_gram = band_partials_triton(
            x, cfg.spatial_window, cfg.temporal_window, cfg.past_window, counted
        )
        got = finish_scores_triton(partial, counted, x.shape, cfg, grad_gram=grad_gram)
        for a, b, name in zip(got, (score, ent, gnorm, sal), "S H G sal".split(), strict=True):
            assert torch.equal(a, b), (B, T, H, W, name)
        assert torch.equal(counted[:B], minmax), (counted, minmax)
        nfin = -(-B * T * H * W // 32)  # every finish block counted itself once
        assert counted[B, 1].item() == nfin, (counted[B, 1], nfin)
        for preset in (paper, es.EntropySelectConfig(), es.EntropySelectConfig.balanced()):
            K = max(1, T * H * W // 3)
            outs = []
            for on in (True, False):
                scores.FINISH_SCORES[0] = on
                outs.append(select.select_tokens_triton(x, K, preset, squeeze=B == 1))
            for f in ("keep_index", "tokens", "scores", "entropy", "gradient", "frame_budget"):
                a, b = getattr(outs[0], f), getattr(outs[1], f)
                assert a.shape == b.shape and torch.equal(a, b), (B, T, f)
            scores.FINISH_SCORES[0] = True
        cases += 1
    frame_scope = es.EntropySelectConfig(minmax_scope="frame")
    try:
        finish_scores_triton(partial, counted, x.shape, frame_scope)
    except ValueError as err:
        assert "minmax_scope" in str(err)
    else:
        raise AssertionError("frame scope taken")
    assert cases == 4, cases
    print("ok")
    """
)


def test_finish_and_score_kernel_equals_the_two_kernels_under_the_interpreter():
    """The finish pass and the score kernel in one launch (``_finish_score_kernel``) give what
    the two launches give, bit for bit: ``S``, ``Ĥ``, ``Ĝ``, ``S̄`` and the extremes, every
    entropy mode, finish blocks part-filled and spanning videos, one frame; the band kernel
    zeroes the count whatever the buffer held, and every finish block adds itself once; whole
    selections equal with it off (interpreter, CPU: programs run in order, so the wait itself is
    exercised on a GPU only, ``tests/kernels/test_launch_cuda.py``)."""
    run_interpreted(_INTERP_FINISH_SCORES)


def test_finish_and_score_kernel_only_where_it_applies(monkeypatch):
    """One launch for the finish pass and the score kernel with per-video extremes; two with
    ``minmax_scope="frame"``, with ``_one_finish=False`` (the library's cached graphs) and where
    the grid does not fit."""
    from entropy_select.kernels.triton import scores, select
    from entropy_select.kernels.triton.launch import Site

    seen = []
    monkeypatch.setattr(Site, "__call__", lambda site, grid, *a: seen.append(site))

    def kernels(cfg=None, **kw):
        seen.clear()
        x = torch.randn(1, 4, 3, 4, 8)
        select.select_tokens_triton(x, 12, cfg or es.EntropySelectConfig(), **kw)
        return [site.kernel.fn.__name__ for site in seen]

    one = ["_window_band_kernel", "_finish_score_kernel", "_frame_select_kernel"]
    two = ["_window_band_kernel", "_window_entropy_finish_kernel", "_score_kernel"]
    two.append("_frame_select_kernel")
    assert kernels() == one
    assert kernels(es.EntropySelectConfig.paper()) == one
    assert kernels(_one_finish=False) == two
    assert kernels(es.EntropySelectConfig(minmax_scope="frame")) == two
    monkeypatch.setattr(scores, "finish_scores_fits", lambda *a: False)
    monkeypatch.setattr(select, "finish_scores_fits", lambda *a: False)
    assert kernels() == two


def test_finish_and_score_kernel_takes_small_grids_only(monkeypatch):
    """``finish_scores_fits``: on a GPU, a grid of at most ``FINISH_SCORES_PER_SM`` programs a
    multiprocessor (every program resident at once); 64 frames of 14x14 fit 132 of them, 1,024
    do not; ``FINISH_SCORES`` off, none; the interpreter, any."""
    from entropy_select.kernels.triton import scores

    monkeypatch.setattr(scores, "_sm_count", lambda device: 132)
    gpu = torch.device("cuda")
    assert scores.finish_scores_fits(1, 64, 196, gpu)  # 392 + 64 programs
    assert not scores.finish_scores_fits(1, 1024, 196, gpu)
    assert not scores.finish_scores_fits(2, 64, 196, gpu)  # 912 programs
    assert scores.finish_scores_fits(1024, 1024, 196, torch.device("cpu"))
    monkeypatch.setattr(scores, "FINISH_SCORES", [False])
    assert not scores.finish_scores_fits(1, 16, 196, gpu)


def test_budgets_come_from_the_frame_kernel_up_to_64_frames(monkeypatch):
    """``select_tokens_triton`` launches the budget kernel only for videos over
    ``FUSED_BUDGET_FRAMES`` frames (``FUSION_BUDGET_FRAMES`` in grid fusion), or with
    ``FUSE_BUDGET`` off; the frame kernel takes the budgets' arguments exactly where it computes
    them; other algorithms and longer videos refuse ``_budget_from``."""
    from entropy_select.kernels.triton import select
    from entropy_select.kernels.triton.frame_select import Site, frame_select_triton
    from entropy_select.kernels.triton.scores import budget_args

    seen = []
    monkeypatch.setattr(Site, "__call__", lambda site, grid, *a: seen.append(site))

    def kernels(T, **kw):
        seen.clear()
        x = torch.randn(1, T, 3, 4, 8)
        select.select_tokens_triton(x, T * 3, es.EntropySelectConfig(**kw))
        return [site.kernel.fn.__name__ for site in seen], seen[-1].kwargs

    for T, kw, fused in [
        (64, {"grid_fusion": False}, True),  # select mode (paper's): up to 64 frames
        (65, {"grid_fusion": False}, False),
        (64, {"context_share": 0.5, "grid_fusion": False}, True),  # context mode
        (48, {}, True),  # grid fusion (the default): up to 48 frames
        (49, {}, False),
    ]:
        names, frame = kernels(T, **kw)
        assert ("_budget_kernel" not in names) is fused, (T, kw, names)
        # the band kernel, the finish-and-score kernel, [the budget kernel,] the frame kernel
        assert len(names) == 4 - fused and frame.get("FUSED_BUDGET", False) is fused, (T, kw)
    monkeypatch.setattr(select, "FUSE_BUDGET", [False])
    names, frame = kernels(16, grid_fusion=False)
    assert "_budget_kernel" in names and "FUSED_BUDGET" not in frame
    s, sal = torch.rand(1, 65, 2, 2), torch.rand(1, 65)
    fb = torch.empty(1, 65, dtype=torch.int64)
    args = budget_args(65, 9, 4, es.EntropySelectConfig())
    with pytest.raises(ValueError, match="up to 64 frames"):
        frame_select_triton(s, fb, 9, _budget_from=(sal, args))
    with pytest.raises(ValueError, match="the sorted kernel"):
        frame_select_triton(s[:, :3], fb[:, :3], 9, algo="pairwise", _budget_from=(sal, args))
