"""SkipTest: raised by a chart test that cannot run here (no lms binary, no promtool).
test_chart.py's runner reports it as skipped; under pytest it is pytest's own skip."""

try:
    import pytest

    SkipTest = pytest.skip.Exception
except ImportError:  # the runner of test_chart.py needs no pytest

    class SkipTest(Exception):
        pass
