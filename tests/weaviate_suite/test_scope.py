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


SUITE = """
import pytest

def test_needs_a_newer_server():
    pytest.skip("Tokenization requires Weaviate >= 1.37.0")

@pytest.mark.parametrize("x", [1, 2])
def test_newer_too(x):
    pytest.skip("Query profiling requires Weaviate >= 1.36.9")

def test_old_gate():
    pytest.skip("This test requires Weaviate 1.30.0 or higher")

@pytest.mark.skip(reason="No OpenAI API key found.")
def test_own_reason():
    pass

def test_fails():
    assert 1 == 2

def test_passes():
    pass
"""


def test_skips_are_grouped_by_the_reason_each_test_gave(tmp_path, capsys) -> None:
    """A real pytest run with the plugin: each skip's own reason is recorded (not pytest's tuple), and
    the summary puts the reasons naming a version newer than the one served apart from the others."""
    import json
    import os
    import subprocess
    import sys

    (tmp_path / "integration").mkdir()
    (tmp_path / "integration" / "test_x.py").write_text(SUITE)
    (tmp_path / "integration" / "test_gone.py").write_text(
        "import pytest\npytest.skip('not yet', allow_module_level=True)\n"
    )
    exclude, results = tmp_path / "exclude.json", tmp_path / "results.json"
    exclude.write_text("[]")
    env = {
        **os.environ,
        "PYTHONPATH": str(run.HERE),
        "COLWEAVE_SUITE_EXCLUDE": str(exclude),
        "COLWEAVE_SUITE_RESULTS": str(results),
    }
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "scope_plugin", "integration"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    data = json.loads(results.read_text())
    assert (
        data["messages"]["test_x.py::test_needs_a_newer_server"] == "Tokenization requires Weaviate >= 1.37.0"
    )
    assert data["messages"]["test_x.py::test_own_reason"] == "No OpenAI API key found."
    newer, own = run.skips_by_reason(data, run.parse_version("1.36.6"))
    assert newer == [
        ("Query profiling requires Weaviate >= 1.36.9", 2),
        ("Tokenization requires Weaviate >= 1.37.0", 1),
    ]
    assert own == [("No OpenAI API key found.", 1), ("This test requires Weaviate 1.30.0 or higher", 1)]
    # against a server reporting 1.37.0 neither is newer
    assert [r for r, _ in run.skips_by_reason(data, (1, 37, 0))[0]] == []
    run.summarize(data, "4.23.0", 5, "1.36.6")
    out = capsys.readouterr().out
    assert "passed 1, failed 1, skipped 5" in out
    assert "3 by the client for features newer than the Weaviate 1.36.6" in out
    assert "2 by the tests themselves" in out
    assert data["skipped_files"] == {"test_gone.py": "not yet"}
    assert "test_gone.py skips itself whole at collection" in out
