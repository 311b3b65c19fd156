#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers that read untrusted text (cargo-fuzz / libFuzzer):
#
#   audience_rule  the dynamic-audience rule language (enrolment-service domain::rules)
#   gift           GIFT import, and export → re-import of what imported (assessment-service)
#   gateway_json   the gateway's REST/JSON → gRPC request transcoding (gateway::transcode)
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 300; `scripts/fuzz.sh 20` for CI)
#
# Installs cargo-fuzz (pinned) when missing, builds the targets once (fuzz/target), runs each
# for the given time, prints each target's executions, and exits non-zero when any target
# crashed (a panic or failed assertion: the input is saved under fuzz/artifacts/<target>/;
# replay it with `cargo fuzz run --sanitizer none <target> <file>`).
#
# Runs on stable Rust: `--sanitizer none` needs no nightly flag (the parsers are safe Rust,
# so AddressSanitizer, the only thing nightly would add, has nothing to check).
#
# The committed seeds in fuzz/corpus/<target>/ are only read: what the fuzzer finds goes to a
# temporary corpus (or to $FUZZ_WORK_DIR/<target>, kept between runs, when that is set), so
# the work tree stays clean. Environment:
#   FUZZ_TARGETS    targets to run, space-separated (default: all three)
#   FUZZ_WORK_DIR   where to keep the grown corpora (default: a temporary directory)
#   FUZZ_RSS_MB     libFuzzer memory limit per target (default 2048)
# On a shared machine run it as `nice -n 19 env CARGO_BUILD_JOBS=1 scripts/fuzz.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
seconds="${1:-300}"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2; }
read -r -a targets <<<"${FUZZ_TARGETS:-audience_rule gift gateway_json}"
rss_mb="${FUZZ_RSS_MB:-2048}"

# Longest input per target, in bytes: past every parser's own length limit (a rule is at most
# 4 000 characters) so the refusals are fuzzed too, short enough to keep executions fast.
max_len() {
  case "$1" in
    audience_rule) echo 4100 ;;
    gift) echo 4096 ;;
    gateway_json) echo 4096 ;;
    *) echo 4096 ;;
  esac
}

say() { printf '== %s\n' "$*"; }

# --- tools -----------------------------------------------------------------------------------
command -v cargo >/dev/null || { echo "cargo is missing: install Rust with rustup" >&2; exit 1; }
# libfuzzer-sys compiles libFuzzer (C++) from source.
if ! command -v c++ >/dev/null; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    say "installing g++ (libFuzzer is C++)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++
  else
    echo "a C++ compiler (c++) is needed to build libFuzzer" >&2
    exit 1
  fi
fi
if [ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  say "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

# --- build -----------------------------------------------------------------------------------
# The lock file is committed: refuse to resolve anew (cargo fuzz has no --locked of its own).
if ! cargo fetch --locked --manifest-path fuzz/Cargo.toml; then
  echo "fuzz/Cargo.lock is out of date (a workspace crate's dependencies changed). Refresh it" >&2
  echo "from the workspace's lock, and commit it:" >&2
  echo "  cp Cargo.lock fuzz/Cargo.lock && cargo fetch --manifest-path fuzz/Cargo.toml" >&2
  exit 1
fi
say "building ${targets[*]} (fuzz/target)"
started=$(date +%s)
for target in "${targets[@]}"; do
  cargo fuzz build --fuzz-dir fuzz --sanitizer none "$target"
done
say "build: $(( $(date +%s) - started )) s"

# --- run -------------------------------------------------------------------------------------
if [ -n "${FUZZ_WORK_DIR:-}" ]; then
  work="$FUZZ_WORK_DIR"
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi

declare -A execs rate outcome corpus
failed=0
for target in "${targets[@]}"; do
  corpus_dir="$work/$target"
  artifacts="fuzz/artifacts/$target"
  log="$work/$target.log"
  mkdir -p "$corpus_dir" "$artifacts"
  before=$(find "$artifacts" -type f | sort)
  say "fuzzing $target for ${seconds} s"
  dict=()
  [ -f "fuzz/dict/$target.dict" ] && dict=("-dict=fuzz/dict/$target.dict")
  set +e
  # New inputs go to the first corpus directory; the committed seeds are only read.
  cargo fuzz run --fuzz-dir fuzz --sanitizer none "$target" "$corpus_dir" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -max_len="$(max_len "$target")" \
    -timeout=10 -print_final_stats=1 "${dict[@]}" >"$log" 2>&1
  status=$?
  set -e
  execs[$target]=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n1 || true)
  rate[$target]=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n1 || true)
  corpus[$target]=$(find "$corpus_dir" -type f | wc -l)
  new=$(comm -13 <(echo "$before") <(find "$artifacts" -type f | sort) | sed '/^$/d')
  if [ "$status" -eq 0 ]; then
    outcome[$target]="ok"
  else
    failed=1
    outcome[$target]="FAILED (exit $status)"
    # The panic or assertion and the input that caused it.
    grep -E -A12 "panicked at|ERROR: libFuzzer|SUMMARY" "$log" | head -n 60 || tail -n 60 "$log"
    if [ -n "$new" ]; then
      printf 'saved input: %s\n' $new
    fi
  fi
done

# --- summary ---------------------------------------------------------------------------------
say "summary (${seconds} s per target)"
printf '%-14s %-18s %14s %10s %14s\n' target result executions "exec/s" "corpus files"
for target in "${targets[@]}"; do
  printf '%-14s %-18s %14s %10s %14s\n' "$target" "${outcome[$target]}" \
    "${execs[$target]:-?}" "${rate[$target]:-?}" "${corpus[$target]}"
done
if [ "$failed" -ne 0 ]; then
  say "a fuzz target crashed: see above, and fuzz/artifacts/"
  exit 1
fi
