"""The scope file of weaviate-client's own suite: every exclusion names a feature and a reason, every
pattern has the shape ``run.py`` matches, and matching works on the suite's node ids."""

from __future__ import annotations

import re

from tests.weaviate_suite import run
from tests.weaviate_suite.scope_plugin import excluded_by


def test_every_exclusion_names_a_feature_and_a_reason() -> None:
    scope = run.load_scope()
    assert re.fullmatch(r"\d+\.\d+\.\d+", scope["suite"]["version"])
    seen: set[str] = set()
    for ex in scope["exclude"]:
        assert ex["feature"].strip()
        assert len(ex["reason"].split()) >= 5, ex["feature"]
        assert ex["tests"], ex["feature"]
        for pattern in ex["tests"]:
            assert re.fullmatch(r"test_[a-z0-9_]+\.py(::test_[A-Za-z0-9_*?]+)?", pattern), pattern
            assert pattern not in seen, f"{pattern} is excluded twice"
            seen.add(pattern)


def test_patterns_match_files_functions_and_parametrisations() -> None:
    ex = [("test_tenants.py", "tenants"), ("test_collection.py::test_near_text", "vectorizers")]
    assert excluded_by("integration/test_tenants.py::test_anything[x-1]", ex) == "tenants"
    assert excluded_by("integration/test_collection.py::test_near_text", ex) == "vectorizers"
    assert excluded_by("integration/test_collection.py::test_near_text[True-3]", ex) == "vectorizers"
    assert excluded_by("integration/test_collection.py::test_near_text_error", ex) is None
    assert excluded_by("integration/test_collection.py::test_near_vector", ex) is None
    assert excluded_by("integration/test_collection_filter.py::test_x", ex) is None


def test_failure_messages_are_the_servers_own() -> None:
    from tests.weaviate_suite.scope_plugin import _last_error_line

    grpc_text = 'E   status = StatusCode.INVALID_ARGUMENT\nE   details = "no such prop"\nE   debug = "x"\n'
    assert _last_error_line(grpc_text) == "gRPC INVALID_ARGUMENT: no such prop"
    http_text = "E   x! Unexpected status code: 422, with response body: {'error': [{'message': 'bad one'}]}."
    assert _last_error_line(http_text) == "HTTP 422: bad one"
    assert (
        _last_error_line("code\nE   AssertionError: assert 1 == 2\nmore") == "AssertionError: assert 1 == 2"
    )
    assert run._generic("no Test_collection_x_1 in 0b2f6a4e-1d2c-4b5a-9e8f-0123456789ab") == (
        "no <collection> in <uuid>"
    )
