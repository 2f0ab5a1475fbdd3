"""Resources: where data lives and the pipeline's config, chosen in one place.

``LapsConfig`` is generated from ``pipeline.stages.PipelineConfig`` (``assets.config``): its
sections and fields are the core's, with the core's defaults and descriptions, so the run
config of any job has the shape of a ``laps segment --config`` file::

    resources:
      laps_config:
        config:
          segmentation: {method: hysteresis, max_len_sec: 2.0}
          tokenizer: {max_epochs: 5}
"""

from __future__ import annotations

import dagster as dg
from pydantic import ValidationError

from assets.config import dagster_config, to_core
from assets.retries import fail_once_on_bad_input
from pipeline.errors import ConfigError
from pipeline.io.settings import LapsSettings
from pipeline.io.storage import Storage
from pipeline.stages import PipelineConfig, StageContext, describe_invalid


class LapsStorage(dg.ConfigurableResource):
    """Landing location, output store and catalog. Empty values fall back to the environment
    (``LAPS_DATA_ROOT``, ``LAPS_LANDING_URI``, ``LAPS_STORE_URI``, ``LAPS_CATALOG``) and then to
    ``./data``. S3 credentials always come from the environment (``AWS_*``)."""

    data_root: str = ""
    landing_uri: str = ""
    store_uri: str = ""
    catalog_path: str = ""

    def settings(self) -> LapsSettings:
        return LapsSettings.from_env(
            data_root=self.data_root or None,
            landing_uri=self.landing_uri or None,
            store_uri=self.store_uri or None,
            catalog_path=self.catalog_path or None,
        )

    def landing(self) -> Storage:
        return self.settings().landing()

    def store(self) -> Storage:
        return self.settings().store()


class VlmCredentials(dg.ConfigurableResource):
    """The vision-language endpoint's API key (a secret: set it with ``dg.EnvVar``, or in run
    config as ``{env: LAPS_VLM_API_KEY}``, so the UI shows the variable's name, never the key).
    Empty: the key comes from the variable ``language.api_key_env`` names, else ``EMPTY``
    (what vLLM, Ollama and llama.cpp servers accept)."""

    api_key: str = ""


_LapsConfigBase = dagster_config(
    PipelineConfig, base=dg.ConfigurableResource, name="_LapsConfigBase"
)


class LapsConfig(_LapsConfigBase):  # type: ignore[misc, valid-type]
    """Every stage's settings (``pipeline.stages.PipelineConfig``; the defaults run)."""

    def pipeline(self) -> PipelineConfig:
        """The core config (validated by the core's models)."""
        return to_core(PipelineConfig, self)  # type: ignore[return-value]


def stage_context(
    storage: LapsStorage, laps_config: LapsConfig, *, date: str = "", station: str = ""
) -> StageContext:
    """The ``StageContext`` of one asset run. Progress reaches the run's event log through the
    core's own loggers (``python_logs`` in dagster.yaml), so no callback is needed. A config
    the core refuses fails the step once, naming the offending value (no retries)."""
    with fail_once_on_bad_input():
        try:
            config = laps_config.pipeline()
        except ValidationError as exc:
            raise ConfigError(f"laps_config: {describe_invalid(exc)}") from exc
        return StageContext(
            store=storage.store(),
            date=date,
            station=station,
            config=config,
            landing=storage.landing(),
        )
