"""A real OpenAI-compatible chat server for tests, on a free loopback port.

``POST /v1/chat/completions`` answers in the shape the openai SDK parses (``chat.completion``
with ``choices[0].message.content``); ``GET /v1/models`` lists the one model. What it answers
is scripted per segment: a test puts a marker (any bytes) into a segment's keyframe bytes and
``script(marker, reply, reply, ...)`` queues replies for the requests whose images carry it
(the last one repeats); other requests get ``default``. Every request is recorded (headers,
JSON body, decoded images, marker), and the most requests in flight at once is tracked.

    with VlmServer() as server:
        server.script(b"seg-a", error(429), answer("tighten", "Tighten the screw."))
        cfg = LanguageConfig(base_url=server.base_url, model=server.model)
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

DATA_URI = "data:image/jpeg;base64,"


def fake_jpeg(marker: bytes = b"") -> bytes:
    """Bytes that start and end like a JPEG and carry a marker the server scripts by."""
    return b"\xff\xd8\xff\xe0" + marker + b"\xff\xd9"


@dataclass(frozen=True)
class Reply:
    """One scripted answer. ``content``: the assistant message text of a 200 answer; ``raw``:
    a whole body instead (not JSON, say); ``status`` != 200: an OpenAI-style error body (its
    message ``message``, plus the request's Authorization header if ``echo_auth``).
    ``delay_s``: wait this long first (past the client's timeout, for timeouts).
    ``reject_response_format``: answer 400 when the request asks for ``response_format`` (as
    servers that do not support it do), otherwise ``then``."""

    status: int = 200
    content: str | None = None
    raw: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    message: str = ""
    echo_auth: bool = False
    delay_s: float = 0.0
    reject_response_format: bool = False
    then: Reply | None = None


def answer(verb: str = "tighten", instruction: str = "Tighten the screw.", **extra: Any) -> Reply:
    """A valid answer: the JSON object as the message content (extra keys added)."""
    return Reply(content=json.dumps({"verb": verb, "instruction": instruction, **extra}))


def text(content: str) -> Reply:
    """A 200 answer whose message content is ``content`` verbatim (fenced, malformed, huge)."""
    return Reply(content=content)


def error(
    status: int, *, retry_after: str | None = None, message: str = "", echo_auth: bool = False
) -> Reply:
    headers = (("Retry-After", retry_after),) if retry_after is not None else ()
    return Reply(status=status, headers=headers, message=message or f"scripted {status}",
                 echo_auth=echo_auth)  # fmt: skip


def slow(seconds: float, then: Reply | None = None) -> Reply:
    """``then`` (a valid answer by default) after ``seconds``."""
    return dataclasses.replace(then or answer(), delay_s=seconds)


def no_json_mode(then: Reply | None = None) -> Reply:
    return Reply(reject_response_format=True, then=then or answer())


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    images: list[bytes]
    image_urls: list[str]
    marker: bytes | None


@dataclass
class VlmServer:
    model: str = "test-vlm"
    default: Reply = field(default_factory=answer)
    requests: list[Request] = field(default_factory=list)
    max_in_flight: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[bytes, list[Reply]] = {}
        self._in_flight = 0
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- control ---
    def script(self, marker: bytes, *replies: Reply) -> None:
        with self._lock:
            self._scripts[marker] = list(replies)

    def requests_for(self, marker: bytes) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.marker == marker]

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_in_flight = 0

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> VlmServer:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True, name="vlmserver")  # fmt: skip
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> VlmServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- used by the handler ---
    def _next_reply(self, marker: bytes | None) -> Reply:
        with self._lock:
            queue = self._scripts.get(marker) if marker is not None else None
            if not queue:
                return self.default
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def _marker(self, images: list[bytes]) -> bytes | None:
        with self._lock:
            markers = list(self._scripts)
        for m in markers:
            if any(m in img for img in images):
                return m
        return None

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1


def _images(body: dict[str, Any]) -> tuple[list[str], list[bytes]]:
    urls: list[str] = []
    for msg in body.get("messages", []):
        content = msg.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            if isinstance(part, dict) and part.get("type") == "image_url":
                urls.append(str(part.get("image_url", {}).get("url", "")))
    decoded = [base64.b64decode(u[len(DATA_URI) :]) for u in urls if u.startswith(DATA_URI)]
    return urls, decoded


class _Handler(BaseHTTPRequestHandler):
    owner: VlmServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read .requests
        log.debug("vlmserver: " + format, *args)

    def _send(self, status: int, payload: bytes, headers: Iterator[tuple[str, str]] | tuple = ()):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.rstrip("/") == "/v1/models":
            body = {"object": "list", "data": [{"id": self.owner.model, "object": "model",
                                                 "created": 0, "owned_by": "test"}]}  # fmt: skip
            self._send(200, json.dumps(body).encode())
        else:
            self._send(404, b'{"error": {"message": "not found"}}')

    def do_POST(self) -> None:  # noqa: N802
        owner = self.owner
        owner._enter()
        try:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            body = json.loads(raw or b"{}")
            urls, images = _images(body)
            marker = owner._marker(images)
            headers = {k.lower(): v for k, v in self.headers.items()}
            with owner._lock:
                owner.requests.append(Request(self.path, headers, body, images, urls, marker))
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, b'{"error": {"message": "not found"}}')
                return
            reply = owner._next_reply(marker)
            if reply.reject_response_format:
                if "response_format" in body:
                    msg = {"error": {"message": "response_format is not supported",
                                     "type": "invalid_request_error", "code": None}}  # fmt: skip
                    self._send(400, json.dumps(msg).encode())
                    return
                reply = reply.then or owner.default
            if reply.delay_s and owner._stop.wait(reply.delay_s):
                return
            self._reply(reply, body, headers)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout)
            log.debug("vlmserver: client went away")
        finally:
            owner._leave()

    def _reply(self, reply: Reply, body: dict[str, Any], headers: dict[str, str]) -> None:
        if reply.status != 200:
            message = reply.message
            if reply.echo_auth:
                message += f" (got Authorization: {headers.get('authorization', '')})"
            err = {"error": {"message": message, "type": "scripted", "code": reply.status}}
            self._send(reply.status, json.dumps(err).encode(), reply.headers)
            return
        if reply.raw is not None:
            self._send(200, reply.raw, reply.headers)
            return
        completion = {
            "id": f"chatcmpl-{len(self.owner.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.owner.model),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }
        self._send(200, json.dumps(completion).encode(), reply.headers)
