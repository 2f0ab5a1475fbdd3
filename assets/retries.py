"""Step retry policies for the assets that touch the store or a network.

A transient failure that outlived the storage layer's own retries (``LAPS_S3_*`` in
``pipeline.io.storage.settings``: a store restarting, a network partition) or a vision-language
endpoint that is down fails the step; Dagster then retries that step alone, waiting
``delay * 2**attempt`` seconds (with jitter), instead of failing the night's run. A failure
that says the input is wrong (``dg.Failure(allow_retries=False)``, e.g. no video landed) is not
retried. Run-level retries (a crashed run worker) are the instance's ``run_retries``
(docker/dagster.yaml)."""

import dagster as dg

# store reads and writes: ingest, clips, publish (waits about 10 s, 20 s, 40 s)
STORE_RETRY = dg.RetryPolicy(
    max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
# the vision-language endpoint: longer waits, a server restart takes minutes (30 s, 60 s, 120 s)
NETWORK_RETRY = dg.RetryPolicy(
    max_retries=3, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
