"""Prompts and tokenization: ColModernVBertProcessor's text side, with ``tokenizers`` only.

* A page is the visual prompt (``<|begin_of_text|>User:<image>Describe the image.<end_of_utterance>\\n
  Assistant:`` unless the processor files say otherwise) with ``<image>`` expanded per tile grid, tokenized
  in one call; the tokenizer's post-processor adds ``[CLS] ... [SEP]``.
* A query is ``query_prefix + text + 10 x <end_of_utterance>``, tokenized the same way, never truncated.

Special tokens are looked up by their text in ``tokenizer.json``; the image token's id must equal
``config.json``'s ``image_token_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from colweave.model.config import QUERY_AUGMENTATION_COUNT, ModelConfig, ProcessorConfig, read_json
from colweave.model.errors import ModelFilesError, TextInputError

IMAGE_TOKEN = "<image>"
FAKE_IMAGE_TOKEN = "<fake_token_around_image>"
GLOBAL_IMAGE_TOKEN = "<global-img>"
END_OF_UTTERANCE = "<end_of_utterance>"


def expand_image_tokens(rows: int, cols: int, image_seq_len: int) -> str:
    """The text that replaces ``<image>`` for a ``rows x cols`` grid (0 x 0: a single unsplit tile)."""
    block = IMAGE_TOKEN * image_seq_len
    global_block = f"{FAKE_IMAGE_TOKEN}{GLOBAL_IMAGE_TOKEN}{block}{FAKE_IMAGE_TOKEN}"
    if rows == 0 and cols == 0:
        return global_block
    parts: list[str] = []
    for r in range(rows):
        parts.extend(f"{FAKE_IMAGE_TOKEN}<row_{r + 1}_col_{c + 1}>{block}" for c in range(cols))
        parts.append("\n")
    parts.append("\n" + global_block)
    return "".join(parts)


def document_prompt(rows: int, cols: int, proc: ProcessorConfig) -> str:
    """The full prompt string of one page."""
    return proc.visual_prompt_prefix.replace(IMAGE_TOKEN, expand_image_tokens(rows, cols, proc.image_seq_len))


def query_prompt(text: str, proc: ProcessorConfig) -> str:
    """The full prompt string of one query (prefix + text + the augmentation tokens)."""
    return proc.query_prefix + text + END_OF_UTTERANCE * QUERY_AUGMENTATION_COUNT


@dataclass(frozen=True)
class QueryToken:
    """One token of a query prompt, i.e. one vector of the query's multi-vector.

    ``kind`` is ``text`` (from the query text: ``text`` is its piece and ``start``/``end`` its span in
    the query text), ``prefix`` (from the processor's query prefix), ``augmentation`` (one of the
    ``<end_of_utterance>`` tokens appended to every query) or ``special`` (the tokenizer's own ``[CLS]``,
    ``[SEP]``). Spans of tokens that are not ``text`` are (-1, -1)."""

    index: int
    id: int
    text: str
    kind: str
    start: int
    end: int


class TextTokenizer:
    """``tokenizer.json`` plus the ids the model needs; encodes pages and queries to int64 id arrays."""

    def __init__(self, model_dir: Path, proc: ProcessorConfig, model: ModelConfig) -> None:
        path = model_dir / "tokenizer.json"
        if not path.is_file():
            raise ModelFilesError(f"{path} is missing")
        try:
            self._tok = Tokenizer.from_file(str(path))
        except Exception as e:  # tokenizers raises a bare Exception on malformed files
            raise ModelFilesError(f"{path} cannot be loaded: {e}") from e
        self._tok.no_padding()
        self._tok.no_truncation()
        self.proc = proc
        self.image_token_id = self._required_id(IMAGE_TOKEN)
        if self.image_token_id != model.image_token_id:
            raise ModelFilesError(
                f"{path}: {IMAGE_TOKEN} is id {self.image_token_id} but config.json says image_token_id "
                f"{model.image_token_id}"
            )
        for token in (FAKE_IMAGE_TOKEN, GLOBAL_IMAGE_TOKEN, END_OF_UTTERANCE):
            self._required_id(token)
        self.pad_token_id = self._pad_id(model_dir)
        self.max_length = model.max_position_embeddings
        self._doc_cache: dict[tuple[int, int], np.ndarray] = {}

    def _required_id(self, token: str) -> int:
        tid = self._tok.token_to_id(token)
        if tid is None:
            raise ModelFilesError(f"tokenizer.json has no {token!r} token")
        return int(tid)

    def _pad_id(self, model_dir: Path) -> int:
        cfg_path = model_dir / "tokenizer_config.json"
        pad = read_json(cfg_path).get("pad_token") if cfg_path.is_file() else None
        if isinstance(pad, dict):
            pad = pad.get("content")
        tid = self._tok.token_to_id(pad if isinstance(pad, str) else "[PAD]")
        if tid is None:
            raise ModelFilesError(f"{model_dir}: no pad token in tokenizer_config.json or tokenizer.json")
        return int(tid)

    def _check_length(self, n: int, what: str) -> None:
        if self.max_length is not None and n > self.max_length:
            raise TextInputError(f"{what} is {n} tokens, over the model's {self.max_length}")

    def encode_document(self, rows: int, cols: int) -> np.ndarray:
        """Token ids of a page with this grid (cached: they depend on the grid only)."""
        key = (rows, cols)
        ids = self._doc_cache.get(key)
        if ids is None:
            enc = self._tok.encode(document_prompt(rows, cols, self.proc))
            ids = np.asarray(enc.ids, dtype=np.int64)
            self._check_length(len(ids), f"a {rows}x{cols} page prompt")
            ids.setflags(write=False)
            self._doc_cache[key] = ids
        return ids

    def encode_queries(self, texts: Sequence[object]) -> list[np.ndarray]:
        """Token ids of each query; non-strings, empty or blank strings, lone surrogates are errors."""
        prompts = []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TextInputError(f"query {i} is a {type(text).__name__}, not a str")
            if not text.strip():
                raise TextInputError(f"query {i} is empty")
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as e:
                raise TextInputError(f"query {i} is not valid Unicode text: {e.reason}") from None
            prompts.append(query_prompt(text, self.proc))
        out = []
        for i, enc in enumerate(self._tok.encode_batch(prompts)):
            ids = np.asarray(enc.ids, dtype=np.int64)
            self._check_length(len(ids), f"query {i}")
            if (ids == self.image_token_id).any():
                raise TextInputError(f"query {i} contains the reserved {IMAGE_TOKEN} token")
            out.append(ids)
        return out

    def describe_query(self, text: str) -> list[QueryToken]:
        """The tokens ``encode_queries([text])`` gives, each with its text piece and kind."""
        (ids,) = self.encode_queries([text])
        prompt = query_prompt(text, self.proc)
        enc = self._tok.encode(prompt)
        if list(enc.ids) != ids.tolist():  # encode_batch and encode agree; keep it checked
            raise ModelFilesError("the tokenizer encodes one query differently alone and in a batch")
        lo, hi = len(self.proc.query_prefix), len(self.proc.query_prefix) + len(text)
        out = []
        for i, (tid, (a, b), special) in enumerate(
            zip(enc.ids, enc.offsets, enc.special_tokens_mask, strict=True)
        ):
            if special:
                kind, piece, span = "special", enc.tokens[i], (-1, -1)
            elif a >= hi:
                kind, piece, span = "augmentation", prompt[a:b], (-1, -1)
            elif b <= lo:
                kind, piece, span = "prefix", prompt[a:b], (-1, -1)
            else:
                s, e = max(a, lo) - lo, min(b, hi) - lo
                kind, piece, span = "text", text[s:e], (s, e)
            out.append(QueryToken(i, int(tid), piece, kind, *span))
        return out
