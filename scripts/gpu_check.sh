#!/usr/bin/env bash
# The check of a machine with an NVIDIA GPU, run unchanged from the repository root in the project's venv:
#
#     bash scripts/gpu_check.sh
#
# Parts: the CUDA tests (every test file that skips without CUDA; on a GPU none may skip for want of one), the
# training benchmark on the GPU (scripts/bench_speed.py: fp32 / bf16 autocast, eager / torch.compile), a short real
# MIDI training and a short audio training on cuda that must each leave a checkpoint, and where nvidia-smi lists two
# or more GPUs a 2-process torchrun (NCCL) MIDI training. Everything goes to bench-results/gpu-check/ (a log per
# part, speed.json, summary.txt); one PASS / FAIL / SKIP line per part; the exit status is 0 only when every part
# that ran passed. Without a usable GPU it stops at once with an error.
#
# GPU_CHECK_DEVICE=cpu runs the same parts on the CPU (the 2-process run with gloo), to check the script itself on a
# machine without a GPU; GPU_CHECK_BENCH_ARGS adds flags to the benchmark (e.g. "--families cnn-vrnn --steps 2");
# PYTHON names the interpreter (default: python).
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
OUT=bench-results/gpu-check
mkdir -p "$OUT"
: > "$OUT/summary.txt"
failed=0

say() {
    echo "$1" | tee -a "$OUT/summary.txt"
}

part() {  # part NAME COMMAND...: run COMMAND with its output in $OUT/NAME.log; one PASS or FAIL line
    local name=$1
    shift
    local started=$SECONDS
    if "$@" > "$OUT/$name.log" 2>&1; then
        say "PASS $name ($((SECONDS - started)) s)"
    else
        say "FAIL $name ($((SECONDS - started)) s; see $OUT/$name.log)"
        failed=1
    fi
}

gpus=0
if [ "$DEVICE" = cuda ]; then
    gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ')
    if [ "$gpus" -lt 1 ] || ! "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
        say "FAIL gpu: no usable NVIDIA GPU (nvidia-smi lists $gpus; torch.cuda.is_available() must be True, with a \
CUDA build of torch in this venv)"
        exit 1
    fi
    nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
fi
"$PY" -c 'import platform, torch; print(platform.platform(), "torch", torch.__version__, "CUDA", torch.version.cuda,
          [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])' > "$OUT/environment.txt" 2>&1
say "device $DEVICE, $gpus GPU(s): $(cat "$OUT/environment.txt")"

cuda_tests() {  # the test files that skip without CUDA; on a GPU, a test skipped for want of one fails the part
    local files report status
    files=$(grep -rlE 'cuda\.is_available|needs_cuda' tests --include='test_*.py')
    report=$("$PY" -m pytest -q -p no:cacheprovider -rs $files 2>&1)
    status=$?
    echo "$report"
    if [ "$DEVICE" = cuda ] && echo "$report" | grep -qiE '^SKIPPED.*(cuda|gpu)'; then
        echo "a test was skipped for want of a GPU on a machine that has one"
        return 1
    fi
    return $status
}

trained() {  # trained CHECKPOINT COMMAND...: COMMAND succeeds and leaves CHECKPOINT
    local checkpoint=$1
    shift
    "$@" && test -f "$checkpoint" && echo "checkpoint written: $checkpoint"
}

rm -rf "$OUT/midi-run" "$OUT/audio" "$OUT/ddp-run"
part cuda-tests cuda_tests
# shellcheck disable=SC2086  # GPU_CHECK_BENCH_ARGS is a list of flags
part speed "$PY" scripts/bench_speed.py all --device "$DEVICE" --skip generation data --out "$OUT/speed.json" \
    ${GPU_CHECK_BENCH_ARGS:-}
part midi-train trained "$OUT/midi-run/checkpoint.pt" "$PY" music_composer.py midi train --example --num-steps 20 \
    --val-every 10 --device "$DEVICE" --run-dir "$OUT/midi-run" --no-progress
part audio-train trained "$OUT/audio/example.pt" "$PY" music_composer.py --example -e 2 -g 1 -s 2 --device "$DEVICE" \
    -d "$OUT/audio/data" -t "$OUT/audio/cache" --checkpoint "$OUT/audio/example.pt" -o "$OUT/audio/clip" \
    --no-progress
if [ "$gpus" -ge 2 ] || [ "$DEVICE" = cpu ]; then
    part torchrun-2 trained "$OUT/ddp-run/checkpoint.pt" "$PY" -m torch.distributed.run --standalone \
        --nproc_per_node=2 music_composer.py midi train --example --num-steps 20 --val-every 10 --device "$DEVICE" \
        --run-dir "$OUT/ddp-run" --no-progress
else
    say "SKIP torchrun-2 (one GPU: the 2-process NCCL run needs two)"
fi
say "$([ $failed = 0 ] && echo PASS || echo FAIL) all: logs and speed.json in $OUT/"
exit $failed
