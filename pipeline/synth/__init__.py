"""Synthetic workstation video with exact action-primitive ground truth (``laps synth``)."""

from pipeline.synth.render import (
    PRESETS,
    Preset,
    build_video,
    frames_per_video,
    render_frame,
    render_video,
    synthesize,
    video_seed,
)
from pipeline.synth.script import LABELS, Script, ground_truth, plan_script

__all__ = [
    "LABELS",
    "PRESETS",
    "Preset",
    "Script",
    "build_video",
    "frames_per_video",
    "ground_truth",
    "plan_script",
    "render_frame",
    "render_video",
    "synthesize",
    "video_seed",
]
