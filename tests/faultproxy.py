"""A fault-injecting HTTP proxy on loopback, for tests of S3 clients against a real server.

``FaultProxy`` listens on ``127.0.0.1:<free port>`` and forwards each HTTP/1.1 request to the
upstream server (the SeaweedFS S3 port), one request per connection (``Connection: close`` is
added, so clients never reuse a connection the proxy is about to break). The ``Host`` header is
kept as the client sent it, so SigV4 signatures stay valid. Faults apply to the next matching
requests, in the order they were added:

- ``reset(n)``: close the client's connection with a TCP reset (RST), optionally after passing
  ``after_bytes`` of the request body on to the server (a reset in the middle of an upload);
- ``slowdown(n)``: answer ``503 SlowDown`` (S3's throttling answer) without asking the server;
- ``delay(n, seconds)``: wait before forwarding (for read timeouts);
- ``hold(n)``: keep requests waiting until ``fault.release()`` (to act while they are in flight);
- ``truncate(n, after_bytes)``: forward, pass on the first ``after_bytes`` of the answer, then
  reset (a body cut off in the middle of a download).

``n=None`` means every matching request from now on (a permanent fault); ``match`` narrows a
fault to some requests (``lambda method, target: ...``). ``seen`` records every request and
what was done to it.

    with FaultProxy(("127.0.0.1", s3_port)) as proxy:
        proxy.reset(2)
        client = boto3.client("s3", endpoint_url=proxy.endpoint_url, ...)
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

log = logging.getLogger(__name__)

Match = Callable[[str, str], bool]  # (method, request target) -> applies?
_HEAD_LIMIT = 64 * 1024
_SLOWDOWN_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message>"
    b"<RequestId>faultproxy</RequestId></Error>"
)


@dataclass
class Fault:
    """One kind of fault for the next ``remaining`` matching requests (None = forever)."""

    kind: str  # "reset", "slowdown", "delay", "truncate"
    remaining: int | None
    match: Match | None = None
    seconds: float = 0.0
    after_bytes: int = 0
    applied: int = 0
    gate: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        """Let the requests this (delay or hold) fault keeps waiting go on now."""
        self.gate.set()

    def takes(self, method: str, target: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        return self.match is None or self.match(method, target)


@dataclass(frozen=True)
class Seen:
    """A request the proxy received and what it did with it."""

    method: str
    target: str
    action: str  # "forward", "reset", "slowdown", "delay", "truncate"


@dataclass
class _Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    head: bytes  # request line + headers as forwarded (Connection: close), ending in CRLFCRLF
    rest: bytes  # bytes read after the head (start of the body)

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)


@dataclass
class FaultProxy:
    """Threaded loopback proxy in front of ``upstream`` (host, port); see the module doc."""

    upstream: tuple[str, int]
    host: str = "127.0.0.1"
    port: int = 0
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._stopping = threading.Event()

    # --- life cycle -------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((self.host, self.port))
        server.listen(64)
        self.port = server.getsockname()[1]
        self._server = server
        self._stopping.clear()
        self._thread = threading.Thread(target=self._accept_loop, name="faultproxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            with contextlib.suppress(OSError):
                self._server.close()
            self._server = None
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for sock in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self.stop()

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- faults -----------------------------------------------------------------------------
    def reset(
        self, count: int | None = 1, *, match: Match | None = None, after_bytes: int = 0
    ) -> Fault:
        """Reset the connection of the next ``count`` matching requests (None = all)."""
        return self._add(Fault("reset", count, match, after_bytes=after_bytes))

    def slowdown(self, count: int | None = 1, *, match: Match | None = None) -> Fault:
        """Answer ``503 SlowDown`` to the next ``count`` matching requests (None = all)."""
        return self._add(Fault("slowdown", count, match))

    def delay(self, seconds: float, count: int | None = 1, *, match: Match | None = None) -> Fault:
        """Hold the next ``count`` matching requests for ``seconds`` before forwarding."""
        return self._add(Fault("delay", count, match, seconds=seconds))

    def hold(
        self, count: int | None = None, *, match: Match | None = None, limit: float = 120.0
    ) -> Fault:
        """Keep the next ``count`` matching requests (None = all) waiting until the fault's
        ``release()`` (at most ``limit`` seconds); they are then forwarded."""
        return self._add(Fault("delay", count, match, seconds=limit))

    def truncate(
        self, count: int | None = 1, *, after_bytes: int, match: Match | None = None
    ) -> Fault:
        """Cut the answer of the next ``count`` matching requests after ``after_bytes``."""
        return self._add(Fault("truncate", count, match, after_bytes=after_bytes))

    def clear(self) -> None:
        """No more faults (requests in flight finish as decided)."""
        with self._lock:
            self.faults.clear()

    def actions(self, action: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.action == action]

    def _add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def _take(self, method: str, target: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.takes(method, target):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    fault.applied += 1
                    return fault
        return None

    def _record(self, req: _Request, action: str) -> None:
        with self._lock:
            self.seen.append(Seen(req.method, req.target, action))

    # --- serving ----------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        assert self._server is not None
        server = self._server
        while not self._stopping.is_set():
            try:
                client, _ = server.accept()
            except OSError:
                return
            with self._lock:
                self._conns.add(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            req = _read_request(client)
            if req is None:
                return
            fault = self._take(req.method, req.target)
            kind = fault.kind if fault else "forward"
            self._record(req, kind)
            if fault is not None and fault.kind == "reset":
                self._reset(client, req, fault.after_bytes)
            elif fault is not None and fault.kind == "slowdown":
                self._slowdown(client, req)
            elif fault is not None and fault.kind == "truncate":
                self._forward(client, req, limit=fault.after_bytes)
            else:
                if fault is not None:
                    fault.gate.wait(fault.seconds)
                self._forward(client, req)
        except OSError as err:
            log.debug("faultproxy connection ended: %s", err)
        finally:
            with self._lock:
                self._conns.discard(client)
            with contextlib.suppress(OSError):
                client.close()

    def _forward(self, client: socket.socket, req: _Request, limit: int | None = None) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=30)
        except OSError:
            _rst(client)  # the server is down: the client sees what it would see without us
            return
        with upstream:
            upstream.sendall(req.head + req.rest)
            # the rest of the request, and the response until the server closes (Connection:
            # close) or ``limit`` bytes of it were passed on
            if _relay(client, upstream, limit):
                with contextlib.suppress(OSError):
                    client.shutdown(socket.SHUT_WR)
            else:
                _rst(client)

    def _reset(self, client: socket.socket, req: _Request, after_bytes: int) -> None:
        if after_bytes > 0:  # pass some of the body on, then cut both sides
            with (
                contextlib.suppress(OSError),
                socket.create_connection(self.upstream, timeout=30) as upstream,
            ):
                body = req.rest
                while len(body) < after_bytes:
                    chunk = client.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                upstream.sendall(req.head + body[:after_bytes])
                _rst(upstream)
        _rst(client)

    def _slowdown(self, client: socket.socket, req: _Request) -> None:
        body = b"" if req.method == "HEAD" else _SLOWDOWN_BODY
        head = (
            "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
            f"Content-Length: {len(_SLOWDOWN_BODY)}\r\nConnection: close\r\n"
            "x-amz-request-id: faultproxy\r\n\r\n"
        )
        client.sendall(head.encode() + body)
        # read what the client still sends (a body) so closing does not turn into a reset
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_WR)
            client.settimeout(5)
            while client.recv(65536):
                pass


def _read_request(client: socket.socket) -> _Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > _HEAD_LIMIT:
            raise OSError("request head too long")
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    kept = [(k, v) for k, v in headers if k.lower() not in ("connection", "keep-alive")]
    out = [f"{method} {target} {version}"] + [f"{k}: {v}" for k, v in kept]
    out.append("Connection: close")
    forwarded = ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")
    return _Request(method, target, headers, forwarded, rest)


def _relay(client: socket.socket, upstream: socket.socket, limit: int | None) -> bool:
    """Pass bytes both ways in one thread (so a reset is never held up by a blocked reader)
    until the server closes or a side fails (True), or ``limit`` bytes of the answer were
    passed on (False)."""
    sent = 0
    sources = [client, upstream]
    with contextlib.suppress(OSError, ValueError):
        while True:
            readable, _, _ = select.select(sources, [], [], 120)
            if not readable:
                return True  # idle for two minutes: give up on this connection
            if client in readable:
                chunk = client.recv(65536)
                if chunk:
                    upstream.sendall(chunk)
                else:  # the client sent everything it will send
                    sources.remove(client)
            if upstream in readable:
                chunk = upstream.recv(65536)
                if not chunk:
                    return True
                if limit is not None and sent + len(chunk) >= limit:
                    client.sendall(chunk[: limit - sent])
                    return False
                client.sendall(chunk)
                sent += len(chunk)
    return True


def _rst(sock: socket.socket) -> None:
    """Close ``sock`` with a TCP reset instead of an orderly FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
