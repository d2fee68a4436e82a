#!/usr/bin/env bash
# Copies the shared libraries the kernels need beyond the C and C++ runtimes (oneDNN, and what
# oneDNN itself needs: OpenMP's runtime, and the OpenCL loader where Debian's oneDNN links it)
# next to the addons, in <addon dir>/lib, with each library's copyright and licence file. The
# kernels look there first (binding.gyp: an RPATH of $ORIGIN/lib, which also serves oneDNN's own
# dependencies), so a package built here runs where no oneDNN is installed; where a library is
# missing from lib/, the system's copy is used.
#
#   bash scripts/bundle-runtime.sh <addon dir> <readelf> <library dir>... [-- <doc root>...]
#
# <library dir>s are searched in order for each library, <doc root>s (default /) for
# usr/share/doc/<package>/copyright.
set -euo pipefail
dir=$1 readelf=$2
shift 2
libdirs=() docroots=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do libdirs+=("$1"); shift; done
[ $# -gt 0 ] && shift
docroots=("$@")
[ ${#docroots[@]} -eq 0 ] && docroots=(/)

# the Debian package each bundled library comes from, for its copyright file
declare -A PACKAGE=([libdnnl.so.2]=libdnnl2 [libgomp.so.1]=libgomp1 [libOpenCL.so.1]=ocl-icd-libopencl1)
# always on a system that runs Node: glibc, the C++ runtime, libgcc
SYSTEM='^(libc|libm|libdl|libpthread|librt|ld-linux.*|libstdc\+\+|libgcc_s)\.so'

find_lib() {
  for d in "${libdirs[@]}"; do
    if [ -e "$d/$1" ]; then readlink -f "$d/$1"; return 0; fi
  done
  echo "bundle-runtime: $1 is not in ${libdirs[*]}" >&2
  return 1
}

needed() { "$readelf" -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }

# written into a fresh folder and renamed at the end: a failed run leaves lib/ as it was
stage="$dir/lib.partial"
rm -rf "$stage"
mkdir -p "$stage/licences"
want=(libdnnl.so.2)
for dep in $(needed "$(find_lib libdnnl.so.2)"); do
  [[ $dep =~ $SYSTEM ]] || want+=("$dep")
done
for lib in "${want[@]}"; do
  pkg=${PACKAGE[$lib]:-}
  if [ -z "$pkg" ]; then
    echo "bundle-runtime: oneDNN needs $lib, which this script does not know the package (and licence) of" >&2
    exit 1
  fi
  cp "$(find_lib "$lib")" "$stage/$lib"
  copyright=""
  for root in "${docroots[@]}"; do
    if [ -f "$root/usr/share/doc/$pkg/copyright" ]; then copyright="$root/usr/share/doc/$pkg/copyright"; break; fi
  done
  if [ -z "$copyright" ]; then
    echo "bundle-runtime: no copyright file for $pkg (of $lib) under ${docroots[*]}" >&2
    exit 1
  fi
  cp "$copyright" "$stage/licences/$pkg.copyright"
done
rm -rf "$dir/lib"
mv "$stage" "$dir/lib"
echo "bundle-runtime: ${want[*]} in $dir/lib"
