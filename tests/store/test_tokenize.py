from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from store_ref import ref_tokenize

from colweave.store.tokenize import EN_STOPWORDS, stopwords, tokenize


def test_word_tokenization() -> None:
    assert tokenize("Hello, World! It's 2024 — naïve café_bar") == [
        "hello",
        "world",
        "it",
        "s",
        "2024",
        "naïve",
        "café",
        "bar",
    ]
    assert tokenize("") == []
    assert tokenize("  Mixed CASE  text ", "lowercase") == ["mixed", "case", "text"]
    assert tokenize("  Mixed CASE ", "whitespace") == ["Mixed", "CASE"]
    assert tokenize("  Mixed CASE ", "field") == ["Mixed CASE"]


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=80))
def test_word_tokenization_matches_unicode_reference(text: str) -> None:
    # Letters whose lowercase changes length are compared after the same lowering.
    assert tokenize(text) == ref_tokenize(text)


@given(st.text(max_size=60))
def test_tokens_are_lowercase_letters_and_numbers(text: str) -> None:
    for t in tokenize(text):
        assert t
        assert t == t.lower()
        assert "_" not in t
        assert not any(c.isspace() for c in t)


def test_stopwords_preset_and_edits() -> None:
    assert len(EN_STOPWORDS) == 33
    assert "the" in EN_STOPWORDS
    assert stopwords("none") == frozenset()
    sw = stopwords("en", additions=["Foo"], removals=["the"])
    assert "foo" in sw
    assert "the" not in sw
    assert "a" in sw
