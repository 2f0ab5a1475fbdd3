"""A bounded process pool for the per-video work of a stage (the ``workers`` setting).

Independent videos of a partition (their tracks, their clips) go to at most ``workers``
processes; each video is decoded once, by one process. Results come back in the order of the
inputs and the stage assembles them exactly as it does with one worker, so outputs are the same
rows and bytes whatever ``workers`` is (``tests/pipeline/test_workers.py``).

Workers fork from a fork server that has the pipeline imported (no inherited threads or
sockets; safe under Dagster and with S3 clients; *spawned* where there is no fork server),
are pinned to one thread each for OpenCV and BLAS, and are handed the store as its location
(a local root or an ``s3://`` URI and its settings), which each reopens once. A store
that cannot be reopened that way (a test double) runs the work in this process, as does
``workers=1`` or a single video. The function must be a module-level function and must catch
the per-video faults it expects itself (it returns them, e.g. as failure rows): an exception
that escapes a worker ends the stage, as it would in process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from pipeline.io.storage import Storage

log = logging.getLogger(__name__)

T = TypeVar("T")
StoreHandle = tuple[str, str, Any]  # ("local", root, None) | ("s3", root uri, S3Settings)

_OPENED: dict[str, Storage] = {}  # in a worker: its store, opened once


def store_handle(store: Storage) -> StoreHandle | None:
    """How a worker process reopens ``store``; ``None`` when it cannot (not a plain store)."""
    from pipeline.io.storage import LocalStorage
    from pipeline.io.storage.s3 import S3Storage

    if type(store) is LocalStorage:
        return ("local", store.root, None)
    if type(store) is S3Storage:
        return ("s3", store.root, store.settings)
    return None


def _reopen(handle: StoreHandle) -> Storage:
    from pipeline.io.storage import LocalStorage
    from pipeline.io.storage.s3 import S3Storage

    kind, root, settings = handle
    key = f"{kind}:{root}"
    if key not in _OPENED:
        _OPENED[key] = LocalStorage(root) if kind == "local" else S3Storage(root, settings=settings)
    return _OPENED[key]


def _init_worker() -> None:
    """One thread per library in each worker: the pool is the parallelism."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    import cv2

    cv2.setNumThreads(1)


# Imported once by the fork server, before any worker forks from it: the per-video work of
# the stages that use the pool, so no worker imports them again.
PRELOAD = ("pipeline.tracks.stage", "pipeline.segments.stage")


def _context(fn: Callable[..., Any]) -> multiprocessing.context.BaseContext:
    """The pool's start method: a *fork server* where the platform has one (Linux, macOS).

    The server is one single-threaded process per parent, started on first use; it imports
    the caller's ``__main__``, this module, ``PRELOAD`` and ``fn``'s module once, and each
    worker forks from it in milliseconds. With *spawn*, every worker started a fresh interpreter
    and imported all of that itself (seconds each; for ``laps``, once the whole CLI). Workers
    never fork from the caller, so they inherit no threads, sockets or S3 clients; the store
    and its settings reach them as arguments, the caller's working directory as spawn's would.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    modules = dict.fromkeys(("__main__", __name__, *PRELOAD, fn.__module__))
    ctx.set_forkserver_preload(list(modules))  # no effect once the server runs
    return ctx


def _call(fn: Callable[..., T], handle: StoreHandle, args: tuple) -> T:
    return fn(_reopen(handle), *args)


def map_videos(
    fn: Callable[..., T],
    store: Storage,
    items: Sequence[tuple],
    *,
    workers: int = 1,
    on_result: Callable[[int, T], None] | None = None,
) -> list[T]:
    """``[fn(store, *item) for item in items]``, on up to ``workers`` processes, in order.

    ``on_result(i, result)`` is called in this process as results arrive, in input order.
    """
    handle = store_handle(store)
    n = min(max(1, workers), len(items))
    if n <= 1 or handle is None:
        if n > 1:
            log.info("store %s cannot be reopened in a worker: one process", type(store).__name__)
        out = []
        for i, item in enumerate(items):
            out.append(fn(store, *item))
            if on_result:
                on_result(i, out[-1])
        return out
    ctx = _context(fn)
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_init_worker) as pool:
        futures = [pool.submit(_call, fn, handle, tuple(item)) for item in items]
        out = []
        try:
            for i, fut in enumerate(futures):
                out.append(fut.result())
                if on_result:
                    on_result(i, out[-1])
        except BaseException:  # the rest is not started; the running ones finish
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        return out
