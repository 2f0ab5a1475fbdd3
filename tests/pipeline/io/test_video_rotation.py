"""Rotated videos (a display matrix, as phones write them) come out as a player shows them:
probe reports the displayed size and the rotation, the decoder and the clips are upright."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from av.sidedata.sidedata import Type as SideDataType
from videogen import MARKER, decode_index, make_rotated_video

from pipeline.config import VideoConfig, WindowConfig
from pipeline.ingest.stage import ingest_partition
from pipeline.io.storage import LocalStorage, open_storage
from pipeline.io.tables import read_partition
from pipeline.io.video import iter_frames, probe_video
from pipeline.segments.clips import ClipSpec, write_clips

ROTATIONS = (0, 90, 180, 270)


def _marker_corner(img: np.ndarray) -> str:
    """Which corner holds the marker square (``marker_frame``: bottom-left as displayed)."""
    gray = img if img.ndim == 2 else img.mean(axis=2)
    h, w = gray.shape
    corners = {
        "top-left": gray[: h // 8, : w // 8],
        "top-right": gray[: h // 8, -w // 8 :],
        "bottom-left": gray[-h // 8 :, : w // 8],
        "bottom-right": gray[-h // 8 :, -w // 8 :],
    }
    found = [  # uniformly the marker's gray (a mix of index bits is not)
        name for name, patch in corners.items()
        if abs(patch.mean() - MARKER) < 20 and patch.std() < 15
    ]  # fmt: skip
    assert len(found) == 1, f"marker not found in exactly one corner: {found}"
    return found[0]


@pytest.fixture(scope="module")
def rotated(tmp_path_factory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("rot")
    return {
        r: make_rotated_video(root / f"r{r}.mp4", rotation=r, frames=40, width=320, height=240)
        for r in ROTATIONS
    }


# The display matrix (a, b, c, d) in 16.16 fixed point that turns the stored picture clockwise
# by the rotation; (0, 1, -1, 0) is what an iPhone writes for a portrait video ("rotate=90").
MATRICES = {90: (0, 1, -1, 0), 180: (-1, 0, 0, -1), 270: (0, -1, 1, 0)}


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_file_carries_the_display_matrix(rotated, rotation):
    # read with PyAV directly, not through the code under test
    with av.open(str(rotated[rotation])) as c:
        frame = next(c.decode(video=0))
        stored = (frame.width, frame.height)
        matrix = frame.side_data.get(SideDataType.DISPLAYMATRIX)
        ccw = frame.rotation
    assert stored == ((240, 320) if rotation % 180 else (320, 240))
    if rotation == 0:
        assert matrix is None and ccw == 0
    else:
        m = np.frombuffer(bytes(matrix), np.int32)
        assert tuple(int(v) // 65536 for v in m[[0, 1, 3, 4]]) == MATRICES[rotation]
        assert (-ccw) % 360 == rotation


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_probe_reports_displayed_size_and_rotation(rotated, rotation):
    p = probe_video(rotated[rotation])
    assert (p.width, p.height, p.rotation) == (320, 240, rotation)
    assert p.frame_count == 40 and not p.variable_rate


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_decoder_yields_displayed_frames(rotated, rotation):
    frames = list(iter_frames(rotated[rotation], target_fps=10, short_side=120))
    assert [f.index for f in frames] == list(range(0, 40, 3))
    for f in frames:
        assert f.image.shape == (120, 160)  # displayed landscape, short side 120
        assert f.image.flags["C_CONTIGUOUS"]
        assert _marker_corner(f.image) == "bottom-left"
        assert decode_index(f.image) == f.index  # the index band is on top, read left to right
    rgb = next(iter_frames(rotated[rotation], gray=False, size=(160, 120)))
    assert rgb.image.shape == (120, 160, 3)
    assert _marker_corner(rgb.image) == "bottom-left"


def test_rotated_chunk_after_seek_matches_whole_video(rotated):
    path = rotated[90]
    whole = {f.index: f.image for f in iter_frames(path, target_fps=30, short_side=120)}
    part = list(iter_frames(path, target_fps=30, short_side=120, start_frame=17, end_frame=29))
    assert [f.index for f in part] == list(range(17, 29))
    for f in part:
        assert np.array_equal(f.image, whole[f.index])


@pytest.mark.parametrize("rotation", [90, 270])
def test_clips_of_a_rotated_video_are_upright(rotated, rotation, tmp_path):
    src = rotated[rotation]
    probe = probe_video(src)
    store = LocalStorage(tmp_path / "store")
    specs = [ClipSpec("clips/a.mp4", 0, 12), ClipSpec("clips/b.mp4", 20, 40)]
    status = write_clips(store, src, specs, fps=probe.fps, width=probe.width, height=probe.height)
    assert set(status.values()) == {"written"}
    for spec in specs:
        path = Path(store.uri(spec.key))
        with av.open(str(path)) as c:  # raw decode: what any player shows, no matrix to apply
            decoded = [f.to_ndarray(format="gray") for f in c.decode(video=0)]
            first = c.streams.video[0]
        assert probe_video(path).rotation == 0
        assert decoded[0].shape == (240, 320)
        assert [decode_index(img) for img in decoded] == list(range(spec.start_frame,
                                                                   spec.end_frame))  # fmt: skip
        assert all(_marker_corner(img) == "bottom-left" for img in decoded)
        assert first.codec_context.name == "h264"


def test_ingest_records_rotation_and_displayed_size(tmp_path):
    landing = tmp_path / "landing" / "cam1" / "2026-02-03"
    make_rotated_video(landing / "portrait.mp4", rotation=90, frames=30, width=240, height=320)
    store = open_storage(tmp_path / "store")
    result, _ = ingest_partition(
        open_storage(tmp_path / "landing"), store, "2026-02-03", "cam1",
        video=VideoConfig(), windows=WindowConfig(),
    )  # fmt: skip
    assert result.quarantine == []
    [row] = read_partition(store, "videos", "2026-02-03", "cam1").to_pylist()
    assert (row["width"], row["height"], row["rotation"]) == (240, 320, 90)
    assert (row["norm_width"], row["norm_height"]) == (320, 426)  # portrait, as displayed
