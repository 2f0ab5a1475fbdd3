"""Language labels from a VLM behind any OpenAI-compatible chat endpoint (docs/language.md).

For each segment a few keyframes (JPEG bytes, extracted by the caller) are sent as
``data:image/jpeg;base64,...`` image parts with a prompt that asks for one JSON object
``{"verb": ..., "instruction": ...}``; the answer is validated (``PrimitiveLabel``) and cached
(``pipeline.language.cache``), so a rerun makes no request for a segment already answered.

``label_segments`` runs the requests on a thread pool of ``max_concurrency`` workers that share
one ``RateLimiter``. The openai client is built with ``max_retries=0``: this module's loop does
the retries, with backoff (``throttle.backoff_delay``, a server's ``Retry-After`` honoured),
on 429, 5xx, timeouts and connection errors; any other 4xx is final for that segment. An answer
that fails validation is asked for once more, then the segment's status is ``error`` with
reason ``invalid_answer``. One segment's failure never stops the others.

The instruction is untrusted text from a model: it is stored verbatim as plain text (control
characters removed) and never interpreted; whoever renders it escapes it.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Literal

from pipeline.errors import AnswerError, LanguageError, StorageError
from pipeline.io.keys import label_cache_key
from pipeline.language.answer import PrimitiveLabel, parse_answer, plain_text
from pipeline.language.cache import LabelCache
from pipeline.language.config import EMPTY_API_KEY, LanguageConfig
from pipeline.language.throttle import RateLimiter, backoff_delay, retry_after_s

log = logging.getLogger(__name__)

PROMPT_VERSION = "v1"
"""Bump whenever the prompt or the answer's validation changes: it is part of the cache key."""

_DETAIL_CHARS = 200  # error details are cut to this

SYSTEM_PROMPT = (
    "You label short video clips recorded at a factory workstation. Each clip shows one action "
    "primitive done by a worker's hands or a robot arm. Reply with exactly one JSON object and "
    'nothing else: {"verb": "<one lower-case English verb or short verb phrase, such as pick, '
    'place, insert, tighten, pick up>", "instruction": "<one imperative sentence of at most 30 '
    'words telling a robot to do what the clip shows>"}.'
)
USER_PROMPT = (
    "These are {n} keyframes of one clip, in time order. Which action do they show? "
    "Reply with the JSON object only."
)

Status = Literal["ok", "cached", "error", "disabled"]
STATUSES: tuple[str, ...] = ("ok", "cached", "error", "disabled")
Progress = Callable[[int, int], None]
"""``progress(done, total)``, called in the caller's thread once per finished segment."""


# ---------------------------------------------------------------------------------------------
# requests and results


@dataclass(frozen=True)
class LabelRequest:
    """One segment to label: its id and its keyframes as JPEG bytes, in time order."""

    segment_id: str
    images: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class LabelResult:
    """What became of one segment. ``error``: machine-readable reason first (``http_429``,
    ``http_500``, ``http_400``, ``timeout``, ``connection``, ``invalid_answer``, ``no_images``,
    ``bad_image``, ``client_error``), then ``": "`` and a short detail; never the API key.
    ``attempts``: HTTP requests made for it in this run (0 when cached or disabled)."""

    segment_id: str
    status: Status
    verb: str | None = None
    instruction: str | None = None
    error: str | None = None
    model: str | None = None
    prompt_version: str = PROMPT_VERSION
    attempts: int = 0


def label_rows(results: Iterable[LabelResult]) -> list[dict[str, Any]]:
    """Rows of the ``segment_labels`` table (``pipeline.io.schemas.SEGMENT_LABELS``)."""
    return [
        {
            "segment_id": r.segment_id,
            "status": r.status,
            "verb": r.verb,
            "instruction": r.instruction,
            "error": r.error,
            "model": r.model,
            "prompt_version": r.prompt_version,
            "attempts": min(int(r.attempts), 32767),
        }
        for r in results
    ]


def pick_images(images: Sequence[bytes], k: int) -> list[bytes]:
    """At most ``k`` of ``images``, evenly spaced, first and last included."""
    n = len(images)
    if n <= k:
        return list(images)
    if k == 1:
        return [images[n // 2]]
    return [images[round(i * (n - 1) / (k - 1))] for i in range(k)]


def build_messages(images: Sequence[bytes]) -> list[dict[str, Any]]:
    """The chat messages of one segment: the system prompt, then the user text and images."""
    parts: list[dict[str, Any]] = [{"type": "text", "text": USER_PROMPT.format(n=len(images))}]
    for jpeg in images:
        url = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": parts}]


# ---------------------------------------------------------------------------------------------
# the loop


def label_segments(
    requests: Iterable[LabelRequest],
    cfg: LanguageConfig,
    *,
    api_key: str | None,
    cache: LabelCache | None,
    progress: Progress | None = None,
) -> list[LabelResult]:
    """One ``LabelResult`` per request, in request order (module doc).

    ``base_url=None``: every result is ``disabled`` and nothing is sent or read. Otherwise a
    segment with a cached answer (same model, prompt version and segment id) is ``cached``; the
    others are sent. ``api_key=None`` or empty sends ``"EMPTY"``. ``LanguageError`` for
    duplicate or invalid segment ids (before any request)."""
    reqs = list(requests)
    _check_ids(reqs)
    total = len(reqs)
    if not cfg.enabled:
        out = [LabelResult(r.segment_id, "disabled") for r in reqs]
        for i in range(total):
            if progress:
                progress(i + 1, total)
        return out
    results: list[LabelResult | None] = [None] * total
    todo: list[int] = []
    done = 0
    for i, req in enumerate(reqs):
        label = cache.get(cfg.model, PROMPT_VERSION, req.segment_id) if cache else None
        problem = None if label else _image_problem(req.images)
        if label is not None:
            results[i] = LabelResult(req.segment_id, "cached", label.verb, label.instruction,
                                     model=cfg.model)  # fmt: skip
        elif problem is not None:
            results[i] = LabelResult(req.segment_id, "error", error=problem, model=cfg.model)
        else:
            todo.append(i)
            continue
        done += 1
        if progress:
            progress(done, total)
    if todo:
        with (
            _Labeller(cfg, api_key) as labeller,
            ThreadPoolExecutor(
                max_workers=min(cfg.max_concurrency, len(todo)), thread_name_prefix="vlm"
            ) as pool,
        ):
            futures = {pool.submit(labeller.label, reqs[i]): i for i in todo}
            for fut in as_completed(futures):
                i = futures[fut]
                res, label = fut.result()
                results[i] = res
                if label is not None and cache is not None:
                    _cache_put(cache, cfg.model, res.segment_id, label)
                done += 1
                if progress:
                    progress(done, total)
    final = [r for r in results if r is not None]
    counts = Counter(r.status for r in final)
    reasons = Counter((r.error or "").split(":")[0] for r in final if r.status == "error")
    log.info("labelled %d segments with %s: %s%s", total, cfg.model, dict(counts),
             f"; errors {dict(reasons)}" if reasons else "")  # fmt: skip
    return final


def _check_ids(reqs: Sequence[LabelRequest]) -> None:
    seen: set[str] = set()
    dupes: list[str] = []
    for r in reqs:
        try:
            label_cache_key("m", PROMPT_VERSION, r.segment_id)
        except ValueError as exc:
            raise LanguageError(str(exc)) from None
        if r.segment_id in seen:
            dupes.append(r.segment_id)
        seen.add(r.segment_id)
    if dupes:
        raise LanguageError(f"duplicate segment ids in label requests: {sorted(set(dupes))[:5]}")


def _image_problem(images: Sequence[bytes]) -> str | None:
    if not images:
        return "no_images: the segment has no keyframes"
    for k, jpeg in enumerate(images):
        if not isinstance(jpeg, bytes | bytearray) or bytes(jpeg[:2]) != b"\xff\xd8":
            return f"bad_image: keyframe {k} is not JPEG bytes"
    return None


def _cache_put(cache: LabelCache, model: str, segment_id: str, label: PrimitiveLabel) -> None:
    try:
        cache.put(model, PROMPT_VERSION, segment_id, label)
    except StorageError as exc:  # the label is still returned; the next run asks again
        log.warning("label cache write failed for %s: %s", segment_id, exc)


class _Labeller:
    """One openai client and rate limiter shared by the workers; ``label`` runs in a worker."""

    def __init__(self, cfg: LanguageConfig, api_key: str | None) -> None:
        import openai  # imported here: a disabled config never needs the SDK

        self._openai = openai
        self.cfg = cfg
        self._key = (api_key or "").strip() or EMPTY_API_KEY
        self.client = openai.OpenAI(base_url=cfg.base_url, api_key=self._key, max_retries=0,
                                    timeout=cfg.timeout_s)  # fmt: skip
        self.limiter = RateLimiter(cfg.requests_per_minute)
        self._json = cfg.json_mode != "off"
        self._lock = threading.Lock()

    def __enter__(self) -> _Labeller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def _create(self, messages: list[dict[str, Any]], use_json: bool) -> Any:
        extra: dict[str, Any] = {"response_format": {"type": "json_object"}} if use_json else {}
        try:
            return self.client.chat.completions.create(
                model=self.cfg.model, messages=messages,  # type: ignore[arg-type]
                max_tokens=self.cfg.max_tokens, temperature=self.cfg.temperature, **extra,
            )  # fmt: skip
        except json.JSONDecodeError as exc:  # a 200 whose body is not JSON (a proxy's page)
            raise AnswerError(f"response body is not JSON ({exc.msg})") from None
        except RecursionError:  # a body nested deeper than json decodes
            raise AnswerError("response body is nested too deeply") from None

    def label(self, req: LabelRequest) -> tuple[LabelResult, PrimitiveLabel | None]:
        cfg, openai = self.cfg, self._openai
        messages = build_messages(pick_images(req.images, cfg.keyframes))
        attempts = retries = invalid = 0
        json_fallback = False
        while True:
            self.limiter.acquire()
            attempts += 1
            use_json = self._json
            try:
                content = _content(self._create(messages, use_json))
                label = parse_answer(content)
            except openai.APIStatusError as exc:
                code = exc.status_code
                if code == 400 and use_json and cfg.json_mode == "auto" and not json_fallback:
                    json_fallback = True  # perhaps the server rejects response_format
                    with self._lock:
                        if self._json:
                            log.info("%s answered 400 with response_format; sending none",
                                     cfg.base_url)  # fmt: skip
                        self._json = False
                    continue
                reason = f"http_{code}"
                if code == 429 or code >= 500:
                    wait = retry_after_s(exc.response.headers)
                    if retries < cfg.max_retries:
                        self._pause(retries, wait, shared=code == 429)
                        retries += 1
                        continue
                return self._error(req, reason, self._detail(exc), attempts), None
            except openai.APITimeoutError:
                if retries < cfg.max_retries:
                    self._pause(retries, None, shared=False)
                    retries += 1
                    continue
                return self._error(req, "timeout", f"no answer in {cfg.timeout_s:g} s",
                                   attempts), None  # fmt: skip
            except openai.APIConnectionError as exc:
                if retries < cfg.max_retries:
                    self._pause(retries, None, shared=False)
                    retries += 1
                    continue
                return self._error(req, "connection", self._detail(exc), attempts), None
            except (AnswerError, openai.APIResponseValidationError) as exc:
                invalid += 1
                if invalid < 2:
                    continue
                return self._error(req, "invalid_answer", self._detail(exc), attempts), None
            except openai.OpenAIError as exc:  # anything else the SDK raises: final, this one
                return self._error(req, "client_error", self._detail(exc), attempts), None
            result = LabelResult(req.segment_id, "ok", label.verb, label.instruction,
                                 model=cfg.model, attempts=attempts)  # fmt: skip
            return result, label

    def _pause(self, retry: int, retry_after: float | None, *, shared: bool) -> None:
        delay = backoff_delay(retry, base_s=self.cfg.backoff_s, cap_s=self.cfg.max_backoff_s,
                              retry_after=retry_after)  # fmt: skip
        if shared:
            self.limiter.defer(delay)
        time.sleep(delay)

    def _error(self, req: LabelRequest, reason: str, detail: str, attempts: int) -> LabelResult:
        error = f"{reason}: {detail}" if detail else reason
        return LabelResult(req.segment_id, "error", error=error, model=self.cfg.model,
                           attempts=attempts)  # fmt: skip

    def _detail(self, exc: BaseException) -> str:
        """A short printable detail of ``exc`` that never carries the API key."""
        text = plain_text(str(exc))
        if self._key != EMPTY_API_KEY and len(self._key) >= 4:  # shorter: nothing to hide
            text = text.replace(self._key, "***")
        return text[:_DETAIL_CHARS]


def _content(response: Any) -> str | None:
    """The first choice's message text; AnswerError when the response has none."""
    choices = getattr(response, "choices", None)
    if not choices:
        raise AnswerError("response has no choices")
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None)
    if content is not None and not isinstance(content, str):
        raise AnswerError(f"message content is {type(content).__name__}, not text")
    return content
