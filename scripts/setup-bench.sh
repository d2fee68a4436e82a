#!/usr/bin/env bash
# Installs the baselines that `tlc bench train` and the PyTorch parity script compare
# against: Debian's PyTorch 1.13, with OpenBLAS as its BLAS (without it Debian's torch
# falls back to the unoptimised reference BLAS and would be an unfairly slow baseline).
set -euo pipefail
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-torch libopenblas0-openmp
