"""Prompts and token ids against ColModernVBertProcessor's (transformers) for pages and queries."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from colweave.model.config import load_model_config, load_processor_config
from colweave.model.errors import TextInputError
from colweave.model.tokenizer import TextTokenizer, document_prompt, expand_image_tokens, query_prompt

from .conftest import SPLIT


@pytest.fixture(scope="module")
def tok() -> TextTokenizer:
    model = load_model_config(SPLIT)
    return TextTokenizer(SPLIT, load_processor_config(SPLIT, model), model)


def test_page_ids_match_the_reference(
    tok: TextTokenizer, meta: dict[str, Any], ref: dict[str, np.ndarray]
) -> None:
    for name, want in meta["images"].items():
        ids = tok.encode_document(want["rows"], want["cols"])
        np.testing.assert_array_equal(ids, ref[f"image/{name}/input_ids"], err_msg=name)
        n_tiles = want["rows"] * want["cols"] + 1
        assert int((ids == tok.image_token_id).sum()) == n_tiles * 16


def test_query_ids_match_the_reference(
    tok: TextTokenizer, meta: dict[str, Any], ref: dict[str, np.ndarray]
) -> None:
    texts = [q["text"] for q in meta["queries"].values()]
    for name, ids in zip(meta["queries"], tok.encode_queries(texts), strict=True):
        np.testing.assert_array_equal(ids, ref[f"query/{name}/input_ids"], err_msg=name)


def test_special_ids_come_from_the_files(tok: TextTokenizer) -> None:
    assert tok.image_token_id == load_model_config(SPLIT).image_token_id
    ids = tok.encode_queries(["x"])[0]
    assert ids[0] == tok._tok.token_to_id("[CLS]")
    assert ids[-1] == tok._tok.token_to_id("[SEP]")
    eou = tok._tok.token_to_id("<end_of_utterance>")
    assert list(ids[-11:-1]) == [eou] * 10
    assert tok.pad_token_id == tok._tok.token_to_id("[PAD]")


def test_expansion_layout() -> None:
    s = expand_image_tokens(2, 3, 4)
    assert s.count("<image>") == 4 * 7
    assert s.count("<fake_token_around_image>") == 6 + 2
    assert s.startswith("<fake_token_around_image><row_1_col_1><image>")
    assert "<row_2_col_3>" in s
    assert "<row_3_col_1>" not in s
    assert s.endswith(
        "\n\n<fake_token_around_image><global-img>" + "<image>" * 4 + "<fake_token_around_image>"
    )
    assert (
        expand_image_tokens(0, 0, 2)
        == "<fake_token_around_image><global-img><image><image><fake_token_around_image>"
    )


def test_prompts() -> None:
    proc = load_processor_config(SPLIT)
    p = document_prompt(0, 0, proc)
    assert p.startswith("<|begin_of_text|>User:<fake_token_around_image><global-img>")
    assert p.endswith("<fake_token_around_image>Describe the image.<end_of_utterance>\nAssistant:")
    assert query_prompt("hi", proc) == "hi" + "<end_of_utterance>" * 10


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        (None, "not a str"),
        (b"bytes", "not a str"),
        ("a\ud800b", "Unicode"),
        ("look at <image>", "reserved"),
    ],
)
def test_bad_queries(tok: TextTokenizer, bad: object, match: str) -> None:
    with pytest.raises(TextInputError, match=match) as info:
        tok.encode_queries(["fine", bad])
    assert "query 1" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_too_long_query(tok: TextTokenizer) -> None:
    with pytest.raises(TextInputError, match="over the model's 2048"):
        tok.encode_queries(["word " * 3000])
