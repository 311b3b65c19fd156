#!/usr/bin/env bash
# Runs every test of the suite: unit tests, gRPC integration tests on SQLite and on the
# PostgreSQL at LMS_TEST_DATABASE_URL (each test creates and drops its own database), and the
# `lms` binary end to end (including a Python client that knows only server reflection).
set -euo pipefail
cd "$(dirname "$0")/.."

export LMS_TEST_DATABASE_URL="${LMS_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

if ! python3 -c 'import grpc, grpc_reflection, grpc_health' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt
fi

cargo test --workspace --locked "$@"
