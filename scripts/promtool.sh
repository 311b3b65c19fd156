#!/usr/bin/env bash
# Makes promtool available for the chart tests (they check the alert rules and the dashboard's
# queries with it): promtool on PATH, else .tools/bin/promtool, unpacked from Debian's
# `prometheus` package (apt-get download + dpkg-deb: nothing is installed, no Prometheus server
# is set up or started). Prints promtool's path.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v promtool >/dev/null; then
  command -v promtool
  exit 0
fi
if [ ! -x .tools/bin/promtool ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  if ! (cd "$work" && apt-get download -qq prometheus >/dev/null 2>&1); then
    # A fresh machine may not have read the package lists yet.
    apt-get update -qq >/dev/null
    (cd "$work" && apt-get download -qq prometheus >/dev/null 2>&1)
  fi
  mkdir -p .tools/bin
  dpkg-deb --fsys-tarfile "$work"/prometheus_*.deb | tar -x -C "$work" ./usr/bin/promtool
  install -m 0755 "$work/usr/bin/promtool" .tools/bin/promtool
fi
echo "$PWD/.tools/bin/promtool"
