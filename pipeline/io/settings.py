"""Where data lives: one settings object read from the environment, with defaults that run.

- ``LAPS_DATA_ROOT``: local working folder (default ``./data``, made absolute at start-up).
- ``LAPS_LANDING_URI``: where raw video lands (default ``<data root>/landing``); may be
  ``s3://bucket/prefix``.
- ``LAPS_STORE_URI``: where tables, tracks, models and clips go (default ``<data root>``); may be
  ``s3://bucket/prefix``.
- ``LAPS_CATALOG``: the DuckDB catalog file (default ``<data root>/catalog.duckdb``; always local).
- S3 endpoint and credentials: ``LAPS_S3_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL``),
  ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from pipeline.io.storage import S3Settings, Storage, open_storage


class LapsSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    data_root: str
    landing_uri: str
    store_uri: str
    catalog_path: str

    @classmethod
    def from_env(cls, **overrides: str | None) -> LapsSettings:
        env = os.environ
        root = str(
            Path(overrides.get("data_root") or env.get("LAPS_DATA_ROOT") or "data").resolve()
        )
        values = {
            "data_root": root,
            "landing_uri": overrides.get("landing_uri")
            or env.get("LAPS_LANDING_URI")
            or str(Path(root) / "landing"),
            "store_uri": overrides.get("store_uri") or env.get("LAPS_STORE_URI") or root,
            "catalog_path": overrides.get("catalog_path")
            or env.get("LAPS_CATALOG")
            or str(Path(root) / "catalog.duckdb"),
        }
        return cls(**values)

    def landing(self) -> Storage:
        return open_storage(self.landing_uri, s3=S3Settings.from_env())

    def store(self) -> Storage:
        return open_storage(self.store_uri, s3=S3Settings.from_env())
