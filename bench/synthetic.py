"""Synthetic multi-vector pages with topic structure, for search benchmarks at any size.

Each page mixes a few (``topics_per_page``, default 8) of many topics (``topics``, default 4096): its ~885
L2-normalised 128-d tokens are drawn around those topics' centres with per-page mixing weights. A query
(22 tokens) is drawn around a few (3) of one target page's topics, so thousands of pages share some of
its topics and the exact order depends on fine detail: approximate search (compressed codes, FDEs, pooling)
can and does get it wrong, measured against exact float16 MaxSim over the same pages.

Everything is a pure function of ``(seed, page index)`` or ``(seed, query index)``: a page is the same
whether generated alone or in a chunk, so corpora of any size are generated chunk by chunk and written to
an fp16 file on disk (100,000 pages x 885 x 128 = 22.7 GB) without holding them in memory.

    python bench/synthetic.py --pages 100000 --out /big/disk/pages.f16   # streamed, chunk by chunk
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Synthetic:
    seed: int = 0
    tokens: int = 885
    dim: int = 128
    topics: int = 4096
    topics_per_page: int = 8
    #: Per-component noise is ``noise / sqrt(dim)`` (a noise vector of norm ~``noise`` around a unit centre).
    noise: float = 0.5
    query_tokens: int = 22
    query_topics: int = 3
    centers: npt.NDArray[np.float32] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        c = np.random.default_rng((self.seed, 0)).standard_normal((self.topics, self.dim)).astype(np.float32)
        object.__setattr__(self, "centers", c / np.linalg.norm(c, axis=1, keepdims=True))

    def page_topics(self, i: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Page ``i``'s topics and mixing weights (Dirichlet: some topics dominate a page)."""
        rng = np.random.default_rng((self.seed, 1, i))
        topics = rng.choice(self.topics, self.topics_per_page, replace=False)
        return topics, rng.dirichlet(np.ones(self.topics_per_page))

    def _unit(self, v: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    def page(self, i: int) -> npt.NDArray[np.float32]:
        topics, weights = self.page_topics(i)
        rng = np.random.default_rng((self.seed, 2, i))
        centre = self.centers[rng.choice(topics, self.tokens, p=weights)]
        noise = rng.standard_normal((self.tokens, self.dim), dtype=np.float32)
        return self._unit(centre + np.float32(self.noise / np.sqrt(self.dim)) * noise)

    def pages(self, start: int, stop: int) -> npt.NDArray[np.float32]:
        """Pages ``start .. stop`` back to back, ``((stop - start) * tokens, dim)`` float32."""
        return (
            np.concatenate([self.page(i) for i in range(start, stop)])
            if stop > start
            else np.zeros((0, self.dim), np.float32)
        )

    def query(self, j: int, n_pages: int) -> npt.NDArray[np.float32]:
        rng = np.random.default_rng((self.seed, 3, j))
        target = int(rng.integers(0, n_pages))
        topics, weights = self.page_topics(target)
        keep = topics[np.argsort(-weights)[: self.query_topics]]  # the target's main topics
        centre = self.centers[rng.choice(keep, self.query_tokens)]
        noise = rng.standard_normal((self.query_tokens, self.dim), dtype=np.float32)
        return self._unit(centre + np.float32(self.noise / np.sqrt(self.dim)) * noise)

    def offsets(self, n_pages: int) -> npt.NDArray[np.int64]:
        return np.arange(0, (n_pages + 1) * self.tokens, self.tokens, dtype=np.int64)

    def chunks(self, n_pages: int, chunk: int = 256) -> Iterator[tuple[int, npt.NDArray[np.float32]]]:
        """``(first page, float32 rows)`` for consecutive chunks of ``chunk`` pages."""
        for a in range(0, n_pages, chunk):
            yield a, self.pages(a, min(n_pages, a + chunk))

    def write(self, path: Path, n_pages: int, chunk: int = 256) -> np.memmap:
        """Writes ``n_pages`` as float16 rows to ``path`` chunk by chunk; returns a read-only memory map.

        An existing file of the right size is reused when its first and last pages match.
        """
        shape = (n_pages * self.tokens, self.dim)
        nbytes = shape[0] * shape[1] * 2
        if path.exists() and path.stat().st_size == nbytes and n_pages:
            mm = np.memmap(path, np.float16, "r", shape=shape)
            last = (n_pages - 1) * self.tokens
            if np.array_equal(mm[: self.tokens], self.page(0).astype(np.float16)) and np.array_equal(
                mm[last:], self.page(n_pages - 1).astype(np.float16)
            ):
                return mm
        path.parent.mkdir(parents=True, exist_ok=True)
        out = np.memmap(path, np.float16, "w+", shape=shape)
        for a, rows in self.chunks(n_pages, chunk):
            out[a * self.tokens : a * self.tokens + len(rows)] = rows
        out.flush()
        del out
        return np.memmap(path, np.float16, "r", shape=shape)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=1000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t = time.perf_counter()
    gen = Synthetic(seed=args.seed)
    mm = gen.write(args.out, args.pages)
    dt = time.perf_counter() - t
    print(f"{args.pages:,} pages -> {args.out} ({mm.nbytes / 1e9:.2f} GB fp16) in {dt:.1f} s")


if __name__ == "__main__":
    main()
