#!/usr/bin/env bash
# One prepared check of agf on a GPU machine; about 5 minutes on one H200, 10 at most.
#
#   here (no GPU needed):  scripts/build-cuda.sh && scripts/gpu-check.sh --pack
#   on the GPU machine:    scripts/gpu-check.sh            (from the repository root)
#
#   anywhere:              scripts/gpu-check.sh --dry-run  (the same steps on the CPU build,
#                          the "GPU" side being the CPU taking CUDA's code path, AGF_KERNELS=candle)
#
# --pack strips the CUDA build and compresses it into target/gpu-check/ (the binary is larger
# than what travels to a lent machine; compressed it is a third of that). On the GPU machine the
# script needs python3 with torch, scikit-learn and CUDA's libraries (PyTorch's wheels carry
# them); it builds nothing. It prints:
#   1. the GPU and driver, and the libraries the binary loads;
#   2. the quickstart run on the CPU and with device = "cuda", and their metrics side by side,
#      each checked against the tolerance below;
#   3. `agf bench cnn` on the GPU with PyTorch on the same GPU (won2018, batch 64);
#   4. `agf bench factors` with agf's K-Means on the GPU against scikit-learn's on the CPU.
# Every step has a time limit, so the whole fits in 10 minutes; a step that fails or runs out
# of time is reported and the next one runs.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
pack_dir="$repo/target/gpu-check"

# The metrics of two trainings of the same spec on different devices differ as the float sums
# of their kernels are ordered differently, and training carries those differences on: the
# check allows what two CPU seeds of the quickstart differ by, not bit equality.
TOL_LOG_LOSS=0.15
TOL_MACRO_F1=0.10

if [ "${1:-}" = --pack ]; then
    bin="$repo/target/cuda/release/agf"
    [ -x "$bin" ] || { echo "no CUDA build at $bin: run scripts/build-cuda.sh first" >&2; exit 1; }
    mkdir -p "$pack_dir"
    strip -o "$pack_dir/agf" "$bin"
    xz -T0 -6 -f "$pack_dir/agf"
    ls -l "$pack_dir/agf.xz"
    exit 0
fi

dry=0
[ "${1:-}" = --dry-run ] && dry=1
# Extra `key=value` overrides for both quickstart runs (a shorter run for trying the script).
read -r -a overrides <<< "${AGF_GPU_CHECK_OVERRIDES:-}"
gpu=cuda gpu_kernels=fused
[ "$dry" = 1 ] && gpu=cpu gpu_kernels=candle

work=$(mktemp -d /tmp/agf-gpu-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
section() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }
started=$(date +%s)

section "agf binary"
if [ "$dry" = 1 ]; then
    agf="$repo/target/release/agf"
    [ -x "$agf" ] || { echo "no build at $agf: cargo build --release" >&2; exit 1; }
elif [ -f "$pack_dir/agf.xz" ]; then
    xz -dc "$pack_dir/agf.xz" > "$work/agf" && chmod +x "$work/agf"
    agf="$work/agf"
elif [ -x "$repo/target/cuda/release/agf" ]; then
    agf="$repo/target/cuda/release/agf"
else
    echo "no CUDA build: carry target/gpu-check (scripts/gpu-check.sh --pack) or build here" >&2
    exit 1
fi
echo "$agf"

# CUDA's libraries: from a CUDA install, or from PyTorch's nvidia-* wheels; the driver's
# libcuda.so.1 from the driver's own folder when the loader does not know it.
lib_path=""
add_libs() { [ -d "$1" ] && lib_path="${lib_path:+$lib_path:}$1"; }
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/local/cuda/lib64; do add_libs "$d"; done
purelib=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null || true)
if [ -n "$purelib" ] && [ -d "$purelib/nvidia" ]; then
    while read -r d; do add_libs "$d"; done < <(
        find "$purelib/nvidia" -name 'lib*.so*' \( -name 'libcublas*' -o -name 'libcurand*' \
            -o -name 'libcudart*' -o -name 'libnvrtc*' \) -printf '%h\n' | sort -u)
fi
export LD_LIBRARY_PATH="${lib_path}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
ldd "$agf" | grep -E 'cuda|cublas|curand|nvrtc'
if [ "$dry" = 0 ] && ldd "$agf" | grep -q 'not found'; then
    echo "FAIL: libraries not found (above); install CUDA 13 or PyTorch's cu13 wheels" >&2
    exit 1
fi

section "device"
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv || true
python3 -c 'import torch, sklearn; print("torch", torch.__version__, "sees", torch.cuda.get_device_name(0), "; scikit-learn", sklearn.__version__)' || true

section "quickstart on the CPU and on the GPU"
# One store, so that `agf compare` reads both; each device has its own cache entries for
# K-Means and the nets (the cache keys name the device kind), the features are shared.
run_spec() {
    local side=$1 device=$2 kernels=$3 limit=$4
    local t0; t0=$(date +%s)
    if AGF_KERNELS=$kernels timeout "$limit" "$agf" --db "$work/agf.sqlite" run \
        experiments/quickstart.toml "device=$device" "${overrides[@]}" \
        > "$work/$side.out" 2> "$work/$side.err"; then
        echo "quickstart, device $device, kernels $kernels: $(( $(date +%s) - t0 )) s"
        sed -n '1,4p' "$work/$side.out"
    else
        echo "FAIL: quickstart, device $device (exit $?), last lines of its log:"
        tail -n 5 "$work/$side.err"
        rm -f "$work/$side.out"
    fi
}
run_spec cpu cpu fused 200
run_spec gpu "$gpu" "$gpu_kernels" 240
grep -A12 '^model  ' "$work/gpu.out" || true
if [ -s "$work/cpu.out" ] && [ -s "$work/gpu.out" ]; then
    "$agf" --db "$work/agf.sqlite" compare 1 2 --format json > "$work/compare.json" &&
    python3 - "$work/compare.json" "$TOL_LOG_LOSS" "$TOL_MACRO_F1" <<'EOF'
import json, sys
cmp, tol_loss, tol_f1 = json.load(open(sys.argv[1])), float(sys.argv[2]), float(sys.argv[3])
bad = 0
print(f"{'model / split / metric':<44}{'cpu':>10}{'gpu':>10}{'diff':>10}  tolerance")
for m in cmp["metrics"]:
    name = m["name"]
    tol = tol_loss if name == "log_loss" else tol_f1 if name == "macro_f1" else None
    if tol is None or m["a"] is None or m["b"] is None:
        continue
    d = m["b"] - m["a"]
    ok = abs(d) <= tol
    bad += not ok
    label = f'{m["model"]} / {m["split"]} / {name}'
    print(f"{label:<44}{m['a']:>10.4f}{m['b']:>10.4f}{d:>+10.4f}  {tol} {'ok' if ok else 'OUTSIDE'}")
print("metrics within tolerance" if bad == 0 else f"{bad} metrics outside tolerance")
EOF
fi

section "agf bench cnn on the GPU, PyTorch on the same GPU"
steps=20
[ "$dry" = 1 ] && steps=2
timeout 150 "$agf" bench cnn --device "$gpu" --batch 64 --steps "$steps" --repeats 3 ||
    echo "FAIL: bench cnn (exit $?)"

section "K-Means on the GPU (agf) against scikit-learn (CPU)"
rows=200000
[ "$dry" = 1 ] && rows=20000
timeout 150 "$agf" bench factors --device "$gpu" --rows "$rows" --clusters 256 --seeds 2 ||
    echo "FAIL: bench factors (exit $?)"

section "done in $(( $(date +%s) - started )) s"
