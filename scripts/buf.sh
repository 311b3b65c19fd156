#!/usr/bin/env bash
# The contracts' lint and compatibility checks, with the buf CLI pinned in tools/buf
# (npm package @bufbuild/buf, which ships the binary; tools/buf/package-lock.json):
#   buf lint      proto/buf.yaml's rules (STANDARD, with its commented exceptions);
#   buf breaking  proto/ as it is in the work tree against a baseline: the newest release tag
#                 (v*) when there is one, else the commit before HEAD — on a fresh clone of
#                 main (CI) that checks the latest commit, locally it also checks uncommitted
#                 changes. LMS_BUF_AGAINST overrides it (any buf input, e.g.
#                 '.git#branch=main,subdir=proto' on a feature branch).
# A breaking change that is meant must be named in proto/buf.yaml (breaking.ignore_only) with
# the reason, never skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x tools/buf/node_modules/.bin/buf ]; then
  npm ci --prefix tools/buf --no-audit --no-fund --silent
fi
buf=tools/buf/node_modules/.bin/buf

"$buf" lint proto
echo "buf lint: proto/ is clean"

against="${LMS_BUF_AGAINST:-}"
if [ -z "$against" ]; then
  tag=$(git describe --tags --abbrev=0 --match 'v*' 2>/dev/null || true)
  if [ -n "$tag" ]; then
    against=".git#tag=$tag,subdir=proto"
  elif git rev-parse --verify --quiet HEAD~1 >/dev/null; then
    against=".git#ref=HEAD~1,subdir=proto"
  else
    # A repository of one commit: nothing to be compatible with.
    echo "buf breaking: no earlier commit or release tag to compare with"
    exit 0
  fi
fi
"$buf" breaking proto --against "$against"
echo "buf breaking: proto/ is compatible with $against"
