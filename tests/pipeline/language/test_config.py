"""LanguageConfig: defaults, validation, fingerprint, the key from the environment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipeline.language.config import LanguageConfig, resolve_api_key


def test_defaults_are_disabled_and_documented():
    cfg = LanguageConfig()
    assert not cfg.enabled and cfg.base_url is None
    assert (cfg.max_concurrency, cfg.requests_per_minute, cfg.timeout_s, cfg.max_retries) == (
        4, 120.0, 60.0, 4,
    )  # fmt: skip
    assert (cfg.keyframes, cfg.max_image_side, cfg.max_tokens, cfg.temperature) == (3, 448, 200,
                                                                                   0.0)  # fmt: skip
    assert all(f.description for f in LanguageConfig.model_fields.values())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"base_url": "http://h:8000/v1"}, "model is required"),
        ({"base_url": "ftp://h/v1", "model": "m"}, "http"),
        ({"base_url": "http://u:pw@h/v1", "model": "m"}, "password"),
        ({"api_key_env": "NOT-A-NAME"}, "api_key_env"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"api_key": "sk-x"}, "api_key"),  # the key itself is never config
    ],
)
def test_invalid_configs(kwargs, match):
    with pytest.raises(ValidationError, match=match):
        LanguageConfig(**kwargs)


def test_fingerprint_tracks_only_what_changes_answers():
    a = LanguageConfig(base_url="http://h:8000/v1", model="m")
    assert (
        a.fingerprint() == a.model_copy(update={"max_concurrency": 9, "timeout_s": 5}).fingerprint()
    )
    assert a.fingerprint() != a.model_copy(update={"model": "n"}).fingerprint()
    assert a.fingerprint() != a.model_copy(update={"keyframes": 5}).fingerprint()


def test_key_comes_from_the_named_variable():
    cfg = LanguageConfig(api_key_env="MY_KEY")
    assert resolve_api_key(cfg, {"MY_KEY": " sk-1 "}) == "sk-1"
    assert resolve_api_key(cfg, {"MY_KEY": ""}) == "EMPTY"
    assert resolve_api_key(cfg, {}) == "EMPTY"
    assert "sk-1" not in LanguageConfig(api_key_env="MY_KEY").model_dump_json()
