#!/usr/bin/env python3
"""A Gantry push target with Python's standard library only.

It checks the Gantry-Signature of every request against the secrets in
GANTRY_PUSH_SECRET (comma-separated, so that a secret can rotate) and
answers each job with a JSON result.

    GANTRY_PUSH_SECRET=s3cret python3 push_target.py --port 9000

and in gantry.json:

    {"push": {"thumbnail": {"url": "http://127.0.0.1:9000/thumbnail",
                            "secret_env": "GANTRY_PUSH_SECRET"}}}
"""
import argparse
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE = 300  # seconds a signature's time may be from this clock
MAX_BODY = 1 << 20


def verify(header, secrets, body, now):
    """True when header (t=<unix>,v1=<hex>[,v1=<hex>...]) signs body with
    one of secrets, made within TOLERANCE of now."""
    ts, sigs = None, []
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            ts = value
        elif key == "v1":
            sigs.append(value)
    if ts is None or not ts.isdigit() or abs(now - int(ts)) > TOLERANCE:
        return False
    for secret in secrets:
        want = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(want, s) for s in sigs):
            return True
    return False


def make_handler(secrets, now=time.time):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                return self.answer(413, {"error": "body too large"})
            body = self.rfile.read(length)
            if not verify(self.headers.get("Gantry-Signature"), secrets, body, int(now())):
                return self.answer(401, {"error": "bad signature"})  # fails the job for good
            job = json.loads(body)
            # 200 with a JSON body: the job succeeds with it as its result.
            # 503 with Retry-After would ask Gantry to come back later.
            self.answer(200, {"thumbnail_of": job["id"], "args": job["args"]})

        def answer(self, status, obj):
            out = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, fmt, *args):
            sys.stderr.write("push-target: " + (fmt % args) + "\n")

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    secrets = [s.strip() for s in os.environ.get("GANTRY_PUSH_SECRET", "").split(",") if s.strip()]
    if not secrets:
        sys.exit("set GANTRY_PUSH_SECRET to the secret that Gantry signs with")
    server = ThreadingHTTPServer((args.host, args.port), make_handler(secrets))
    sys.stderr.write(f"push-target: listening on {server.server_address[0]}:{server.server_address[1]}\n")
    sys.stderr.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
