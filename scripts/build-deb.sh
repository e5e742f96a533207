#!/bin/bash
# Builds the Debian binary packages from a copy of the source tree (dpkg-buildpackage
# writes into the tree and its parent, so neither is the checkout), checks them with
# lintian and checks what each contains. Leaves the .deb files in OUT_DIR.
#   scripts/build-deb.sh [OUT_DIR]   (default: build-deb, ignored by git)
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-build-deb}
[[ $OUT == /* ]] || OUT=$TOP/$OUT
rm -rf "$OUT"
mkdir -p "$OUT/src"
# Tracked files and new ones git does not ignore: what a commit would hold.
(cd "$TOP" && git ls-files -z --cached --others --exclude-standard \
  | xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' | tar --null -T - -cf -) | tar -C "$OUT/src" -xf -
(cd "$OUT/src" && dpkg-buildpackage -b -us -uc -j"$(nproc)")
changes=$(ls "$OUT"/overlayd_*.changes)
lintian --fail-on error,warning --tag-display-limit 0 "$changes"
"$TOP/scripts/check-deb.sh" "$OUT"
rm -rf "$OUT/src"
echo "packages in $OUT:"
ls -1 "$OUT"/*.deb
