"""lookalike.index: every name the single-module index had stays importable from it."""

from __future__ import annotations

import importlib

import lookalike.index as ix
from lookalike import neighbours

# Every public name of the former single-module lookalike/index.py.
OLD_NAMES = """
    CONFIG_FILE EXACT_SCAN_MAX_ALLOWED FILTER_EF_MAX FLAT_MAX_ITEMS FORMAT_VERSION
    HNSW_MAX_ITEMS INDEX_FILE INDEX_KINDS MAX_NLIST MIN_K_FACTOR REFINE_FILE REMOVED_FILE
    RERANK_SHARE SELECTIVE_FRACTION FlatIndex HNSWIndex IVFPQIndex VectorIndex build_index
    choose_index_kind create_index default_nlist exact_search load_index search_groups
    set_threads
""".split()
SUBMODULES = ["base", "flat", "grouped", "hnsw", "ivfpq", "registry"]


def test_old_names_stay_importable_from_lookalike_index():
    assert sorted(ix.__all__) == sorted(OLD_NAMES)
    missing = [name for name in OLD_NAMES if not hasattr(ix, name)]
    assert not missing


def test_each_name_is_the_object_of_its_one_home_module():
    homes = [importlib.import_module(f"lookalike.index.{m}") for m in SUBMODULES] + [neighbours]
    for name in OLD_NAMES:
        owners = [home for home in homes if name in home.__all__]
        assert len(owners) == 1, name
        assert getattr(ix, name) is getattr(owners[0], name), name


def test_registry_maps_each_kind_to_its_class():
    from lookalike.index.milvus import MilvusIndex

    assert ix.INDEX_KINDS == {
        "flat": ix.FlatIndex,
        "hnsw": ix.HNSWIndex,
        "ivfpq": ix.IVFPQIndex,
        "milvus": MilvusIndex,
    }
