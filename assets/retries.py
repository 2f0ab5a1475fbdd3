"""Step retry policies for the assets that touch the store or a network.

A transient failure that outlived the storage layer's own retries (``LAPS_S3_*`` in
``pipeline.io.storage.settings``: a store restarting, a network partition) or a vision-language
endpoint that is down fails the step; Dagster then retries that step alone, waiting
``delay * 2**attempt`` seconds (with jitter), instead of failing the night's run. A failure
that says the input is wrong (``dg.Failure(allow_retries=False)``, e.g. no video landed) is not
retried. Run-level retries (a crashed run worker) are the instance's ``run_retries``
(docker/dagster.yaml)."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from pipeline import stages
from pipeline.errors import (
    LanguageError,
    LapsError,
    StorageAccessError,
    StorageError,
    StorageKeyError,
    StorageKeyNameError,
)
from pipeline.stages import StageContext, StageSummary

# store reads and writes: ingest, clips, publish (waits about 10 s, 20 s, 40 s)
STORE_RETRY = dg.RetryPolicy(
    max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
# the vision-language endpoint: longer waits, a server restart takes minutes (30 s, 60 s, 120 s)
NETWORK_RETRY = dg.RetryPolicy(
    max_retries=3, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)

# Storage failures that no retry can mend: a key that cannot name an object, a missing object
# (an upstream partition never materialized), and the backend's refusals by code.
_PERMANENT_STORAGE = (StorageKeyNameError, StorageKeyError)
_PERMANENT_ACCESS_CODES = frozenset(
    {"AccessDenied", "NoSuchBucket", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "404"}
)


def transient(exc: BaseException) -> bool:
    """Whether a retry may mend ``exc``: a storage failure (the store restarting, a network
    partition, throttling) or the vision-language endpoint; not an error of the pipeline that
    says the input or the config is wrong (``ConfigError``, an undecodable video, a station that
    cannot be calibrated, ...). Exceptions the pipeline does not raise on purpose count as
    transient (the policy's retries are bounded)."""
    if not isinstance(exc, LapsError):
        return True
    if isinstance(exc, _PERMANENT_STORAGE):
        return False
    if isinstance(exc, StorageAccessError):
        return exc.code not in _PERMANENT_ACCESS_CODES
    return isinstance(exc, StorageError | LanguageError)


@contextmanager
def fail_once_on_bad_input() -> Iterator[None]:
    """Turn a pipeline error that a retry cannot mend into ``dg.Failure(allow_retries=False)``
    (its message, the original as the cause), so the step fails at once instead of retrying
    the same mistake with backoff; transient errors propagate to the retry policy."""
    try:
        yield
    except LapsError as exc:
        if transient(exc):
            raise
        raise dg.Failure(description=f"{type(exc).__name__}: {exc}", allow_retries=False) from exc


def run_stage(name: str, ctx: StageContext) -> StageSummary:
    """``pipeline.stages.run_stage`` for an asset: bad input fails once (see above)."""
    with fail_once_on_bad_input():
        return stages.run_stage(name, ctx)
