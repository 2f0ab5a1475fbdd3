"""Dagster asset checks from the core's rules (``pipeline.checks``): specs and results.

A structural check (schema version, unique ids, nulls, contiguous and monotonic rows, code
range, row counts against the previous stage, clips that decode) is a blocking ERROR check: when
it fails, the asset's step fails and nothing downstream of it runs in that run.
"""

from collections.abc import Mapping

import dagster as dg

from assets.metadata import rounded
from pipeline.checks import Check


def blocking_specs(asset: str, descriptions: Mapping[str, str]) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(name, asset=asset, blocking=True, description=text)
        for name, text in descriptions.items()
    ]


def results(
    checks: Mapping[str, Check], *, asset_key: str | None = None
) -> list[dg.AssetCheckResult]:
    """ERROR-severity results of the core's checks (for blocking specs)."""
    return [
        dg.AssetCheckResult(
            asset_key=asset_key,
            check_name=name,
            passed=bool(c.passed),
            severity=dg.AssetCheckSeverity.ERROR,
            description=c.description,
            metadata=rounded({k: _meta(v) for k, v in c.metadata.items()}),
        )
        for name, c in checks.items()
    ]


def _meta(value):
    if value is None:
        return dg.MetadataValue.null()
    return dg.MetadataValue.json(value) if isinstance(value, (dict, list, tuple)) else value
