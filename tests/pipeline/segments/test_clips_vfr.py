"""Variable frame rate input: the decoder and the clips work by timestamp on the source-frame grid.

A camera that drops frames writes them at irregular times; a player shows each frame until the
next one. Every grid slot gets the frame shown at its time, clips have exactly their range's
frame count at the constant nominal rate, and the frames come in order."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from videogen import decode_index, encode_timed, index_frame, make_vfr_video

import pipeline.segments.clips as clips_module
from pipeline.io.storage import LocalStorage
from pipeline.io.video import count_frames, iter_frames, probe_video, sample_indices
from pipeline.segments.clips import ClipSpec, write_clips

SLOTS = 140
FPS = 30.0


def _kept_slots() -> list[int]:
    """117 of 140 slots, as in the report: random drops, first and last slot kept."""
    rng = np.random.default_rng(7)
    dropped = set(rng.choice(np.arange(1, SLOTS - 1), size=SLOTS - 117, replace=False).tolist())
    return [s for s in range(SLOTS) if s not in dropped]


KEPT = _kept_slots()


def _shown_at(slot: int) -> int:
    """The source frame a player shows at ``slot / fps``: the last one stored at or before."""
    return max(k for k in KEPT if k <= slot)


@pytest.fixture(scope="module")
def vfr(tmp_path_factory) -> Path:
    return make_vfr_video(tmp_path_factory.mktemp("vfr") / "vfr.mp4", KEPT, fps=FPS)


def test_probe_puts_a_vfr_video_on_its_nominal_grid(vfr):
    assert len(KEPT) == 117
    p = probe_video(vfr)
    assert p.fps == pytest.approx(FPS)
    assert p.variable_rate
    assert count_frames(vfr) == 117  # frames stored
    assert p.frame_count == SLOTS  # slots of the 30 fps grid the video spans
    assert p.duration_sec == pytest.approx(SLOTS / FPS)


def test_decoder_fills_every_slot_with_the_frame_shown_then(vfr, caplog):
    with caplog.at_level(logging.INFO, logger="pipeline.io.video"):
        frames = list(iter_frames(vfr, target_fps=FPS, short_side=240))
    assert [f.index for f in frames] == list(range(SLOTS))
    assert [decode_index(f.image) for f in frames] == [_shown_at(i) for i in range(SLOTS)]
    assert all(f.t_sec == pytest.approx(f.index / FPS) for f in frames)
    notes = [r for r in caplog.records if "repeat the frame before" in r.getMessage()]
    assert len(notes) == 1  # once per decode, not once per frame
    assert f"{SLOTS - 117} slot(s)" in notes[0].getMessage()


def test_sampled_and_seeked_decodes_agree_on_vfr(vfr):
    whole = [(f.index, decode_index(f.image)) for f in iter_frames(vfr, target_fps=10)]
    assert [i for i, _ in whole] == list(sample_indices(FPS, 10.0, 0, SLOTS))
    assert all(shown == _shown_at(i) for i, shown in whole)
    part = [
        (f.index, decode_index(f.image))
        for f in iter_frames(vfr, target_fps=10, start_frame=50, end_frame=100)
    ]
    assert part == [(i, s) for i, s in whole if 50 <= i < 100]


def _clip_frames(path: Path) -> tuple[list[int], list[float], Fraction]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = list(c.decode(s))
        return (
            [decode_index(f.to_ndarray(format="gray")) for f in frames],
            [float(f.pts * f.time_base) for f in frames],
            s.average_rate,
        )


def test_vfr_clips_have_every_frame_at_a_constant_rate(vfr, tmp_path):
    store = LocalStorage(tmp_path / "store")
    ranges = [(0, 30), (30, 31), (45, 107), (107, SLOTS)]
    specs = [ClipSpec(f"clips/c{a}-{b}.mp4", a, b) for a, b in ranges]
    p = probe_video(vfr)
    status = write_clips(store, vfr, specs, fps=p.fps, width=p.width, height=p.height)
    assert status == {s.key: "written" for s in specs}
    for spec in specs:
        path = Path(store.uri(spec.key))
        assert count_frames(path) == spec.frames
        shown, times, rate = _clip_frames(path)
        assert rate == 30
        assert shown == [_shown_at(i) for i in range(spec.start_frame, spec.end_frame)]
        steps = np.diff(times)
        assert np.all(steps > 0)  # timestamps strictly increasing
        assert np.allclose(steps, 1 / FPS, atol=1e-3)  # constant rate
        assert probe_video(path).duration_sec == pytest.approx(spec.frames / FPS, abs=1e-3)


def test_vfr_clip_past_the_stream_end_fails_alone(vfr, tmp_path):
    store = LocalStorage(tmp_path / "store")
    specs = [ClipSpec("clips/ok.mp4", 100, 120), ClipSpec("clips/late.mp4", 130, 160)]
    status = write_clips(store, vfr, specs, fps=FPS, width=320, height=240)
    assert status["clips/ok.mp4"] == "written"
    assert status["clips/late.mp4"] == "failed: clips/late.mp4: got 10 of 30 frames from the source"
    # no temp file left; the settings record beside the clips
    assert [i.key for i in store.list("clips/")] == ["clips/clips.json", "clips/ok.mp4"]


def test_jittery_timestamps_drop_a_doubled_frame_and_repeat_for_a_gap(tmp_path, caplog):
    """Millisecond timestamps around a 30 fps grid: one extra frame 5 ms after slot 20 (it
    shares that slot) and slot 40 missing; clips still get every slot, in order."""
    ms = [round(k * 1000 / FPS) for k in range(60) if k != 40]
    ms.insert(21, ms[20] + 5)
    src = encode_timed(
        tmp_path / "jitter.mp4",
        (index_frame(i) for i in range(len(ms))),
        ms,
        time_base=Fraction(1, 1000),
    )
    p = probe_video(src)
    assert p.fps == pytest.approx(FPS, rel=1e-3) and p.frame_count == 60
    store = LocalStorage(tmp_path / "store")
    with caplog.at_level(logging.INFO, logger="pipeline.io.video"):
        status = write_clips(
            store, src, [ClipSpec("clips/all.mp4", 0, 60)], fps=p.fps, width=320, height=240
        )
    assert status == {"clips/all.mp4": "written"}
    shown, times, _ = _clip_frames(Path(store.uri("clips/all.mp4")))
    # frame i of the source file is stored at ms[i]; slot 21 on shows the file's frame 22 (the
    # extra one, 21, shared slot 20 and was dropped), slot 40 repeats slot 39's frame
    expected = list(range(21)) + [i + 1 for i in range(21, 40)] + [40] + list(range(41, 60))
    assert shown == expected
    assert np.all(np.diff(times) > 0)
    [note] = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert note.levelno == logging.WARNING and "1 source frame(s) dropped" in note.getMessage()


def test_a_decode_error_fails_the_clips_it_cuts_short_and_keeps_the_rest(tmp_path, monkeypatch):
    """Error path (a fault injected into the real decoder's stream of frames): the clips before
    the error stay written, the later ones fail with the reason, nothing half-written stays."""
    src = make_vfr_video(tmp_path / "src.mp4", range(90), fps=FPS)
    real = clips_module.iter_video_frames

    def breaks_at_40(*args, **kwargs):
        for frame in real(*args, **kwargs):
            if frame[0] == 40:
                raise av.error.InvalidDataError(1094995529, "Invalid data found")
            yield frame

    monkeypatch.setattr(clips_module, "iter_video_frames", breaks_at_40)
    store = LocalStorage(tmp_path / "store")
    specs = [ClipSpec("clips/a.mp4", 0, 20), ClipSpec("clips/b.mp4", 30, 50),
             ClipSpec("clips/c.mp4", 60, 80)]  # fmt: skip
    status = write_clips(store, src, specs, fps=FPS, width=320, height=240)
    assert status["clips/a.mp4"] == "written"
    for key in ("clips/b.mp4", "clips/c.mp4"):
        assert status[key].startswith("failed: ")
        assert "source decode failed after frame 39: InvalidDataError" in status[key]
    assert [i.key for i in store.list("clips/")] == ["clips/a.mp4", "clips/clips.json"]


def test_vfr_clips_at_10_hz_show_the_frame_of_each_step_slot(vfr, tmp_path):
    store = LocalStorage(tmp_path / "store")
    specs = [ClipSpec("clips/a.mp4", 0, 45), ClipSpec("clips/b.mp4", 45, SLOTS)]
    p = probe_video(vfr)
    status = write_clips(store, vfr, specs, fps=p.fps, width=p.width, height=p.height,
                         config=clips_module.ClipConfig(fps=10.0))  # fmt: skip
    assert status == {s.key: "written" for s in specs}
    for spec in specs:
        shown, times, rate = _clip_frames(Path(store.uri(spec.key)))
        slots = list(sample_indices(FPS, 10.0, spec.start_frame, spec.end_frame))
        assert rate == 10
        assert shown == [_shown_at(i) for i in slots]  # held slots as at the source rate
        assert np.allclose(np.diff(times), 0.1, atol=1e-3)
