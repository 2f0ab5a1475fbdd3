"""The tokenizer tests' fixtures (tiny configs, synthetic windows), shared with ``tests/models``."""

from tests.models.conftest import make_track_files, synth, tiny_cfg

__all__ = ["make_track_files", "synth", "tiny_cfg"]
