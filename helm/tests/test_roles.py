"""The database roles of docs/operations.md's walk-through, on the real PostgreSQL the test
command uses ($LMS_TEST_DATABASE_URL) and with the real binary: the owner role applies the
migrations (`lms migrate <component>`, what the chart's job runs); the DML-only role is enough
for the service to start and serve with LMS__MIGRATE_ON_START=false, as the chart's Deployments
run; and before the migrations the service refuses to start, naming `lms migrate`.

The SQL is taken from the walk-through itself, with the role and database names made unique.
Run by test_chart.py (python3 helm/tests/test_chart.py [lms-binary]) or by pytest.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse

from skip import SkipTest

HERE = os.path.dirname(os.path.abspath(__file__))
OPERATIONS = os.path.join(HERE, "..", "..", "docs", "operations.md")
COMPONENTS = ("pathway", "enrolment", "assessment", "records", "notification")


def admin_url():
    return os.environ.get("LMS_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def psql(url, *args, check=True):
    result = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def walkthrough_sql():
    with open(OPERATIONS) as f:
        text = f.read()
    match = re.search(r"```sql\n(.*?)```", text, re.S)
    assert match, "docs/operations.md lost its SQL"
    return match.group(1)


def database_url(admin, role, password, database):
    parts = urllib.parse.urlsplit(admin)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 5432
    return f"postgres://{role}:{password}@{host}:{port}/{database}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_postgres():
    if not shutil.which("psql"):
        if os.environ.get("CI"):
            raise AssertionError("psql is missing (postgresql-client)")
        raise SkipTest("no psql")
    probe = psql(admin_url(), "-Atc", "SELECT 1", check=False)
    if probe.returncode != 0:
        if os.environ.get("CI"):
            raise AssertionError(f"PostgreSQL at LMS_TEST_DATABASE_URL is unreachable: {probe.stderr}")
        raise SkipTest("no PostgreSQL at LMS_TEST_DATABASE_URL")


def test_services_run_with_a_dml_only_role_after_the_owner_migrates(lms_binary):
    if lms_binary is None:
        raise SkipTest("no lms binary given")
    require_postgres()
    admin = admin_url()
    prefix = f"lms_chart_{os.getpid()}"
    password = "walkthrough"
    created = []
    try:
        for component in COMPONENTS:
            name = f"{prefix}_{component}"
            sql = walkthrough_sql().replace("'...'", f"'{password}'").replace("lms_pathway", name)
            created.append(name)
            with tempfile.NamedTemporaryFile("w", suffix=".sql") as f:
                f.write(sql)
                f.flush()
                psql(admin, "-f", f.name)
            owner = database_url(admin, f"{name}_owner", password, name)
            app = database_url(admin, name, password, name)
            # The application role may not change the schema.
            denied = psql(app, "-c", "CREATE TABLE nope (i int)", check=False)
            assert denied.returncode != 0 and "permission denied" in denied.stderr, denied.stderr

            with tempfile.TemporaryDirectory() as directory:
                # An empty lms.toml: the settings below and the built-in defaults only.
                config = os.path.join(directory, "lms.toml")
                open(config, "w").close()
                port = free_port()
                env = {k: v for k, v in os.environ.items() if not k.startswith("LMS__")}
                env.update(
                    {
                        "LMS__DATA_DIR": directory,
                        f"LMS__{component.upper()}__LISTEN": f"127.0.0.1:{port}",
                        "LMS__TELEMETRY__METRICS_LISTEN": "",
                        "LMS__AUTH__HS256_SECRET": "walkthrough-secret-of-at-least-32-bytes",
                        "LMS__MIGRATE_ON_START": "false",
                    }
                )
                serve = [lms_binary, "serve", component, "--config", config]

                # Before the migrations: the service refuses, and says what to run.
                refused = subprocess.run(
                    serve,
                    env={**env, f"LMS__{component.upper()}__DATABASE_URL": app},
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                assert refused.returncode != 0, refused.stdout
                assert "lms migrate" in refused.stderr, refused.stderr

                # The migration job's command, as the owner.
                migrated = subprocess.run(
                    [lms_binary, "migrate", component, "--config", config],
                    env={**env, f"LMS__{component.upper()}__DATABASE_URL": owner},
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert migrated.returncode == 0, migrated.stderr

                # The service, as the application role: it starts and answers SERVING.
                process = subprocess.Popen(
                    serve,
                    env={**env, f"LMS__{component.upper()}__DATABASE_URL": app},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                try:
                    deadline = time.monotonic() + 30
                    while True:
                        probe = subprocess.run(
                            [lms_binary, "probe", f"127.0.0.1:{port}"],
                            capture_output=True,
                            text=True,
                            timeout=30,
                        )
                        if probe.returncode == 0:
                            break
                        if process.poll() is not None or time.monotonic() > deadline:
                            process.kill()
                            _, stderr = process.communicate(timeout=10)
                            raise AssertionError(f"{component} did not serve: {stderr}")
                        time.sleep(0.1)
                finally:
                    if process.poll() is None:
                        process.send_signal(signal.SIGTERM)
                        try:
                            process.communicate(timeout=30)
                        except subprocess.TimeoutExpired:
                            process.kill()
                            process.communicate()
                assert process.returncode == 0, process.returncode
    finally:
        for name in created:
            psql(admin, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", check=False)
            psql(admin, "-c", f"DROP ROLE IF EXISTS {name}", check=False)
            psql(admin, "-c", f"DROP ROLE IF EXISTS {name}_owner", check=False)
