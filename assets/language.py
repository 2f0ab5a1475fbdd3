"""Language assets: a verb and an instruction per segment from a vision-language model
(``pipeline.stages`` stage ``labels``; docs/language.md).

The endpoint is config (``language.base_url``, ``language.model``); the API key is a secret:
the ``vlm_credentials`` resource (``dg.EnvVar("LAPS_VLM_API_KEY")`` when that variable is set
where the code location loads), else the variable ``language.api_key_env`` names. Without an
endpoint the asset completes with every segment ``disabled``.
"""

import dagster as dg

from assets.metadata import rounded, standard, table_metadata
from assets.partitions import date_and_station, date_station
from assets.resources import LapsConfig, LapsStorage, VlmCredentials, stage_context
from assets.retries import NETWORK_RETRY, run_stage
from pipeline.io import schemas


@dg.asset(
    partitions_def=date_station,
    group_name="language",
    kinds={"openai", "parquet"},
    deps=["segments", "segment_clips"],
    pool="vlm",
    retry_policy=NETWORK_RETRY,  # the vision-language endpoint and the store
    **standard("labels"),
    metadata=table_metadata(schemas.SEGMENT_LABELS),
    check_specs=[
        dg.AssetCheckSpec(
            "labels_without_errors",
            asset="segment_labels",
            description="no segment's request failed (warns: failed segments are retried on "
            "the next run; cached answers are never asked again)",
        )
    ],
    description="Per segment: a verb and an instruction from an OpenAI-compatible vision-"
    "language endpoint shown its keyframes (status ok | cached | error | disabled, error "
    "reason). Untrusted plain text; never rendered as markup.",
)
def segment_labels(
    context: dg.AssetExecutionContext,
    storage: LapsStorage,
    laps_config: LapsConfig,
    vlm_credentials: VlmCredentials,
) -> dg.MaterializeResult:
    date, station = date_and_station(context)
    ctx = stage_context(storage, laps_config, date=date, station=station)
    ctx.vlm_api_key = vlm_credentials.api_key or None
    summary = run_stage("labels", ctx)
    info = summary.extra
    if not info["enabled"]:
        context.log.info("no VLM endpoint configured (language.base_url): labels disabled")
    errors = info["errors"]
    return dg.MaterializeResult(
        metadata=rounded(
            {
                "enabled": info["enabled"],
                "model": info["model"] or "none",
                "status": dg.MetadataValue.json(info["status"]),
                "requests": info["requests"],
                "labelled": info["labelled"],
                "dagster/row_count": summary.rows["segment_labels"],
            }
        ),
        check_results=[
            dg.AssetCheckResult(
                check_name="labels_without_errors",
                passed=not errors,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"errors": dg.MetadataValue.json(errors)},
            )
        ],
    )
