#!/usr/bin/env python3
"""An external Gantry worker in Python, with the standard library only.

It leases jobs of some kinds from one queue of a Gantry server over HTTP
(POST /v1/queues/{queue}/lease with a long-poll "wait"), runs each one,
heartbeats while it works (extending the lease and reporting progress),
then completes the job with a result, or fails it with the error so that
Gantry retries it. It honours Retry-After on 429 and 503, and on SIGTERM or
SIGINT it finishes the job in hand, records it, and exits 0.

Settings, from the environment:

    GANTRY_URL     the server                      default http://127.0.0.1:8080
    GANTRY_TOKEN   a bearer token with the "work" scope (none if unset)
    GANTRY_QUEUE   the queue to lease from          default default
    GANTRY_KINDS   comma-separated kinds to run     default resize
    GANTRY_LEASE   how long a lease lasts without a heartbeat   default 30s
    GANTRY_WAIT    how long one lease request waits for a job   default 20s

The handler here is a stand-in for real work: "resize" takes
{"width": W, "height": H (optional), "work_ms": N (optional)} and pretends
to resize an image in ten steps. Replace HANDLERS with your own.
"""

import json
import logging
import os
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

log = logging.getLogger("gantry-worker")


# --- the work -------------------------------------------------------------


class Permanent(Exception):
    """Raised by a handler when retrying cannot help: the job fails now."""


def resize(job, report):
    """Pretends to resize an image to args.width (and args.height).

    report(percent, message) records progress and extends the lease. A
    width that is not a positive integer raises ValueError, which fails the
    attempt; Gantry retries it while attempts remain.
    """
    args = job["args"]
    width = args.get("width")
    if not isinstance(width, int) or isinstance(width, bool) or width <= 0:
        raise ValueError("width must be a positive integer, not %r" % (width,))
    height = args.get("height", width)
    work_ms = args.get("work_ms", 1000)
    steps = 10
    for i in range(1, steps + 1):
        time.sleep(work_ms / 1000 / steps)
        report(i * 100 // steps, "resized %d of %d rows" % (i * height // steps, height))
    return {"width": width, "height": height, "thumbnail": "thumbs/%s-%dx%d.png" % (job["id"], width, height)}


HANDLERS = {"resize": resize}


# --- the protocol ---------------------------------------------------------


class Stopping(BaseException):
    """Interrupts a lease request that is waiting when a signal arrives."""


class LeaseLost(Exception):
    """The server no longer takes this attempt's reports (409 lease_lost)."""


class APIError(Exception):
    def __init__(self, status, problem):
        self.status = status
        self.problem = problem if isinstance(problem, dict) else {}
        super().__init__("HTTP %d %s: %s" % (status, self.problem.get("code", ""), self.problem.get("detail", problem)))


def parse_duration(s):
    """Parses a Go duration such as "30s", "2m" or "1m30s" into seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", s)
    if not parts or "".join(n + u for n, u in parts) != s:
        raise ValueError("not a duration like 30s, 2m or 1m30s: %r" % s)
    return sum(float(n) * units[u] for n, u in parts)


class Client:
    """A small client for the worker protocol of Gantry's HTTP API."""

    def __init__(self, url, token):
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method, path, body=None, timeout=30, retry_until=None):
        """Sends a JSON request and returns the decoded answer.

        On 429 and 503 it waits for Retry-After and tries again, and so it
        does when the server cannot be reached, until retry_until (a
        time.monotonic() deadline; None: forever). Other errors raise
        APIError.
        """
        data = None if body is None else json.dumps(body).encode()
        pause = 1.0
        while True:
            req = urllib.request.Request(self.url + path, data=data, method=method)
            req.add_header("Accept", "application/json")
            if data is not None:
                req.add_header("Content-Type", "application/json")
            if self.token:
                req.add_header("Authorization", "Bearer " + self.token)
            try:
                with urllib.request.urlopen(req, timeout=timeout) as resp:
                    return json.load(resp)
            except urllib.error.HTTPError as e:
                try:
                    problem = json.load(e)
                except ValueError:
                    problem = {}
                finally:
                    e.close()
                if e.code not in (429, 503):
                    raise APIError(e.code, problem) from None
                wait = retry_after(e.headers.get("Retry-After"), pause)
                log.info("%s %s: %d %s, retrying in %.0fs", method, path, e.code, problem.get("code", ""), wait)
            except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
                wait = pause
                pause = min(pause * 2, 30)
                log.info("%s %s: %s, retrying in %.0fs", method, path, e, wait)
            if retry_until is not None and time.monotonic() + wait > retry_until:
                raise APIError(503, {"code": "unavailable", "detail": "gave up before the lease ends"})
            time.sleep(wait)

    def lease(self, queue, kinds, lease, wait):
        path = "/v1/queues/%s/lease" % urllib.parse.quote(queue, safe="")
        body = {"max": 1, "lease": lease, "wait": wait, "kinds": kinds}
        return self.call("POST", path, body, timeout=parse_duration(wait) + 30)["jobs"]

    def job_call(self, job_id, action, body, retry_until):
        path = "/v1/jobs/%s/%s" % (urllib.parse.quote(job_id, safe=""), action)
        try:
            return self.call("POST", path, body, retry_until=retry_until)
        except APIError as e:
            if e.status == 409 and e.problem.get("code") == "lease_lost":
                raise LeaseLost(e.problem.get("detail", "lease lost")) from None
            raise


class Lease:
    """One leased job: heartbeats that extend it, and its outcome.

    A background thread heartbeats every third of the lease so that a slow
    step does not lose it; report() heartbeats at once with progress. Once
    a heartbeat says the lease is lost, lost is set and reports raise
    LeaseLost, so the handler stops working on a job that is no longer its
    own.
    """

    def __init__(self, client, job, lease):
        self.client = client
        self.job = job
        self.token = job["lease_token"]
        self.lease = lease
        self.lease_seconds = parse_duration(lease)
        self.expires = time.monotonic() + self.lease_seconds
        self.lost = threading.Event()
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._keep_alive, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()

    def heartbeat(self, progress=None, message=None):
        # "extend" keeps the lease as long as it was asked for: without it,
        # a heartbeat sets the server's default (30s).
        body = {"lease_token": self.token, "extend": self.lease}
        if progress is not None:
            body["progress"] = progress
        if message is not None:
            body["message"] = message[:256]
        with self.lock:
            if self.lost.is_set():
                raise LeaseLost("lease lost")
            sent = time.monotonic()
            try:
                self.client.job_call(self.job["id"], "heartbeat", body, retry_until=self.expires)
            except LeaseLost:
                self.lost.set()
                raise
            self.expires = sent + self.lease_seconds

    def _keep_alive(self):
        while not self.done.wait(self.lease_seconds / 3):
            try:
                self.heartbeat()
            except LeaseLost:
                log.warning("job %s: lease lost; the handler stops at its next report", self.job["id"])
                return
            except Exception as e:  # the next beat, or the report, may do better
                log.warning("job %s: heartbeat failed: %s", self.job["id"], e)

    def report(self, percent, message):
        try:
            self.heartbeat(percent, message)
        except LeaseLost:
            raise
        except Exception as e:  # progress is best effort
            log.warning("job %s: progress report failed: %s", self.job["id"], e)

    def complete(self, result):
        # Retried through 503s until the lease would end: after that the job
        # runs again anyway.
        return self.client.job_call(self.job["id"], "complete",
                                    {"lease_token": self.token, "result": result}, retry_until=self.expires)

    def fail(self, error, retry=True):
        return self.client.job_call(self.job["id"], "fail",
                                    {"lease_token": self.token, "error": error[:16384], "retry": retry},
                                    retry_until=self.expires)


def run_job(client, job, lease):
    """Runs one leased job and records its outcome."""
    handler = HANDLERS.get(job["kind"])
    log.info("job %s: %s attempt %d/%d, args %s", job["id"], job["kind"], job["attempt"],
             job["max_attempts"], json.dumps(job["args"]))
    held = Lease(client, job, lease)
    with held:  # heartbeats while the handler works
        try:
            if handler is None:
                raise Permanent("this worker has no handler for kind %r" % job["kind"])
            result = handler(job, held.report)
        except LeaseLost:
            log.warning("job %s: lease lost while working; its result is not recorded", job["id"])
            return
        except Permanent as e:
            error, retry = str(e), False
        except Exception as e:
            error, retry = "%s: %s" % (type(e).__name__, e), True
        else:
            error = None
    # The heartbeats have stopped: no beat races the outcome.
    outcome = held.complete(result) if error is None else held.fail(error, retry)
    log.info("job %s: %s", job["id"], outcome["state"])


# --- the loop -------------------------------------------------------------


def main():
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    client = Client(os.environ.get("GANTRY_URL", "http://127.0.0.1:8080"), os.environ.get("GANTRY_TOKEN", ""))
    queue = os.environ.get("GANTRY_QUEUE", "default")
    kinds = [k.strip() for k in os.environ.get("GANTRY_KINDS", "resize").split(",") if k.strip()]
    lease = os.environ.get("GANTRY_LEASE", "30s")
    wait = os.environ.get("GANTRY_WAIT", "20s")
    parse_duration(lease), parse_duration(wait)  # fail early on bad settings

    state = {"stopping": False, "idle": False}

    def on_signal(signum, _frame):
        log.info("%s: finishing the job in hand, then exiting", signal.Signals(signum).name)
        state["stopping"] = True
        if state["idle"]:
            # Interrupt the waiting lease request. Should the server have
            # leased a job in that instant, it gives it back when it sees
            # the connection close, or the lease expires and it runs again.
            raise Stopping()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def next_jobs():
        try:
            return client.lease(queue, kinds, lease, wait)
        except APIError as e:  # a bad token, a bad setting: say so, slowly
            log.error("lease: %s", e)
            time.sleep(5)
            return []

    log.info("leasing %s from queue %s at %s", ",".join(kinds), queue, client.url)
    try:
        while not state["stopping"]:
            state["idle"] = True
            try:
                jobs = next_jobs()
            finally:
                state["idle"] = False
            for job in jobs:
                try:
                    run_job(client, job, lease)
                except (APIError, LeaseLost) as e:
                    log.error("job %s: %s", job["id"], e)
    except Stopping:
        pass
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
