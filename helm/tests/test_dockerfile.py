"""The image's Dockerfile against the documented defaults: inside a container every component
listens on all interfaces on its default port (docs/configuration.md), EXPOSE lists exactly
those ports, and they are the ports the chart gives each component.

Run by test_chart.py (python3 helm/tests/test_chart.py [lms-binary]) or by pytest.
"""

import os
import re
import shlex
import subprocess
import tempfile

import yaml

from skip import SkipTest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
DOCKERFILE = os.path.join(ROOT, "Dockerfile")
CONFIGURATION = os.path.join(ROOT, "docs", "configuration.md")
VALUES = os.path.join(HERE, "..", "lms", "values.yaml")


def dockerfile_instructions(path=DOCKERFILE):
    """(instruction, arguments) of the final stage, continuation lines joined, comments dropped."""
    lines = []
    pending = ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if pending and line.lstrip().startswith("#"):
                continue  # a comment inside a continued instruction
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            lines.append(pending + line)
            pending = ""
    stages = []
    for line in lines:
        instruction, _, arguments = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction.upper(), arguments.strip()))
    assert stages, "no FROM in the Dockerfile"
    return stages[-1]


def image_env(instructions):
    env = {}
    for instruction, arguments in instructions:
        if instruction != "ENV":
            continue
        for word in shlex.split(arguments):
            assert "=" in word, f"ENV {arguments!r}: use the KEY=VALUE form"
            key, value = word.split("=", 1)
            env[key] = value
    return env


def image_exposed_ports(instructions):
    ports = []
    for instruction, arguments in instructions:
        if instruction == "EXPOSE":
            for word in arguments.split():
                port, _, protocol = word.partition("/")
                assert protocol in ("", "tcp"), word
                ports.append(int(port))
    return ports


def documented_listen_defaults(path=CONFIGURATION):
    """{section: port} of every `listen` key (and telemetry's metrics_listen) the configuration
    reference documents, read from its tables under `## [section]` headings."""
    defaults = {}
    section = None
    with open(path) as f:
        for line in f:
            heading = re.match(r"^## `\[([a-z_]+)\]`", line)
            if heading:
                section = heading.group(1)
                continue
            if line.startswith("## "):
                section = None
                continue
            row = re.match(r"^\| `(listen|metrics_listen)` \| `([^`]*)` \|", line)
            if row and section:
                host, _, port = row.group(2).rpartition(":")
                assert host == "127.0.0.1", (section, row.group(2))
                defaults[section] = int(port)
    return defaults


# --- tests ------------------------------------------------------------------------------------


def test_the_image_listens_on_every_documented_port_on_all_interfaces():
    documented = documented_listen_defaults()
    # Every component and the metrics endpoint: a component added to the reference without a
    # listen default would be missed, so the set itself is held too.
    assert set(documented) == {
        "telemetry",
        "pathway",
        "enrolment",
        "assessment",
        "records",
        "notification",
        "gateway",
    }, documented
    instructions = dockerfile_instructions()
    env = image_env(instructions)
    for section, port in documented.items():
        key = "LMS__TELEMETRY__METRICS_LISTEN" if section == "telemetry" else f"LMS__{section.upper()}__LISTEN"
        assert env.get(key) == f"0.0.0.0:{port}", (key, env.get(key))
    # No other listen setting hides in the image.
    listens = {k for k in env if k.endswith("LISTEN")}
    assert len(listens) == len(documented), sorted(listens)
    exposed = image_exposed_ports(instructions)
    assert sorted(exposed) == sorted(documented.values()), (exposed, documented)
    assert len(set(exposed)) == len(exposed), exposed


def test_the_image_ports_are_the_charts_ports():
    with open(VALUES) as f:
        values = yaml.safe_load(f)
    documented = documented_listen_defaults()
    for name, component in values["components"].items():
        port = component.get("grpcPort", component.get("httpPort"))
        assert port == documented[name], (name, port, documented[name])
    assert values["metrics"]["port"] == documented["telemetry"]


def test_the_binary_accepts_the_image_environment(lms_binary):
    """The ENV names are settings the binary knows (it denies unknown ones)."""
    if lms_binary is None:
        raise SkipTest("no lms binary given")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMS__")}
    env.update(image_env(dockerfile_instructions()))
    with tempfile.TemporaryDirectory() as directory:
        # An empty lms.toml: the image's environment and the built-in defaults only.
        config = os.path.join(directory, "lms.toml")
        open(config, "w").close()
        for component in ("pathway", "enrolment", "assessment", "records", "notification"):
            env[f"LMS__{component.upper()}__DATABASE_URL"] = f"sqlite://{directory}/{component}.db"
        env["LMS__DATA_DIR"] = directory
        result = subprocess.run(
            [lms_binary, "migrate", "--config", config],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=directory,
        )
    assert result.returncode == 0, result.stderr
