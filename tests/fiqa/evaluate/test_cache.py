"""The row cache computes each sample once, only when a run needs it, and survives partial runs."""

from __future__ import annotations

import numpy as np

from fiqa.evaluate.cache import Cache, tag_of


def test_rows_are_computed_once_and_only_where_needed(tmp_path):
    calls: list[list[int]] = []

    def compute(indices: np.ndarray) -> dict[str, np.ndarray]:
        calls.append(indices.tolist())
        return {"value": indices.astype(float) * 2, "flag": np.ones(indices.size, dtype=bool)}

    cache = Cache(tmp_path, "set", "abc")
    first = np.array([True, False, True, False, True])
    got = cache.rows("kind", tag_of("v1"), 5, first, compute, chunk=2)
    assert calls == [[0, 2], [4]]
    np.testing.assert_array_equal(got["value"], [0, np.nan, 4, np.nan, 8])
    assert got["flag"].tolist() == [True, False, True, False, True]

    calls.clear()
    again = Cache(tmp_path, "set", "abc").rows("kind", tag_of("v1"), 5, np.ones(5, bool), compute, chunk=2)
    assert calls == [[1, 3]]  # only the rows not computed before
    np.testing.assert_array_equal(again["value"], [0, 2, 4, 6, 8])

    calls.clear()
    Cache(tmp_path, "set", "abc").rows("kind", tag_of("v2"), 5, first, compute)
    assert calls == [[0, 2, 4]]  # another tag (e.g. another model version) is another entry


def test_nothing_needed_still_gives_full_size_arrays():
    got = Cache(None, "set", "abc").rows("kind", "t", 3, np.zeros(3, bool), lambda i: {"v": np.zeros((i.size, 2))})
    assert got["v"].shape == (3, 2) and np.isnan(got["v"]).all()
