"""Render synthetic workstation videos with exact primitive ground truth (``laps synth``).

Per video: ``<stem>.mp4`` (H.264 yuv420p, constant frame rate), ``<stem>.segments.json``
(ground truth, docs/formats.md schema) and ``<stem>.synth.json`` (how it was generated).
Files are written to temporary names and renamed; the video is renamed last, so a video that
exists always has its ground truth beside it. The same seed gives identical frames and JSON.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.io.video import encode_frames
from pipeline.synth import nuisance
from pipeline.synth.arm import ArmLook, draw_arm, solve_arm
from pipeline.synth.camera import CameraView, camera_view, draw_camera
from pipeline.synth.cyclic import plan_cyclic_script
from pipeline.synth.motion import MOTION_STREAM, Trajectory, trajectory
from pipeline.synth.scene import (
    SCENE_STREAM,
    Riders,
    Scene,
    build_scene,
    draw_belt,
    draw_fixture_parts,
    draw_riding,
)
from pipeline.synth.script import Script, ground_truth, plan_script, rng_for
from pipeline.synth.textures import fabric, glove
from pipeline.synth.twohand import (
    RULE,
    LeftArm,
    left_arm,
    left_pose,
    plan_twohand,
    scene_script,
    twohand_ground_truth,
)

log = logging.getLogger(__name__)

SYNTH_VERSION = "1"
PROGRESS_EVERY = 30  # frames between progress callbacks


@dataclass(frozen=True)
class Preset:
    """Output size (px), frame rate, chance of camera shake per video, encoder quality, which
    planner writes the script (``SCRIPTS``: assembly cycles or cyclic activities; ``twohand``:
    two hands, ``twohand.py``) and whether each video gets its own camera (``camera.py``)."""

    width: int
    height: int
    fps: float
    shake_prob: float = 0.5
    crf: int = 23
    script: str = "assembly"
    camera: bool = False


PRESETS: dict[str, Preset] = {
    "test": Preset(320, 240, 30.0),
    "bench": Preset(640, 480, 30.0),
    "cyclic": Preset(640, 480, 30.0, script="cyclic"),  # dev data only (docs/evaluation.md)
    "cyclic-test": Preset(320, 240, 30.0, script="cyclic"),
    "twohand": Preset(640, 480, 30.0, script="twohand"),  # dev data only (docs/evaluation.md)
    "twohand-test": Preset(320, 240, 30.0, script="twohand"),
    "bench-cam": Preset(640, 480, 30.0, camera=True),  # dev data only (docs/evaluation.md)
    "bench-cam-test": Preset(320, 240, 30.0, camera=True),
}
SCRIPTS: dict[str, Callable[[float, int, float], Script]] = {
    "assembly": plan_script,
    "cyclic": plan_cyclic_script,
}


@dataclass(frozen=True)
class SynthVideo:
    """Everything needed to render one video's frames."""

    script: Script
    traj: Trajectory
    scene: Scene
    look: ArmLook
    nz: nuisance.Nuisance
    preset: Preset
    riders: Riders
    held: np.ndarray  # (N,) int8: kind of the part in the hand per frame, -1 for none
    left: LeftArm | None = None  # the second hand (``twohand`` presets)
    camera: CameraView | None = None  # the video's camera (presets with ``camera``)


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]


def video_seed(seed: int, index: int) -> int:
    """Seed of video ``index`` of a batch started with ``seed`` (stable, 31-bit)."""
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0]
    return int(state) & 0x7FFFFFFF


SLEEVES: tuple[tuple[int, int, int], ...] = (
    (46, 66, 112),
    (70, 84, 60),
    (96, 46, 40),
    (60, 62, 70),
)
GLOVES: tuple[tuple[int, int, int], ...] = ((214, 186, 60), (200, 204, 210), (226, 120, 40))


def _arm_look(k: float, rng: np.random.Generator) -> ArmLook:
    """Sleeve and glove colours and textures of this video's worker."""
    sleeve = SLEEVES[int(rng.integers(len(SLEEVES)))]
    glove_c = GLOVES[int(rng.integers(len(GLOVES)))]
    px = lambda v: max(int(round(v * k)), 4)  # noqa: E731
    return ArmLook(
        k=k,
        upper=fabric(px(74), px(300), k, rng, sleeve),
        fore=fabric(px(58), px(285), k, rng, sleeve),
        palm=glove(px(50), px(52), k, rng, glove_c),
        finger=glove(px(13), px(36), k, rng, glove_c),
        sleeve_color=sleeve,
        glove_color=glove_c,
    )


def build_video(
    seconds: float, seed: int, preset: str = "test", shake: bool | None = None
) -> SynthVideo:
    """Plan and prepare the video of ``seed`` (no rendering); ``shake=None``: the seed decides."""
    p = get_preset(preset)
    left = None
    if p.script == "twohand":
        plan = plan_twohand(seconds, seed, p.fps)
        script, left = scene_script(plan), left_arm(plan, seed)
    else:
        script = SCRIPTS[p.script](seconds, seed, p.fps)
    traj = trajectory(script, rng_for(seed, MOTION_STREAM))
    scene_rng = rng_for(seed, SCENE_STREAM)
    scene = build_scene(p.width, p.height, script.duration_sec, scene_rng)
    look = _arm_look(scene.k, scene_rng)
    shaky = nuisance.draws_shake(seed, p.shake_prob) if shake is None else bool(shake)
    nz = nuisance.make_nuisance(script.n_frames, p.fps, seed, shaky)
    held = np.full(script.n_frames, -1, np.int8)
    for h in script.holds:
        held[h.start : h.end] = h.kind
    cam = camera_view(draw_camera(seed), scene.background) if p.camera else None
    return SynthVideo(script, traj, scene, look, nz, p, Riders.of(scene, script), held, left, cam)


def render_frame(v: SynthVideo, frame: int) -> np.ndarray:
    """RGB uint8 (H, W, 3) image of ``frame`` (a pure function of the video and the index)."""
    img = v.scene.background.copy()
    draw_belt(img, v.scene, frame / v.script.fps)
    draw_riding(img, v.scene, v.riders, frame / v.script.fps)
    draw_fixture_parts(img, v.scene, v.script, frame)
    if v.left is not None:  # drawn first: the right arm passes over it
        held_l = int(v.left.held[frame])
        draw_arm(img, left_pose(v.left.traj, frame), v.look, held_l if held_l >= 0 else None)
    tr = v.traj
    pose = solve_arm(
        tr.pos[frame], float(tr.heading[frame]), float(tr.openness[frame]), float(tr.scale[frame])
    )
    held = int(v.held[frame])
    draw_arm(img, pose, v.look, held if held >= 0 else None)
    if v.camera is not None:
        img = v.camera.apply(img)
    return nuisance.apply(img, frame, v.nz, v.scene.k)


def iter_frames_rgb(
    v: SynthVideo, progress: Callable[[int], None] | None = None
) -> Iterator[np.ndarray]:
    """All frames in order; ``progress(k)`` gets the number of new frames every 30 frames."""
    pending = 0
    for f in range(v.script.n_frames):
        yield render_frame(v, f)
        pending += 1
        if progress is not None and pending >= PROGRESS_EVERY:
            progress(pending)
            pending = 0
    if progress is not None and pending:
        progress(pending)


def _write_json_atomic(path: Path, obj: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    os.replace(tmp, path)


def truth_of(v: SynthVideo, video_name: str) -> dict:
    """The ground truth of ``v`` (segment file); the camera, if any, goes into its ``meta``."""
    if v.left is not None:
        truth = twohand_ground_truth(v.left.plan, video_name)
        truth["meta"] = {"hands": 2, "rule": RULE}
    else:
        truth = ground_truth(v.script, video_name)
    if v.camera is not None:
        cam = v.camera.camera.to_meta(v.preset.width, v.preset.height)
        truth["meta"] = {**truth.get("meta", {}), "camera": cam}
    return truth


def _meta(v: SynthVideo, seed: int, preset: str) -> dict:
    extra: dict = {}
    if v.left is not None:
        extra["hands"] = 2
    if v.camera is not None:
        extra["camera"] = v.camera.camera.to_meta(v.preset.width, v.preset.height)
    return {
        "generator": "laps-synth",
        "version": SYNTH_VERSION,
        "seed": seed,
        "preset": preset,
        "width": v.preset.width,
        "height": v.preset.height,
        "fps": v.preset.fps,
        "n_frames": v.script.n_frames,
        "shake": v.nz.shake is not None,
        "noise_sigma": v.nz.noise_sigma,
        "belt_speed_design_px_s": v.scene.belt_speed,
        **extra,
    }


def render_video(
    out_path: str | Path,
    *,
    seconds: float,
    seed: int,
    preset: str = "test",
    shake: bool | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Render one video to ``out_path`` (.mp4) plus its JSON files; return the ground truth.

    ``progress(k)`` is called with the number of frames rendered since its previous call.
    """
    out_path = Path(out_path)
    if out_path.suffix != ".mp4":
        raise ValueError(f"output must be an .mp4 file, got {out_path}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    v = build_video(seconds, seed, preset, shake)
    stem = out_path.name[: -len(".mp4")]
    truth = truth_of(v, out_path.name)
    _write_json_atomic(out_path.with_name(f"{stem}.segments.json"), truth)
    _write_json_atomic(out_path.with_name(f"{stem}.synth.json"), _meta(v, seed, preset))
    tmp = out_path.with_name(f".{stem}.tmp.mp4")
    try:
        n = encode_frames(iter_frames_rgb(v, progress), tmp, fps=v.preset.fps, crf=v.preset.crf)
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    log.info(
        "wrote %s: %d frames, %d segments, shake=%s",
        out_path,
        n,
        len(truth["segments"]),
        v.nz.shake is not None,
    )
    return truth


def frames_per_video(seconds: float, preset: str = "test") -> int:
    """Frames each video of ``seconds`` has at ``preset`` (for progress bar totals)."""
    return int(round(seconds * get_preset(preset).fps))


def synthesize(
    out_dir: str | Path,
    *,
    videos: int,
    seconds: float,
    seed: int,
    preset: str = "test",
    stem_prefix: str = "station",
    shake: bool | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """Render ``videos`` videos named ``{stem_prefix}-{seed:04d}-{i:03d}.mp4`` into ``out_dir``.

    Video ``i`` uses ``video_seed(seed, i)``. ``progress(k)`` receives the number of frames
    rendered since its previous call (total: ``videos * frames_per_video(seconds, preset)``).
    Returns the video paths in order.
    """
    if videos < 0:
        raise ValueError(f"videos must be >= 0, got {videos}")
    get_preset(preset)
    out = Path(out_dir)
    paths = []
    for i in range(videos):
        path = out / f"{stem_prefix}-{seed:04d}-{i:03d}.mp4"
        render_video(
            path,
            seconds=seconds,
            seed=video_seed(seed, i),
            preset=preset,
            shake=shake,
            progress=progress,
        )
        paths.append(path)
    return paths
