#!/usr/bin/env bash
# Download and install size, and install time, of the two inference engines in fresh virtual environments.
#
#     bash docs/benchmarks/install_size.sh [--default-torch]
#
# Each engine goes into its own new venv that already holds numpy (Slicer's Python has numpy), so the
# figures are what the engine adds. torch is the CPU-only 2.13.0 wheel (TORCH_WHEEL, from local disk:
# its install time has no download in it); onnxruntime comes from PyPI. --default-torch also downloads
# (without installing) what a plain `pip install torch` pulls on Linux x86_64: the CUDA build and its
# NVIDIA libraries, several GB.
set -euo pipefail
PYTHON=${PYTHON:-python3}
TORCH_WHEEL=${TORCH_WHEEL:-/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mib() { du -sm "$1" | cut -f1; }

measure() {  # name, pip arguments...
    local name=$1; shift
    "$PYTHON" -m venv "$work/$name"
    "$work/$name/bin/pip" install -q --no-cache-dir numpy
    local site; site=$("$work/$name/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    local before; before=$(mib "$site")
    local start; start=$(date +%s.%N)
    "$work/$name/bin/pip" install -q --no-cache-dir "$@"
    local seconds; seconds=$(echo "$(date +%s.%N) - $start" | bc)
    "$work/$name/bin/pip" download -q --no-cache-dir -d "$work/$name-download" "$@" 2>/dev/null
    local download; download=$(find "$work/$name-download" -name '*.whl' ! -name 'numpy-*' -printf '%s\n' | awk '{s += $1} END {printf "%.0f", s / 1048576}')
    printf '%-12s download %5s MiB (wheels, numpy excluded)  installed +%5s MiB  install %6.1f s  (%s)\n' \
        "$name" "$download" "$(( $(mib "$site") - before ))" "$seconds" \
        "$("$work/$name/bin/pip" list --format=freeze 2>/dev/null | grep -iE '^(torch|onnxruntime)==' | tr '\n' ' ')"
}

measure torch-cpu "$TORCH_WHEEL"
measure onnxruntime onnxruntime

if [[ "${1:-}" == "--default-torch" ]]; then
    start=$(date +%s.%N)
    "$PYTHON" -m pip download -q --no-cache-dir --only-binary=:all: -d "$work/default-torch" torch 2>/dev/null
    seconds=$(echo "$(date +%s.%N) - $start" | bc)
    printf 'pip install torch (default) would download %s MiB in %s wheels (%.0f s to download here): %s\n' \
        "$(mib "$work/default-torch")" "$(ls "$work/default-torch" | wc -l)" "$seconds" \
        "$(ls "$work/default-torch" | grep -E '^torch-' || true)"
fi
