#!/usr/bin/env bash
# The contracts' lint and compatibility checks, with the buf CLI pinned in tools/buf
# (npm package @bufbuild/buf, which ships the binary; tools/buf/package-lock.json):
#   buf lint      proto/buf.yaml's rules (STANDARD, with its commented exceptions);
#   buf breaking  proto/ as it is in the work tree against the newest release tag (v*) when
#                 there is one; before the first release, each commit that changed proto/
#                 (since this check exists) against its parent, and the work tree against
#                 HEAD, so every change since the last one CI saw is checked, on a fresh clone
#                 too. LMS_BUF_AGAINST names another baseline (any buf input, e.g.
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

breaking() {  # breaking INPUT AGAINST
  "$buf" breaking "$1" --against "$2"
  echo "buf breaking: $1 is compatible with $2"
}

if [ -n "${LMS_BUF_AGAINST:-}" ]; then
  breaking proto "$LMS_BUF_AGAINST"
  exit 0
fi
tag=$(git describe --tags --abbrev=0 --match 'v*' 2>/dev/null || true)
if [ -n "$tag" ]; then
  breaking proto ".git#tag=$tag,subdir=proto"
  exit 0
fi
if [ "$(git rev-parse --is-shallow-repository)" = true ]; then
  echo "buf breaking: a shallow clone lacks the commits to compare with; fetch them (git fetch --unshallow) or set LMS_BUF_AGAINST" >&2
  exit 1
fi
# No release yet: every commit that changed proto/ since proto/buf.yaml exists is checked
# against its parent (so a submission of several commits is checked whole, on a fresh clone),
# and the work tree against HEAD.
# Each commit's proto/ is exported from git into a temporary folder (milliseconds), so buf
# compares folders rather than cloning the repository twice per commit.
exports=$(mktemp -d)
trap 'rm -rf "$exports"' EXIT
export_proto() {  # export_proto COMMIT -> the folder holding that commit's proto/
  if [ ! -d "$exports/$1" ]; then
    mkdir -p "$exports/$1"
    git archive "$1" proto | tar -x -C "$exports/$1"
  fi
  echo "$exports/$1/proto"
}
for commit in $(git rev-list --reverse HEAD -- proto); do
  if git cat-file -e "$commit~1:proto/buf.yaml" 2>/dev/null; then
    parent=$(git rev-parse "$commit~1")
    "$buf" breaking "$(export_proto "$commit")" --against "$(export_proto "$parent")"
    echo "buf breaking: proto/ of ${commit:0:12} is compatible with its parent's"
  fi
done
breaking proto "$(export_proto HEAD)"
