#!/usr/bin/env bash
# One pass of the checks that need a CUDA GPU, for a lent GPU machine: training with in-loop evaluation and the
# demo (fp32 and bf16) on CUDA, then the inference benchmarks at 720p. Results go to $OUT (default
# ./output/device_check): a log per step and one JSON per benchmark.
#
#     bash tools/device_check.sh                 # training + demo + tubelink's inference benchmark
#     M2F_ROOT=.peer/Mask2Former D2_ROOT=.peer/detectron2 bash tools/device_check.sh   # + the Mask2Former-VIS table
#     DEVICE=cpu ITERS=2 HEIGHT=120 WIDTH=160 FRAMES=6 bash tools/device_check.sh    # the same steps, small, on CPU
#
# ITERS (default 300) sets the training length, HEIGHT x WIDTH (720 x 1280) and FRAMES (24) the benchmarks' clip. The peer comparison runs only when M2F_ROOT and D2_ROOT name a
# Mask2Former source tree and a detectron2 source tree (see tools/benchmark_peer.py); nothing of theirs is part of
# tubelink. Each step is timed; a failed step is reported and the next one still runs; the exit status is the
# number of failed steps.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-output/device_check}"
DEVICE="${DEVICE:-cuda}" ITERS="${ITERS:-300}" HEIGHT="${HEIGHT:-720}" WIDTH="${WIDTH:-1280}" FRAMES="${FRAMES:-24}"
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
failed=0

step() {  # step NAME COMMAND...: runs COMMAND, its output in $OUT/NAME.log, one summary line on stdout
    local name="$1" start rc
    shift
    start=$(date +%s)
    "$@" >"$OUT/$name.log" 2>&1
    rc=$?
    echo "step $name: rc $rc, $(($(date +%s) - start)) s"
    if [ "$rc" -ne 0 ]; then
        failed=$((failed + 1))
        tail -n 5 "$OUT/$name.log"
    fi
}

if [ "$DEVICE" = cuda ]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -n 4
    python -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name())"
fi

TRAIN_DIR="$OUT/train"
# The main job's schedule shrunk to ITERS: the step at 4/5, warm-up at most 50 iterations (2000 gives the main job)
STEP=$((ITERS * 4 / 5 > 0 ? ITERS * 4 / 5 : 1)) WARMUP=$((ITERS / 2 < 50 ? ITERS / 2 : 50))
step train python train_net.py --config-file configs/synthetic/tubelink_small.yaml --num-gpus 1 \
    MODEL.DEVICE "$DEVICE" SOLVER.MAX_ITER "$ITERS" SOLVER.STEPS "($STEP,)" SOLVER.WARMUP_ITERS "$WARMUP" \
    OUTPUT_DIR "$TRAIN_DIR"
grep -E "VPQ|STQ|AP" "$OUT/train.log" | tail -n 6

VIDEO="$(find datasets/synthetic/vipseg/val/images -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort | head -n 1)"
if [ -n "$VIDEO" ] && [ -f "$TRAIN_DIR/model_final.pth" ]; then
    step demo python demo/demo.py --config-file configs/synthetic/tubelink_small.yaml --input "$VIDEO" \
        --output "$OUT/demo" --window 2 --opts MODEL.DEVICE "$DEVICE" MODEL.WEIGHTS "$TRAIN_DIR/model_final.pth"
    step demo_bf16 python demo/demo.py --config-file configs/synthetic/tubelink_small.yaml --input "$VIDEO" \
        --output "$OUT/demo_bf16" --window 2 --bf16 --opts MODEL.DEVICE "$DEVICE" MODEL.WEIGHTS "$TRAIN_DIR/model_final.pth"
else
    echo "step demo: skipped (no trained model or no synthetic validation video)"
    failed=$((failed + 1))
fi

for dtype in fp32 bf16; do
    step "inference_$dtype" python tools/benchmark_inference.py --device "$DEVICE" --dtype "$dtype" \
        --config-file configs/ytvis_2019/tubelink_R50.yaml --height "$HEIGHT" --width "$WIDTH" --windows 1 2 6 \
        --frames "$FRAMES" --short 12 --long 96
    cp "$OUT/inference_$dtype.log" "$OUT/inference_$dtype.json"
done

if [ -n "${M2F_ROOT:-}" ] && [ -n "${D2_ROOT:-}" ]; then
    step peer python tools/benchmark_peer.py --device "$DEVICE" --m2f-root "$M2F_ROOT" --detectron2-root "$D2_ROOT" \
        --height "$HEIGHT" --width "$WIDTH" --repeats 5
    cp "$OUT/peer.log" "$OUT/peer.json"
fi
echo "failed steps: $failed"
exit "$failed"
