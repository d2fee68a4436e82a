#!/usr/bin/env bash
# Builds the native addons incrementally: re-configures only when binding.gyp changed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/Makefile ] || [ binding.gyp -nt build/Makefile ]; then
  npx --no-install node-gyp configure --loglevel=warn
fi
npx --no-install node-gyp build --jobs max --loglevel=warn
# oneDNN and its runtime libraries next to the addons, so that a package made here runs without them
libdirs=("/usr/lib/$(gcc -print-multiarch)" "/lib/$(gcc -print-multiarch)" /usr/lib /lib)
bash scripts/bundle-runtime.sh build/Release readelf "${libdirs[@]}" >/dev/null
# the arm64 cross build, where it was set up (scripts/build-arm64.sh), follows the same sources
if [ "$(uname -m)" = x86_64 ] && [ -f build/linux-arm64/gyp/build/Makefile ] && command -v aarch64-linux-gnu-g++ >/dev/null; then
  bash scripts/build-arm64.sh >/dev/null
fi
