"""Fixtures shared by the pipeline tests (defined in ``tests/lapstest``)."""

from lapstest.eval_stores import gt_for_specs, segfile_factory, specs, store_factory, video_spec
from lapstest.segment_stores import block_store
from lapstest.signals import piecewise

__all__ = [
    "block_store",
    "gt_for_specs",
    "piecewise",
    "segfile_factory",
    "specs",
    "store_factory",
    "video_spec",
]
