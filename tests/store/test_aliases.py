"""Collection aliases in the store's catalogue: Weaviate's rules (its alias usecases and schema code: names
checked as collection names, first letter upper-cased, unique case-insensitively with the collections, an
alias of a deleted collection kept), resolution on the data plane only, and durability (reopened, and
after SIGKILL every acknowledged alias is there)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from colweave.store import Store
from colweave.store.errors import AlreadyExistsError, NotFoundError, SchemaError


def _config(name: str) -> dict[str, object]:
    return {"class": name, "vectorizer": "none", "properties": [{"name": "title", "dataType": ["text"]}]}


def test_alias_rules(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        s.create_collection(_config("Books"))
        s.create_collection(_config("Papers"))
        assert s.create_alias("library", "books") == ("Library", "Books")
        assert s.get_alias("library") == ("Library", "Books")
        assert s.get_alias("LIBRARY") is None  # only the first letter's case is forgiven, as in Weaviate
        with pytest.raises(SchemaError, match=r"^create alias: Library, alias already exists$"):
            s.create_alias("Library", "Papers")
        with pytest.raises(SchemaError, match=r"^create alias: LIBRARY, alias already exists$"):
            s.create_alias("LIBRARY", "Papers")  # case-insensitively unique (named as asked, as Weaviate)
        with pytest.raises(SchemaError, match=r"^create alias: class Papers already exists$"):
            s.create_alias("Papers", "Books")
        with pytest.raises(SchemaError, match=r'^target class "Nothing" does not exist$'):
            s.create_alias("Other", "Nothing")
        with pytest.raises(SchemaError, match=r"is not a valid alias name"):
            s.create_alias("bad-name", "Books")
        with pytest.raises(SchemaError, match=r"is not a valid class name"):
            s.create_alias("Other", "bad-name")
        with pytest.raises(AlreadyExistsError, match=r"alias name Library already exists"):
            s.create_collection(_config("Library"))
        assert s.list_collections() == ["Books", "Papers"]

        s.create_alias("Shelf", "Papers")
        assert s.list_aliases() == [("Library", "Books"), ("Shelf", "Papers")]
        assert s.list_aliases("Papers") == [("Shelf", "Papers")]
        assert s.list_aliases("papers") == []  # Weaviate looks the class filter up exactly
        assert s.replace_alias("library", "Papers") == ("Library", "Papers")
        assert s.replace_alias("Nothing", "Papers") is None
        with pytest.raises(SchemaError, match=r'^target class "Nothing" does not exist$'):
            s.replace_alias("Library", "Nothing")
        assert s.get_alias("Library") == ("Library", "Papers")

        # The data plane resolves aliases; schema changes and deletes do not.
        assert s.collection("Library").name == "Papers"
        assert s.resolve("library") == "Papers"
        assert s.resolve("Books") == "Books"
        with pytest.raises(NotFoundError):
            s.get_collection("Library")
        assert not s.delete_collection("Library")
        assert s.exists("Papers")

        assert s.delete_alias("shelf")
        assert not s.delete_alias("Shelf")
        # Deleting the collection keeps its alias, which then resolves to nothing.
        assert s.delete_collection("Papers")
        assert s.list_aliases() == [("Library", "Papers")]
        with pytest.raises(NotFoundError, match="points to collection 'Papers' which does not exist"):
            s.collection("Library")

    with Store(tmp_path) as s:  # reopened: the catalogue kept them
        assert s.list_aliases() == [("Library", "Papers")]
        s.create_collection(_config("Papers"))
        assert s.collection("Library").name == "Papers"


CHILD = """
import sys
from colweave.store import Store
s = Store(sys.argv[1])
for i in range(10_000):
    s.create_alias(f"Alias{i}", "Books")
    print("ACK", i, flush=True)
"""


def test_aliases_survive_sigkill(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        s.create_collection(_config("Books"))
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    assert proc.stdout is not None
    watchdog = threading.Timer(120, proc.kill)  # a child that stops writing: readline() returns ""
    watchdog.start()
    acked: list[int] = []
    while len(acked) < 25:
        line = proc.stdout.readline()
        assert line, "the child died early"
        acked.append(int(line.split()[1]))
    os.kill(proc.pid, signal.SIGKILL)
    acked.extend(int(line.split()[1]) for line in proc.stdout.read().splitlines())
    proc.wait(30)
    watchdog.cancel()
    with Store(tmp_path) as s:
        have = {a for a, _ in s.list_aliases()}
        assert {f"Alias{i}" for i in acked} <= have, "an acknowledged alias was lost"
        assert len(have) <= len(acked) + 1  # at most the one in flight besides
        assert all(c == "Books" for _, c in s.list_aliases())
