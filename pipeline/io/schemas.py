"""Arrow schemas of every table the pipeline writes (one place, versioned).

Hive columns ``date`` and ``station`` come from the partition path and are not stored in files.
Bump a table's version whenever its columns or their meaning change.
"""

from __future__ import annotations

import pyarrow as pa

# v2: uri_bytes (the exact bytes of the location; uri is its printable form, which shows bytes
# that are not UTF-8 as \xNN). Readers of v1 partitions fall back to uri.
# v3: landing_key, the file's location relative to the landing root (printable, as uri): valid
# when the landing area moves or is mounted elsewhere. References into the store are keys
# relative to the store root in every table (tracks_key, clip_key, the publish paths).
VIDEOS_VERSION = 3
VIDEOS = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),  # sha256 of the file's bytes
        pa.field("uri", pa.string(), nullable=False),
        pa.field("uri_bytes", pa.binary(), nullable=False),
        pa.field("landing_key", pa.string(), nullable=True),  # v3; relative to the landing root
        pa.field("file_name", pa.string(), nullable=False),
        pa.field("size_bytes", pa.int64(), nullable=False),
        pa.field("duration_sec", pa.float64(), nullable=False),
        pa.field("fps", pa.float64(), nullable=False),
        pa.field("width", pa.int32(), nullable=False),
        pa.field("height", pa.int32(), nullable=False),
        pa.field("codec", pa.string(), nullable=False),
        pa.field("rotation", pa.int16(), nullable=False),
        pa.field("frame_count", pa.int64(), nullable=False),
        pa.field("landed_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("target_fps", pa.float64(), nullable=False),
        pa.field("norm_width", pa.int32(), nullable=False),
        pa.field("norm_height", pa.int32(), nullable=False),
        pa.field("num_chunks", pa.int32(), nullable=False),
        pa.field("num_windows", pa.int64(), nullable=False),
    ]
)

CHUNKS_VERSION = 1
CHUNKS = pa.schema(
    [
        pa.field("chunk_id", pa.string(), nullable=False),  # "<video_id[:16]>-c<chunk_index:05d>"
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("chunk_index", pa.int32(), nullable=False),
        pa.field("start_frame", pa.int64(), nullable=False),  # source frame, inclusive
        pa.field("end_frame", pa.int64(), nullable=False),  # source frame, exclusive
        pa.field("start_sec", pa.float64(), nullable=False),
        pa.field("end_sec", pa.float64(), nullable=False),
        pa.field("first_window_index", pa.int64(), nullable=False),
        pa.field("num_windows", pa.int32(), nullable=False),  # windows owned by this chunk
        pa.field("fps", pa.float64(), nullable=False),
        pa.field("target_fps", pa.float64(), nullable=False),
        pa.field("window_frames", pa.int16(), nullable=False),
        pa.field("stride_frames", pa.int16(), nullable=False),
    ]
)

QUARANTINE_VERSION = 3  # v2: uri_bytes, as in videos; v3: landing_key, as in videos
QUARANTINE = pa.schema(
    [
        pa.field("uri", pa.string(), nullable=False),
        pa.field("uri_bytes", pa.binary(), nullable=False),
        pa.field("landing_key", pa.string(), nullable=True),  # v3; relative to the landing root
        pa.field("file_name", pa.string(), nullable=False),
        pa.field("size_bytes", pa.int64(), nullable=False),
        pa.field("video_id", pa.string(), nullable=True),
        pa.field("reason", pa.string(), nullable=False),  # machine-readable code
        pa.field("detail", pa.string(), nullable=False),
    ]
)

# Videos that passed ingest but failed at a later stage (one file's fault never stops the
# partition): one row per failure, written by the stage that hit it. A stage rewrites only its own
# rows (``pipeline.io.tables.write_failures``); a rerun that succeeds leaves none.
FAILURES_VERSION = 1
FAILURES = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("uri", pa.string(), nullable=False),  # printable; bytes in the videos table
        pa.field("file_name", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),  # tracks | clips | ...
        pa.field("item", pa.string(), nullable=True),  # chunk id, clip key: what failed
        pa.field("reason", pa.string(), nullable=False),  # machine-readable code
        pa.field("detail", pa.string(), nullable=False),
    ]
)

WINDOWS_VERSION = 1
WINDOWS = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("chunk_index", pa.int32(), nullable=False),
        pa.field("window_index", pa.int64(), nullable=False),  # global per video, never renumbered
        pa.field("start_frame", pa.int64(), nullable=False),  # source frame of the first frame
        pa.field("end_frame", pa.int64(), nullable=False),  # source frame of the last frame
        pa.field("start_sec", pa.float64(), nullable=False),
        pa.field("end_sec", pa.float64(), nullable=False),
        pa.field("gated", pa.bool_(), nullable=False),  # idle by the pixel-difference gate
        pa.field("camera_compensated", pa.bool_(), nullable=False),
        pa.field("global_motion_share", pa.float32(), nullable=False),
        pa.field("track_speed", pa.float32(), nullable=False),
        pa.field("flow_magnitude", pa.float32(), nullable=False),
        pa.field("pixel_diff", pa.float32(), nullable=False),
        pa.field("tracks_key", pa.string(), nullable=False),  # npz with the point tracks
        pa.field("fps", pa.float64(), nullable=False),
        pa.field("target_fps", pa.float64(), nullable=False),
        pa.field("window_frames", pa.int16(), nullable=False),
        pa.field("stride_frames", pa.int16(), nullable=False),
        pa.field("grid_size", pa.int16(), nullable=False),
    ]
)

CODES_VERSION = 1
CODES = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("chunk_index", pa.int32(), nullable=False),
        pa.field("window_index", pa.int64(), nullable=False),
        pa.field("start_frame", pa.int64(), nullable=False),
        pa.field("end_frame", pa.int64(), nullable=False),
        pa.field("start_sec", pa.float64(), nullable=False),
        pa.field("end_sec", pa.float64(), nullable=False),
        pa.field("gated", pa.bool_(), nullable=False),
        pa.field("codes", pa.list_(pa.int16()), nullable=False),  # one FSQ index per step
        # bounded pre-quantization latent, (tokens_per_window x latent_dim) row-major
        pa.field("latent_pre", pa.list_(pa.float32()), nullable=False),
        pa.field("latent_dim", pa.int16(), nullable=False),
        pa.field("tokenizer_version", pa.string(), nullable=False),
        pa.field("fsq_levels", pa.list_(pa.int16()), nullable=False),
        pa.field("codebook_size", pa.int32(), nullable=False),
        pa.field("tokens_per_window", pa.int16(), nullable=False),
        pa.field("window_frames", pa.int16(), nullable=False),
        pa.field("stride_frames", pa.int16(), nullable=False),
        pa.field("fps", pa.float64(), nullable=False),
        pa.field("target_fps", pa.float64(), nullable=False),
    ]
)

ENERGY_VERSION = 1
ENERGY = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("window_index", pa.int64(), nullable=False),
        pa.field("start_sec", pa.float64(), nullable=False),
        pa.field("end_sec", pa.float64(), nullable=False),
        pa.field("center_sec", pa.float64(), nullable=False),
        pa.field("gated", pa.bool_(), nullable=False),
        pa.field("lae", pa.float32(), nullable=False),  # latent action energy of z_q
        pa.field("lae_pre", pa.float32(), nullable=False),  # same on pre-quantization latents
        pa.field("track_speed", pa.float32(), nullable=False),
        pa.field("flow_magnitude", pa.float32(), nullable=False),
        pa.field("pixel_diff", pa.float32(), nullable=False),
        pa.field("lae_smoothed", pa.float32(), nullable=False),  # causal EMA the segmenter uses
        pa.field("thr_on", pa.float32(), nullable=False),  # station's label-free thresholds
        pa.field("thr_off", pa.float32(), nullable=False),
        pa.field("tokenizer_version", pa.string(), nullable=False),
    ]
)

SEGMENTS_VERSION = 1
SEGMENTS = pa.schema(
    [
        # sha256("video_id|start_frame|end_frame|tokenizer_version"), first 32 hex chars
        pa.field("segment_id", pa.string(), nullable=False),
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("segment_index", pa.int32(), nullable=False),
        pa.field("start_frame", pa.int64(), nullable=False),  # source frame, inclusive
        pa.field("end_frame", pa.int64(), nullable=False),  # source frame, exclusive
        pa.field("start_sec", pa.float64(), nullable=False),
        pa.field("end_sec", pa.float64(), nullable=False),
        pa.field("first_window", pa.int64(), nullable=False),
        pa.field("last_window", pa.int64(), nullable=False),
        pa.field("codes", pa.list_(pa.int16()), nullable=False),  # one code per target-fps step
        pa.field("mean_energy", pa.float32(), nullable=False),
        pa.field("peak_energy", pa.float32(), nullable=False),
        pa.field("segmenter", pa.string(), nullable=False),  # method and parameter fingerprint
        pa.field("clip_key", pa.string(), nullable=True),  # H.264 clip in the store
        pa.field("fps", pa.float64(), nullable=False),
        pa.field("target_fps", pa.float64(), nullable=False),
        pa.field("tokenizer_version", pa.string(), nullable=False),
        pa.field("fsq_levels", pa.list_(pa.int16()), nullable=False),
        pa.field("codebook_size", pa.int32(), nullable=False),
        pa.field("window_frames", pa.int16(), nullable=False),
        pa.field("stride_frames", pa.int16(), nullable=False),
    ]
)

# One row per segment sent to (or skipped for) the VLM (pipeline.language): status ok | cached |
# error | disabled; error = machine-readable reason first ("http_429: ..."). The instruction is
# untrusted plain text from a model: consumers escape it before rendering it anywhere.
SEGMENT_LABELS_VERSION = 1
SEGMENT_LABELS = pa.schema(
    [
        pa.field("segment_id", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("verb", pa.string(), nullable=True),  # normalised lower-case verb (phrase)
        pa.field("instruction", pa.string(), nullable=True),
        pa.field("error", pa.string(), nullable=True),
        pa.field("model", pa.string(), nullable=True),  # null when no endpoint is configured
        pa.field("prompt_version", pa.string(), nullable=False),
        pa.field("attempts", pa.int16(), nullable=False),  # HTTP requests made this run
    ]
)

# The nearest primitive cluster of each segment (pipeline.discovery): written per partition
# against the library in use; a refit keeps matched ids (docs/formats.md).
SEGMENT_CLUSTERS_VERSION = 1
SEGMENT_CLUSTERS = pa.schema(
    [
        pa.field("segment_id", pa.string(), nullable=False),
        pa.field("cluster_id", pa.int32(), nullable=False),
        pa.field("cluster_name", pa.string(), nullable=False),
        pa.field("distance", pa.float32(), nullable=False),  # 1 - cosine to the centroid
        pa.field("library_version", pa.string(), nullable=False),
        pa.field("embedding", pa.string(), nullable=False),
    ]
)

# One row per cluster of the library in use, over every assigned segment (store-wide,
# publish/clusters.parquet, rebuilt with the card).
CLUSTERS_VERSION = 1
CLUSTERS = pa.schema(
    [
        pa.field("cluster_id", pa.int32(), nullable=False),
        pa.field("cluster_name", pa.string(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),  # assigned segments
        pa.field("hours", pa.float64(), nullable=False),
        pa.field("median_duration_sec", pa.float64(), nullable=True),
        pa.field("exemplar_segment_ids", pa.list_(pa.string()), nullable=False),
        pa.field("library_version", pa.string(), nullable=False),
    ]
)
