"""A real HTTP proxy in front of moto server that answers chosen DynamoDB calls with faults.

Point ``AWS_ENDPOINT_URL`` at it and the pipeline's boto3 clients talk to moto through it,
unchanged (also those of another process); scripted faults stand in for what moto never does
(throttling, UnprocessedItems, an AWS error half-way through a load), and a gate can hold any
call back (while the process that made it is killed).
"""

import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

DYNAMODB_TARGET_PREFIX = "DynamoDB_20120810."
HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive"}


@dataclass(frozen=True)
class Request:
    """A call as the proxy sees it: ``target`` is the JSON protocols' X-Amz-Target (DynamoDB,
    Glue), empty for S3 and the query protocols (SNS)."""

    method: str
    path: str
    target: str
    body: bytes


@dataclass
class Fault:
    """What to do to calls of one DynamoDB operation: let ``after`` calls through, then apply
    ``action`` to the next ``times`` calls (all of them when None)."""

    operation: str
    action: Callable[["FaultProxy", dict, bytes], tuple[int, bytes]]
    after: int = 0
    times: int | None = None
    seen: int = 0

    def applies(self) -> bool:
        self.seen += 1
        applied = self.seen - self.after
        return applied > 0 and (self.times is None or applied <= self.times)


def dynamodb_error(
    code: str, status: int = 400
) -> Callable[["FaultProxy", dict, bytes], tuple[int, bytes]]:
    def answer(proxy: "FaultProxy", headers: dict, body: bytes) -> tuple[int, bytes]:
        error = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected"}
        return status, json.dumps(error).encode()

    return answer


def leave_half_unprocessed(proxy: "FaultProxy", headers: dict, body: bytes) -> tuple[int, bytes]:
    """Forward half of a BatchWriteItem's requests and hand the rest back as UnprocessedItems,
    as DynamoDB does when a partition is hot."""
    request = json.loads(body)
    forwarded, unprocessed = {}, {}
    for table, writes in request["RequestItems"].items():
        half = max(1, len(writes) // 2)
        forwarded[table], unprocessed[table] = writes[:half], writes[half:]
    status, _, answer = proxy.forward(
        "POST", "/", headers, json.dumps({**request, "RequestItems": forwarded}).encode()
    )
    response = json.loads(answer)
    response["UnprocessedItems"] = {table: w for table, w in unprocessed.items() if w}
    return status, json.dumps(response).encode()


def acknowledge_without_writing(
    proxy: "FaultProxy", headers: dict, body: bytes
) -> tuple[int, bytes]:
    """Answer a BatchWriteItem as fully processed without forwarding it: a write that is lost
    after DynamoDB acknowledged it (or undone by someone else at once)."""
    return 200, json.dumps({"UnprocessedItems": {}}).encode()


class InFlight:
    """Forward each call after ``pause`` seconds, counting the calls in flight at once: what
    parallel writers send together."""

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.now = self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, proxy: "FaultProxy", headers: dict, body: bytes) -> tuple[int, bytes]:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            time.sleep(self.pause)
            status, _, answer = proxy.forward("POST", "/", headers, body)
        finally:
            with self._lock:
                self.now -= 1
        return status, answer


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = urlparse(upstream)
        self.faults: list[Fault] = []
        self.calls: Counter[str] = Counter()
        # Sees every call before it is forwarded, and may block it; it returns whether to
        # forward it (if not, the call gets no answer: its process is being killed).
        self.gate: Callable[[Request], bool] | None = None
        # Calls arrive on threads of their own (parallel writers): counted one at a time.
        self._counting = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # Polled often, so that closing it at the end of a test takes no time.
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()

    def inject(self, fault: Fault) -> None:
        self.faults.append(fault)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def forward(
        self, method: str, path: str, headers: dict, body: bytes
    ) -> tuple[int, list, bytes]:
        connection = http.client.HTTPConnection(
            self.upstream.hostname, self.upstream.port, timeout=30
        )
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                target = self.headers.get("X-Amz-Target") or ""
                if proxy.gate and not proxy.gate(Request(self.command, self.path, target, body)):
                    self.close_connection = True
                    return
                operation = target.removeprefix(DYNAMODB_TARGET_PREFIX)
                with proxy._counting:
                    proxy.calls[operation] += 1
                    fault = next(
                        (f for f in proxy.faults if f.operation == operation and f.applies()),
                        None,
                    )
                request_headers = {
                    name: value
                    for name, value in self.headers.items()
                    if name.lower() not in HOP_BY_HOP
                }
                if fault:
                    status, answer = fault.action(proxy, request_headers, body)
                    headers = [("Content-Type", "application/x-amz-json-1.0")]
                else:
                    status, headers, answer = proxy.forward(
                        self.command, self.path, request_headers, body
                    )
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay

            def log_message(self, *args: object) -> None:
                pass

        return Handler
