"""Every error the pipeline raises, in one place (ruptures-style ``exceptions`` module).

All derive from ``LapsError``: the CLI catches it and prints one line (exit code 2), and an
operator reading a failed Dagster step sees which stage refused what. Classes keep the builtin
base they had (``ValueError``, ``KeyError``, ``RuntimeError``) so callers that caught those still
work. Errors of ``models/`` (checkpoints) stay in ``models``, which never imports the pipeline;
the tokens stage translates them into ``TokenizerError`` at the boundary.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path


class LapsError(Exception):
    """Base class of every error the pipeline raises on purpose."""


class ConfigError(LapsError, ValueError):
    """Options or a config file that cannot run; the message names the offending value."""


# --- io -----------------------------------------------------------------------------------
class StorageError(LapsError):
    """Base class of storage failures; ``uri`` names the location involved."""

    def __init__(self, message: str, uri: str) -> None:
        super().__init__(message)
        self.uri = uri


class StorageKeyError(StorageError, KeyError):
    """The key does not exist. ``str(err)`` and ``err.uri`` give its full location."""

    def __init__(self, uri: str) -> None:
        super().__init__(f"no such object: {uri}", uri)

    def __str__(self) -> str:  # KeyError would print the repr of the argument
        return str(self.args[0])


class StorageAccessError(StorageError):
    """The backend refused or could not serve a request (missing bucket, 403, ...)."""

    def __init__(self, message: str, uri: str, code: str) -> None:
        super().__init__(f"{message} ({code}): {uri}", uri)
        self.code = code


class StorageKeyNameError(StorageError, ValueError):
    """A key that cannot name an object: absolute, ``..``, NUL, a reserved temp name, or one that
    leads out of the storage root (through a symbolic link). ``uri``: the key as shown (quoted,
    escaped); ``key``: the key itself."""

    def __init__(self, key: object, problem: str) -> None:
        # repr: control characters escaped; a byte that is not UTF-8 (a surrogate escape of
        # the file system's name) shown as \xNN
        shown = re.sub(r"\\udc([89a-f][0-9a-f])", r"\\x\1", repr(key))
        super().__init__(f"object key {shown}: {problem}", shown)
        self.key = key


class TableSchemaError(LapsError, ValueError):
    """Rows that do not fit a table's declared schema."""


class VideoError(LapsError):
    """A video that cannot be used; ``reason`` is a short machine-readable code."""

    def __init__(self, path: str | Path, reason: str, detail: str = "") -> None:
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        super().__init__(f"{path}: {reason}" + (f" ({detail})" if detail else ""))


# --- tracks and tokens ----------------------------------------------------------------------
class TrackStoreError(LapsError):
    """A tracks file that cannot be read as ``WindowTracks``."""


class TrackFileError(TrackStoreError, ValueError):
    """A track file that cannot be used for training; carries the path and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class TokenizerError(LapsError):
    """A tokenizer checkpoint that cannot be used as asked (wraps ``models`` errors)."""


class NoTokenizerError(TokenizerError, RuntimeError):
    """No tokenizer has been trained in this store yet."""


# --- segments -------------------------------------------------------------------------------
class SegmentationError(LapsError, ValueError):
    """Base class of the segmentation stage's errors."""


class EnergyError(SegmentationError):
    """Inputs of an energy computation with inconsistent shapes or keys."""


class CalibrationError(SegmentationError):
    """No threshold can be derived; the message names the offending input."""


class SignalError(SegmentationError):
    """Windows and codes of a video that do not fit together; names the video and the problem."""


class SegmenterError(SegmentationError):
    """Invalid segmenter input or parameters; the message carries the offending value."""


class NotFittedError(LapsError, RuntimeError):
    """``predict`` called before ``fit``."""


class EnergySegmentationError(SegmentationError):
    """Inconsistent inputs of ``calibrated_hysteresis`` (keys, shapes); names the offender."""


class SegmentStageError(SegmentationError, RuntimeError):
    """A partition that cannot be segmented (missing upstream tables); names the partition."""


class ClipError(LapsError, RuntimeError):
    """A clip that could not be cut as asked (frames missing from the source)."""


class SegmentFileError(LapsError, ValueError):
    """A segment file (or in-memory segmentation) that breaks the schema; lists all problems."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        shown = "; ".join(self.problems[:10])
        more = f" (+{len(self.problems) - 10} more)" if len(self.problems) > 10 else ""
        super().__init__(f"{source}: {shown}{more}")


# --- publish --------------------------------------------------------------------------------
class PublishError(LapsError, RuntimeError):
    """A partition that cannot be published (missing or inconsistent upstream tables, a shard
    that cannot be written); the message names the partition and the offending value."""


class ExportError(PublishError):
    """An export (LeRobot) that cannot be made as asked; names the offending value."""


# --- language -------------------------------------------------------------------------------
class LanguageError(LapsError, ValueError):
    """Requests that cannot be sent to a VLM as given (duplicate or invalid segment ids); names
    the offending value. A failed answer is a segment's result, not an error."""


class AnswerError(LanguageError):
    """A VLM answer that is not the asked-for JSON (``pipeline.language.vlm.parse_answer``); the
    labelling loop turns it into a segment's ``invalid_answer`` status, never raises it."""


# --- evaluation -----------------------------------------------------------------------------
class EvaluationError(LapsError, ValueError):
    """The harness cannot run (e.g. no ground truth at all); carries the offending path."""


class BaselineError(EvaluationError):
    """A store that cannot feed the baselines (missing tables, duplicate windows or stems)."""


# --- discovery ------------------------------------------------------------------------------
class DiscoveryError(LapsError):
    """Base class of the discovery stage's errors (keyframes, embeddings, clusters, labels)."""


class KeyframeError(DiscoveryError, ValueError):
    """A clip whose keyframes cannot be decoded; ``reason`` is a short machine-readable code."""

    def __init__(self, source: str, reason: str, detail: str = "") -> None:
        self.source = source
        self.reason = reason
        self.detail = detail
        super().__init__(f"{source}: {reason}" + (f" ({detail})" if detail else ""))


class EmbedderError(DiscoveryError, ValueError):
    """An image embedder that cannot be built (a missing folder, no CLIP in it, no transformers)
    or fed (images of the wrong shape or type); the message names the offending value."""
