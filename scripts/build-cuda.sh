#!/usr/bin/env bash
# Builds agf with the `cuda` feature.
#
#   scripts/build-cuda.sh            release binary: target/cuda/release/agf
#   scripts/build-cuda.sh --check    `cargo check --features cuda` only (what CI runs)
#   scripts/build-cuda.sh --env      print the exports that put the toolkit on PATH, and stop
#
# Where `nvcc` is already installed (a GPU workstation or cluster with the CUDA toolkit), that
# toolkit is used, as found through CUDA_HOME or PATH. Elsewhere (a build machine without CUDA,
# CI) the script assembles CUDA 13.0 from NVIDIA's PyPI wheels under target/cuda-toolkit, so
# that nothing but a Python with pip is needed: 13.0 because its PTX is what a CUDA 13.0 driver
# (driver 580) can load, and newer PTX would be refused there. AGF_CUDA_FROM_PYPI=1 forces the
# wheels even where a toolkit is installed.
#
# CUDA_COMPUTE_CAP defaults to 90 (H100/H200); set it to your card's (80 for A100, 89 for
# L40S/RTX 4090, ...). The binary is linked against libcuda.so.1 (the driver), and the
# toolkit's libcudart, libcublas(Lt), libcurand and libnvrtc: at run time these come from the
# driver and from a CUDA install or PyTorch's wheels (`scripts/gpu-check.sh` finds them).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

mode=build
case "${1:-}" in
    "") ;;
    --check) mode=check ;;
    --env) mode=env ;;
    *) echo "usage: scripts/build-cuda.sh [--check | --env]" >&2; exit 2 ;;
esac

# The wheels of CUDA 13.0 (update 1). `--check` compiles the kernels but links nothing, so it
# needs the compiler and headers only; a build also needs the libraries it links against.
compiler_wheels=(
    nvidia-cuda-nvcc==13.0.88
    nvidia-nvvm==13.0.88
    nvidia-cuda-crt==13.0.88
    nvidia-cuda-runtime==13.0.96
    nvidia-cuda-cccl==13.0.85
)
library_wheels=(
    nvidia-cublas==13.0.2.14
    nvidia-curand==10.4.0.35
    nvidia-cuda-nvrtc==13.0.88
)

log() { echo "build-cuda: $*" >&2; }

# Unpacks wheels into $1 (a wheel is a zip; the ones wanted all put the toolkit under
# nvidia/cu13, laid out as a CUDA install is: bin, include, lib, nvvm).
unpack_wheels() {
    local dest=$1; shift
    local wheels="$dest/wheels"
    mkdir -p "$wheels"
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$wheels" "$@"
    local spec name
    for spec in "$@"; do
        name=${spec%%==*}
        local file
        file=$(ls "$wheels"/"${name//-/_}"-"${spec##*==}"-*.whl)
        python3 - "$file" "$dest/unpacked" <<'EOF'
import sys, zipfile, os, stat
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    for info in z.infolist():
        if ".dist-info/" in info.filename:
            continue
        path = z.extract(info, out)
        mode = info.external_attr >> 16
        # Wheels keep the executables' mode bits; zipfile drops them on extraction.
        if mode & 0o111:
            os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
EOF
    done
}

# The driver library ships with the driver, never in a wheel. Linking needs a library that
# names libcuda.so.1 and defines the driver API's symbols; every entry point of this stub
# answers CUDA_ERROR_UNKNOWN (999), so a binary run against it by mistake fails cleanly
# (agf then falls back to the CPU for device = "auto").
make_driver_stub() {
    local root=$1
    local stubs="$root/lib/stubs"
    mkdir -p "$stubs"
    grep -ohE '\bcu[A-Z][A-Za-z0-9_]*\b' "$root/include/cuda.h" | sort -u |
        sed 's/.*/int &(void) { return 999; }/' > "$stubs/libcuda-stub.c"
    cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$stubs/libcuda.so" "$stubs/libcuda-stub.c"
}

assemble_toolkit() {
    local base=$1 want=$2
    local root="$base/unpacked/nvidia/cu13"
    local stamp="$base/.complete-$want"
    if [ -f "$stamp" ] && [ -x "$root/bin/nvcc" ]; then
        echo "$root"; return
    fi
    log "assembling CUDA 13.0 from PyPI wheels under $base ($want)"
    if [ "$want" = full ]; then
        unpack_wheels "$base" "${compiler_wheels[@]}" "${library_wheels[@]}"
    else
        unpack_wheels "$base" "${compiler_wheels[@]}"
    fi
    # The wheels carry only versioned names (libcublas.so.13); the linker looks for libX.so.
    local lib
    for lib in "$root"/lib/lib*.so.*; do
        [ -e "$lib" ] || continue
        local plain=${lib%%.so.*}.so
        [ -e "$plain" ] || ln -s "$(basename "$lib")" "$plain"
    done
    # cudaforge and cudarc look for lib64 beside bin.
    [ -e "$root/lib64" ] || ln -s lib "$root/lib64"
    make_driver_stub "$root"
    "$root/bin/nvcc" --version >/dev/null
    touch "$stamp"
    [ "$want" = full ] && touch "$base/.complete-compiler"
    echo "$root"
}

cuda_root=""
if [ "${AGF_CUDA_FROM_PYPI:-0}" != 1 ]; then
    if [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/nvcc" ]; then
        cuda_root=$CUDA_HOME
    elif command -v nvcc >/dev/null 2>&1; then
        cuda_root=$(cd "$(dirname "$(command -v nvcc)")/.." && pwd)
    fi
fi
if [ -z "$cuda_root" ]; then
    want=full
    [ "$mode" = check ] && want=compiler
    base="${AGF_CUDA_TOOLKIT:-$repo/target/cuda-toolkit}"
    if [ "$want" = compiler ] && [ -f "$base/.complete-full" ]; then
        want=full
    fi
    cuda_root=$(assemble_toolkit "$base" "$want")
else
    log "using the installed CUDA toolkit at $cuda_root"
fi

export CUDA_HOME="$cuda_root"
export PATH="$cuda_root/bin:$PATH"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
# Stubs only for linking; at run time the real driver is found by the loader.
export LIBRARY_PATH="$cuda_root/lib:$cuda_root/lib/stubs${LIBRARY_PATH:+:$LIBRARY_PATH}"

if [ "$mode" = env ]; then
    echo "export CUDA_HOME='$CUDA_HOME' PATH='$PATH' CUDA_COMPUTE_CAP='$CUDA_COMPUTE_CAP' LIBRARY_PATH='$LIBRARY_PATH'"
    exit 0
fi

log "$(nvcc --version | tail -n 2 | head -n 1), compute capability $CUDA_COMPUTE_CAP"
# A target folder of its own, so that the CPU build in target/ is not rebuilt each time.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target/cuda}"
if [ "$mode" = check ]; then
    cargo check --features cuda --all-targets
else
    cargo build --release --features cuda
    log "built $CARGO_TARGET_DIR/release/agf"
fi
