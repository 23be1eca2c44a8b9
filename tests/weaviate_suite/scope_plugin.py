"""A pytest plugin, loaded into weaviate-client's own integration suite by ``run.py``: deselects the tests
that ``scope.toml`` excludes and writes the counts and each in-scope test's outcome as JSON, with the
server's message for a failure and the test's own reason for a skip.

It runs inside the suite's virtual environment (not colweave's), so it uses the standard library only.
Configuration comes from the environment: ``COLWEAVE_SUITE_EXCLUDE`` (a JSON file of ``[pattern,
feature]`` pairs, which ``run.py`` writes from the scope file) and ``COLWEAVE_SUITE_RESULTS`` (where the
results go).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest


def short_id(nodeid: str) -> str:
    """``integration/test_x.py::test_y[p]`` → ``test_x.py::test_y[p]``."""
    return nodeid.split("/", 1)[1] if nodeid.startswith("integration/") else nodeid


def excluded_by(nodeid: str, exclusions: list[tuple[str, str]]) -> str | None:
    """The feature whose exclusion matches the test, or None when the test is in scope. ``test_x.py``
    matches the whole file, ``test_x.py::test_y`` every parametrisation of ``test_y``."""
    sid = short_id(nodeid)
    file, _, name = sid.partition("::")
    base = name.split("[", 1)[0]
    for pattern, feature in exclusions:
        pfile, _, pname = pattern.partition("::")
        if not fnmatch.fnmatchcase(file, pfile):
            continue
        if not pname or fnmatch.fnmatchcase(base, pname) or fnmatch.fnmatchcase(name, pname):
            return feature
    return None


class ScopePlugin:
    def __init__(self, exclusions: list[tuple[str, str]], results_file: Path) -> None:
        self.exclusions = exclusions
        self.results_file = results_file
        self.collected = 0
        self.excluded: dict[str, int] = {}
        self.in_scope: list[str] = []
        self.outcomes: dict[str, str] = {}
        self.messages: dict[str, str] = {}
        self.skipped_files: dict[str, str] = {}  # test files skipped whole at collection: their reasons

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        self.collected = len(items)
        keep, drop = [], []
        for item in items:
            feature = excluded_by(item.nodeid, self.exclusions)
            if feature is None:
                keep.append(item)
            else:
                drop.append(item)
                self.excluded[feature] = self.excluded.get(feature, 0) + 1
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep
        self.in_scope = [short_id(i.nodeid) for i in keep]

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A file that skips itself at import (``pytest.skip(allow_module_level=True)``) has no tests to
        count; pytest still counts it as one skip, so it is recorded apart."""
        if report.skipped and report.nodeid:
            self.skipped_files[short_id(report.nodeid)] = skip_reason(report)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        sid = short_id(report.nodeid)
        prev = self.outcomes.get(sid)
        if report.failed:
            outcome = "failed"
        elif report.skipped:
            outcome = "skipped"
        elif report.when == "call":
            outcome = "passed"
        else:
            return
        if prev == "failed":  # a failing teardown after a passing call still fails the test
            return
        if prev == "skipped" and outcome == "passed":
            return
        self.outcomes[sid] = outcome
        if report.skipped:
            self.messages[sid] = skip_reason(report)
        elif report.failed:
            self.messages[sid] = _last_error_line(report.longreprtext or "")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        data: dict[str, Any] = {
            "collected": self.collected,
            "excluded": self.excluded,
            "in_scope": len(self.in_scope),
            "outcomes": {t: self.outcomes.get(t, "not run") for t in self.in_scope},
            "messages": self.messages,
            "skipped_files": self.skipped_files,
        }
        self.results_file.write_text(json.dumps(data, indent=1))


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """Why a test was skipped, as the test (or its marker) said: pytest reports a skip as the tuple
    ``(path, line, "Skipped: <reason>")``; an expected failure as ``xfail: <reason>``."""
    wasxfail = getattr(report, "wasxfail", None)
    if wasxfail is not None:
        return f"xfail: {wasxfail}".strip()[:400]
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr or "")
    return text.removeprefix("Skipped: ").strip()[:400] or "(no reason given)"


_GRPC = re.compile(r'status = StatusCode\.(\w+)\s+E?\s*details = "(.*?)"\n', re.S)
_HTTP = re.compile(
    r"Unexpected status code: (\d+), with response body: \{'error': \[\{'message': ['\"](.*?)['\"]\}\]"
)


def _last_error_line(text: str) -> str:
    """What went wrong, shortened: the server's own message when the client quotes one (a gRPC status's
    details, a REST error body), else the first line of the failure (pytest's ``E`` lines)."""
    m = _GRPC.search(text)
    if m:
        return f"gRPC {m.group(1)}: {m.group(2)}"[:400]
    m = _HTTP.search(text)
    if m:
        return f"HTTP {m.group(1)}: {m.group(2)}"[:400]
    lines = [ln[1:].strip() for ln in text.splitlines() if ln.startswith("E ")]
    line = lines[0] if lines else (text.strip().splitlines() or [""])[-1]
    return line[:400]


def pytest_configure(config: pytest.Config) -> None:
    exclude = os.environ.get("COLWEAVE_SUITE_EXCLUDE")
    results = os.environ.get("COLWEAVE_SUITE_RESULTS")
    if exclude and results:
        pairs = [(str(p), str(f)) for p, f in json.loads(Path(exclude).read_text())]
        config.pluginmanager.register(ScopePlugin(pairs, Path(results)), "colweave-scope")
