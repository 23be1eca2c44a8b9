"""The BM25 inverted index of one collection: per searchable text property, term → {doc: frequency} and
each document's length in tokens. It lives in memory and is rebuilt from SQLite on open (SQLite is the
durable copy). Scoring is in Rust (:func:`colweave._native.bm25_topk`) with Weaviate's formula."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import MutableMapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from colweave import _native
from colweave.store.cow import add_new, arrays, fork, set_many, to_dict
from colweave.store.errors import QueryError
from colweave.store.schema import CollectionConfig, Property
from colweave.store.tokenize import stopwords, tokenize, tokenize_value

_BOOST = re.compile(r"^(?P<name>[^\^]+)(\^(?P<boost>[0-9]*\.?[0-9]+))?\Z")


@dataclass
class _Field:
    prop: Property
    postings: MutableMapping[str, MutableMapping[int, int]] = field(default_factory=dict)
    lengths: MutableMapping[int, int] = field(default_factory=dict)  # docs that have the property
    total: int = 0
    cache: dict[str, tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32]]] = field(default_factory=dict)
    len_array: npt.NDArray[np.float32] | None = None
    #: the docs below this one read ``len_array`` in an earlier index too (its readers' part of it)
    len_shared: int = 0


def _set_length(f: _Field, doc: int, n: int) -> None:
    """Keeps the field's array of lengths (when made) up to date. A copy of an index shares its array:
    the entries past the earlier index's docs are this one's alone (that index reads none of them);
    the array is copied before an entry an earlier index reads changes."""
    a = f.len_array
    if a is None:
        return
    if doc >= len(a):
        grown = np.zeros(max(doc + 1, 2 * len(a)), np.float32)
        grown[: len(a)] = a
        a = f.len_array = grown
        f.len_shared = 0
    elif doc < f.len_shared:
        a = f.len_array = a.copy()
        f.len_shared = 0
    a[doc] = n


def parse_query_properties(spec: list[str] | None) -> list[tuple[str, float]] | None:
    """``["title^2", "body"]`` → ``[("title", 2.0), ("body", 1.0)]``."""
    if spec is None:
        return None
    out = []
    for s in spec:
        m = _BOOST.match(s.strip()) if isinstance(s, str) else None
        if not m:
            raise QueryError(f"query_properties: cannot parse {s!r} (expected 'name' or 'name^boost')")
        out.append((m.group("name"), float(m.group("boost") or 1.0)))
    return out


class InvertedIndex:
    def __init__(self, config: CollectionConfig) -> None:
        self.config = config
        self.fields: dict[str, _Field] = {}
        self._indexed: MutableMapping[int, bool] = {}
        self.n_objects = 0
        self._capacity = 0
        # The term lists this index may change in place (None: all; a copy owns only those it copied).
        self._own: set[tuple[str, str]] | None = None
        self.refresh_schema()

    def copy(self, config: CollectionConfig | None = None) -> InvertedIndex:
        """A copy to change while readers search this one (which then never changes): the maps are
        copy-on-write (``cow.CowMap``), each term's list too (forked when the copy first changes it),
        and the array of lengths shared (see ``_set_length``), so a write costs about the terms and
        documents it touches, not the index."""
        new = InvertedIndex.__new__(InvertedIndex)
        new.config = config or self.config
        new.fields = {
            n: _Field(
                f.prop,
                fork(f.postings),
                fork(f.lengths),
                f.total,
                dict(f.cache),
                f.len_array,
                self._capacity if f.len_array is not None else 0,
            )
            for n, f in self.fields.items()
        }
        new._indexed = fork(self._indexed)
        new.n_objects = self.n_objects
        new._capacity = self._capacity
        new._own = set()
        new.refresh_schema()
        return new

    def _plist(self, name: str, f: _Field, term: str, create: bool) -> MutableMapping[int, int] | None:
        """Term ``term``'s list in ``f``, made this index's own before it is changed."""
        plist = f.postings.get(term)
        if plist is None:
            if not create:
                return None
            plist = f.postings[term] = {}
        elif self._own is not None and (name, term) not in self._own:
            plist = f.postings[term] = fork(plist)
        if self._own is not None:
            self._own.add((name, term))
        return plist

    def refresh_schema(self) -> None:
        for p in self.config.properties:
            if p.index_searchable and p.data_type in ("text", "text[]") and p.name not in self.fields:
                self.fields[p.name] = _Field(p)
        for name in list(self.fields):  # an index deleted from the schema (indexSearchable turned off)
            current = self.config.property(name)
            if current is None or not current.index_searchable:
                del self.fields[name]
        inv = self.config.inverted_index
        self.stopwords = stopwords(inv.stopwords_preset, inv.stopwords_additions, inv.stopwords_removals)

    def add(self, doc: int, props: dict[str, object]) -> None:
        """Indexes an object (call :meth:`remove` first when replacing)."""
        self.add_many([(doc, props)])

    def add_many(self, objects: list[tuple[int, dict[str, object]]]) -> None:
        """Indexes objects (distinct docs, none indexed: call :meth:`remove` first when replacing), each
        term's list changed once for all of them."""
        if not objects:
            return
        self.n_objects += len(objects)
        set_many(self._indexed, dict.fromkeys((d for d, _ in objects), True))
        self._capacity = max(self._capacity, max(d for d, _ in objects) + 1)
        own = self._own
        for name, f in self.fields.items():
            tok = f.prop.tokenization or "word"
            lengths: dict[int, int] = {}
            terms: dict[str, dict[int, int]] = {}
            for doc, props in objects:
                v = props.get(name)
                if v is None:
                    continue
                toks = tokenize_value(v, tok)
                lengths[doc] = len(toks)
                f.total += len(toks)
                _set_length(f, doc, len(toks))
                for t, c in Counter(toks).items():
                    new = terms.get(t)
                    if new is None:
                        new = terms[t] = {}
                    new[doc] = c
            add_new(f.lengths, lengths)  # none of them indexed: their keys are new everywhere
            postings, cache = f.postings, f.cache
            for t, new in terms.items():
                plist = postings.get(t)
                if plist is None:
                    postings[t] = new
                elif own is None or (name, t) in own:
                    add_new(plist, new)
                elif 16 * len(new) >= len(plist):  # much of it changes: a plain copy of its own
                    plist = postings[t] = to_dict(plist)
                    plist.update(new)
                else:  # shared with a published index: forked, changed in the fork
                    plist = postings[t] = fork(plist)
                    add_new(plist, new)
                if own is not None:
                    own.add((name, t))
                cache.pop(t, None)

    def remove(self, doc: int, props: dict[str, object]) -> None:
        """Unindexes an object; ``props`` are the properties it was indexed with (re-tokenised here rather
        than kept per document, which would double the index's memory)."""
        if doc not in self._indexed:
            return
        del self._indexed[doc]
        self.n_objects -= 1
        for name, f in self.fields.items():
            if doc not in f.lengths:
                continue
            f.total -= f.lengths.pop(doc)
            _set_length(f, doc, 0)
            for t in set(tokenize_value(props.get(f.prop.name), f.prop.tokenization or "word")):
                plist = self._plist(name, f, t, False)
                if plist is not None:
                    plist.pop(doc, None)
                    if not plist:
                        del f.postings[t]
                f.cache.pop(t, None)

    def _lengths(self, f: _Field) -> npt.NDArray[np.float32]:
        if f.len_array is None or len(f.len_array) < self._capacity:
            arr = np.zeros(self._capacity, np.float32)
            if f.lengths:
                idx = np.fromiter(f.lengths.keys(), np.int64, len(f.lengths))
                arr[idx] = np.fromiter(f.lengths.values(), np.float32, len(f.lengths))
            f.len_array = arr
        return f.len_array[: self._capacity]

    def _postings(self, f: _Field, term: str) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32]]:
        hit = f.cache.get(term)
        if hit is None:
            docs, freqs = arrays(f.postings.get(term, {}), np.uint32, np.float32)
            hit = (docs, freqs)
            f.cache[term] = hit
        return hit

    def query_terms(self, query: str, tokenization: str) -> Counter[str]:
        return Counter(t for t in tokenize(query, tokenization) if t not in self.stopwords)

    def search(
        self,
        query: str,
        k: int,
        properties: list[str] | None = None,
        allowed: npt.NDArray[np.uint8] | None = None,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32]]:
        """The ``k`` best documents for ``query`` (ties to the lower doc number), over the searchable
        properties or the given subset (``name^boost`` allowed); ``allowed`` masks documents (a filter)."""
        spec = parse_query_properties(properties)
        if spec is None:
            spec = [(n, 1.0) for n in self.fields]
        for name, _ in spec:
            if name not in self.fields:
                p = self.config.property(name)
                why = "does not exist" if p is None else "is not a searchable text property"
                raise QueryError(f"query_properties: property {name!r} {why} in {self.config.name}")
        docs_l, freqs_l, fields_l, weights_l, terms_l = [], [], [], [], []
        lens, avgs = [], []
        for fi, (name, boost) in enumerate(spec):
            f = self.fields[name]
            lens.append(self._lengths(f))
            avgs.append(f.total / len(f.lengths) if f.lengths else 0.0)
            tok = f.prop.tokenization or "word"
            for term, mult in self.query_terms(query, tok).items():
                d, fr = self._postings(f, term)
                if len(d) == 0:
                    continue
                docs_l.append(d)
                freqs_l.append(fr)
                fields_l.append(fi)
                weights_l.append(boost * mult)
                terms_l.append((tok, term))
        # Weaviate's idf uses one document frequency per term: the mean (integer division) over the
        # searched properties of the same tokenization that contain it.
        df_sum: dict[tuple[str, str], int] = {}
        df_cnt: dict[tuple[str, str], int] = {}
        for key, d in zip(terms_l, docs_l, strict=True):
            df_sum[key] = df_sum.get(key, 0) + len(d)
            df_cnt[key] = df_cnt.get(key, 0) + 1
        dfs = [float(df_sum[key] // df_cnt[key]) for key in terms_l]
        if not docs_l:
            return np.zeros(0, np.uint32), np.zeros(0, np.float32)
        if allowed is not None and len(allowed) < self._capacity:
            allowed = np.concatenate([allowed, np.zeros(self._capacity - len(allowed), np.uint8)])
        return _native.bm25_topk(
            docs_l,
            freqs_l,
            fields_l,
            weights_l,
            lens,
            avgs,
            n_objects=float(self.n_objects),
            k1=self.config.inverted_index.k1,
            b=self.config.inverted_index.b,
            k=k,
            allowed=allowed,
            term_dfs=dfs,
        )
