"""The end-to-end bench's BENCHMARKS.md row (the measurement itself is `laps bench --e2e`)."""

from __future__ import annotations

from pipeline.evaluation.benchmarks import E2E_HEADER, E2E_STAGES, append_e2e_row


def _figures(**extra):
    per = {s: 0.01 * (i + 1) for i, s in enumerate(E2E_STAGES)}
    return {"pipeline_realtime_factor": 12.5, "stage_s_per_video_s": per,
            "pipeline_peak_rss_mb": 512.0, "clips_written": 40, "clip_settings": {},
            "video_sec": 60.0, "machine": "2-core shared sandbox VM", **extra}  # fmt: skip


def test_rows_go_under_one_e2e_table(tmp_path):
    path = tmp_path / "B.md"
    path.write_text("# Benchmarks\n\n## Quality: `laps eval`\n\nx\n")
    append_e2e_row(path, _figures(), command="laps bench --e2e")
    append_e2e_row(path, _figures(workers=2, workers_speedup=1.85,
                                  clip_settings={"preset": "ultrafast"}),
                   command="laps bench --e2e --workers 2")  # fmt: skip
    lines = path.read_text().splitlines()
    start = lines.index(E2E_HEADER)
    rows = [ln for ln in lines[start:] if ln.startswith("| 20")]
    header = next(ln for ln in lines[start:] if ln.startswith("| date"))
    assert len(rows) == 2
    assert all(r.count(" | ") == header.count(" | ") for r in rows)  # one cell per column
    assert "| 12.5 |" in rows[0] and "| defaults |" in rows[0]
    assert "1.85 (2 workers)" in rows[1] and "preset=ultrafast" in rows[1]
    assert lines.index("## Quality: `laps eval`") < start  # appended after the other sections


def test_the_inbox_holds_files_ingest_takes(tmp_path):
    # a symbolic link out of the landing folder is quarantined by ingest (never followed), so
    # an inbox of links would benchmark nothing: the bench's inbox holds the files themselves
    from pipeline.evaluation.bench_e2e import _inbox
    from pipeline.io.storage import LocalStorage

    video = tmp_path / "rendered" / "bench-7-10s.mp4"
    video.parent.mkdir()
    video.write_bytes(b"\x00" * 64)
    inbox = _inbox(tmp_path, "e2e-input", [video])
    (entry,) = inbox.iterdir()
    assert not entry.is_symlink() and entry.read_bytes() == video.read_bytes()
    assert [i.key for i in LocalStorage(inbox).list("")] == ["bench-7-10s.mp4"]
