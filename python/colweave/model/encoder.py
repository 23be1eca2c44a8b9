"""The Encoder: ColModernVBERT on onnxruntime, pages and queries → L2-normalised multi-vectors.

Two directory layouts load:

* colweave's (``colweave export``): ``vision.onnx`` + ``text.onnx``. A query runs the text graph only;
  the tiles of many pages go through the vision graph together, up to ``max_tiles_per_batch`` (default: 1 on
  the CPU, where single-tile runs measured fastest, 16 on a GPU).
* the public ``Qdrant/colmodernvbert`` export: one graph (``model_v2.onnx`` or ``model.onnx``) taking
  ``input_ids``, ``attention_mask`` and ``pixel_values`` (batch, tiles, 3, H, W); a query feeds one zero tile.

Sequences are padded on the right (positions of real tokens stay those of the unpadded sequence) and batched
up to ``max_tokens_per_batch`` padded tokens; padding rows are removed from the output. A page's or query's
vectors therefore do not depend on what else is in the call beyond float rounding (≤ 1e-5 observed).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from colweave.layout import PageLayout, page_layout
from colweave.model import hub, quality
from colweave.model.config import load_model_config, load_processor_config, model_type_of
from colweave.model.errors import ModelFilesError, ModelInputError, TextInputError
from colweave.model.images import DEFAULT_MAX_PIXELS, load_image
from colweave.model.manifest import read_manifest
from colweave.model.preprocess import ImagePreprocessor, grid_for_size
from colweave.model.session import (
    PRECISIONS,
    RUNTIMES,
    Choice,
    SessionSettings,
    create_session,
    resolve,
)
from colweave.model.tokenizer import QueryToken, TextTokenizer

SINGLE_GRAPH_NAMES = ("model_v2.onnx", "model.onnx")
ENCODER_PATTERNS = [*hub.CHECKPOINT_PATTERNS, "*.onnx", "*.onnx.data", "*.onnx_data"]

log = logging.getLogger("colweave.model")


def _from_env(value: str | None, name: str, allowed: tuple[str, ...]) -> str:
    """An explicit argument, else ``COLWEAVE_<NAME>``, else ``auto``; validated."""
    if value is None:
        value = os.environ.get(f"COLWEAVE_{name.upper()}", "").strip().lower() or "auto"
        if value not in allowed:
            raise ValueError(f"COLWEAVE_{name.upper()}={value!r}: expected one of {', '.join(allowed)}")
    return value


@dataclass
class _Page:
    pixels: np.ndarray  # float32 (n_tiles, 3, tile, tile): normalised tiles in model order
    ids: np.ndarray
    size: tuple[int, int]  # the decoded page's width, height


_SINGLE_ITEMS = (str, bytes, bytearray, memoryview, np.ndarray, Image.Image, os.PathLike)


def _as_list(items: object, what: str) -> list[Any]:
    if isinstance(items, _SINGLE_ITEMS):
        raise ModelInputError(
            f"{what} must be a list, got a single {type(items).__name__}: wrap it in a list"
        )
    if not isinstance(items, Sequence):
        try:
            return list(items)  # type: ignore[call-overload, no-any-return]
        except TypeError:
            raise ModelInputError(f"{what} must be a list, got {type(items).__name__}") from None
    return list(items)


def _batches(lengths: Sequence[int], order: Sequence[int], budget: int) -> Iterator[list[int]]:
    """Groups ``order`` (indices into ``lengths``) so that each group's count x max length ≤ budget."""
    group: list[int] = []
    longest = 0
    for i in order:
        n = lengths[i]
        if group and (len(group) + 1) * max(longest, n) > budget:
            yield group
            group, longest = [], 0
        group.append(i)
        longest = max(longest, n)
    if group:
        yield group


class _SplitRunner:
    """One token batch of pages on the split layout: tiles go through the vision graph
    ``max_tiles_per_batch`` at a time (counted from the batch's first tile, across pages) as soon as they
    arrive; the text graph runs once on the whole batch."""

    def __init__(self, enc: Encoder) -> None:
        self.enc = enc
        self.pages: list[_Page] = []
        self.tiles: list[np.ndarray] = []  # tiles not yet through the vision graph, in order
        self.n_tiles = 0
        self.feats: list[np.ndarray] = []

    def _vision(self, k: int) -> None:
        tiles = self.tiles[0] if len(self.tiles) == 1 else np.concatenate(self.tiles)
        self.feats.append(self.enc._run_vision(tiles[:k]))
        rest = tiles[k:]
        self.tiles = [rest] if len(rest) else []
        self.n_tiles = len(rest)

    def add(self, page: _Page) -> None:
        self.pages.append(page)
        self.tiles.append(page.pixels)
        self.n_tiles += len(page.pixels)
        while self.n_tiles >= self.enc.max_tiles_per_batch:
            self._vision(self.enc.max_tiles_per_batch)

    def finish(self) -> list[np.ndarray]:
        if self.n_tiles:
            self._vision(self.n_tiles)
        feats = self.feats[0] if len(self.feats) == 1 else np.concatenate(self.feats)
        out = self.enc._run_text([p.ids for p in self.pages], feats)
        self.pages, self.feats = [], []
        return out


class _SingleRunner:
    """One token batch of pages on the single-graph layout: pages run together, as many as fit
    ``max_tiles_per_batch`` padded tiles (greedily, in order), each group as soon as it is complete."""

    def __init__(self, enc: Encoder) -> None:
        self.enc = enc
        self.sub: list[_Page] = []
        self.most = 0
        self.out: list[np.ndarray] = []

    def _run(self) -> None:
        pv = self.enc._pad_tiles([p.pixels for p in self.sub])
        self.out.extend(self.enc._run_single([p.ids for p in self.sub], pv))
        self.sub, self.most = [], 0

    def add(self, page: _Page) -> None:
        n = len(page.pixels)
        budget = self.enc.max_tiles_per_batch
        if self.sub and (len(self.sub) + 1) * max(self.most, n) > budget:
            self._run()
        self.sub.append(page)
        self.most = max(self.most, n)
        if (len(self.sub) + 1) * self.most > budget:  # no next page can join
            self._run()

    def finish(self) -> list[np.ndarray]:
        if self.sub:
            self._run()
        out, self.out = self.out, []
        return out


class Encoder:
    """``Encoder(model_dir, device="auto", threads=None, runtime=None, precision=None)``; see the module
    docstring.

    ``model_dir`` is a model directory, or a hub id of one (downloaded through ``huggingface_hub``).
    ``max_image_pixels`` bounds every decoded image (decompression bombs raise ``ImageSizeError``).
    ``runtime`` (``auto``, ``onnxruntime``, ``openvino``) and ``precision`` (``auto``, ``fp32``, ``bf16``,
    ``int8``) default to ``$COLWEAVE_RUNTIME`` / ``$COLWEAVE_PRECISION``, else ``auto``: the fastest path
    that keeps quality on this CPU (``colweave.model.session.resolve``); the choice is logged and in
    ``info``. ``prepare_workers`` threads decode, resize, tile and normalise the next pages while the
    current one runs (0: everything in the calling thread, in order; results are identical either way).
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        device: str = "auto",
        threads: int | None = None,
        *,
        max_tiles_per_batch: int | None = None,
        max_tokens_per_batch: int = 8192,
        max_image_pixels: int = DEFAULT_MAX_PIXELS,
        spin: bool = False,
        runtime: str | None = None,
        precision: str | None = None,
        prepare_workers: int = 1,
    ) -> None:
        for name, value in (
            ("max_tiles_per_batch", 1 if max_tiles_per_batch is None else max_tiles_per_batch),
            ("max_tokens_per_batch", max_tokens_per_batch),
            ("max_image_pixels", max_image_pixels),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(prepare_workers, int) or isinstance(prepare_workers, bool) or prepare_workers < 0:
            raise ValueError(f"prepare_workers must be a non-negative integer, got {prepare_workers!r}")
        # spin: let onnxruntime's idle workers spin between operators. Lower latency on dedicated cores
        # (a 33-token fp32 query: ~43 ms instead of ~49 here), worse where cores are shared.
        requested = SessionSettings(
            device=device,
            threads=threads,
            spin=bool(spin),
            runtime=_from_env(runtime, "runtime", RUNTIMES),
            precision=_from_env(precision, "precision", PRECISIONS),
        )
        path = Path(model_dir).expanduser()
        if not path.is_dir():
            path = hub.resolve(model_dir, patterns=ENCODER_PATTERNS).path
        self.model_dir = path
        self._manifest = read_manifest(path)
        choice = resolve(requested, quantized=(self._manifest or {}).get("quantize") == "int8")
        self._settings = choice.settings
        self.runtime, self.precision = choice.settings.runtime, choice.settings.precision
        self.choice_reason = choice.reason
        self.prepare_workers = prepare_workers
        self._model_cfg = load_model_config(path)
        self._proc = load_processor_config(path, self._model_cfg)
        self._pre = ImagePreprocessor(self._proc.image)
        self._tok = TextTokenizer(path, self._proc, self._model_cfg)
        self._load_graphs(path)
        explicit_tiles = max_tiles_per_batch
        if max_tiles_per_batch is None:
            # CPU: one 512 px tile per run keeps the attention scores cache-resident (measured 5-10 % faster
            # per tile than runs of 8); a GPU wants many tiles per run. OpenVINO's streams take single
            # tiles too, but are handed 16 at a time (across pages) so that every stream has work.
            max_tiles_per_batch = self._default_tiles()
        self.max_tiles_per_batch = max_tiles_per_batch
        self.max_tokens_per_batch = max_tokens_per_batch
        self.max_image_pixels = max_image_pixels
        if choice.fallback is not None:
            self._check_auto_int8(choice.fallback, max_image_pixels, explicit_tiles)
        log.info(
            "model %s: runtime %s, precision %s (%s)",
            path.name,
            self.runtime,
            self.precision,
            self.choice_reason,
        )

    def _check_auto_int8(self, fallback: Choice, max_image_pixels: int, tiles: int | None) -> None:
        """``auto`` chose int8: keep it only if this model's probe vectors stay within
        ``quality.MIN_COSINE`` of exact fp32 (onnxruntime); else load ``fallback``."""

        def reference() -> list[np.ndarray]:
            ref = Encoder(
                self.model_dir,
                device="cpu",
                threads=self._settings.threads,
                runtime="onnxruntime",
                precision="fp32",
                prepare_workers=0,
                max_image_pixels=max_image_pixels,
            )
            return ref._probe()

        verdict = quality.check(self.model_dir, self._manifest, {"precision": "int8"}, self._probe, reference)
        got = f"probe cosine to fp32 {verdict.min_cosine:.5f}"
        if verdict.ok:
            cached = " (cached check)" if verdict.cached else ""
            self.choice_reason += f"; {got} ≥ {quality.MIN_COSINE}{cached}"
            return
        log.warning(
            "model %s: int8 loses quality on this model (%s < %s): using %s %s",
            self.model_dir.name,
            got,
            quality.MIN_COSINE,
            fallback.settings.runtime,
            fallback.settings.precision,
        )
        self._settings = fallback.settings
        self.runtime, self.precision = fallback.settings.runtime, fallback.settings.precision
        self.choice_reason = f"{fallback.reason} (int8 was tried: {got} < {quality.MIN_COSINE})"
        self._load_graphs(self.model_dir)
        if tiles is None:
            self.max_tiles_per_batch = self._default_tiles()

    def _default_tiles(self) -> int:
        on_gpu = any(p in self.providers for p in ("CUDAExecutionProvider", "TensorrtExecutionProvider"))
        return 16 if on_gpu or self._tile_streams else 1

    def _probe(self) -> list[np.ndarray]:
        """The quality probe's vectors: ``quality.probe_image`` as one unsplit tile, and
        ``quality.PROBE_QUERY``."""
        t = self._proc.image.tile_size
        pixels = self._pre.normalise([np.asarray(quality.probe_image(t))])
        ids = self._tok.encode_document(0, 0)
        if self.layout == "split":
            doc = self._run_text([ids], self._run_vision(pixels))[0]
        else:
            doc = self._run_single([ids], pixels[None])[0]
        return [doc, *self.embed_queries([quality.PROBE_QUERY])]

    def _load_graphs(self, path: Path) -> None:
        if (path / "vision.onnx").is_file() and (path / "text.onnx").is_file():
            self.layout = "split"
            t = self._proc.image.tile_size
            # OpenVINO: tiles one per request over several streams (``run_each``), so the graph is
            # compiled for exactly one tile. Not for int8: OpenVINO 2026.4's CPU plugin compiles wrong
            # vision graphs with int8-compressed weights in THROUGHPUT mode now and then (3 of 10 loads of
            # the tiny model on a 2-core Xeon with AMX: per-token cosine to fp32 -0.34..0.37, the same
            # for the session's lifetime; LATENCY mode 10 of 10 right), so int8 runs tiles one stream.
            streams = not (self._settings.runtime == "openvino" and self._settings.precision == "int8")
            self._vision = create_session(
                path / "vision.onnx",
                self._settings,
                static_inputs={"pixel_values": [1, 3, t, t]},
                throughput=streams,
            )
            self._tile_streams = int(getattr(self._vision, "streams", 0))
            self._text = create_session(path / "text.onnx", self._settings)
            self._check_inputs(self._vision, {"pixel_values"})
            self._check_inputs(self._text, {"input_ids", "attention_mask", "image_features"})
            hidden = self._text.get_inputs()[2].shape[-1]
            if not isinstance(hidden, int):
                raise ModelFilesError(f"{path / 'text.onnx'}: image_features needs a static hidden size")
            self._hidden = hidden
            self._single = None
            out_session = self._text
        else:
            single = next((path / n for n in SINGLE_GRAPH_NAMES if (path / n).is_file()), None)
            if single is None:
                raise ModelFilesError(
                    f"{path} holds no model graphs: expected vision.onnx + text.onnx (colweave export) or "
                    f"one of {', '.join(SINGLE_GRAPH_NAMES)} (single-graph export)"
                )
            self.layout = "single"
            self._single = create_session(single, self._settings)
            self._check_inputs(self._single, {"input_ids", "attention_mask", "pixel_values"})
            self._vision = self._text = None
            self._tile_streams = 0
            self._hidden = 0
            out_session = self._single
        self.providers = list(out_session.get_providers())
        dim = out_session.get_outputs()[0].shape[-1]
        if not isinstance(dim, int):
            dim = (self._manifest or {}).get("embedding_dim") or self._model_cfg.embedding_dim
        if not isinstance(dim, int):
            raise ModelFilesError(
                f"{path}: the embedding dimension is neither in the graph nor in config.json"
            )
        self.dim = dim

    @staticmethod
    def _check_inputs(sess: Any, names: set[str]) -> None:
        have = {i.name for i in sess.get_inputs()}
        if not names <= have:
            raise ModelFilesError(f"graph inputs are {sorted(have)}, expected {sorted(names)}")

    @property
    def info(self) -> dict[str, Any]:
        m = self._manifest or {}
        img = self._proc.image
        return {
            # A hub id names the model; a local export's source is a path on the exporting machine.
            "model_id": source
            if hub.looks_like_repo_id(source := str(m.get("source") or ""))
            else self.model_dir.name,
            # Hub id, or a local checkpoint's directory name (never a path on the exporting machine).
            "source": source if hub.looks_like_repo_id(source) else (Path(source).name or None),
            "model_type": m.get("model_type") or model_type_of(self.model_dir),
            "revision": m.get("revision"),
            "model_dir": str(self.model_dir),
            "layout": self.layout,
            "dim": self.dim,
            "dtype": m.get("dtype", "fp32"),
            "quantize": m.get("quantize"),
            "providers": self.providers,
            "device": self._settings.device,
            "threads": self._settings.threads,
            "spin": self._settings.spin,
            "runtime": self.runtime,
            "precision": self.precision,
            "runtime_reason": self.choice_reason,
            "image_seq_len": self._proc.image_seq_len,
            "tile_size": img.tile_size,
            "longest_edge": img.longest_edge,
            "image_splitting": img.do_image_splitting,
            "limits": {
                "max_image_pixels": self.max_image_pixels,
                "max_tokens": self._tok.max_length,
                "max_tiles_per_batch": self.max_tiles_per_batch,
                "max_tokens_per_batch": self.max_tokens_per_batch,
            },
        }

    # ---------------------------------------------------------------- images

    def _prepare_page(self, i: int, image: object) -> _Page:
        """Decode, resize, tile, normalise, prompt: everything a page needs before the graphs run."""
        try:
            cfg = self._proc.image
            edge = cfg.longest_edge if cfg.do_resize else None
            rgb = load_image(image, self.max_image_pixels, target_edge=edge)
        except ModelInputError as e:
            raise type(e)(f"image {i}: {e}") from None
        frames, rows, cols = self._pre.tiles_uint8(rgb)
        ids = self._tok.encode_document(rows, cols)
        expected = len(frames) * self._proc.image_seq_len
        if int((ids == self._tok.image_token_id).sum()) != expected:
            raise ModelFilesError(
                f"the page prompt holds {int((ids == self._tok.image_token_id).sum())} image tokens, the "
                f"{len(frames)} tiles give {expected}: tokenizer.json does not keep <image> as one token"
            )
        return _Page(self._pre.normalise(frames), ids, rgb.size)

    def _prepared(self, images: Iterable[object]) -> Iterator[_Page]:
        """The prepared pages in input order. With ``prepare_workers`` > 0 worker threads prepare up to that
        many pages ahead while the caller runs the graphs on the current one (Pillow's resizes and numpy's
        table look-ups release the GIL); an error surfaces when its page's turn comes."""
        if self.prepare_workers == 0 or (isinstance(images, Sequence) and len(images) <= 1):
            for i, im in enumerate(images):
                yield self._prepare_page(i, im)
            return
        pending: deque[Future[_Page]] = deque()
        with ThreadPoolExecutor(self.prepare_workers, thread_name_prefix="colweave-prepare") as pool:
            try:
                for i, im in enumerate(images):
                    pending.append(pool.submit(self._prepare_page, i, im))
                    if len(pending) > self.prepare_workers:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for f in pending:
                    f.cancel()

    def embed_images(self, images: Sequence[object]) -> list[np.ndarray]:
        """One float32 (n_i, dim) array per image: every non-padding token of the page prompt, in order."""
        return list(self.iter_embed_images(_as_list(images, "images")))

    def iter_embed_images(self, images: Iterable[object]) -> Iterator[np.ndarray]:
        """``embed_images`` for a stream (e.g. pages rendered one by one): yields each page's vectors in
        input order, once its batch has run. Batches are formed as in ``embed_images`` (pages in order, up
        to ``max_tokens_per_batch`` padded tokens; tiles ``max_tiles_per_batch`` at a time), so the vectors
        are the same. The graphs run as soon as a batch of tiles is complete, while the next pages are
        still being prepared, so preparation overlaps inference."""
        for vectors, _ in self._iter_embedded(images):
            yield vectors

    def embed_images_with_layouts(self, images: Sequence[object]) -> list[tuple[np.ndarray, PageLayout]]:
        """``embed_images``, each page's vectors with its layout (which vector is which tile and patch, and
        the page box it covers; see ``colweave.layout``)."""
        return [(v, self._layout(p)) for v, p in self._iter_embedded(_as_list(images, "images"))]

    def _iter_embedded(self, images: Iterable[object]) -> Iterator[tuple[np.ndarray, _Page]]:
        """Each page's vectors with its prepared page, in input order."""
        if isinstance(images, _SINGLE_ITEMS):
            _as_list(images, "images")  # raises: one image where an iterable of them belongs
        runner: _SplitRunner | _SingleRunner = (
            _SplitRunner(self) if self.layout == "split" else _SingleRunner(self)
        )
        budget = self.max_tokens_per_batch
        group: list[_Page] = []
        longest = 0
        for page in self._prepared(images):
            n = len(page.ids)
            if group and (len(group) + 1) * max(longest, n) > budget:
                yield from zip(runner.finish(), group, strict=True)
                group, longest = [], 0
            runner.add(page)
            group.append(page)
            longest = max(longest, n)
            if (len(group) + 1) * longest > budget:  # no next page can join: run the group now
                yield from zip(runner.finish(), group, strict=True)
                group, longest = [], 0
        if group:
            yield from zip(runner.finish(), group, strict=True)

    def page_layout(self, width: int, height: int) -> PageLayout:
        """The layout of a ``width x height`` page's vectors, without running the model."""
        rows, cols = grid_for_size(height, width, self._proc.image)
        return page_layout(
            width,
            height,
            self._proc.image,
            self._proc.image_seq_len,
            self._tok.encode_document(rows, cols),
            self._tok.image_token_id,
        )

    def _layout(self, page: _Page) -> PageLayout:
        return page_layout(
            *page.size,
            self._proc.image,
            self._proc.image_seq_len,
            page.ids,
            self._tok.image_token_id,
        )

    def query_tokens(self, text: str) -> list[QueryToken]:
        """What each vector of ``embed_queries([text])[0]`` stands for: its token's text piece and kind
        (``text``, ``prefix``, ``special`` or ``augmentation``, the ten appended mask tokens)."""
        return self._tok.describe_query(text)

    def _run_vision(self, pixels: np.ndarray) -> np.ndarray:
        assert self._vision is not None
        if self._tile_streams:
            tiles = [pixels[i : i + 1] for i in range(len(pixels))]
            feats = self._vision.run_each("image_features", "pixel_values", tiles)
            return np.concatenate(feats).astype(np.float32, copy=False)
        result = self._vision.run(["image_features"], {"pixel_values": np.ascontiguousarray(pixels)})[0]
        return np.asarray(result, dtype=np.float32)

    def _pad_tiles(self, per_page: Sequence[np.ndarray]) -> np.ndarray:
        t = self._proc.image.tile_size
        n = max(len(f) for f in per_page)
        pv = np.zeros((len(per_page), n, 3, t, t), dtype=np.float32)
        for b, pixels in enumerate(per_page):
            pv[b, : len(pixels)] = pixels
        return pv

    # ---------------------------------------------------------------- text

    def _pad_ids(self, seqs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        longest = max(len(s) for s in seqs)
        ids = np.full((len(seqs), longest), self._tok.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(seqs), longest), dtype=np.int64)
        for b, s in enumerate(seqs):
            ids[b, : len(s)] = s
            mask[b, : len(s)] = 1
        return ids, mask

    @staticmethod
    def _unpad(emb: np.ndarray, seqs: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [np.array(emb[b, : len(s)], dtype=np.float32) for b, s in enumerate(seqs)]

    def _run_text(self, seqs: Sequence[np.ndarray], feats: np.ndarray) -> list[np.ndarray]:
        assert self._text is not None
        ids, mask = self._pad_ids(seqs)
        emb = self._text.run(
            ["embeddings"], {"input_ids": ids, "attention_mask": mask, "image_features": feats}
        )[0]
        return self._unpad(np.asarray(emb), seqs)

    def _run_single(self, seqs: Sequence[np.ndarray], pixel_values: np.ndarray) -> list[np.ndarray]:
        assert self._single is not None
        ids, mask = self._pad_ids(seqs)
        out = self._single.run(
            None, {"input_ids": ids, "attention_mask": mask, "pixel_values": pixel_values}
        )[0]
        emb = np.asarray(out, dtype=np.float32).reshape(ids.shape[0], ids.shape[1], -1)
        norms = np.linalg.norm(emb, axis=-1, keepdims=True)
        emb = emb / np.maximum(
            norms, 1e-12
        )  # a no-op for graphs that normalise; required for those that don't
        return self._unpad(emb, seqs)

    def embed_queries(self, texts: Sequence[str]) -> list[np.ndarray]:
        """One float32 (m_i, dim) array per query: its tokens, the special and augmentation ones included."""
        items = _as_list(texts, "texts")
        if not items:
            return []
        seqs = self._tok.encode_queries(items)
        lengths = [len(s) for s in seqs]
        order = sorted(range(len(seqs)), key=lambda i: lengths[i])  # less padding; order restored below
        out: list[np.ndarray | None] = [None] * len(seqs)
        for group in _batches(lengths, order, self.max_tokens_per_batch):
            batch = [seqs[i] for i in group]
            if self.layout == "split":
                feats = np.zeros((0, self._proc.image_seq_len, self._hidden), dtype=np.float32)
                embs = self._run_text(batch, feats)
            else:
                t = self._proc.image.tile_size
                embs = self._run_single(batch, np.zeros((1, 1, 3, t, t), dtype=np.float32))
            for i, emb in zip(group, embs, strict=True):
                out[i] = emb
        return [o for o in out if o is not None]


__all__ = ["Encoder", "TextInputError"]
