"""The README's shell examples, run for real against `lms up`.

Usage: python3 tests/readme/test_readme.py PATH/TO/lms

Which blocks run (the extraction rule):
- In README.md and then docs/api.md, every fenced block opened with exactly ```sh is an
  example, and they run in document order in one bash session (`set -Eeuo pipefail`), so
  a variable one block sets (TOKEN, GW, PATHWAY) is there for the next.
- A block that calls grpcurl runs only when grpcurl is installed; otherwise it is skipped, and
  said so.
- Any other fenced block (no language, ```text, ```json, ...) is not run. So that an example
  cannot hide from this test, such a block that starts a command with curl, grpcurl or
  `cargo run` fails the test; the blocks between <!-- run-command --> and
  <!-- test-command --> markers are exempt (they start the suite and run the tests: this test
  does both itself).

What a reader copies is run unchanged but for the places where this machine differs from the
reader's: `cargo run [-q] [--release] -p lms --` becomes the built binary (this test never
runs cargo), and the addresses of the README's sample `lms up` output become the ones the
suite really bound (it starts on ephemeral ports, in a temporary directory holding ./lms-data).
`lms` commands that reach a service by default are pointed at the real ports through
LMS__TOPOLOGY__*. Every curl must get a 2xx: curl reads a .curlrc from CURL_HOME (a temporary
directory) saying fail-with-body and show-error, so a 4xx/5xx fails the command (and the
session, by set -e) without changing the command. `lms import people hr-export.csv` gets a
small CSV, as a reader brings their own. The sample output itself is checked against what
`lms up` prints (addresses and timings aside).

Prints each example's result and 'readme: N passed, M failed, K skipped'; exits non-zero when
one fails, when none ran, or when a block breaks the rule above.
"""

import os
import queue
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ["README.md", "docs/api.md"]
EXEMPT_MARKERS = ("run-command", "test-command")
COMMAND_LINE = re.compile(r"^\s*(?:[A-Za-z_][A-Za-z0-9_]*=\$\()?(curl|grpcurl|cargo run)\b")
CARGO_RUN_LMS = re.compile(r"cargo run(?: (?:-q|--quiet|--release))* -p lms --")
ADDRESS = re.compile(r"\b[a-z]+://[0-9.]+:[0-9]+\S*")
STARTUP_SECONDS = 30
SESSION_SECONDS = 90

# The `lms up` labels whose address a command-line `lms` command reaches by default.
TOPOLOGY = {
    "pathway-service": "LMS__TOPOLOGY__PATHWAY",
    "enrolment-service": "LMS__TOPOLOGY__ENROLMENT",
    "assessment-service": "LMS__TOPOLOGY__ASSESSMENT",
    "records-service": "LMS__TOPOLOGY__RECORDS",
}


class Block:
    def __init__(self, document, line, info, text, exempt):
        self.document = document
        self.line = line  # the fence's line number
        self.info = info
        self.text = text
        self.exempt = exempt

    def where(self):
        return f"{self.document}:{self.line}"


def fenced_blocks(document):
    lines = (ROOT / document).read_text().splitlines()
    blocks, exempt, i = [], None, 0
    while i < len(lines):
        line = lines[i]
        marker = re.fullmatch(r"\s*<!-- (/?)([a-z-]+) -->\s*", line)
        if marker and marker.group(2) in EXEMPT_MARKERS:
            exempt = None if marker.group(1) else marker.group(2)
        opening = re.fullmatch(r"```(\S*)\s*", line)
        if opening:
            start, body = i + 1, []
            i += 1
            while i < len(lines) and not re.fullmatch(r"```\s*", lines[i]):
                body.append(lines[i])
                i += 1
            if i == len(lines):
                raise SystemExit(f"{document}:{start}: a fenced block is never closed")
            blocks.append(Block(document, start, opening.group(1), "\n".join(body), exempt))
        i += 1
    return blocks


def sample_output(blocks):
    """The README's sample `lms up` output: its lines and each label's address."""
    for block in blocks:
        if block.info != "sh" and block.text.startswith("LMS is up in"):
            return block, block.text.splitlines()
    raise SystemExit("README.md has no sample `lms up` output (a block starting 'LMS is up in')")


def addresses(lines):
    found = {}
    for line in lines:
        match = re.fullmatch(r"\s+([a-z-]+)\s+([a-z]+://([0-9.]+:[0-9]+)\S*)\s*", line)
        if match:
            found[match.group(1)] = match.group(3)
    return found


def normalise(lines):
    return [ADDRESS.sub("ADDRESS", re.sub(r"\d+ ms\b", "N ms", line)).rstrip() for line in lines]


def start_suite(binary, workdir, log):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMS__") and k != "LMS_CONFIG"}
    for component in ("PATHWAY", "ENROLMENT", "ASSESSMENT", "RECORDS", "NOTIFICATION", "GATEWAY"):
        env[f"LMS__{component}__LISTEN"] = "127.0.0.1:0"
    env["LMS__TELEMETRY__METRICS_LISTEN"] = "127.0.0.1:0"
    env["LMS__TELEMETRY__LOG_LEVEL"] = "warn"
    child = subprocess.Popen(
        [binary, "up"], cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=log, text=True
    )
    lines = queue.Queue()

    def read():
        for line in child.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    printed, deadline = [], time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            child.kill()
            raise RuntimeError(f"lms up printed no 'a token:' line in {STARTUP_SECONDS} s: {printed}")
        printed.append(line)
        if line.strip().startswith("a token:"):
            return child, printed


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.split("\n\n")[1])
    binary = str(Path(sys.argv[1]).resolve())
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"{binary}: not an executable (build it first: cargo build -p lms)")
    for tool in ("bash", "curl", "jq"):
        if shutil.which(tool) is None:
            raise SystemExit(f"the README's examples need {tool}: install it")
    have_grpcurl = shutil.which("grpcurl") is not None

    blocks = [block for document in DOCUMENTS for block in fenced_blocks(document)]
    problems = []
    for block in blocks:
        if block.info == "sh" or block.exempt:
            continue
        for offset, line in enumerate(block.text.splitlines(), start=1):
            if COMMAND_LINE.match(line):
                problems.append(
                    f"{block.document}:{block.line + offset}: a command in a ```{block.info} "
                    f"block; open it with ```sh so this test runs it: {line.strip()}"
                )
    examples = [block for block in blocks if block.info == "sh"]
    if not examples:
        problems.append("no ```sh example found in " + ", ".join(DOCUMENTS))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print("readme: 0 passed, 1 failed")
        return 1

    sample_block, sample = sample_output(fenced_blocks("README.md"))
    with tempfile.TemporaryDirectory(prefix="lms-readme-") as temp:
        temp = Path(temp)
        workdir = temp / "work"
        workdir.mkdir()
        server_log = open(temp / "lms-up.log", "w")
        child, printed = start_suite(binary, workdir, server_log)
        try:
            return run(binary, examples, have_grpcurl, sample_block, sample, printed, temp, workdir)
        finally:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            server_log.close()
            if os.environ.get("LMS_README_VERBOSE"):
                print((temp / "lms-up.log").read_text(), file=sys.stderr)


def run(binary, examples, have_grpcurl, sample_block, sample, printed, temp, workdir):
    failed = []
    if normalise(sample) != normalise(printed):
        failed.append(
            f"{sample_block.where()}: the sample output differs from what `lms up` prints:\n  "
            + "\n  ".join(printed)
        )
    sample_addresses, real = addresses(sample), addresses(printed)
    if set(sample_addresses) != set(real):
        failed.append(f"{sample_block.where()}: labels {sorted(sample_addresses)} != {sorted(real)}")

    def substitute(text):
        text = CARGO_RUN_LMS.sub(shlex.quote(binary), text)
        for label, address in sorted(sample_addresses.items(), key=lambda item: -len(item[1])):
            if label in real:
                text = re.sub(re.escape(address) + r"(?![0-9])", real[label], text)
        return text

    # The session: one bash, the blocks in order, each one's end written to a status file.
    status = temp / "status"
    curl_home = temp / "curl"
    curl_home.mkdir()
    fail_option = "fail-with-body"
    if "--fail-with-body" not in subprocess.run(
        ["curl", "--help", "all"], capture_output=True, text=True
    ).stdout:
        fail_option = "fail"  # curl before 7.76: the body is not shown, the status still fails
    (curl_home / ".curlrc").write_text(f"{fail_option}\nshow-error\nmax-time = 20\n")
    (workdir / "hr-export.csv").write_text(
        "external_id,display_name,email,department,hire_date\n"
        f"e1001,Grace Hopper,grace@demo.example,Sales,{date.today().isoformat()}\n"
    )

    script = ["set -Eeuo pipefail", f"exec 3>>{shlex.quote(str(status))}"]
    script.append('trap \'echo "failed at line $LINENO: $BASH_COMMAND" >&3\' ERR')
    lines_of = {}  # script line -> (document, line)
    ran, skipped = [], []
    for number, block in enumerate(examples):
        if "grpcurl" in block.text and not have_grpcurl:
            skipped.append(block)
            continue
        text = substitute(block.text)
        leftover = [line for line in text.splitlines() if re.search(r"\bcargo\b", line)]
        if leftover:
            failed.append(f"{block.where()}: cargo would run here (not `cargo run -p lms --`): {leftover}")
            continue
        script.append(f"echo 'start {number}' >&3")
        for offset, line in enumerate(text.splitlines(), start=1):
            lines_of[len(script) + 1] = (block.document, block.line + offset)
            script.append(line)
        script.append(f"echo 'done {number}' >&3")
        ran.append((number, block))
    if failed:
        for message in failed:
            print(f"FAILED {message}", file=sys.stderr)
        print(f"readme: 0 passed, {len(failed)} failed")
        return 1

    env = {k: v for k, v in os.environ.items() if not k.startswith("LMS__") and k != "LMS_CONFIG"}
    env.pop("LMS_TOKEN", None)
    env["CURL_HOME"] = str(curl_home)
    for label, variable in TOPOLOGY.items():
        env[variable] = f"http://{real[label]}"
    (temp / "examples.sh").write_text("\n".join(script) + "\n")
    started = time.monotonic()
    try:
        session = subprocess.run(
            ["bash", str(temp / "examples.sh")],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=SESSION_SECONDS,
        )
        output, code = session.stdout, session.returncode
    except subprocess.TimeoutExpired as timeout:
        # Always bytes, whatever text= says.
        output, code = (timeout.stdout or b"").decode(errors="replace"), None
    seconds = time.monotonic() - started

    events = status.read_text().splitlines() if status.exists() else []
    done = {int(event.split()[1]) for event in events if event.startswith("done ")}
    failure = next((event for event in events if event.startswith("failed at line ")), None)
    passed = 0
    for number, block in ran:
        calls = len(re.findall(r"\bcurl\b", block.text)), len(re.findall(r"\bgrpcurl\b", block.text))
        lms = len(CARGO_RUN_LMS.findall(block.text))
        what = f"{calls[0]} curl, {calls[1]} grpcurl, {lms} lms"
        if number in done:
            passed += 1
            print(f"ok      {block.where()} ({what})")
        elif f"start {number}" in events:
            print(f"FAILED  {block.where()} ({what})")
            if failure:
                line = int(failure.split()[3].rstrip(":"))
                document, at = lines_of.get(line, (block.document, block.line))
                print(f"        at {document}:{at}: {failure.split(': ', 1)[1]}")
            if code is None:
                print(f"        the session took more than {SESSION_SECONDS} s")
            print("        output:\n" + "\n".join("          " + l for l in output.splitlines()[-20:]))
        else:
            print(f"not run {block.where()} (an earlier example failed)")
    for block in skipped:
        print(f"skipped {block.where()} (grpcurl is not installed)")
    not_passed = len(ran) - passed
    if code != 0 and not_passed == 0:
        not_passed = 1
        print(f"FAILED  the session exited {code}:\n{output}")
    print(
        f"ran {len(ran)} examples from {', '.join(DOCUMENTS)} in {seconds:.1f} s "
        f"against lms up (its sample output checked too)"
    )
    print(f"readme: {passed} passed, {not_passed} failed, {len(skipped)} skipped")
    return 0 if passed > 0 and not_passed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
