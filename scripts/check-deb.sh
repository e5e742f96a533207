#!/bin/bash
# Checks the built packages hold what they must: each program, its manual page, the
# completion, and (once meson installs one) the systemd unit in the daemon's package.
#   scripts/check-deb.sh DIR   (the folder with the .deb files)
set -euo pipefail
DIR=${1:?usage: $0 DIR}
fail=0
contents() { dpkg-deb -c "$(ls "$DIR"/"$1"_*.deb)" | awk '{ print $6 }' | sed 's|^\./|/|'; }
need() {
  local pkg=$1; shift
  local list; list=$(contents "$pkg")
  for f in "$@"; do
    if ! grep -qxF "$f" <<<"$list"; then
      echo "check-deb: $pkg lacks $f" >&2
      fail=1
    fi
  done
}
need overlayd /usr/sbin/overlayd /usr/share/man/man8/overlayd.8.gz
need overlayctl /usr/bin/overlayctl /usr/share/man/man8/overlayctl.8.gz \
  /usr/share/bash-completion/completions/overlayctl
need overlayd-wg /usr/sbin/overlayd-wg /usr/share/man/man8/overlayd-wg.8.gz
# Each file in exactly one package.
dups=$(for p in overlayd overlayctl overlayd-wg; do contents "$p" | grep -v '/$'; done | sort | uniq -d)
if [[ -n $dups ]]; then
  echo "check-deb: in more than one package: $dups" >&2
  fail=1
fi
# A unit the source installs must be in the daemon's package.
for unit in $(cd "$(dirname "$0")/.." && git ls-files '*.service' '*.service.in' 2>/dev/null); do
  name=$(basename "$unit" .in)
  if ! contents overlayd | grep -q "/systemd/system/$name$"; then
    echo "check-deb: overlayd lacks the systemd unit $name" >&2
    fail=1
  fi
done
# The programs run: the version answers.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$(ls "$DIR"/overlayctl_*.deb)" "$tmp"
"$tmp/usr/bin/overlayctl" --version | grep -q '^overlayctl ' || { echo "check-deb: overlayctl --version failed" >&2; fail=1; }
((fail == 0)) && echo "check-deb: contents ok"
exit $fail
