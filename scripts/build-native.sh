#!/usr/bin/env bash
# Builds the native addons incrementally: re-configures only when binding.gyp changed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/Makefile ] || [ binding.gyp -nt build/Makefile ]; then
  npx --no-install node-gyp configure --loglevel=warn
fi
npx --no-install node-gyp build --jobs max --loglevel=warn
# oneDNN and its runtime libraries next to the addons, so that a package made here runs without
# them; where they cannot be bundled (oneDNN from elsewhere than Debian's packages) the addons use
# the system's copies
libdirs=("/usr/lib/$(gcc -print-multiarch)" "/lib/$(gcc -print-multiarch)" /usr/lib /lib)
if ! bash scripts/bundle-runtime.sh build/Release readelf "${libdirs[@]}" >/dev/null; then
  rm -rf build/Release/lib
  echo "tlc build: warning: oneDNN's libraries are not bundled beside the addons (see above); the system's copies are used" >&2
fi
# the arm64 cross build, where it was set up (scripts/build-arm64.sh), follows the same sources
if [ "$(uname -m)" = x86_64 ] && [ -f build/linux-arm64/gyp/build/Makefile ] && command -v aarch64-linux-gnu-g++ >/dev/null; then
  bash scripts/build-arm64.sh >/dev/null || echo "tlc build: warning: the arm64 cross build failed (see above); npm run build:arm64 retries it" >&2
fi
