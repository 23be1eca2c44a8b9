"""README.md stays true: its Python blocks run verbatim against a real tiny-model server on Weaviate's
default ports (where `make demo` puts it), and its shell commands name targets, flags and extras that exist.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from tests.integration.serve_process import ROOT, TINY_MODEL, serve

from colweave import cli
from colweave.server.config import from_args

README = (ROOT / "README.md").read_text()
BLOCKS = [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```", README, re.S | re.M)]
PYTHON = [code for lang, code in BLOCKS if lang == "python"]
SHELL = [code for lang, code in BLOCKS if lang == "bash"]
# Commands that need a network, another machine or minutes: checked for shell syntax only.
EXTERNAL = ("tar ", "python3 -m venv", ".venv/bin/hf ", "HF_HOME=", "mkdir ")
# The ingest section's shell block: run verbatim (with a generated PDF in its folder) before the Python blocks
# that read what it stored.
INGEST = next((code for code in SHELL if "colweave ingest" in code), "")


def test_readme_opens_with_what_it_is_then_two_commands() -> None:
    body = README.split("\n", 1)[1].lstrip("\n")
    paragraph, rest = body.split("\n\n", 1)
    assert "colweave is" in paragraph
    assert "```" not in paragraph
    first = re.match(r"```bash\n(.*?)```", rest, re.S)
    assert first is not None, "the first block after the paragraph must be the commands"
    commands = [line.split("#")[0].strip() for line in first.group(1).splitlines()]
    assert commands == ["make run", "make test"]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def readme_folder(where: Path) -> tuple[Path, dict[str, str]]:
    """A folder to run the README's blocks in, as a user's working directory: ``tests`` links to the
    clone's (a block reads the committed tiny model from there), ``pdfs/`` holds a generated text PDF, and
    the ingest section's shell commands have run in it verbatim. Returns it and the blocks' environment:
    the tiny model as ``COLWEAVE_MODEL`` (the variable the README's ingest commands and blocks honour), no
    hub, ``colweave`` on PATH."""
    from tests.ingest.pdfgen import TextPage, build_pdf

    cwd = where / "readme"
    cwd.mkdir(parents=True)
    (cwd / "tests").symlink_to(ROOT / "tests")
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "COLWEAVE_MODEL": str(TINY_MODEL),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "python"), os.environ.get("PYTHONPATH")) if p),
    }
    if INGEST:
        pages = [TextPage(["Quarterly revenue", "grew in every region."]), TextPage(["A holiday film"])]
        (cwd / "pdfs").mkdir()
        (cwd / "pdfs" / "report.pdf").write_bytes(build_pdf(pages, title="Annual Report"))
        r = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", INGEST],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env=env,
        )
        if r.returncode != 0:
            raise AssertionError(f"README ingest commands failed:\n{INGEST}\n{r.stdout}\n{r.stderr}")
    return cwd, env


def run_python_blocks(data_dir: Path) -> list[str]:
    """Serves the tiny model on 8080 / 50051 and runs every Python block (in ``readme_folder``); returns
    the failures."""
    failures = []
    cwd, env = readme_folder(data_dir.parent)
    sp = serve(data_dir, http_port=8080, grpc_port=50051)
    try:
        for i, code in enumerate(PYTHON):
            r = subprocess.run(
                [sys.executable, "-c", code],
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
                env=env,
            )
            if r.returncode != 0:
                failures.append(f"README python block {i} failed:\n{code}\n{r.stdout}\n{r.stderr}")
    finally:
        if sp.stop() != 0:
            failures.append(f"the server did not stop cleanly:\n{sp.log.read_text()}")
    return failures


def _private_network() -> list[str] | None:
    """A command prefix that runs in a new network namespace (its own free 8080 and 50051), or None."""
    probe = subprocess.run(
        ["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True, text=True, check=False
    )
    return (
        ["unshare", "-n", "bash", "-c", 'ip link set lo up && exec "$@"', "--"]
        if probe.returncode == 0
        else None
    )


@pytest.mark.slow
def test_python_blocks_run_verbatim(tmp_path: Path) -> None:
    """Verbatim: the blocks connect to Weaviate's default ports. Another server on this machine may hold
    them (a developer's Weaviate, another test run), so the server and the blocks run in a network namespace
    of their own where one is available; else on this machine's ports, which must then be free."""
    assert len(PYTHON) >= 5
    prefix = _private_network()
    if prefix is None:
        if not (_port_free(8080) and _port_free(50051)):
            pytest.fail("ports 8080 and 50051 must be free (or unshare -n available) for the README's blocks")
        failures = run_python_blocks(tmp_path / "data")
        assert not failures, "\n".join(failures)
        return
    cmd = [*prefix, sys.executable, "-m", "tests.integration.test_readme", str(tmp_path / "data")]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert r.returncode == 0, r.stdout[-8000:] + r.stderr[-4000:]
    assert f"{len(PYTHON)} README python blocks ran" in r.stdout


def _commands() -> list[str]:
    out = []
    for block in SHELL:
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


def test_shell_commands_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    commands = _commands()
    assert "make demo" in " ".join(commands) or any(c.startswith("make") for c in commands)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    checked: list[str] = []

    def parsed_serve(args: object) -> int:
        from_args(args)  # type: ignore[arg-type]
        return 0

    monkeypatch.setattr(cli, "_serve", parsed_serve)
    monkeypatch.setattr(cli, "_export", lambda args: 0)
    monkeypatch.setattr(cli, "_ingest", lambda args: 0)  # parsed, not run (test_python_blocks runs them)
    for cmd in commands:
        syntax = subprocess.run(["bash", "-n", "-c", cmd], capture_output=True, text=True, check=False)
        assert syntax.returncode == 0, (cmd, syntax.stderr)
        words = shlex.split(os.path.expandvars(cmd.replace("$KEY", "k")))
        while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
            words = words[1:]
        if cmd.startswith("make "):
            r = subprocess.run(
                ["make", "-n", *words[1:]], cwd=ROOT, capture_output=True, text=True, check=False
            )
            assert r.returncode == 0, (cmd, r.stderr)
        elif words and words[0].endswith("colweave"):
            try:
                code = cli.main(words[1:])
            except SystemExit as e:  # --help
                code = int(e.code or 0)
            assert code == 0, cmd
        elif words[:1] and words[0].endswith("pip") and "install" in words and "-e" in words:
            for spec in words:
                m = re.fullmatch(r"\.\[([\w,]+)\]", spec)
                if m:
                    assert set(m.group(1).split(",")) <= set(extras), cmd
        elif words[:1] and words[0].endswith("pip"):
            pass  # downloads and offline installs: syntax only
        else:
            assert cmd.startswith(EXTERNAL), f"README command of an unchecked kind: {cmd}"
        checked.append(cmd)
    assert len(checked) >= 12


if __name__ == "__main__":  # the namespace side of test_python_blocks_run_verbatim
    problems = run_python_blocks(Path(sys.argv[1]))
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"{len(PYTHON)} README python blocks ran")
