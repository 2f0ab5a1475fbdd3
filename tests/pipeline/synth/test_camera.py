"""The per-video camera (``bench-cam`` presets): the homography of tilt, height and roll, the
warp of real frames, seeding, ground truth and meta, and the older presets left as they were."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.segments.segfile import read_segments
from pipeline.synth import PRESETS, build_video, render_frame, render_video, video_seed
from pipeline.synth.camera import (
    ROLL_DEG,
    SCALE,
    TILT_DEG,
    Camera,
    apply_camera,
    camera_view,
    draw_camera,
    homography,
    map_points,
)
from pipeline.synth.script import ground_truth

W, H = 320, 240
CX, CY = 0.5 * (W - 1), 0.5 * (H - 1)


def test_identity_camera_is_the_identity() -> None:
    assert np.allclose(homography(Camera(), W, H), np.eye(3), atol=1e-12)
    v = build_video(2.0, 5, "bench-cam-test")
    img = render_frame(replace(v, camera=None), 30)
    view = camera_view(Camera(0.0, 1.0, 0.0), v.scene.background)
    assert np.array_equal(view.apply(img), img)  # exactly the unwarped frame
    assert np.array_equal(render_frame(replace(v, camera=view), 30), img)


def test_height_scales_about_the_centre_and_roll_turns_about_it() -> None:
    pts = np.array([[CX + 100.0, CY], [CX, CY - 50.0], [CX - 30.0, CY + 20.0]])
    for s in (0.8, 1.25):
        want = np.array([CX, CY]) + s * (pts - [CX, CY])
        assert np.allclose(map_points(homography(Camera(0.0, s, 0.0), W, H), pts), want)
    r = math.radians(5.0)
    got = map_points(homography(Camera(0.0, 1.0, 5.0), W, H), pts[:1])
    assert np.allclose(got, [[CX + 100.0 * math.cos(r), CY - 100.0 * math.sin(r)]])


@pytest.mark.parametrize(("tilt", "scale"), [(20.0, 1.0), (35.0, 1.25), (10.0, 0.8)])
def test_tilt_is_a_perspective_of_the_bench_plane(tilt: float, scale: float) -> None:
    cam = Camera(tilt, scale, 0.0)
    f, t = cam.focal_px(W), math.radians(tilt)
    assert f == pytest.approx(0.5 * W / math.tan(math.radians(30.0)))
    h = homography(cam, W, H)
    assert np.allclose(map_points(h, [[CX, CY]]), [[CX, CY]])  # it looks at the bench centre
    for y in (-100.0, -40.0, 60.0, 110.0):  # the vertical centre line: v = f Y cos t / depth
        got = map_points(h, [[CX, CY + y]])[0]
        want = CY + f * y * math.cos(t) / (f / scale - y * math.sin(t))
        assert got == pytest.approx([CX, want])
    far, near = (
        map_points(h, [[CX - 50, CY - 100], [CX + 50, CY - 100]]),
        map_points(h, [[CX - 50, CY + 100], [CX + 50, CY + 100]]),
    )
    assert np.ptp(far[:, 0]) < 100.0 * scale < np.ptp(near[:, 0])  # the far edge shrinks


def test_the_warp_moves_pixels_where_the_homography_says() -> None:
    cam = Camera(30.0, 1.1, -4.0)
    h = homography(cam, W, H)
    for x, y in ((60, 50), (250, 80), (160, 200)):
        img = np.zeros((H, W, 3), np.uint8)
        cv2.circle(img, (x, y), 2, (255, 255, 255), -1)
        out = apply_camera(img, h, (0.0, 0.0, 0.0))[:, :, 0].astype(float)
        ys, xs = np.nonzero(out > 0)
        wts = out[ys, xs]
        centroid = np.array([(xs * wts).sum(), (ys * wts).sum()]) / wts.sum()
        assert np.allclose(centroid, map_points(h, [[x, y]])[0], atol=0.7)


def test_border_is_filled_with_the_scene_colour() -> None:
    v = build_video(2.0, 5, "bench-cam-test", shake=False)
    view = camera_view(Camera(35.0, 0.8, 0.0), v.scene.background)
    out = view.apply(v.scene.background)
    corner = out[0, 0].astype(float)
    assert np.allclose(corner, v.scene.background.reshape(-1, 3).mean(0), atol=0.51)


def test_seeds_draw_different_cameras_in_range_and_the_same_again() -> None:
    cams = [draw_camera(video_seed(6200, i)) for i in range(40)]
    assert cams[0] == draw_camera(video_seed(6200, 0))
    assert len({(c.tilt_deg, c.scale, c.roll_deg) for c in cams}) == 40
    for c in cams:
        assert TILT_DEG[0] <= c.tilt_deg <= TILT_DEG[1]
        assert SCALE[0] <= c.scale <= SCALE[1]
        assert ROLL_DEG[0] <= c.roll_deg <= ROLL_DEG[1]
    assert max(c.tilt_deg for c in cams) > 25.0 and min(c.tilt_deg for c in cams) < 10.0
    assert min(c.scale for c in cams) < 0.9 and max(c.scale for c in cams) > 1.15


def test_camera_preset_is_the_bench_video_seen_through_the_camera() -> None:
    seed = video_seed(6200, 2)
    cam_v, plain = build_video(3.0, seed, "bench-cam-test"), build_video(3.0, seed, "test")
    assert cam_v.camera is not None and plain.camera is None
    assert cam_v.script == plain.script and cam_v.camera.camera == draw_camera(seed)
    for f in (0, 44, 89):
        a = render_frame(cam_v, f)
        assert np.array_equal(render_frame(replace(cam_v, camera=None), f), render_frame(plain, f))
        assert not np.array_equal(a, render_frame(plain, f))
        assert np.array_equal(a, render_frame(build_video(3.0, seed, "bench-cam-test"), f))


def test_ground_truth_is_unchanged_and_meta_records_the_camera(tmp_path: Path) -> None:
    seed = 6201
    truth = render_video(tmp_path / "c.mp4", seconds=2.0, seed=seed, preset="bench-cam-test")
    plain = ground_truth(build_video(2.0, seed, "test").script, "c.mp4")
    assert {k: v for k, v in truth.items() if k != "meta"} == plain
    cam = draw_camera(seed)
    meta = truth["meta"]["camera"]
    assert (meta["tilt_deg"], meta["scale"], meta["roll_deg"]) == (
        cam.tilt_deg,
        cam.scale,
        cam.roll_deg,
    )
    assert np.allclose(meta["homography"], homography(cam, W, H))
    on_disk = read_segments(tmp_path / "c.segments.json")
    assert on_disk.meta["camera"] == meta
    synth = json.loads((tmp_path / "c.synth.json").read_text())
    assert synth["camera"] == meta and synth["preset"] == "bench-cam-test"
    p = PRESETS["bench-cam"]
    assert p.camera and (p.width, p.height, p.fps, p.script) == (640, 480, 30.0, "assembly")


GT_SHA256 = {  # 20 s of video_seed(1000, 1), identical before and after the camera and twohand
    "test": "a6b5e5d6ed1c7d4966e45de586e9361e344900b575c7774c70d7ebb26de5f1e8",
    "cyclic": "029ddf865d8714913827756aab482c9cb6922ffd725edf8711bf4fd376c842ba",
    "cyclic-test": "029ddf865d8714913827756aab482c9cb6922ffd725edf8711bf4fd376c842ba",
}
FRAMES_SHA256 = {  # frames 0, 45, 89 of 3 s of video_seed(1000, 1), shaking (this opencv)
    "test": "576e37fbb724332ed3d2509067d403702e4d8991e90e99684be48dfd42d5f150",
    "cyclic-test": "cc3ef5184af3a0a56cd53ec34ab1d66071f4af7fda4b1d47c0dd0f0c8ff628e0",
}


@pytest.mark.parametrize("preset", sorted(GT_SHA256))
def test_older_presets_are_unchanged(preset: str) -> None:
    seed = video_seed(1000, 1)
    v = build_video(20.0, seed, preset)
    assert v.camera is None and v.left is None and not PRESETS[preset].camera
    gt = ground_truth(v.script, "x.mp4")
    assert hashlib.sha256(json.dumps(gt, sort_keys=True).encode()).hexdigest() == GT_SHA256[preset]
    if preset in FRAMES_SHA256:
        v = build_video(3.0, seed, preset, shake=True)
        h = hashlib.sha256()
        for f in (0, 45, 89):
            h.update(render_frame(v, f).tobytes())
        assert h.hexdigest() == FRAMES_SHA256[preset]
