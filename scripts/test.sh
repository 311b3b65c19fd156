#!/usr/bin/env bash
# Runs every test of the suite: unit tests, gRPC integration tests on SQLite and on the
# PostgreSQL at LMS_TEST_DATABASE_URL (each test creates and drops its own database, cloned
# from a migrated template), the `lms` binary end to end (including a Python client that knows
# only server reflection), the layer rules, the Helm chart, and the README's shell examples
# (run against a real `lms up`). Fuzzing is separate
# (`scripts/fuzz.sh`; CI runs it after this).
set -euo pipefail
cd "$(dirname "$0")/.."

export LMS_TEST_DATABASE_URL="${LMS_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

if ! python3 -c 'import grpc, grpc_reflection, grpc_health, helm_python, kubernetes_validate, yaml, openapi_spec_validator, schemathesis, aiosmtpd, standardwebhooks, trustme, icalendar, playwright, axe_playwright_python' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi

# CI fuzzes after these tests with fuzz/Cargo.lock: a dependency added to a workspace crate
# without refreshing it fails here, in seconds, rather than after the tests.
if ! cargo fetch --locked --manifest-path fuzz/Cargo.toml --quiet; then
  echo "fuzz/Cargo.lock is out of date: cp Cargo.lock fuzz/Cargo.lock && cargo fetch --manifest-path fuzz/Cargo.toml" >&2
  exit 1
fi

# While the workspace compiles: a real OIDC provider (panva/oidc-provider, pinned by
# tests/oidc/package-lock.json) for the service-token and portal tests, and the contracts'
# checks — buf lint, and buf breaking against the last release tag (else each commit that
# changed proto/ against its parent), with the buf CLI pinned in tools/buf.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
(
  if [ ! -d tests/oidc/node_modules/oidc-provider ]; then
    npm ci --prefix tests/oidc --no-audit --no-fund --silent
  fi
  bash scripts/buf.sh
) > "$logs/alongside" 2>&1 &
alongside=$!

# A fresh clone (CI) builds everything once: incremental compilation only adds work then, and
# full debug info (for debuggers, not backtraces) makes compiling and linking the test binaries
# a good part slower; backtraces keep their file and line numbers with line tables only.
if [ -n "${CI:-}" ]; then
  export CARGO_INCREMENTAL=0
  export CARGO_PROFILE_DEV_DEBUG=line-tables-only
fi
cargo test --workspace --locked --no-run "$@"
if ! wait "$alongside"; then
  cat "$logs/alongside"
  echo "the OIDC provider's packages or the contracts' checks failed (above)" >&2
  exit 1
fi
cat "$logs/alongside"
# The end-to-end tests (the lms crate: `lms up` in child processes, mostly waiting on them and
# on PostgreSQL) run beside the other crates' tests rather than after them: on two cores the
# overlap took the cargo tests from 5 min 33 s to 4 min 12 s (warm). Their output follows the
# others'.
cargo test -p lms --locked "$@" > "$logs/e2e" 2>&1 &
e2e=$!
# Interrupted (or failing) before they end: they are stopped too, not left running.
trap 'kill "$e2e" 2>/dev/null || true; rm -rf "$logs"' EXIT
status=0
cargo test --workspace --exclude lms --locked "$@" || status=$?
wait "$e2e" || status=$?
cat "$logs/e2e"
if [ "$status" -ne 0 ]; then
  exit "$status"
fi

# The Helm chart, rendered by a real Helm engine and checked against the Kubernetes schemas;
# its rendered config is fed to the lms binary the tests just built. Its alert rules and
# dashboard queries are checked by promtool (unpacked from Debian's prometheus package), and
# the Dockerfile against the documented ports.
PROMTOOL=$(bash scripts/promtool.sh)
export PROMTOOL
# The three checks below run at once (each prints its summary line; their logs follow in
# this order); the test command fails when any of them does.
python3 helm/tests/test_chart.py target/debug/lms > "$logs/chart" 2>&1 &
chart=$!

# The README's shell examples (its ```sh blocks, in order, in one bash session) against `lms up`
# on ephemeral ports: every curl must get a 2xx. grpcurl examples run where grpcurl is installed.
python3 tests/readme/test_readme.py target/debug/lms > "$logs/readme" 2>&1 &
readme=$!

# The Learning Portal in a real browser: Debian's Chromium driven by Playwright, signing in
# through a real OIDC provider (tests/oidc/portal-provider.mjs). `.ci/run` installs Chromium;
# elsewhere, without it, this step says so and is skipped (CI never skips it).
if [ -x "${LMS_CHROMIUM:-/usr/bin/chromium}" ] || [ -n "${CI:-}" ]; then
  python3 tests/portal/test_portal.py target/debug/lms > "$logs/portal" 2>&1 &
  portal=$!
else
  echo "portal: skipped (no Chromium at ${LMS_CHROMIUM:-/usr/bin/chromium}: apt-get install chromium)" > "$logs/portal"
  portal=""
fi

failed=0
wait "$chart" || failed=1
cat "$logs/chart"
wait "$readme" || failed=1
cat "$logs/readme"
if [ -n "$portal" ]; then
  wait "$portal" || failed=1
fi
cat "$logs/portal"
exit "$failed"
