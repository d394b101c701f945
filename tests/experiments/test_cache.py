"""hidcap.experiments.cache.cached: computes once, reuses while the key matches, recomputes otherwise."""
import json

import numpy as np
import pytest

from hidcap.experiments.cache import cached


def _cache(folder, key, calls, value="v", **kw):
    def compute():
        calls.append(key)
        return value

    return cached(folder, key, compute, save=lambda v, f: (f / "value.txt").write_text(v),
                  load=lambda f: (f / "value.txt").read_text(), **kw)


def test_computes_once_then_loads(tmp_path):
    calls = []
    assert _cache(tmp_path, {"a": 1}, calls) == "v"
    assert _cache(tmp_path, {"a": 1}, calls, value="other") == "v"  # loaded, not recomputed
    assert calls == [{"a": 1}]
    assert json.loads((tmp_path / "cache_key.json").read_text()) == {"a": 1}


def test_a_changed_key_recomputes_and_numpy_tuples_compare_as_json(tmp_path):
    calls = []
    _cache(tmp_path, {"steps": (0, 10), "acc": np.float32(0.5)}, calls)
    _cache(tmp_path, {"steps": [0, 10], "acc": 0.5}, calls)  # the same key after JSON conversion
    assert len(calls) == 1
    assert _cache(tmp_path, {"steps": [0, 20], "acc": 0.5}, calls, value="new") == "new"
    assert len(calls) == 2


def test_a_missing_value_or_a_broken_key_file_recomputes(tmp_path):
    calls = []
    _cache(tmp_path, "k", calls)
    (tmp_path / "value.txt").unlink()
    assert _cache(tmp_path, "k", calls, value="again") == "again"
    (tmp_path / "cache_key.json").write_text("{not json")
    _cache(tmp_path, "k", calls)
    assert len(calls) == 3


def test_several_caches_in_one_folder_and_a_failed_save_leaves_no_key(tmp_path):
    calls = []
    _cache(tmp_path, "k", calls, name="a.key.json")
    _cache(tmp_path, "k", calls, name="b.key.json")
    assert len(calls) == 2

    def bad_save(value, folder):
        raise OSError("disk full")

    with pytest.raises(OSError):
        cached(tmp_path / "c", "k", lambda: 1, bad_save, lambda f: 1)
    assert not (tmp_path / "c" / "cache_key.json").exists()
