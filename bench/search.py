"""The embedded store's search, against the alternatives, in one run (medians).

    python bench/search.py            # 20,000 pages of 885 x 128 fp16 tokens (~4.5 GB per collection)
    python bench/search.py --quick    # 2,000 pages: a minute or two

* exact ``near_vector`` over every page against the numpy formulation on the same stored fp16 data
  (chunks of whole pages converted to float32, ``Q @ D.T``, max over each page's tokens, sum);
* MUVERA with Weaviate's defaults (ksim 4, dprojections 16, repetitions 10) on the same pages: latency and
  recall@10 against the exact top 10 (the 500 rescored candidates are a quarter of the ``--quick`` corpus,
  so the speed-up only shows at full size);
* ``bm25`` queries/s against bm25s (same tokens, same k1/b, stopwords removed from the queries for both),
  one query per call for both, with the top-10 sets compared (differences only allowed between equal scores);
* import rate (objects/s with given vectors) and bytes on disk per page against the raw fp16 vector bytes.

Pages are synthetic but shaped like ColModernVBERT's: 885 L2-normalised 128-d tokens drawn around a few
topic centres per page; queries are ~22 tokens drawn around one page's topics. Generated data lives under
``--data`` (default ``bench/.cache/search``, git-ignored) and is removed at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import blas_info, blas_threads
from colweave.store import CollectionConfig, DataObject, MuveraConfig, Property, Store, VectorConfig
from colweave.store.collection import muvera_pool
from colweave.store.tokenize import EN_STOPWORDS, tokenize

TOKENS, DIM, QTOKENS = 885, 128, 22
TOPICS, TOPICS_PER_PAGE, NOISE = 4096, 8, 0.5


class Corpus:
    """Deterministic synthetic pages (multi-vectors and text), generated batch by batch."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        c = rng.standard_normal((TOPICS, DIM)).astype(np.float32)
        self.centers = c / np.linalg.norm(c, axis=1, keepdims=True)
        self.vocab = [f"w{i}" for i in range(30_000)]
        ranks = np.arange(1, len(self.vocab) + 1)
        self.zipf = (1 / ranks) / (1 / ranks).sum()
        self.seed = seed

    def page_topics(self, i: int) -> np.ndarray:
        return np.random.default_rng((self.seed, i, 1)).integers(0, TOPICS, TOPICS_PER_PAGE)

    def page(self, i: int) -> np.ndarray:
        rng = np.random.default_rng((self.seed, i, 2))
        t = self.centers[rng.choice(self.page_topics(i), TOKENS)]
        v = t + NOISE * rng.standard_normal((TOKENS, DIM), dtype=np.float32) / np.sqrt(DIM)
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    def text(self, i: int) -> str:
        rng = np.random.default_rng((self.seed, i, 3))
        words = rng.choice(len(self.vocab), int(rng.integers(80, 240)), p=self.zipf)
        return " ".join(self.vocab[w] for w in words)

    def query(self, j: int, n_pages: int) -> np.ndarray:
        rng = np.random.default_rng((self.seed, j, 4))
        target = int(rng.integers(0, n_pages))
        t = self.centers[rng.choice(self.page_topics(target), QTOKENS)]
        v = t + NOISE * rng.standard_normal((QTOKENS, DIM), dtype=np.float32) / np.sqrt(DIM)
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    def text_query(self, j: int) -> str:
        rng = np.random.default_rng((self.seed, j, 5))
        # Mid-frequency words (ranks 50-5000), 2-5 of them, sometimes with a stopword.
        words = [self.vocab[int(w)] for w in rng.integers(50, 5000, int(rng.integers(2, 6)))]
        if j % 3 == 0:
            words.insert(1, "the")
        return " ".join(words)


def config(name: str, muvera: bool) -> CollectionConfig:
    return CollectionConfig(
        name,
        properties=[Property.create("body", "text")],
        vectors={"page": VectorConfig.self_provided("page", muvera=MuveraConfig(enabled=muvera))},
    )


def numpy_exact(q: np.ndarray, rows: np.ndarray, n_pages: int, k: int, chunk: int = 48) -> np.ndarray:
    """The numpy formulation over the same fp16 rows: float32 chunks of whole pages, one GEMM each."""
    scores = np.empty(n_pages, np.float32)
    for a in range(0, n_pages, chunk):
        b = min(n_pages, a + chunk)
        d = np.asarray(rows[a * TOKENS : b * TOKENS], np.float32)
        s = q @ d.T
        scores[a:b] = s.reshape(len(q), b - a, TOKENS).max(axis=2).sum(axis=0)
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top], kind="stable")]


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2,000 pages, fewer queries")
    ap.add_argument("--pages", type=int, default=None)
    ap.add_argument("--queries", type=int, default=None, help="vector queries (exact and MUVERA)")
    ap.add_argument("--data", type=Path, default=Path(__file__).parent / ".cache" / "search")
    ap.add_argument("--keep", action="store_true", help="keep the generated store")
    args = ap.parse_args()
    n = args.pages or (2_000 if args.quick else 20_000)
    nq = args.queries or (5 if args.quick else 7)
    corpus = Corpus()
    print(f"pages {n:,} x {TOKENS} tokens x {DIM} (fp16); queries {QTOKENS} tokens; BLAS: {blas_info()}")

    shutil.rmtree(args.data, ignore_errors=True)
    store = Store(args.data)
    try:
        exact = store.create_collection(config("Exact", muvera=False))
        muv = store.create_collection(config("Muvera", muvera=True))

        # -- import ----------------------------------------------------------------------------------
        t_imp = {"Exact": 0.0, "Muvera": 0.0}
        batch = 100
        for a in range(0, n, batch):
            objs = [
                DataObject({"body": corpus.text(i)}, vectors={"page": corpus.page(i)})
                for i in range(a, min(n, a + batch))
            ]
            for c in (exact, muv):
                t = time.perf_counter()
                res = c.insert_many(objs)
                t_imp[c.name] += time.perf_counter() - t
                assert not res.errors, res.errors[:1]
        raw = TOKENS * DIM * 2
        for c in (exact, muv):
            per_page = c.disk_bytes() / n
            print(
                f"import {c.name:7s}: {n / t_imp[c.name]:8.1f} objects/s with given vectors; "
                f"{per_page:,.0f} bytes on disk per page = {per_page / raw:.3f}x "
                f"the raw fp16 vectors ({raw:,})"
            )

        # -- exact near_vector vs numpy -------------------------------------------------------------
        snap = exact._segments["page"].snapshot()
        page_of = {int(d): i for i, d in enumerate(snap.slot_doc)}  # doc -> page number (insertion order)
        queries = [corpus.query(j, n) for j in range(nq)]
        sub = min(n, 2_000)  # numpy on float32 rows held in RAM: the first `sub` pages
        rows32 = np.asarray(snap.rows[: sub * TOKENS], np.float32)
        t_cw, t_np16, t_np32, truth = [], [], [], []
        with blas_threads(None):
            for q in queries:  # interleaved, one query at a time
                time.sleep(0.05)
                t = time.perf_counter()
                hits = exact.near_vector(q, limit=10)
                t_cw.append(time.perf_counter() - t)
                time.sleep(0.05)
                t = time.perf_counter()
                ref = numpy_exact(q, snap.rows, n, 10)
                t_np16.append(time.perf_counter() - t)
                time.sleep(0.05)
                t = time.perf_counter()
                numpy_exact(q, rows32, sub, 10)
                t_np32.append((time.perf_counter() - t) * n / sub)
                got = [page_of[exact._doc_of[h.uuid]] for h in hits]
                truth.append(set(got))
                assert len(set(got) & {int(x) for x in ref}) >= 9, "numpy and colweave disagree"
        cw, n16, n32 = med(t_cw), med(t_np16), med(t_np32)
        print(
            f"exact near_vector: colweave {cw * 1e3:8.1f} ms/query = {n / cw:9,.0f} pages/s | "
            f"numpy on the stored fp16 rows {n / n16:9,.0f} pages/s ({n16 / cw:.2f}x) | "
            f"numpy on fp32 rows in RAM {n / n32:9,.0f} pages/s ({n32 / cw:.2f}x)"
        )
        del rows32

        # -- MUVERA ----------------------------------------------------------------------------------
        mpage_of = {int(d): i for i, d in enumerate(muv._segments["page"].snapshot().slot_doc)}
        t_mv, recall = [], []
        for q, want in zip(queries, truth, strict=True):
            time.sleep(0.02)
            t = time.perf_counter()
            hits = muv.near_vector(q, limit=10)
            t_mv.append(time.perf_counter() - t)
            recall.append(len({mpage_of[muv._doc_of[h.uuid]] for h in hits} & want) / 10)
        # More queries for recall alone (cheap on the MUVERA side, one exact scan each).
        for j in range(nq, nq + (10 if args.quick else 23)):
            q = corpus.query(j, n)
            want = {page_of[exact._doc_of[h.uuid]] for h in exact.near_vector(q, limit=10)}
            recall.append(
                len({mpage_of[muv._doc_of[h.uuid]] for h in muv.near_vector(q, limit=10)} & want) / 10
            )
        mv = med(t_mv)
        pool = muvera_pool(muv.config.vectors["page"].index_extra, 10)
        print(
            f"MUVERA (ksim 4, dprojections 16, repetitions 10; {pool} candidates rescored): "
            f"{mv * 1e3:7.1f} ms/query, recall@10 {np.mean(recall):.3f} against exact "
            f"over {len(recall)} queries, "
            f"{cw / mv:.1f}x lower latency than exact"
        )

        # -- BM25 vs bm25s ---------------------------------------------------------------------------
        try:
            import bm25s  # type: ignore[import-untyped]
        except ImportError:
            print(
                "bm25: bm25s is not installed (in the clone: make dev, or "
                ".venv/bin/pip install -e '.[bench]'); "
                "skipped"
            )
            return
        docs = [tokenize(corpus.text(i)) for i in range(n)]
        retriever = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
        retriever.index(docs, show_progress=False)
        tq = [corpus.text_query(j) for j in range(300)]
        tq_tokens = [[t for t in tokenize(x) if t not in EN_STOPWORDS] for x in tq]
        for x, qt in zip(tq[:10], tq_tokens[:10], strict=True):  # warm-up
            exact.bm25(x, limit=10)
            retriever.retrieve([qt], k=10, show_progress=False)
        t_ours, t_theirs = [], []
        same = ties = 0
        for x, qt in zip(tq, tq_tokens, strict=True):  # interleaved, one query per call for both
            t = time.perf_counter()
            ours = exact.bm25(x, limit=10)
            t_ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            d, sc = retriever.retrieve([qt], k=10, show_progress=False)
            t_theirs.append(time.perf_counter() - t)
            a = {page_of[exact._doc_of[h.uuid]] for h in ours}
            b = {int(v) for v in d[0] if float(sc[0][list(d[0]).index(v)]) > 0}
            if a == b:
                same += 1
            else:
                # Allowed only between equal scores at the cut (bm25s's "lucene" scores are ours).
                cut = ours[-1].metadata.score if ours else 0.0
                diff_scores = [float(sc[0][i]) for i, v in enumerate(d[0]) if int(v) in b - a]
                if all(abs(v - cut) <= 1e-5 * max(1.0, cut) for v in diff_scores):
                    ties += 1
        t = time.perf_counter()
        retriever.retrieve(tq_tokens, k=10, show_progress=False)
        t_batch = time.perf_counter() - t
        o, th = med(t_ours), med(t_theirs)
        print(
            f"bm25 over {n:,} texts: colweave {1 / o:8,.0f} queries/s | bm25s {1 / th:8,.0f} queries/s "
            f"(one query per call, median; bm25s batched {len(tq) / t_batch:,.0f}/s) | {th / o:.2f}x bm25s | "
            f"identical top-10 sets {same}/{len(tq)}"
            + (f", {ties} more differing only between equal scores at rank 10" if ties else "")
        )
    finally:
        store.close()
        if not args.keep:
            shutil.rmtree(args.data, ignore_errors=True)


if __name__ == "__main__":
    main()
