#!/usr/bin/env bash
# Installs the Debian 12 packages dnnrec builds, tests and plots with. Idempotent and
# non-interactive: apt-get runs only when a package is missing.
set -euo pipefail

PACKAGES=(
  libtorch-dev libopenblas0-openmp libcxxopts-dev libfccp-dev libspdlog-dev libyaml-cpp-dev
  libgtest-dev nlohmann-json3-dev libgloo-dev cmake ninja-build ccache g++ unzip curl python3-torch
  python3-matplotlib python3-faiss clang
)

export DEBIAN_FRONTEND=noninteractive

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "install-deps.sh: not root and no sudo; run it as root" >&2
    exit 1
  fi
  SUDO=(sudo)
fi

is_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for package in "${PACKAGES[@]}"; do
  is_installed "$package" || missing+=("$package")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps.sh: all ${#PACKAGES[@]} packages already installed"
else
  echo "install-deps.sh: installing ${missing[*]}"
  "${SUDO[@]}" apt-get update -q
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
  echo "install-deps.sh: installed ${#missing[@]} package(s)"
fi

# libtorch calls whichever BLAS libblas.so.3 points at; the reference BLAS makes training about
# five times slower than OpenBLAS.
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
blas=$(readlink -f "/usr/lib/$multiarch/libblas.so.3" 2>/dev/null || true)
if [[ $blas == *openblas* ]]; then
  echo "install-deps.sh: BLAS is OpenBLAS ($blas)"
else
  {
    echo
    echo "************************************************************************"
    echo "WARNING: libblas.so.3 is '${blas:-missing}', not OpenBLAS."
    echo "libtorch will train about 5x slower. Select OpenBLAS with:"
    echo "  ${SUDO[*]:+${SUDO[*]} }update-alternatives --config libblas.so.3-$multiarch"
    echo "************************************************************************"
    echo
  } >&2
fi
