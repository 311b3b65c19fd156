"""A real SMTP server for the email tests: aiosmtpd, saving every message it accepts as a file.

    python3 tests/smtp/server.py PORT DIRECTORY [starttls|tls]

With `starttls` the server requires STARTTLS before anything else; with `tls` it speaks TLS
from the first byte (implicit TLS, as on port 465). Its certificate (for 127.0.0.1) is issued
by a test authority made for this run (trustme), written to DIRECTORY/ca.pem for the client to
trust.

Recipients whose address starts with `refuse` are refused for good (550), as a relay refuses
an unknown mailbox. Prints `ready` once it listens. Each accepted message is written to
DIRECTORY/<n>.eml once the whole message has arrived.
"""

import asyncio
import itertools
import os
import sys

from aiosmtpd.controller import Controller


class Saving:
    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("refuse"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        path = os.path.join(self.directory, f"{next(self.counter)}.eml")
        partial = path + ".part"
        with open(partial, "wb") as out:
            out.write(f"X-Envelope-To: {','.join(envelope.rcpt_tos)}\r\n".encode())
            out.write(envelope.content)
        os.replace(partial, path)
        return "250 Message accepted"


def tls_context(directory):
    import ssl

    import trustme

    authority = trustme.CA()
    authority.cert_pem.write_to_path(os.path.join(directory, "ca.pem"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    return context


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    mode = sys.argv[3] if len(sys.argv) > 3 else "plain"
    os.makedirs(directory, exist_ok=True)
    options = {}
    if mode == "starttls":
        options = {"tls_context": tls_context(directory), "require_starttls": True}
    elif mode == "tls":
        options = {"ssl_context": tls_context(directory)}
    controller = Controller(Saving(directory), hostname="127.0.0.1", port=port, **options)
    controller.start()
    print("ready", flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
