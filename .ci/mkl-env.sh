#!/usr/bin/env bash
# Installs Intel MKL (static libraries and headers) and Intel's OpenMP runtime from PyPI wheels
# (about 300 MB download, 1.1 GB installed) into a virtual environment, and prints the lines to
# export so that `cargo build --features mkl` finds MKL locally instead of downloading it.
# Usage: eval "$(.ci/mkl-env.sh [VENV_DIR])"
#
# intel-mkl-src 0.8 (feature mkl-static-lp64-iomp, as candle-core/mkl asks) walks $MKLROOT, without
# following symlinked directories, for mkl.h, libmkl_intel_lp64.a, libmkl_intel_thread.a,
# libmkl_core.a and libiomp5.{so,a}. The wheels hold them in $venv/include and $venv/lib next to
# much else, so a small folder of file symlinks, $venv/mklroot, holds just those, and MKLROOT points
# there. libiomp5 is linked dynamically: LD_LIBRARY_PATH lets the built binaries find it.
set -euo pipefail
venv=${1:-${TMPDIR:-/tmp}/mkl-venv}
version=${MKL_WHEEL_VERSION:-2026.2.0}
root=$venv/mklroot

if [ ! -f "$venv/lib/libmkl_core.a" ] || [ ! -f "$venv/include/mkl.h" ] || [ ! -f "$venv/lib/libiomp5.so" ]; then
  python3 -m venv "$venv" >&2
  # --no-deps: mkl-static would pull tbb (only for libmkl_tbb_thread) and intel-openmp the
  # Unified Runtime (only for offload), about 50 MB that this link never uses.
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps \
    "mkl-static==$version" "mkl-include==$version" "intel-openmp==$version" >&2
fi

mkdir -p "$root/lib" "$root/include"
for f in libmkl_intel_lp64.a libmkl_intel_thread.a libmkl_core.a libiomp5.so; do
  ln -sfn "$venv/lib/$f" "$root/lib/$f"
done
for f in mkl.h mkl_version.h; do
  ln -sfn "$venv/include/$f" "$root/include/$f"
done

echo "export MKLROOT=$root"
echo "export LD_LIBRARY_PATH=$root/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
