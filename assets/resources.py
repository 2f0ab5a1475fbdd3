"""Resources: where data lives and the stage configs, chosen in one place."""

import dagster as dg

from pipeline.config import VideoConfig, WindowConfig
from pipeline.io.settings import LapsSettings
from pipeline.io.storage import Storage
from pipeline.tracks.tracking import TrackingConfig


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


class LapsConfig(dg.ConfigurableResource):
    """Normalization and windowing, shared by every stage (one convention, one code path)."""

    target_fps: float = 10.0
    short_side: int = 320
    chunk_seconds: float = 600.0
    window_frames: int = 16
    stride_frames: int = 4
    grid_size: int = 20
    tracking_method: str = "dis"
    camera_compensation: str = "auto"

    def video(self) -> VideoConfig:
        return VideoConfig(
            target_fps=self.target_fps, short_side=self.short_side, chunk_seconds=self.chunk_seconds
        )

    def windows(self) -> WindowConfig:
        return WindowConfig(
            window_frames=self.window_frames,
            stride_frames=self.stride_frames,
            grid_size=self.grid_size,
        )

    def tracking(self) -> TrackingConfig:
        return TrackingConfig(
            method=self.tracking_method, camera_compensation=self.camera_compensation
        )
