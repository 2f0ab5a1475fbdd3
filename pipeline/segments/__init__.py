"""Segments: Latent Action Energy, label-free calibration, the segmenters, segment files and
clips. ``config`` (``SegmentationConfig``), ``signals`` (per-video signals rebuilt from the
tables), ``station`` (calibration and segmenters run over one station's videos, pure numpy) and
``stage`` (the partition stage that reads and writes the store).
"""
