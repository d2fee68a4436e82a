#!/usr/bin/env bash
# Installs everything tlc needs on Debian 12 with Node 20 and builds it:
# system packages (oneDNN, a C++ toolchain, Open MPI for data-parallel training, Chromium, which the report test opens pages in,
# the German–English dictionary trans-de-en, source of the example:de-en sentence pairs, qemu-user, on which the tests run
# the kernels as CPUs of lower instruction-set tiers, and the documentation and dictionary packages of example:debian-docs),
# npm dependencies from the lockfile, the native addon, TypeScript; on x86-64 also the arm64 build
# of the addons, with its cross toolchain and Node's arm64 build (scripts/build-arm64.sh).
# Safe to run again: it skips what is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(libdnnl-dev g++ make python3 chromium trans-de-en openmpi-bin libopenmpi-dev qemu-user
  linux-doc-6.1 python3.11-doc perl-doc git-doc dict-gcide dict-wn)
missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "tlc setup: installing system packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  # dict-gcide pulls in the dictd server: only its data is read, so no service is started
  # while installing (policy-rc.d 101: "action not allowed"), unless the machine has a policy already
  POLICY=/usr/sbin/policy-rc.d
  OWN_POLICY=""
  if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod +x "$POLICY"
    OWN_POLICY=1
    trap '$SUDO rm -f "$POLICY"' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if [ -n "$OWN_POLICY" ]; then $SUDO rm -f "$POLICY"; trap - EXIT; fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "tlc setup: installing npm dependencies"
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --ignore-scripts --no-audit --no-fund
fi

echo "tlc setup: building the native addon and TypeScript"
npm run --silent build

# The arm64 build, cross-compiled here, which the tests run under qemu-aarch64 (test/arm64.test.ts);
# on an arm64 machine the build above is that build.
if [ "$(uname -m)" = x86_64 ]; then
  echo "tlc setup: cross-building the arm64 addons"
  bash scripts/build-arm64.sh
fi
