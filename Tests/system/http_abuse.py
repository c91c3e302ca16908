#!/usr/bin/env python3
#===----------------------------------------------------------------------===//
#
# This source file is part of the Vigil open source project.
# SPDX-License-Identifier: Apache-2.0
#
#===----------------------------------------------------------------------===//
"""HTTP abuse test of the running `vigil` binary (issue 11).

Sends at least 10,000 requests over every route (health, metrics, dashboard, REST v1, the live
endpoint, the OpenAPI document and the Announcer's POST routes) with extreme or invalid values for
every parameter: +-1e19, 1e308, NaN, inf, 2^63, negative, empty, very long, invalid UTF-8 (raw and
percent-encoded), malformed JSON, huge and deeply nested bodies, wrong methods and content types.

Passes when:
  - every request gets an HTTP response, 2xx or 4xx (503 only where the API documents it: the
    Announcer's busy/not-configured answer and /readyz);
  - a known-bad numeric or text parameter gets exactly 400 with a JSON error naming it;
  - /healthz, polled in parallel on its own connection, answers 200 throughout;
  - the process is alive at the end.
Prints one line per failure (the first 40), then "N passed, N failed". Runs in well under 3 minutes.
"""

import base64
import json
import os
import random
import shutil
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vigil_server import INGEST_TOKEN, Vigil  # noqa: E402

MIN_REQUESTS = 10_000
TIME_BUDGET = 150  # seconds for the request phase
WORKERS = 4


# MARK: - A raw HTTP/1.1 client (http.client refuses the malformed targets this test must send)

class RawClient:
    def __init__(self, port, timeout=15):
        self.port = port
        self.timeout = timeout
        self.sock = None
        self.file = None

    def close(self):
        if self.sock:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = self.file = None

    def request(self, method, target, headers=(), body=b""):
        """Returns (status, headers dict, body bytes); raises OSError when no response arrives."""
        for attempt in range(2):
            fresh = self.sock is None
            if fresh:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
                self.file = self.sock.makefile("rb")
            try:
                return self._exchange(method, target, headers, body)
            except (ConnectionError, EOFError, BrokenPipeError):
                self.close()
                if fresh or attempt == 1:
                    raise ConnectionError("no response")
                # The server may have closed an idle keep-alive connection: retry once on a new one.
            except OSError:
                self.close()
                raise

    def _exchange(self, method, target, headers, body):
        head = method.encode() + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        names = set()
        for name, value in headers:
            names.add(name.lower())
            head += name + b": " + value + b"\r\n"
        if body or method in ("POST", "PUT", "PATCH"):
            if b"content-length" not in names and b"transfer-encoding" not in names:
                head += b"Content-Length: " + str(len(body)).encode() + b"\r\n"
        self.sock.sendall(head + b"\r\n" + body)
        line = self.file.readline(65536)
        if not line:
            raise EOFError()
        parts = line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ConnectionError(f"bad status line {line[:80]!r}")
        status = int(parts[1])
        response_headers = {}
        while True:
            header = self.file.readline(65536)
            if header in (b"\r\n", b"\n", b""):
                break
            name, _, value = header.partition(b":")
            response_headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        data = b""
        if method == "HEAD" or status in (101, 204, 304) or 100 <= status < 200:
            pass
        elif "content-length" in response_headers:
            data = self.file.read(int(response_headers["content-length"]))
        elif response_headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self.file.readline(65536).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.file.readline(65536)
                    break
                data += self.file.read(size)
                self.file.readline(65536)
        else:
            data = self.file.read()
            self.close()
        if response_headers.get("connection", "").lower() == "close":
            self.close()
        return status, response_headers, data


# MARK: - The requests

def enc(value):
    """Percent-encodes every byte that is not unreserved (bytes or str)."""
    raw = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    out = bytearray()
    for byte in raw:
        if chr(byte).isalnum() and byte < 128 or byte in b"-._~":
            out.append(byte)
        else:
            out += b"%%%02X" % byte
    return bytes(out)


LONG_DIGITS = "9" * 10_000
BAD_NUMBERS = [
    "1e19", "-1e19", "1e20", "1e308", "-1e308", "1e309", "-1e309", "1e99999", "NaN", "nan", "-NaN", "inf", "-inf",
    "Infinity", "-Infinity", "9223372036854775808", "-9223372036854775809", "18446744073709551616",
    "170141183460469231731687303715884105728", "-1", "-0.5", "-9223372036854775808", "", " ", "+1", "0x10", "0x1p3",
    "1e", "1e+", "--1", "1_000", "1,5", "1.", ".5", "1e-400x", "\u0661", "\u00e9", "true", "null", "[]", "{}", "'1'",
    LONG_DIGITS, "1" + "0" * 400, "0." + "0" * 5000 + "1e",
]
# Raw bytes in the query (not percent-encoded): invalid UTF-8 and broken escapes.
BAD_RAW = [b"%FF", b"%C0%80", b"%E2%82", b"%", b"%G1", b"%%", b"1%00", b"\xff", b"\xc3", b"1\xe2\x82\xac"]
BAD_TEXT_RAW = [b"%FF", b"%C0%80", b"%ED%A0%80", b"%", b"%zz", b"a%", b"x" * 5000]
GOOD_TEXT = ["", "host/", "x", "%", "a b", "\u00e9", "\x01", "'; DROP TABLE history_series; --", "*", "[", "?", "../..", "x" * 4096]
NUMERIC = [("events", "after", "0", "limit"), ("events", "limit", "1", None), ("events", "since", "0", None),
           ("history", "from", "0", "to"), ("history", "to", "100", None), ("history", "step", "1", None)]
COLLECTIONS = ["gateways", "devices", "agents", "streams", "hosts"]
STATIC = [b"/healthz", b"/readyz", b"/metrics", b"/", b"/assets/dashboard.css", b"/assets/dashboard.js", b"/assets/names.js",
          b"/assets/chart.js", b"/api/v1/overview", b"/api/v1/openapi.yaml", b"/api/v1/events", b"/api/v1/series",
          b"/api/v1/live"] + [b"/api/v1/" + c.encode() for c in COLLECTIONS]
STANZA = base64.b64encode(b"<message to='%s' type='chat'><body>abuse test</body></message>").decode()


class Case:
    """One request and what it must get."""
    __slots__ = ("method", "target", "headers", "body", "expect", "parameter", "allow503", "fresh", "label")

    def __init__(self, method, target, expect="2xx4xx", parameter=None, headers=(), body=b"", allow503=False,
                 fresh=False, label=None):
        self.method, self.target, self.headers, self.body = method, target, headers, body
        self.expect, self.parameter, self.allow503, self.fresh = expect, parameter, allow503, fresh
        self.label = label


def numeric_cases():
    cases = []
    for route, name, _, _ in NUMERIC:
        base = b"/api/v1/" + route.encode() + b"?series=host%2Fx%2Fload1&"
        for value in BAD_NUMBERS:
            cases.append(Case("GET", base + name.encode() + b"=" + enc(value), 400, name))
        for raw in BAD_RAW:
            # Raw bytes outside printable ASCII never reach the router: the HTTP parser refuses the
            # request line with a bare 400.
            printable = all(0x21 <= byte < 0x7F for byte in raw)
            cases.append(Case("GET", base + name.encode() + b"=" + raw, 400, name if printable else None))
        cases.append(Case("GET", base + name.encode() + b"=1&" + name.encode() + b"=2", 400, name))
        cases.append(Case("GET", base + name.encode(), 400, name))  # no '=' at all: empty
    good = [b"/api/v1/events?after=9223372036854775807", b"/api/v1/events?after=0&limit=10000&since=0",
            b"/api/v1/events?since=253402300799", b"/api/v1/events?since=1.7e9&limit=1",
            b"/api/v1/history?series=host%2Fx%2Fload1&from=0&to=253402300799",
            b"/api/v1/history?series=host%2Fx%2Fload1&from=0&to=86400&step=0",
            b"/api/v1/history?series=host%2Fx%2Fload1&from=1e3&to=1E4&step=0.1",
            b"/api/v1/history?series=x&from=253402300799&to=253402300799&step=5e-324"]
    cases += [Case("GET", target, 200) for target in good]
    bad_history = [(b"from=10&to=5", "from"), (b"from=0&to=100000000&step=1", "step"), (b"from=0&to=86401&step=0", "step"),
                   (b"from=0&to=1&step=5e-324", "step"), (b"from=0&to=253402300799&step=1e-300", "step")]
    cases += [Case("GET", b"/api/v1/history?series=s&" + q, 400, p) for q, p in bad_history]
    return cases


def text_cases():
    cases = []
    for raw in BAD_TEXT_RAW:
        cases.append(Case("GET", b"/api/v1/series?prefix=" + raw, 400, "prefix"))
        cases.append(Case("GET", b"/api/v1/history?series=" + raw, 400, "series"))
        for collection in COLLECTIONS:
            cases.append(Case("GET", b"/api/v1/" + collection.encode() + b"/" + raw, 400, "name"))
    cases.append(Case("GET", b"/api/v1/history?series=", 400, "series"))
    cases.append(Case("GET", b"/api/v1/history", 400, "series"))
    cases.append(Case("GET", b"/api/v1/series?prefix=a&prefix=b", 400, "prefix"))
    for text in GOOD_TEXT:
        cases.append(Case("GET", b"/api/v1/series?prefix=" + enc(text), 200))
        if text:
            cases.append(Case("GET", b"/api/v1/history?series=" + enc(text), 200))
            for collection in COLLECTIONS:
                cases.append(Case("GET", b"/api/v1/" + collection.encode() + b"/" + enc(text), 404))
    for collection in COLLECTIONS:
        for raw in [b"..", b"%2e%2e", b"%2F", b"a/b/c/d/e/f", b"\xff", b"\xc3\x28", b"%00", b"%0D%0A"]:
            cases.append(Case("GET", b"/api/v1/" + collection.encode() + b"/" + raw))
    return cases


def live_cases():
    cases = [Case("GET", b"/api/v1/live", 426), Case("GET", b"/api/v1/live?kind=device,stream&events=false", 426)]
    for name in ["kind", "kinds", "target", "targets", "states", "events"]:
        for value in ["toaster", "1e19", "NaN", "nokind", "device/", "/x", "perhaps", "-1", "x" * 5000]:
            cases.append(Case("GET", b"/api/v1/live?" + name.encode() + b"=" + enc(value), 400))
        for raw in BAD_RAW:
            cases.append(Case("GET", b"/api/v1/live?" + name.encode() + b"=" + raw))
    # A WebSocket upgrade with a bad filter is refused; with a bad key it is not a WebSocket.
    upgrade = ((b"Upgrade", b"websocket"), (b"Connection", b"Upgrade"), (b"Sec-WebSocket-Version", b"13"),
               (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="))
    cases.append(Case("GET", b"/api/v1/live?kind=toaster", 400, headers=upgrade, fresh=True))
    cases.append(Case("GET", b"/api/v1/live?events=1e19", 400, headers=upgrade, fresh=True))
    return cases


MALFORMED_BODIES = {b"", b"[]", b"null", b"\"x\"", b"{", b"{\"usernames\":", b"\xff\xfe", b"{\"a\":1}" * 10, b"{}",
                    b"[" * 100_000 + b"]" * 100_000, b"{\"a\":" * 50_000 + b"1" + b"}" * 50_000}


def announce_bodies():
    bodies = [b"", b"{}", b"[]", b"null", b"\"x\"", b"{", b"{\"usernames\":", b"\xff\xfe", b"{\"a\":1}" * 10,
              json.dumps({"usernames": [], "message": STANZA}).encode(),
              json.dumps({"usernames": [""], "message": STANZA}).encode(),
              json.dumps({"usernames": ["alice"], "message": "not base64!"}).encode(),
              json.dumps({"usernames": ["alice"], "message": base64.b64encode(b"<message>no placeholder</message>").decode()}).encode(),
              json.dumps({"usernames": ["alice"], "message": base64.b64encode(b"\xff\xfe").decode()}).encode(),
              json.dumps({"usernames": ["alice"], "message": base64.b64encode(b"<message to='%s'>").decode()}).encode(),
              json.dumps({"usernames": ["a\u0000b", "c\u0007"], "message": STANZA}).encode(),
              json.dumps({"usernames": "alice", "message": STANZA}).encode(),
              json.dumps({"usernames": [1e308], "message": STANZA}).encode(),
              json.dumps({"usernames": ["x" * 100_000], "message": STANZA}).encode(),
              json.dumps({"usernames": ["u%d" % i for i in range(20_000)], "message": STANZA}).encode(),
              json.dumps({"usernames": ["alice"], "message": STANZA, "persist": "yes"}).encode(),
              json.dumps({"usernames": ["alice"], "message": STANZA, "persist": 1e19}).encode(),
              b"[" * 100_000 + b"]" * 100_000, b"{\"a\":" * 50_000 + b"1" + b"}" * 50_000,
              b"x" * (2 << 20)]
    for channel in ["1e19", "-1e19", "1e308", "9223372036854775808", "-9223372036854775809", "NaN", "Infinity", "1.5",
                    "\"1e19\"", "\"9223372036854775808\"", "\"NaN\"", "\"\"", "\" 12 \"", "\"0x10\"", "[]", "{}", "null",
                    "true", "\"" + "9" * 10_000 + "\"", "9" * 10_000]:
        bodies.append(b"{\"channel_id\": " + channel.encode() + b", \"message\": \"" + STANZA.encode() + b"\"}")
    return bodies


def announce_cases():
    cases = []
    content_types = [(b"application/json",), (b"text/plain",), (), (b"application/x-www-form-urlencoded",),
                     (b"application/json; charset=utf-8",), (b"\xff",)]
    for path in [b"/v1/announce/users", b"/v1/announce/channel"]:
        for body in announce_bodies():
            for content_type in content_types[:2]:
                headers = tuple((b"Content-Type", v) for v in content_type)
                # Over 1 MiB: 413, or the connection closed while the client still sends. Bad JSON
                # bodies: 400 (or 415 for text/plain once content types are checked).
                large = len(body) > 1 << 20
                # Only bodies that are not JSON objects have one right answer today; for the rest the
                # Announcer's own rules decide (202, 400, or 503 when channels are not configured).
                malformed = body in MALFORMED_BODIES
                expect = "4xx-or-close" if large else "2xx4xx" if not malformed else {400, 415} if content_type == (b"text/plain",) else 400
                cases.append(Case("POST", path, headers=headers, body=body, allow503=True, fresh=large, expect=expect))
        for content_type in content_types[2:]:
            headers = tuple((b"Content-Type", v) for v in content_type)
            cases.append(Case("POST", path, headers=headers, body=b"{}", allow503=True))
        cases.append(Case("POST", path, headers=((b"Content-Type", b"application/json"), (b"Origin", b"https://evil.example")),
                          body=json.dumps({"usernames": ["alice"], "message": STANZA}).encode(), allow503=True))
        cases.append(Case("GET", path))
    # Valid announcements: accepted (202) until the outbox is full (503).
    for index in range(30):
        body = json.dumps({"usernames": ["user%d" % index], "message": STANZA}).encode()
        cases.append(Case("POST", b"/v1/announce/users", headers=((b"Content-Type", b"application/json"),), body=body,
                          allow503=True, expect={202, 503}))
    return cases


def ingest_cases():
    """POST /api/v1/ingest/host (vigil agent over HTTP): no or wrong token 401, bad reports 400, large 413."""
    auth = (b"Authorization", b"Bearer " + INGEST_TOKEN.encode())
    json_type = (b"Content-Type", b"application/json")

    def report(host="abuse1", **metric):
        return json.dumps({"version": 1, "host": host, "interval_seconds": 5, "dropped_samples": 0,
                           "samples": [{"time": time.time(), "metrics": [metric] if metric else []}]}).encode()
    good = report(name="load1", value=0.5)
    cases = [Case("POST", b"/api/v1/ingest/host", headers=(json_type,), body=good, expect=401),
             Case("POST", b"/api/v1/ingest/host", headers=(json_type, (b"Authorization", b"Bearer wrong")), body=good, expect=401),
             # 429 when the max_hosts cases below (run concurrently) took every place first.
             Case("POST", b"/api/v1/ingest/host", headers=(json_type, auth), body=good, expect={200, 429}),
             Case("POST", b"/api/v1/ingest/host", headers=(json_type, auth), body=b"x" * (2 << 20), fresh=True, expect="4xx-or-close")]
    bad = [b"", b"{}", b"[]", b"null", b"{", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000,
           report(name="load1", value=-1), report(name="load1", value=1e308), report(name="cpu_usage_ratio", value=2),
           report(name="evil", value=1), report(name="load1", value=1, labels={"a": "b"}),
           report(name="disk_free_bytes", value=1, labels={"mountpoint": "x" * 10_000}),
           report(host="../../etc", name="load1", value=1), report(host="", name="load1", value=1),
           report(host="h" * 100_000, name="load1", value=1),
           json.dumps({"version": 1, "host": "a", "interval_seconds": 1e308, "dropped_samples": 0, "samples": []}).encode(),
           json.dumps({"version": 1, "host": "a", "interval_seconds": 5, "dropped_samples": -1, "samples": []}).encode(),
           json.dumps({"version": 1, "host": "a", "interval_seconds": 5, "dropped_samples": 0,
                       "samples": [{"time": 1e308, "metrics": []}]}).encode(),
           json.dumps({"version": 9223372036854775808, "host": "a", "interval_seconds": 5, "dropped_samples": 0, "samples": []}).encode()]
    for body in bad:
        cases.append(Case("POST", b"/api/v1/ingest/host", headers=(json_type, auth), body=body, expect=400))
    # More hosts than max_hosts (4): the fifth and later are refused with 429.
    for index in range(8):
        cases.append(Case("POST", b"/api/v1/ingest/host", headers=(json_type, auth), body=report(host="many%d" % index),
                          expect={200, 429}))
    return cases


def protocol_cases():
    """Wrong methods, odd headers and bodies on every route; each on a fresh connection when it may close it."""
    cases = []
    for target in STATIC:
        for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE"]:
            cases.append(Case(method, target, fresh=True))
        cases.append(Case("GET", target, headers=((b"Content-Length", b"5"),), body=b"hello"))
    for value in [b"-1", b"1e19", b"18446744073709551616", b"abc", b""]:
        cases.append(Case("POST", b"/v1/announce/users", headers=((b"Content-Length", value),), body=b"{}", fresh=True,
                          allow503=True, expect="4xx-or-close"))
    cases.append(Case("GET", b"/api/v1/events?" + b"a=1&" * 20_000, fresh=True, expect="4xx-or-close"))
    cases.append(Case("GET", b"/api/v1/events?since=" + b"9" * 200_000, fresh=True, expect="4xx-or-close"))
    cases.append(Case("GET", b"/healthz", headers=((b"X-Big", b"x" * 200_000),), fresh=True, expect="4xx-or-close"))
    return cases


def random_cases(rng, count):
    """Seeded combinations: every route, several parameters at once, values drawn from every pool."""
    pool = [enc(v) for v in BAD_NUMBERS[:-3]] + BAD_RAW + [b"0", b"1", b"100", b"1e9", b"253402300799", b"3600", b"0.001"]
    names = [b"after", b"limit", b"since", b"from", b"to", b"step", b"series", b"prefix", b"kind", b"target", b"states",
             b"events", b"token", b"x", b"", b"%FF"]
    routes = [b"/api/v1/events", b"/api/v1/history", b"/api/v1/series", b"/api/v1/live", b"/api/v1/overview",
              b"/api/v1/openapi.yaml", b"/healthz", b"/readyz", b"/metrics"] + [b"/api/v1/" + c.encode() for c in COLLECTIONS]
    cases = []
    for _ in range(count):
        route = rng.choice(routes)
        if rng.random() < 0.15:
            route = b"/api/v1/" + rng.choice(COLLECTIONS).encode() + b"/" + rng.choice(pool + [b"esp1", b"ticker"])
        params = []
        if route.endswith(b"history") and rng.random() < 0.8:
            params.append(b"series=" + rng.choice([b"host%2Fx%2Fload1", b"device%2Fesp1%2Flast_seen_seconds", b"x"]))
        for _ in range(rng.randint(0, 4)):
            params.append(rng.choice(names) + b"=" + rng.choice(pool))
        target = route + (b"?" + b"&".join(params) if params else b"")
        cases.append(Case("GET", target, label="random"))
    return cases


# MARK: - Running

def main():
    rng = random.Random(11)
    work = tempfile.mkdtemp(prefix="vigil-http-abuse-")
    passed, failed, failures = 0, 0, []
    lock = threading.Lock()
    try:
        vigil = Vigil(work)
    except RuntimeError as error:
        print(f"FAIL {error}\n0 passed, 1 failed")
        return 1
    try:
        cases = numeric_cases() + text_cases() + live_cases() + announce_cases() + ingest_cases() + protocol_cases()
        cases += [Case("GET", t) for t in STATIC] * 5
        cases += random_cases(rng, max(0, 2 * MIN_REQUESTS - len(cases)))
        print(f"http-abuse: {len(cases)} requests against {vigil.url} (pid {vigil.process.pid})", flush=True)

        stop = threading.Event()
        health = {"ok": 0, "failed": 0, "latencies": []}

        def poll_health():
            client = RawClient(vigil.port, timeout=5)
            while not stop.is_set():
                start = time.monotonic()
                try:
                    status, _, body = client.request("GET", b"/healthz")
                    ok = status == 200 and b"ok" in body
                except OSError:
                    ok = False
                    client.close()
                health["latencies"].append(time.monotonic() - start)
                health["ok" if ok else "failed"] += 1
                time.sleep(0.02)
            client.close()

        def check(case, client):
            try:
                if case.fresh:
                    client.close()
                status, headers, body = client.request(case.method, case.target, case.headers, case.body)
                if case.fresh:
                    client.close()
            except OSError as error:
                if case.expect == "4xx-or-close":
                    return None
                return f"no response ({error})"
            allowed = 200 <= status < 300 or 400 <= status < 500
            allowed = allowed or (status == 503 and (case.allow503 or case.target.startswith(b"/readyz")))
            if not allowed:
                return f"status {status}: {body[:200]!r}"
            if isinstance(case.expect, (set, frozenset)):
                return None if status in case.expect else f"status {status}, expected one of {sorted(case.expect)}: {body[:200]!r}"
            if not isinstance(case.expect, int):
                return None
            if status != case.expect:
                return f"status {status}, expected {case.expect}: {body[:200]!r}"
            if case.parameter is not None:
                try:
                    error = json.loads(body)
                except ValueError:
                    return f"400 without a JSON body: {body[:200]!r}"
                if error.get("parameter") != case.parameter or f"'{case.parameter}'" not in error.get("error", ""):
                    return f"400 does not name '{case.parameter}': {error}"
            return None

        queue = list(enumerate(cases))
        queue_lock = threading.Lock()
        deadline = time.monotonic() + TIME_BUDGET
        sent = [0]

        def worker():
            nonlocal passed, failed
            client = RawClient(vigil.port)
            while time.monotonic() < deadline:
                with queue_lock:
                    if not queue:
                        break
                    _, case = queue.pop()
                problem = check(case, client)
                with lock:
                    sent[0] += 1
                    if problem is None:
                        passed += 1
                    else:
                        failed += 1
                        failures.append(f"{case.method} {case.target[:120]!r}: {problem}")
            client.close()

        poller = threading.Thread(target=poll_health, daemon=True)
        poller.start()
        started = time.monotonic()
        threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        time.sleep(0.5)
        stop.set()
        poller.join(timeout=10)

        latencies = sorted(health["latencies"]) or [0]
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(f"http-abuse: {sent[0]} requests in {elapsed:.1f} s ({sent[0] / max(elapsed, 0.001):.0f}/s); "
              f"/healthz {health['ok']} ok, {health['failed']} failed, p99 {p99 * 1000:.1f} ms; RSS {vigil.rss_kib() // 1024} MiB",
              flush=True)
        final = [
            ("at least %d requests sent" % MIN_REQUESTS, sent[0] >= MIN_REQUESTS),
            ("vigil is still running", vigil.alive()),
            ("/healthz answered throughout", health["failed"] == 0 and health["ok"] > 0),
            ("/healthz answers after the run", RawClient(vigil.port).request("GET", b"/healthz")[0] == 200 if vigil.alive() else False),
        ]
        for name, ok in final:
            if ok:
                passed += 1
            else:
                failed += 1
                failures.append(name + ": NO")
    except Exception as error:  # noqa: BLE001 - any setup error is a failure with the log
        failed += 1
        failures.append(f"{type(error).__name__}: {error}")
    finally:
        alive = vigil.alive()
        vigil.stop()
    for line in failures[:40]:
        print("FAIL " + line)
    if failures and not alive:
        print("--- vigil log (tail) ---\n" + vigil.tail(40))
    if not failed:
        shutil.rmtree(work, ignore_errors=True)  # kept on failure, for its vigil.log
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
