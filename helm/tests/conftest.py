"""pytest glue for test_chart.py: the real `lms` binary comes from $LMS_BINARY (the script
itself takes it as its first argument); without it, the binary test is skipped."""

import os

import pytest


@pytest.fixture
def lms_binary():
    path = os.environ.get("LMS_BINARY")
    if not path:
        pytest.skip("no lms binary given (set LMS_BINARY)")
    # Absolute, as test_chart.py's runner makes it: some tests run it from a temporary directory.
    return os.path.abspath(path)
