"""ICSS: the statistic on embeddings whose answer is known, the non-semantic fallback embedder,
and a tiny randomly initialised CLIP saved to a folder and loaded through the real code."""

from __future__ import annotations

import json

import numpy as np
import pytest
from videogen import make_video

from pipeline.discovery.icss import (
    NON_SEMANTIC,
    ClipImageEmbedder,
    ColourTextureEmbedder,
    ImageEmbedder,
    icss,
    image_embedder,
)
from pipeline.discovery.keyframes import keyframes
from pipeline.errors import DiscoveryError, EmbedderError, LapsError
from pipeline.io.video import encode_frames


def _clustered(k=4, per=20, d=32, spread=1.0, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 3
    labels = np.repeat(np.arange(k), per)
    return centres[labels] + rng.normal(size=(k * per, d)) * spread, labels


def _brute(emb, labels):
    """Means over explicit pairs (O(n^2)), as the paper states them."""
    x = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    sim = x @ x.T
    n = len(x)
    off = ~np.eye(n, dtype=bool)
    same = labels[:, None] == labels[None, :]
    per = {int(c): sim[same & off & (labels == c)[:, None]].mean() for c in np.unique(labels)}
    return sim[same & off].mean(), sim[off].mean(), per


def _json(report):
    return json.loads(json.dumps(report.to_dict(), allow_nan=False))


def test_means_equal_the_explicit_pair_means():
    emb, labels = _clustered(k=3, per=7, spread=2.0)
    labels[0] = 1  # unequal sizes: 6, 8, 7
    within, random, per = _brute(emb, labels)
    report = icss(emb * 5.0, labels, embedder="test", semantic=True, n_boot=0)  # scale-free
    assert report.within == pytest.approx(within, abs=1e-12)
    assert report.random == pytest.approx(random, abs=1e-12)
    assert report.difference == pytest.approx(within - random, abs=1e-12)
    assert {c.label: c.within for c in report.clusters} == pytest.approx(per, abs=1e-12)
    assert report.within_pairs == sum(c.size * (c.size - 1) // 2 for c in report.clusters)
    assert report.random_pairs == 21 * 20 // 2
    assert report.within_ci is None and report.difference_ci is None  # no replicates asked


def test_well_separated_clusters_are_more_similar_than_random_pairs():
    emb, labels = _clustered(spread=1.0)
    report = icss(emb, labels, embedder="test", semantic=True, n_boot=500)
    assert report.within > report.random + 0.3
    lo, hi = report.difference_ci
    assert 0 < lo <= report.difference <= hi
    for c in report.clusters:
        assert c.within_ci[0] <= c.within <= c.within_ci[1]
        assert c.difference_ci[0] > 0
    # the replicates are centred on the estimates (same-cluster pairs are reweighted in a
    # replicate; without that, the random mean's interval sits almost wholly below it)
    for value, (lo, hi) in [
        (report.random, report.random_ci),
        (report.within, report.within_ci),
        (report.difference, report.difference_ci),
    ]:
        assert 0.2 < (value - lo) / (hi - lo) < 0.8


def test_random_labels_give_an_interval_around_zero():
    emb, _ = _clustered(spread=1.0)
    labels = np.random.default_rng(1).integers(0, 4, len(emb))
    report = icss(emb, labels, embedder="test", semantic=True, n_boot=500, seed=3)
    lo, hi = report.difference_ci
    assert lo < 0 < hi
    assert abs(report.difference) < 0.1


def test_seeded_and_deterministic():
    emb, labels = _clustered(k=3, per=10)
    a = _json(icss(emb, labels, embedder="test", semantic=True, n_boot=200, seed=7))
    b = _json(icss(emb, labels, embedder="test", semantic=True, n_boot=200, seed=7))
    c = _json(icss(emb, labels, embedder="test", semantic=True, n_boot=200, seed=8))
    assert a == b
    assert a["difference"] == c["difference"] and a["difference_ci"] != c["difference_ci"]


def test_report_dict_is_json_safe_and_says_what_embedded():
    emb, labels = _clustered(k=2, per=5)
    labels = np.where(labels == 0, "screw", "wipe")
    d = _json(icss(emb, labels, embedder="colour-x", semantic=False, n_boot=50))
    assert d["embedder"] == "colour-x" and d["semantic"] is False
    assert NON_SEMANTIC in d["note"]
    assert [c["cluster"] for c in d["clusters"]] == ["screw", "wipe"]
    assert all(len(c["within_ci"]) == 2 for c in d["clusters"])


@pytest.mark.parametrize(
    ("labels", "reason"),
    [
        (np.array([], int), "no pair"),
        (np.array([0]), "no pair"),
        (np.arange(6), "no cluster has 2 or more members"),
        (np.zeros(6, int), "one cluster holds every item"),
        (np.full(6, -1), "no cluster has 2 or more members"),  # all noise
    ],
)
def test_degenerate_inputs_give_nulls_and_a_reason(labels, reason):
    emb = np.random.default_rng(0).normal(size=(len(labels), 8))
    report = icss(emb, labels, embedder="test", semantic=True, n_boot=100)
    d = _json(report)
    assert reason in d["reason"]
    assert d["difference"] is None and d["difference_ci"] is None
    if len(labels) >= 2:
        assert d["random"] is not None and d["random_ci"] is not None
    else:
        assert d["random"] is None
    assert "n/a" in report.markdown() and reason in report.markdown()


def test_small_clusters_get_a_mean_but_no_interval_and_noise_is_no_cluster():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(9, 8))
    labels = np.array([0, 0, 1, 1, 1, 2, -1, -1, -1])
    d = _json(icss(emb, labels, embedder="test", semantic=True, n_boot=200))
    assert d["reason"] is None and d["n_noise"] == 3 and d["n_singletons"] == 1
    rows = {c["cluster"]: c for c in d["clusters"]}
    assert set(rows) == {0, 1, 2}
    assert rows[0]["within"] is not None and rows[0]["within_ci"] is None  # 2 members
    assert rows[1]["within_ci"] is not None  # 3 members
    assert rows[2]["within"] is None  # a singleton has no pair
    assert d["random_pairs"] == 36  # noise items count in the random pairs
    with_noise_cluster = _json(
        icss(emb, labels, embedder="test", semantic=True, n_boot=0, noise_label=None)
    )
    assert {c["cluster"] for c in with_noise_cluster["clusters"]} == {-1, 0, 1, 2}


def test_one_cluster_beside_noise_is_compared():
    emb, labels = _clustered(k=2, per=8)
    labels = np.where(labels == 1, -1, 0)
    report = icss(emb, labels, embedder="test", semantic=True, n_boot=100)
    assert report.reason is None and report.difference_ci[0] > 0


def test_markdown_names_the_embedder_and_flags_the_fallback():
    emb, labels = _clustered(k=3, per=6)
    semantic = icss(emb, labels, embedder="clip:vit-b-32", semantic=True, n_boot=50).markdown()
    fallback = icss(emb, labels, embedder="stats", semantic=False, n_boot=50).markdown()
    assert "`clip:vit-b-32`" in semantic and NON_SEMANTIC not in semantic
    assert NON_SEMANTIC in fallback and "`stats`" in fallback
    rows = [line for line in semantic.splitlines() if line.startswith("| ")]
    assert len(rows) == (1 + 3) + (1 + 3)  # header and rows: overall, then the 3 clusters
    few = icss(emb, labels, embedder="e", semantic=True, n_boot=0).markdown(max_clusters=1)
    assert "2 smaller clusters not shown" in few


def test_markdown_shows_each_clusters_name_beside_its_id():
    emb, labels = _clustered(k=3, per=6)
    report = icss(emb, labels, embedder="e", semantic=True, n_boot=0)
    named = report.markdown(names={0: "tighten", 1: "a|b"})
    rows = [line for line in named.splitlines()[-4:] if line.startswith("| ")]
    cells = {line.split("|")[1].strip() for line in rows}
    assert {"0 tighten", "2"} <= cells  # a name where there is one, the bare id otherwise
    assert "| 1 a\\|b |" in named  # a pipe in a name does not break the table
    assert "tighten" not in report.markdown()


def test_bad_inputs_are_discovery_errors():
    emb = np.ones((4, 3))
    with pytest.raises(DiscoveryError, match="labels"):
        icss(emb, np.zeros(3), embedder="e", semantic=True)
    with pytest.raises(DiscoveryError, match="NaN"):
        icss(np.full((4, 3), np.nan), np.zeros(4), embedder="e", semantic=True)
    emb[2] = 0
    with pytest.raises(DiscoveryError, match="row 2 is zero"):
        icss(emb, np.zeros(4), embedder="e", semantic=True)


# --- the non-semantic fallback ---------------------------------------------------------------
def _image(rgb, stripes=False, seed=0, shape=(60, 80)):
    rng = np.random.default_rng(seed)
    img = np.empty(shape + (3,), np.uint8)
    img[:] = rgb
    if stripes:
        img[:, ::8] = 0
        img[:, 1::8] = 0
    noise = rng.integers(-12, 13, img.shape)
    return np.clip(img.astype(int) + noise, 0, 255).astype(np.uint8)


def test_fallback_tells_colours_and_textures_apart():
    emb = ColourTextureEmbedder()
    assert isinstance(emb, ImageEmbedder) and emb.semantic is False
    assert NON_SEMANTIC in emb.name
    red1, red2 = _image((200, 30, 30), seed=1), _image((205, 35, 25), seed=2)
    blue, green = _image((30, 30, 200)), _image((30, 190, 40))
    striped_red = _image((200, 30, 30), stripes=True)
    v = emb.embed([red1, red2, blue, green, striped_red])
    assert v.shape == (5, emb.dim) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-6)
    sim = v @ v.T
    assert sim[0, 1] > 0.95
    assert sim[0, 1] - max(sim[0, 2], sim[0, 3]) > 0.2
    assert sim[0, 1] - sim[0, 4] > 0.05  # same colour, different texture


def test_fallback_is_per_image_whatever_the_batch():
    emb = ColourTextureEmbedder()
    imgs = [_image((200, 30, 30)), _image((30, 30, 200)), _image((90, 90, 90), stripes=True)]
    alone = np.concatenate([emb.embed([im]) for im in imgs])
    together = emb.embed(imgs)
    reordered = emb.embed(imgs[::-1])[::-1]
    assert np.array_equal(alone, together) and np.array_equal(alone, reordered)
    assert emb.embed([]).shape == (0, emb.dim)
    big = emb.embed([np.kron(imgs[0], np.ones((4, 4, 1), np.uint8))])  # 240 x 320 upscaled
    assert float(big[0] @ alone[0]) > 0.95  # statistics, not pixels: size barely matters
    with pytest.raises(EmbedderError, match="image 1"):
        emb.embed([imgs[0], imgs[0][..., 0]])


def test_icss_of_real_clips_with_the_fallback(tmp_path):
    """Keyframes of real clips in two colour families: clusters by colour are found similar,
    and the card says it is the non-semantic fallback."""
    rng = np.random.default_rng(0)
    clips, labels = [], []
    for i in range(8):
        base = (190, 40, 40) if i % 2 == 0 else (40, 60, 190)
        frames = [_image(base, stripes=bool(i % 4 < 2), seed=int(rng.integers(1e6)))
                  for _ in range(4)]  # fmt: skip
        path = tmp_path / f"clip{i}.mp4"
        encode_frames(iter([f[:48, :64] for f in frames]), path, fps=10.0, crf=20)
        clips.append(path)
        labels.append(i % 2)
    embedder = image_embedder(None)
    assert isinstance(embedder, ColourTextureEmbedder)
    emb = np.stack([embedder.embed(keyframes(c, 3)).mean(0) for c in clips])
    report = icss(emb, np.array(labels), embedder=embedder.name, semantic=embedder.semantic)
    assert report.difference_ci[0] > 0
    assert NON_SEMANTIC in report.markdown() and report.to_dict()["semantic"] is False


# --- CLIP from a folder ------------------------------------------------------------------------
def test_missing_or_foreign_folders_are_clear_errors(tmp_path):
    with pytest.raises(EmbedderError, match="no such folder"):
        image_embedder(str(tmp_path / "nope"))
    with pytest.raises(EmbedderError, match="holds no config.json"):
        image_embedder(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(EmbedderError, match="not a CLIP model"):
        ClipImageEmbedder.from_folder(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(LapsError, match="not a model config"):
        ClipImageEmbedder.from_folder(tmp_path)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A randomly initialised CLIP of a few thousand weights, saved as a model folder."""
    transformers = pytest.importorskip(
        "transformers", reason="transformers (the 'clip' extra, in dev) is not installed"
    )
    import torch

    torch.manual_seed(0)
    config = transformers.CLIPConfig(
        text_config=dict(
            vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=1,
            num_attention_heads=2, max_position_embeddings=16, bos_token_id=0, eos_token_id=1,
            pad_token_id=1,
        ),
        vision_config=dict(
            image_size=32, patch_size=8, hidden_size=32, intermediate_size=37,
            num_hidden_layers=2, num_attention_heads=2,
        ),
        projection_dim=16,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("models") / "tiny-clip-test"
    transformers.CLIPModel(config).save_pretrained(folder)
    processor_cls = getattr(transformers, "CLIPImageProcessorPil", None)
    processor_cls = processor_cls or transformers.CLIPImageProcessor
    processor_cls(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(folder)
    return folder


def test_clip_from_a_folder_embeds_real_frames_offline(tiny_clip, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clip = make_video(tmp_path / "c.mp4", frames=12)
    frames = keyframes(clip, 5) + [_image((200, 30, 30)), _image((30, 30, 200))]
    first = image_embedder(str(tiny_clip), batch_size=3)
    assert isinstance(first, ClipImageEmbedder) and isinstance(first, ImageEmbedder)
    assert first.semantic is True and "tiny-clip-test" in first.name
    v = first.embed(frames)
    assert v.shape == (7, 16) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert not np.allclose(v[0], v[-1], atol=1e-3)  # different images, different vectors
    again = ClipImageEmbedder.from_folder(tiny_clip, batch_size=7).embed(frames)
    assert np.allclose(v, again, atol=1e-5)  # a second load, another batching: same vectors
    assert first.embed([]).shape == (0, 16)
    report = icss(v, np.array([0, 0, 0, 1, 1, 1, 1]), embedder=first.name, semantic=True)
    assert report.to_dict()["embedder"] == first.name and NON_SEMANTIC not in report.markdown()


def test_a_clip_folder_without_weights_is_a_clear_error(tiny_clip, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((tiny_clip / "config.json").read_text())
    with pytest.raises(EmbedderError, match="not a loadable CLIP model"):
        ClipImageEmbedder.from_folder(broken)
