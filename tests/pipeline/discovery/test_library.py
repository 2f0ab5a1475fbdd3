"""The primitive library on embeddings whose clusters are known: k by silhouette, nearest
centroid, persistence, and ids that survive a refit."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score

from pipeline.discovery.library import Library, fit_library, stratified_sample
from pipeline.errors import DiscoveryError


def blobs(k: int, per: int, d: int = 6, seed: int = 0, spread: float = 0.15):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 3
    x = np.concatenate([c + rng.normal(scale=spread, size=(per, d)) for c in centres])
    return x, np.repeat(np.arange(k), per), centres


def fit(x, **kw):
    return fit_library(x, embedding="test", config_fingerprint="f", **kw)


def test_silhouette_finds_the_true_k_and_clusters_match_the_truth():
    x, truth, _ = blobs(5, 30)
    lib, ids = fit(x, k_min=3, k_max=9)
    assert lib.k == 5 and set(lib.silhouettes) == set(range(3, 10))
    assert normalized_mutual_info_score(truth, ids) == pytest.approx(1.0)
    assert sorted(lib.fit_sizes.values()) == [30] * 5 and lib.ids == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(np.linalg.norm(lib.centroids, axis=1), 1.0, rtol=1e-6)


def test_assign_gives_the_nearest_centroid_and_its_cosine_distance():
    x, truth, centres = blobs(4, 25)
    lib, ids = fit(x, k_min=3, k_max=6)
    got, dist = lib.assign(x)
    assert got.tolist() == ids.tolist()  # the fit set assigns to its own clusters
    all_dist = 1.0 - lib.unit(x) @ lib.centroids.T  # cosine distance to every centroid
    np.testing.assert_allclose(dist, all_dist.min(axis=1), atol=1e-5)
    assert (dist >= 0).all()
    new = centres + 0.01  # a point at each true centre goes to that centre's cluster
    cid, _ = lib.assign(new)
    for c in range(4):
        assert cid[c] == ids[truth == c][0]
    with pytest.raises(DiscoveryError, match="dimension"):
        lib.assign(np.zeros((2, 3)))


def test_the_same_data_and_seed_give_the_same_library():
    x, _, _ = blobs(4, 20)
    a, ida = fit(x, seed=3)
    b, idb = fit(x, seed=3)
    assert a.version == b.version and ida.tolist() == idb.tolist()
    c, _ = fit(x + 1e-3)
    assert c.version != a.version


def test_files_round_trip_and_tampering_is_caught():
    x, _, _ = blobs(4, 20)
    lib, _ = fit(x)
    lib.names = {0: "reach", 1: "grasp"}
    arrays, meta = lib.to_files()
    back = Library.from_files(arrays, meta)
    assert back.version == lib.version and back.names == lib.names and back.ids == lib.ids
    assert back.assign(x)[0].tolist() == lib.assign(x)[0].tolist()
    assert back.name_of(2) == "primitive_02"
    bad = meta.replace(lib.version.encode(), b"0" * 12)
    with pytest.raises(DiscoveryError, match="disagree"):
        Library.from_files(arrays, bad)


def test_a_refit_keeps_the_ids_of_matching_clusters():
    x, truth, _ = blobs(4, 30, seed=1)
    old, old_ids = fit(x, k_min=3, k_max=6)
    # new data of the same four clusters, in another order and with other noise: the fit
    # numbers clusters by size, so without matching the ids would be shuffled
    rng = np.random.default_rng(9)
    sizes = [10, 40, 25, 33]
    parts = [x[truth == c][rng.integers(0, 30, n)] + rng.normal(scale=0.05, size=(n, 6))
             for c, n in enumerate(sizes)]  # fmt: skip
    x2 = np.concatenate(parts)
    truth2 = np.repeat(np.arange(4), sizes)
    new, new_ids = fit(x2, k_min=3, k_max=6, previous=old)
    assert sorted(new.ids) == sorted(old.ids)
    for c in range(4):  # each true cluster keeps the id it had
        assert set(new_ids[truth2 == c].tolist()) == {old_ids[truth == c][0]}
    assert new.previous_version == old.version
    assert all(m["old_id"] == m["new_id"] for m in new.id_mapping)


def test_a_refit_with_a_new_cluster_gives_it_a_new_id_and_records_a_vanished_one():
    x, truth, _ = blobs(4, 30, seed=2)
    old, old_ids = fit(x, k_min=4, k_max=4)
    y, _, _ = blobs(1, 30, seed=77)  # a fifth cluster appears; cluster 0 disappears
    x2 = np.concatenate([x[truth != 0], y + 10])
    new, _ = fit(x2, k_min=4, k_max=4, previous=old)
    gone = int(old_ids[truth == 0][0])
    assert gone not in new.ids and 4 in new.ids
    assert {"old_id": gone, "new_id": None, "distance": None} in new.id_mapping
    assert {"old_id": None, "new_id": 4, "distance": None} in new.id_mapping


def test_too_little_or_bad_data_is_refused():
    with pytest.raises(DiscoveryError, match="at least 2"):
        fit(np.zeros((1, 3)))
    with pytest.raises(DiscoveryError, match="nothing to cluster"):
        fit(np.ones((10, 3)))
    x, _, _ = blobs(3, 10)
    x[0, 0] = np.nan
    with pytest.raises(DiscoveryError, match="NaN"):
        fit(x)


def test_few_distinct_points_cap_k():
    x = np.repeat(np.eye(3), 5, axis=0)  # three distinct points
    lib, ids = fit(x, k_min=3, k_max=16)
    assert lib.k == 2 or lib.k == 3
    assert len(set(ids.tolist())) == lib.k


def test_stratified_sample_takes_every_partition_and_is_seeded():
    groups = ["a"] * 900 + ["b"] * 90 + ["c"] * 10
    pick = stratified_sample(groups, 100, seed=0)
    assert len(pick) <= 100 and len(set(pick.tolist())) == len(pick)
    got = [groups[i] for i in pick]
    assert got.count("a") == 90 and got.count("b") == 9 and got.count("c") == 1
    assert stratified_sample(groups, 100, seed=0).tolist() == pick.tolist()
    assert stratified_sample(groups[:50], 100).tolist() == list(range(50))


def test_a_retired_id_is_never_given_out_again():
    x, truth, _ = blobs(4, 30, seed=2)
    first, ids1 = fit(x, k_min=4, k_max=4)
    y, _, _ = blobs(1, 30, seed=77)
    second, _ = fit(np.concatenate([x[truth != 0], y + 10]), k_min=4, k_max=4, previous=first)
    gone = int(ids1[truth == 0][0])
    z, _, _ = blobs(1, 30, seed=78)  # a sixth primitive later
    x3 = np.concatenate([x[truth == 1], x[truth == 2], y + 10, z - 10])
    third, _ = fit(x3, k_min=4, k_max=4, previous=Library.from_files(*second.to_files()))
    assert gone not in third.ids and 5 in third.ids and third.next_id == 6


@pytest.mark.parametrize("tolerance", [0.0, 0.05, 1.0])
def test_k_is_the_largest_within_the_silhouette_tolerance_of_the_best(tolerance):
    # three groups of two sub-clusters each: the silhouette is high at 3 and at 6
    x, _, centres = blobs(3, 40, seed=4, spread=0.15)
    rng = np.random.default_rng(5)
    x = x + np.repeat(rng.normal(scale=0.6, size=(6, 6)), 20, axis=0)
    lib, _ = fit(x, k_min=2, k_max=9, silhouette_tolerance=tolerance)
    sil = lib.silhouettes
    top = max(sil.values())
    assert lib.k == max(k for k, s in sil.items() if s >= top - tolerance - 1e-9)
    if tolerance == 0.0:
        assert sil[lib.k] == top
    if tolerance == 1.0:
        assert lib.k == 9


def test_the_fit_fingerprint_follows_the_embedding_version_and_the_tolerance(monkeypatch):
    import pipeline.discovery.embeddings as emb
    from pipeline.discovery.config import DiscoveryConfig

    cfg = DiscoveryConfig()
    before = cfg.fit_fingerprint()
    assert DiscoveryConfig(silhouette_tolerance=0.01).fit_fingerprint() != before
    monkeypatch.setitem(emb.EMBEDDING_VERSIONS, cfg.embedding,
                        emb.EMBEDDING_VERSIONS[cfg.embedding] + 1)  # fmt: skip
    assert cfg.fit_fingerprint() != before
    assert DiscoveryConfig(embedding="code_bag").fit_fingerprint() != before
