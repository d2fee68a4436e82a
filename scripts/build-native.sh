#!/usr/bin/env bash
# Builds the native addons incrementally: re-configures only when binding.gyp changed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/Makefile ] || [ binding.gyp -nt build/Makefile ]; then
  npx --no-install node-gyp configure --loglevel=warn
fi
npx --no-install node-gyp build --jobs max --loglevel=warn
