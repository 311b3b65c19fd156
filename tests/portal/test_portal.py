"""The Learning Portal in a real browser: Debian's Chromium driven by Playwright, signing in
through a real OpenID Connect provider process (tests/oidc/portal-provider.mjs), against a real
`lms up` that knows only that provider's keys.

Usage: python3 tests/portal/test_portal.py PATH/TO/lms

What a learner does, in order: signs in (authorisation code + PKCE at the provider's own login
page) and lands back where they started; sees their mandatory pathway with its due date; opens
it and reads why a locked step is locked; marks content done, is told in words to tick the
acknowledgement box and then acknowledges; takes the assessment (the server's timer shown, a
mistyped number refused with what they typed kept, answers saved as they change, submitted,
the result shown); downloads the transcript; opens the printable certificate; and anyone,
signed out, confirms it at the public verification page; their manager sees it on "My team".
Then: the session cookie gone (as when
it expires) sends them to sign in and back to the page they asked for; keyboard-only use
completes a step; the pages fit a phone's width; a French browser gets French; every page has
no serious or critical axe-core violation; a page's HTML + CSS + JS is under 100 kB
compressed; the development sign-in is refused outside development mode.

With LMS_WRITE_DOCS=1 the screenshots go to docs/portal/ (docs/portal.md shows them).
Prints 'portal: N passed, M failed'; exits non-zero when one failed.
"""

import base64
import gzip
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
import urllib.request
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed import seed  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("LMS_CHROMIUM", "/usr/bin/chromium")
TENANT = "acme"
LEARNER = "ada"
# Chromium as root, with nothing reaching out to the network by itself.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "docs" / "portal" if os.environ.get("LMS_WRITE_DOCS") == "1" else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command, log, needle, seconds, env=None):
    """Starts `command` with its output in the file `log` (a pipe nobody reads would fill and
    stall it), and waits for a line holding `needle`."""
    process = subprocess.Popen(command, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                               text=True, env=env)
    deadline = time.time() + seconds
    while time.time() < deadline:
        for line in Path(log).read_text().splitlines():
            if needle in line:
                return process
        if process.poll() is not None:
            raise RuntimeError(f"{command[0]} exited ({process.returncode}):\n"
                               + Path(log).read_text()[-2000:])
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"no '{needle}' from {command[0]} within {seconds} s")


def client_credentials(issuer, client):
    """An administrator's token from the provider (the `lms-admin` client)."""
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "resource": "urn:lms",
                                   "scope": "lms"}).encode()
    request = urllib.request.Request(f"{issuer}/token", data=body, method="POST")
    secret = f"{client}-secret-of-some-length"
    request.add_header("authorization",
                       "Basic " + base64.b64encode(f"{client}:{secret}".encode()).decode())
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())["access_token"]


class Suite:
    """The provider and `lms up`, configured as an organisation would: OIDC only."""

    def __init__(self, lms):
        self.tmp = Path(tempfile.mkdtemp(prefix="lms-portal-"))
        self.gateway_port = free_port()
        self.public = f"http://127.0.0.1:{self.gateway_port}"
        idp_port = free_port()
        self.issuer = f"http://127.0.0.1:{idp_port}"
        self.provider = start(
            ["node", str(ROOT / "tests/oidc/portal-provider.mjs"), str(idp_port),
             f"{self.public}/auth/callback", TENANT, "900"],
            self.tmp / "provider.log", "ready", 30)
        secret_file = self.tmp / "services-secret"
        secret_file.write_text("lms-services-secret-of-some-length")
        config = self.tmp / "lms.toml"
        config.write_text(f"""
[auth]
jwks_url = "{self.issuer}/jwks"
issuer = "{self.issuer}"
audience = "urn:lms"
[auth.client_credentials]
token_url = "{self.issuer}/token"
client_id = "lms-services"
client_secret_file = "{secret_file}"
resource = "urn:lms"
[web]
public_url = "{self.public}"
oidc_issuer = "{self.issuer}"
oidc_client_id = "portal"
oidc_scopes = "openid profile lms"
oidc_resource = "urn:lms"
""")
        env = dict(os.environ)
        env.update({f"LMS__{c}__LISTEN": "127.0.0.1:0"
                    for c in ("PATHWAY", "ENROLMENT", "ASSESSMENT", "RECORDS", "NOTIFICATION")})
        env["LMS__GATEWAY__LISTEN"] = f"127.0.0.1:{self.gateway_port}"
        env["LMS__TELEMETRY__METRICS_LISTEN"] = ""
        # The browser makes many requests as one person; the edge's rate limit is not tested here.
        env["LMS__GATEWAY__REQUESTS_PER_SECOND"] = "1000"
        env["LMS__GATEWAY__BURST"] = "1000"
        self.lms = None
        try:
            self.lms = start(
                [lms, "up", "--config", str(config), "--data-dir", str(self.tmp / "data")],
                self.tmp / "lms.log", "Learning Portal", 60, env)
            self.admin = client_credentials(self.issuer, "lms-admin")
            self.ids = seed(self.public, self.admin, LEARNER)
        except BaseException:
            self.stop()  # nothing left running when the suite cannot start
            raise

    def stop(self):
        for process in (self.lms, self.provider):
            if process is None:
                continue
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = []
        self.axe = Axe()

    def run(self, name, check):
        try:
            check()
            self.passed += 1
            print(f"ok   {name}")
        except Exception:  # noqa: BLE001 — every failure is reported, then the next check runs
            self.failed.append(name)
            print(f"FAIL {name}\n{traceback.format_exc()}")

    def accessible(self, page, name):
        """No serious or critical axe-core violation on the page; a screenshot of it."""
        results = self.axe.run(page)
        bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
        assert not bad, f"{name}: " + "; ".join(
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
            for v in bad)
        if SHOTS:
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in_at_provider(page, login):
    """The provider's own login and consent pages (oidc-provider's development interactions)."""
    page.get_by_role("link", name="Sign in with your organisation's account").click()
    page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:\d+/interaction/"))
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any password")
    page.click("button[type=submit]")
    consent = page.locator("button[type=submit]")
    if page.url.startswith("http://127.0.0.1") and "/interaction/" in page.url:
        consent.click()


def main(lms):
    suite = Suite(lms)
    checks = Checks()
    state = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(locale="en-GB", accept_downloads=True)
            page = context.new_page()
            page.set_default_timeout(15000)
            flow(suite, checks, state, page, context)
            others(suite, checks, state, browser, context)
            browser.close()
    finally:
        suite.stop()
    def documented_screenshots_exist():
        shown = re.findall(r"\]\((portal/[a-z-]+\.png)\)", (ROOT / "docs/portal.md").read_text())
        assert shown, "docs/portal.md shows no screenshot"
        missing = [name for name in shown if not (ROOT / "docs" / name).exists()]
        assert not missing, f"docs/portal.md shows missing screenshots: {missing}"
    checks.run("docs/portal.md shows screenshots these tests took", documented_screenshots_exist)
    print(f"portal: {checks.passed} passed, {len(checks.failed)} failed")
    return 1 if checks.failed or checks.passed == 0 else 0


def flow(suite, checks, state, page, context):
    base = suite.public

    def sign_in():
        page.goto(f"{base}/")
        page.wait_for_url(re.compile(r"/signin\?return_to=%2F$"))
        checks.accessible(page, "signin")
        sign_in_at_provider(page, LEARNER)
        page.wait_for_url(f"{base}/")
        expect(page.get_by_role("heading", level=1)).to_have_text("My learning")
        cookies = {c["name"]: c for c in context.cookies()}
        session = cookies["lms_session"]
        assert session["httpOnly"] and session["sameSite"] == "Lax", session
        assert cookies["lms_csrf"]["httpOnly"] and cookies["lms_csrf"]["sameSite"] == "Strict"
    checks.run("a learner signs in through the identity provider and comes back", sign_in)

    def my_learning():
        mandatory = page.get_by_role("region", name="Mandatory")
        expect(mandatory.get_by_role("link", name="Data protection basics")).to_be_visible()
        expect(mandatory).to_contain_text("Due ")
        expect(mandatory).to_contain_text("Not started")
        checks.accessible(page, "learning")
    checks.run("my learning shows the mandatory pathway, due date and progress", my_learning)

    def locked_reason():
        page.get_by_role("link", name="Data protection basics").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Data protection basics")
        quiz = page.locator("li.step", has_text="Final quiz")
        expect(quiz).to_contain_text("Locked")
        expect(quiz.locator(".reason")).to_have_text(
            "Complete “Read the handbook” and “Accept the policy” first.")
        checks.accessible(page, "pathway")
        state["pathway_url"] = page.url
    checks.run("a locked step shows its reason in words", locked_reason)

    def content_and_acknowledgement():
        page.get_by_role("button", name="Mark as done: Read the handbook").click()
        expect(page.get_by_role("status")).to_have_text("Step done.")
        expect(page.locator("li.step", has_text="Read the handbook")).to_contain_text("Done")
        page.get_by_role("button", name="Acknowledge").click()
        expect(page.get_by_role("alert")).to_contain_text("Tick the box")
        page.get_by_label("I have read and accept this statement").check()
        page.get_by_role("button", name="Acknowledge").click()
        expect(page.locator("li.step", has_text="Accept the policy")).to_contain_text("Done")
    checks.run("content marked done; the acknowledgement needs its box ticked", content_and_acknowledgement)

    def assessment():
        page.get_by_role("button", name="Take the assessment: Final quiz").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Attempt 1")
        expect(page.get_by_role("timer")).to_contain_text(re.compile(r"1[45]:\d\d"))
        checks.accessible(page, "attempt")
        page.get_by_label("An email address").check()
        page.get_by_label("Your answer").fill("seventy-two")
        page.get_by_role("button", name="Save answers").click()
        expect(page.get_by_role("alert")).to_contain_text("“Breach deadline” needs a number")
        expect(page.get_by_label("Your answer")).to_have_value("seventy-two")
        expect(page.get_by_label("An email address")).to_be_checked()
        # Saved as it changes: the page's script posts the form when an answer changes.
        page.get_by_label("Your answer").fill("72")
        page.get_by_label("Your answer").blur()
        expect(page.locator(".autosave-status")).to_have_text("Answers saved.")
        # Read back from the server (a GET: reloading the refused POST would send it again).
        page.goto(page.url)
        expect(page.get_by_label("Your answer")).to_have_value("72")
        page.get_by_role("button", name="Submit").click()
        expect(page.locator(".result")).to_contain_text("Passed")
        expect(page.locator(".result")).to_contain_text("2 of 2 points")
        checks.accessible(page, "attempt-result")
    checks.run("the assessment: timer, a refused number kept, autosave, submit, result", assessment)

    def completed():
        # The passing result reaches the learner's progress by an event: as a learner would,
        # look again until it is there.
        for _ in range(40):
            page.goto(state["pathway_url"])
            if "Completed" in page.locator(".meta").first.inner_text():
                break
            time.sleep(0.25)
        expect(page.locator(".meta").first).to_contain_text("Completed")
    checks.run("the pathway is completed", completed)

    def transcript():
        page.get_by_role("link", name="Transcript").click()
        expect(page.get_by_role("row", name=re.compile("Data protection basics"))).to_contain_text("Completed")
        checks.accessible(page, "transcript")
        with page.expect_download() as download:
            page.get_by_role("link", name="Download as CSV").click()
        assert download.value.suggested_filename == "transcript.csv"
        text = Path(download.value.path()).read_text()
        assert "Data protection basics,1,MANDATORY,ACTIVE,COMPLETED,100.00" in text, text
    checks.run("the transcript, and its CSV download", transcript)

    def certificate():
        page.get_by_role("link", name="Certificates").click()
        checks.accessible(page, "certificates")
        code = page.locator("code").first.inner_text()
        assert re.fullmatch(r"[A-Z0-9]{16}", code), code
        state["code"] = code
        page.get_by_role("link", name="Data protection basics").click()
        certificate = page.locator("article.certificate")
        expect(certificate).to_contain_text("Awarded to Name ada")
        expect(certificate).to_contain_text(f"{base}/verify?code={code}")
        expect(page.get_by_role("button", name="Print")).to_be_visible()
        checks.accessible(page, "certificate")
    checks.run("the certificate, printable, with its verification code", certificate)

    def inbox_and_catalogue():
        page.get_by_role("link", name="Notifications").click()
        expect(page.locator(".card").first).to_be_visible()
        checks.accessible(page, "inbox")
        page.get_by_role("button", name="Mark all as read").click()
        expect(page.get_by_role("status")).to_have_text("All notifications marked as read.")
        page.get_by_role("link", name="Sessions").click()
        checks.accessible(page, "sessions")
        page.get_by_role("button", name=re.compile(r"^Book: Practical session")).click()
        expect(page.get_by_role("status")).to_have_text("Booked.")
        booking = page.locator(".card", has_text="Practical session").first
        expect(booking).to_contain_text("Warehouse 2")
        expect(booking).to_contain_text("Booked")
        checks.accessible(page, "sessions-booked")
        page.get_by_role("link", name="My learning").click()
        page.get_by_role("link", name="Forklift practice").click()
        expect(page.locator("li.step", has_text="Practical session").locator(".reason")).to_have_text(
            "Attend the training session; an instructor records your attendance.")
        page.get_by_role("link", name="Sessions").click()
        page.get_by_role("button", name="Cancel booking: Practical session").click()
        expect(page.get_by_role("status")).to_have_text("Booking cancelled.")
        page.get_by_role("link", name="Catalogue").click()
        checks.accessible(page, "catalogue")
        page.get_by_role("button", name="Join: Wellbeing at work").click()
        expect(page.get_by_role("status")).to_have_text("You have joined this pathway.")
        expect(page.get_by_role("heading", level=1)).to_have_text("Wellbeing at work")
        state["wellbeing_url"] = page.url
    checks.run("the inbox; booking and cancelling a session; joining a pathway", inbox_and_catalogue)

    def evidence():
        page.goto(state["wellbeing_url"])
        step = page.locator("li.step", has_text="First-aid certificate")
        step.get_by_label("What you did").fill("Red Cross course, March")
        step.get_by_label("Link to your evidence").fill("ftp://files.example.com/cert.pdf")
        step.get_by_role("button", name="Submit evidence").click()
        step = page.locator("li.step", has_text="First-aid certificate")
        expect(step.get_by_role("alert")).to_contain_text("url")
        expect(step.get_by_label("What you did")).to_have_value("Red Cross course, March")
        step.get_by_label("Link to your evidence").fill("https://files.example.com/cert.pdf")
        step.get_by_role("button", name="Submit evidence").click()
        expect(page.get_by_role("status")).to_have_text("Evidence sent for review.")
        expect(page.locator("li.step", has_text="First-aid certificate").locator(".reason")).to_have_text(
            "Your evidence is waiting for a reviewer's decision.")
    checks.run("evidence: a refused link in words with the text kept, then sent", evidence)

    def keyboard_only():
        page.goto(state["wellbeing_url"])
        page.keyboard.press("Tab")
        expect(page.locator(":focus")).to_have_text("Skip to content")
        page.keyboard.press("Enter")
        for _ in range(40):
            page.keyboard.press("Tab")
            if "Mark as done" in page.evaluate("document.activeElement.textContent"):
                break
        else:
            raise AssertionError("Tab never reached the step's button")
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_have_text("Step done.")
    checks.run("keyboard only: skip link, then a step completed with Tab and Enter", keyboard_only)

    def expired_session():
        context.clear_cookies(name="lms_session")
        page.goto(f"{base}/transcript")
        page.wait_for_url(re.compile(r"/signin\?return_to=%2Ftranscript$"))
        page.get_by_role("link", name="Sign in with your organisation's account").click()
        # The provider still knows the learner: straight back, to the page asked for.
        page.wait_for_url(f"{base}/transcript")
        expect(page.get_by_role("heading", level=1)).to_have_text("Transcript")
    checks.run("without a session cookie: to sign in, and back to the page asked for", expired_session)

    def weight():
        sizes = {}
        for path in ("/", "/static/portal.css", "/static/portal.js"):
            answer = page.request.get(f"{base}{path}")
            assert answer.ok, path
            sizes[path] = len(gzip.compress(answer.body()))
        total = sum(sizes.values())
        print(f"     page weight (gzip): {sizes} = {total} bytes")
        assert total <= 100 * 1024, sizes
    checks.run("a page's HTML + CSS + JS is under 100 kB compressed", weight)


def others(suite, checks, state, browser, learner_context):
    base = suite.public

    def public_verification():
        context = browser.new_context(locale="en-GB")
        page = context.new_page()
        page.goto(f"{base}/verify")
        checks.accessible(page, "verify")
        page.get_by_label("Verification code").fill(state["code"])
        page.get_by_role("button", name="Check").click()
        expect(page.get_by_role("heading", name="This certificate is valid")).to_be_visible()
        expect(page.locator(".verdict")).to_contain_text("Data protection basics")
        checks.accessible(page, "verify-valid")
        page.goto(f"{base}/verify?code=NOSUCHCODE000000")
        expect(page.get_by_role("alert")).to_contain_text("No certificate has this code")
        context.close()
    checks.run("anyone, signed out, verifies the certificate by its code", public_verification)

    def manager():
        context = browser.new_context(locale="en-GB")
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(f"{base}/")
        sign_in_at_provider(page, "mona")
        page.wait_for_url(f"{base}/")
        page.get_by_role("link", name="My team").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("My team")
        member = page.locator(".card", has_text="Name ada")
        expect(member).to_contain_text("direct report")
        expect(member).to_contain_text("Data protection basics")
        expect(member).to_contain_text("Completed")
        checks.accessible(page, "team")
        page.get_by_role("link", name="Everyone below me").click()
        expect(page.locator(".card", has_text="Name ada")).to_be_visible()
        context.close()
    checks.run("a manager sees their team's learning", manager)

    def phone_width():
        context = browser.new_context(viewport={"width": 360, "height": 740}, locale="en-GB",
                                      storage_state=learner_context.storage_state())
        page = context.new_page()
        for path in ("/", state["pathway_url"].removeprefix(base), "/transcript", "/certificates"):
            page.goto(f"{base}{path}")
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} is {overflow}px wider than the phone"
        page.goto(f"{base}/")
        if SHOTS:
            page.screenshot(path=str(SHOTS / "learning-phone.png"), full_page=True)
        context.close()
    checks.run("every page fits a phone's width", phone_width)

    def french():
        context = browser.new_context(locale="fr-FR",
                                      storage_state=learner_context.storage_state())
        page = context.new_page()
        page.goto(f"{base}/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Mes formations")
        assert page.get_attribute("html", "lang") == "fr"
        page.goto(state["pathway_url"])
        expect(page.locator("li.step", has_text="Final quiz")).to_contain_text("Fait")
        checks.accessible(page, "pathway-fr")
        context.close()
    checks.run("a French browser gets the portal in French", french)

    def without_javascript():
        context = browser.new_context(locale="en-GB", java_script_enabled=False,
                                      storage_state=learner_context.storage_state())
        page = context.new_page()
        page.goto(f"{base}/sessions")
        page.get_by_role("button", name=re.compile(r"^Book: Practical session")).click()
        expect(page.get_by_role("status")).to_have_text("Booked.")
        page.get_by_role("button", name="Cancel booking: Practical session").click()
        expect(page.get_by_role("status")).to_have_text("Booking cancelled.")
        context.close()
    checks.run("forms work without JavaScript", without_javascript)

    def not_found_page():
        context = browser.new_context(locale="en-GB",
                                      storage_state=learner_context.storage_state())
        page = context.new_page()
        answer = page.goto(f"{base}/pathways/01a2aaaa-0000-7000-8000-000000000000")
        assert answer.status == 404, answer.status
        expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
        checks.accessible(page, "not-found")
        context.close()
    checks.run("another's or an unknown pathway is a page that says not found", not_found_page)

    def dev_sign_in_refused():
        body = urllib.parse.urlencode({"csrf": "x" * 43, "tenant": TENANT, "person": "ada",
                                       "role": "admin"}).encode()
        request = urllib.request.Request(f"{base}/auth/dev", data=body, method="POST")
        request.add_header("cookie", "lms_csrf=" + "x" * 43)
        try:
            urllib.request.urlopen(request, timeout=10)
            raise AssertionError("the development sign-in answered")
        except urllib.error.HTTPError as refused:
            assert refused.code == 404, refused.code
        with urllib.request.urlopen(f"{base}/signin", timeout=10) as answer:
            assert "Development sign-in" not in answer.read().decode()
    checks.run("the development sign-in is refused outside development mode", dev_sign_in_refused)

    def csrf_refused():
        cookies = {c["name"]: c["value"] for c in learner_context.cookies()}
        body = urllib.parse.urlencode({"csrf": "not-the-token"}).encode()
        request = urllib.request.Request(f"{base}/notifications/read", data=body, method="POST")
        request.add_header("cookie", f"lms_session={cookies['lms_session']}; "
                                     f"lms_csrf={cookies['lms_csrf']}")
        try:
            urllib.request.urlopen(request, timeout=10)
            raise AssertionError("a form without its CSRF token was accepted")
        except urllib.error.HTTPError as refused:
            assert refused.code == 403, refused.code
    checks.run("a form without the session's CSRF token is refused", csrf_refused)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
