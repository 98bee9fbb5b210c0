"""Headless Neovim (Debian's `neovim`) with the shipped editors/neovim config: open a file,
wait for diagnostics, request a hover, quit; no server process is left behind. And the code
lenses of `test` blocks asked for right after `:write` give that save's run."""

import json
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import NETPOL, ROOT, run_cli

PROGRAM = (
    "namespace shop\n"
    'service web in shop {\n  select app = "web"\n}\n'
    'service api in shop {\n  select app = "api"\n}\n'
    "web -> apj:80\n"
)


def nvim():
    found = shutil.which("nvim")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("nvim is not installed (.ci/run installs Debian's neovim)")
        pytest.skip("nvim is not installed")
    return found


def processes_running(exe):
    """PIDs of processes whose argv[0] is `exe`."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0")[0].decode()
        except OSError:
            continue
        if argv0 == str(exe):
            found.append(int(pid))
    return found



def run_nvim(binary, script, path, cwd, env):
    """Runs headless Neovim on `path` with `tests/lsp/<script>` as its only config."""
    subprocess.run(
        [binary, "--headless", "-n", "-i", "NONE", "-u", str(ROOT / "tests/lsp" / script), str(path)],
        env=env,
        cwd=cwd,
        timeout=60,
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )

def test_neovim_diagnostics_hover_and_clean_quit(tmp_path):
    binary = nvim()
    prog = tmp_path / "prog"
    prog.mkdir()
    path = prog / "a.netpol"
    path.write_text(PROGRAM)
    # A name of our own for the server, to find any process left behind.
    server = tmp_path / "netpol-nvim-smoke"
    server.symlink_to(NETPOL)
    out = tmp_path / "out.json"
    line = 1
    col = PROGRAM.split("\n")[line].index("web") + 1
    env = dict(
        os.environ,
        NETPOL_REPO=str(ROOT),
        NETPOL_SMOKE_OUT=str(out),
        NETPOL_SMOKE_CMD=str(server),
        NETPOL_HOVER_LINE=str(line),
        NETPOL_HOVER_COL=str(col),
    )
    run_nvim(binary, "nvim_smoke.lua", path, prog, env)
    result = json.loads(out.read_text())
    assert result["filetype"] == "netpol"
    cli = run_cli("check", str(prog), "--warnings", "--color", "never").stderr
    expected = sorted(re.findall(r"^(?:error|warning)\[(\w+)\]: (.*)$", cli, re.M))
    got = sorted((d["code"], d["message"].split("\n")[0]) for d in result["diagnostics"])
    assert [c for c, _ in got] == [c for c, _ in expected]
    for (_, g), (_, e) in zip(got, expected):
        assert g.startswith(e)
    assert "service web in shop" in result["hover"]
    deadline = time.monotonic() + 10
    while processes_running(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_running(server) == []


LENS_PROGRAM = (
    "namespace shop { isolate ingress }\n"
    'service web in shop {\n  select app = "web"\n}\n'
    'service api in shop {\n  select app = "api"\n  port http = 8080\n}\n'
    "web -> api:http\n"
    'test "web reaches api" {\n  allowed web -> api:http\n}\n'
    'test "api does not reach web" {\n  denied api -> web:8080\n}\n'
)


def test_neovim_code_lenses_right_after_write_give_that_saves_run(tmp_path):
    binary = nvim()
    prog = tmp_path / "prog"
    prog.mkdir()
    path = prog / "a.netpol"
    path.write_text(LENS_PROGRAM)
    server = tmp_path / "netpol-nvim-lens"
    server.symlink_to(NETPOL)
    out = tmp_path / "out.json"
    env = dict(os.environ, NETPOL_REPO=str(ROOT), NETPOL_SMOKE_OUT=str(out), NETPOL_SMOKE_CMD=str(server))
    run_nvim(binary, "nvim_lens.lua", path, prog, env)
    result = json.loads(out.read_text())
    blocks = [i for i, line in enumerate(LENS_PROGRAM.split("\n")) if line.startswith('test "')]
    assert [l["line"] for l in result["before"]] == blocks, result
    assert all("save to run" in l["title"] for l in result["before"]), result
    # Both tests hold: every lens gives the run of this save, none says it has not run.
    assert [l["line"] for l in result["after"]] == blocks, result
    assert all(l["title"].startswith("\u2713 passed: 1 ") for l in result["after"]), result
    # The shipped config's own refresh on BufWritePost shows the same.
    assert result["shown"] == result["after"], result
    deadline = time.monotonic() + 10
    while processes_running(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_running(server) == []
