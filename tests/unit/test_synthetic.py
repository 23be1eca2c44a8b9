"""bench/synthetic.py: pages are pure functions of (seed, index), streamed to disk chunk by chunk."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
from synthetic import Synthetic


def test_chunked_file_equals_pages_generated_one_by_one(tmp_path: Path) -> None:
    gen = Synthetic(seed=3, tokens=20, dim=16, topics=50)
    mm = gen.write(tmp_path / "p.f16", 7, chunk=3)  # chunks of 3, 3, 1 pages
    assert mm.shape == (140, 16)
    assert mm.dtype == np.float16
    want = np.concatenate([gen.page(i) for i in range(7)]).astype(np.float16)
    np.testing.assert_array_equal(np.asarray(mm), want)
    np.testing.assert_allclose(np.linalg.norm(gen.page(5), axis=1), 1.0, rtol=1e-5)
    # Same seed, same data; another seed, other data; a matching file is reused as it is.
    np.testing.assert_array_equal(Synthetic(seed=3, tokens=20, dim=16, topics=50).page(4), gen.page(4))
    assert not np.array_equal(Synthetic(seed=4, tokens=20, dim=16, topics=50).page(4), gen.page(4))
    again = gen.write(tmp_path / "p.f16", 7)
    np.testing.assert_array_equal(np.asarray(again), want)
    assert gen.offsets(7).tolist() == list(range(0, 141, 20))


def test_pages_mix_a_few_topics_and_queries_follow_a_target_page() -> None:
    gen = Synthetic(seed=0, tokens=400, dim=32, topics=200, topics_per_page=4, noise=0.3)
    topics, weights = gen.page_topics(2)
    assert len(set(topics.tolist())) == 4
    np.testing.assert_allclose(weights.sum(), 1.0)
    page = gen.page(2)
    # Every token is nearest (of all topic centres) to one of the page's own topics.
    nearest = np.argmax(page @ gen.centers.T, axis=1)
    assert set(nearest.tolist()) <= set(topics.tolist())
    q = gen.query(0, 10)
    assert q.shape == (22, 32)
