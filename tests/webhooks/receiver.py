"""A real webhook receiver for notification-service's tests: it verifies every delivery with the
`standardwebhooks` library (an implementation independent of the suite's) and keeps what it
received.

    python3 tests/webhooks/receiver.py PORT

Prints `ready` once it listens. Control and inspection (JSON):

    POST /_control {"mode": "ok" | "fail" | "slow" | "close", "secrets": ["whsec_..."]}
    GET  /_received -> {"received": [...], "attempts": n, "unverified": n}

Deliveries go to any other path. In mode `ok` a delivery whose signature verifies with at least
one configured secret is kept (with the secrets, by index, it verifies with) and answered 204;
one that verifies with none is answered 401 and counted as unverified. `fail` answers 500,
`slow` answers after 3 seconds (past the suite's timeout in the tests), `close` closes the
connection without answering.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

STATE = {"mode": "ok", "secrets": [], "received": [], "attempts": 0, "unverified": 0}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b""):
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        length = int(self.headers.get("content-length", "0"))
        return self.rfile.read(length)

    def do_GET(self):
        if self.path != "/_received":
            return self.reply(404)
        with LOCK:
            snapshot = {k: STATE[k] for k in ("received", "attempts", "unverified")}
        self.reply(200, json.dumps(snapshot).encode())

    def do_POST(self):
        data = self.body()
        if self.path == "/_control":
            change = json.loads(data)
            with LOCK:
                STATE.update({k: v for k, v in change.items() if k in ("mode", "secrets")})
            return self.reply(200, b"{}")
        with LOCK:
            STATE["attempts"] += 1
            mode, secrets = STATE["mode"], list(STATE["secrets"])
        if mode == "fail":
            return self.reply(500, b'{"error": "down for maintenance"}')
        if mode == "slow":
            time.sleep(3)
            return self.reply(200)
        if mode == "close":
            self.close_connection = True
            self.connection.close()
            return
        headers = {k: v for k, v in self.headers.items()}
        verified_with = []
        payload = None
        for index, secret in enumerate(secrets):
            try:
                payload = Webhook(secret).verify(data, headers)
                verified_with.append(index)
            except WebhookVerificationError:
                pass
        with LOCK:
            if not verified_with:
                STATE["unverified"] += 1
            else:
                STATE["received"].append(
                    {
                        "webhook_id": headers.get("webhook-id"),
                        "content_type": headers.get("content-type"),
                        "verified_with": verified_with,
                        "event": payload,
                    }
                )
        self.reply(204 if verified_with else 401)


def main():
    port = int(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
