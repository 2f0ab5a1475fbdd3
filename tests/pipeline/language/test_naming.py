"""name_clusters: majority verb, deterministic ties, fallbacks, unique safe names."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.language.naming import majority_verb, name_clusters, safe_name

SAFE = re.compile(r"^[a-z][a-z0-9_]*$")


def test_majority_verb_names_each_cluster():
    cluster_of = {"a": 0, "b": 0, "c": 0, "d": 1, "e": 1}
    verb_of = {"a": "tighten", "b": "tighten", "c": "place", "d": "pick up", "e": None}
    assert name_clusters(cluster_of, verb_of, [0, 1]) == {0: "tighten", 1: "pick_up"}


def test_ties_go_to_the_alphabetically_first_verb_whatever_the_order():
    verbs = {"a": "screw", "b": "insert", "c": "screw", "d": "insert"}
    for order in (["a", "b", "c", "d"], ["d", "c", "b", "a"]):
        cluster_of = {s: 3 for s in order}
        assert name_clusters(cluster_of, verbs, [3]) == {3: "insert"}
    assert majority_verb(["b", "a", None, "", "b", "a"]) == "a"
    assert majority_verb([None, ""]) is None


def test_clusters_without_verbs_and_empty_clusters_get_primitive_names():
    cluster_of = {"a": 0, "b": 1}
    verb_of = {"a": None}  # b missing altogether
    names = name_clusters(cluster_of, verb_of, [0, 1, 2, 12])
    assert names == {0: "primitive_00", 1: "primitive_01", 2: "primitive_02", 12: "primitive_12"}


def test_no_endpoint_names_every_cluster_primitive_nn():
    cluster_of = {f"s{i}": i % 3 for i in range(9)}
    assert name_clusters(cluster_of, dict.fromkeys(cluster_of), range(3)) == {
        0: "primitive_00", 1: "primitive_01", 2: "primitive_02",
    }  # fmt: skip


def test_shared_verbs_get_distinct_names_by_size():
    cluster_of = {"a": 5, "b": 2, "c": 2, "d": 7, "e": 7, "f": 7, "g": 9}
    verb_of = dict.fromkeys(cluster_of, "tighten")
    assert name_clusters(cluster_of, verb_of, [2, 5, 7, 9]) == {
        7: "tighten", 2: "tighten_2", 5: "tighten_3", 9: "tighten_4",
    }  # fmt: skip


def test_a_verb_that_looks_like_a_suffix_or_fallback_stays_distinct():
    cluster_of = {"a": 0, "b": 0, "c": 1, "d": 2, "e": 3}
    verb_of = {"a": "tighten", "b": "tighten", "c": "tighten", "d": "tighten 2",
               "e": "primitive 04"}  # fmt: skip
    names = name_clusters(cluster_of, verb_of, [0, 1, 2, 3, 4])
    assert names[0] == "tighten" and names[1] == "tighten_2" and names[2] == "tighten_2_2"
    assert names[4] == "primitive_04" and names[3] == "primitive_04_2"
    assert len(set(names.values())) == 5


def test_negative_ids_are_unclustered_and_never_take_a_verb():
    cluster_of = {"a": -1, "b": -1, "c": 0}
    verb_of = {"a": "place", "b": "place", "c": "place"}
    assert name_clusters(cluster_of, verb_of, [-1, 0, -2]) == {
        -2: "unclustered_02", -1: "unclustered", 0: "place",
    }  # fmt: skip


@pytest.mark.parametrize(
    "verb, name",
    [("pick up", "pick_up"), ("Re-Insert", "re_insert"), ("don't  move", "don_t_move"),
     ("x" * 60, "x" * 40), ("über", "ber"), ("!!!", "")],
)  # fmt: skip
def test_safe_name(verb, name):
    assert safe_name(verb) == name


def test_a_verb_with_nothing_safe_in_it_falls_back():
    assert name_clusters({"a": 4}, {"a": "???"}, [4]) == {4: "primitive_04"}
    assert name_clusters({"a": 4}, {"a": "3d print"}, [4]) == {4: "v_3d_print"}


@given(
    st.dictionaries(st.text("abcdef", min_size=1, max_size=3), st.integers(-2, 6), max_size=30),
    st.lists(st.sampled_from(["tighten", "pick up", "place", "tighten 2", None, "", "??"]),
             min_size=30, max_size=30),
    st.sets(st.integers(-2, 8), max_size=8),
)  # fmt: skip
def test_names_are_unique_safe_and_deterministic(cluster_of, verbs, extra_ids):
    verb_of = dict(zip(sorted(cluster_of), verbs, strict=False))
    ids = set(cluster_of.values()) | extra_ids
    names = name_clusters(cluster_of, verb_of, ids)
    assert set(names) == ids
    assert len(set(names.values())) == len(names)
    assert all(SAFE.match(n) and len(n) <= 40 for n in names.values())
    again = name_clusters(
        dict(reversed(list(cluster_of.items()))), verb_of, sorted(ids, reverse=True)
    )
    assert again == names
