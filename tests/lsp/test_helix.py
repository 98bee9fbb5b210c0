"""Helix: Debian 12 has no `helix` package (`apt-cache policy helix` finds none), so no Helix
runs here. What can be checked without it is checked: editors/helix/languages.toml declares
the `netpol` language for `.netpol` files with the language server it defines, and that
server's command line, run as written (with `netpol` standing for the binary under test), is
a language server that answers `initialize` and publishes the CLI's diagnostics."""

import asyncio
import json
import subprocess
import tomllib

from conftest import NETPOL, ROOT, run_cli


def test_helix_config_declares_netpol_files_and_its_server():
    config = tomllib.loads((ROOT / "editors/helix/languages.toml").read_text())
    [language] = [l for l in config["language"] if l["name"] == "netpol"]
    assert "netpol" in language["file-types"]
    assert language["comment-token"] == "//"
    servers = config["language-server"]
    assert language["language-servers"] and all(s in servers for s in language["language-servers"])


def frame(message):
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def read_message(stream):
    length = None
    while True:
        line = (await stream.readline()).decode().strip()
        if not line:
            break
        if line.lower().startswith("content-length:"):
            length = int(line.split(":")[1])
    return json.loads(await stream.readexactly(length))


async def test_helix_server_command_serves_the_protocol(tmp_path):
    config = tomllib.loads((ROOT / "editors/helix/languages.toml").read_text())
    [language] = [l for l in config["language"] if l["name"] == "netpol"]
    server = config["language-server"][language["language-servers"][0]]
    assert server["command"] == "netpol"
    prog = tmp_path / "prog"
    prog.mkdir()
    text = 'namespace shop\nservice web in shop {\n  select app = "web"\n}\nweb -> apj:80\n'
    (prog / "a.netpol").write_text(text)
    proc = await asyncio.create_subprocess_exec(
        NETPOL, *server.get("args", []), stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    uri = (prog / "a.netpol").as_uri()
    proc.stdin.write(frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "processId": None, "rootUri": prog.as_uri(), "capabilities": {},
    }}))
    answer = await asyncio.wait_for(read_message(proc.stdout), 30)
    assert answer["id"] == 1 and "capabilities" in answer["result"]
    proc.stdin.write(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
    proc.stdin.write(frame({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
        "textDocument": {"uri": uri, "languageId": language["name"], "version": 1, "text": text},
    }}))
    codes = None
    while codes is None:
        m = await asyncio.wait_for(read_message(proc.stdout), 30)
        if m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri and m["params"]["diagnostics"]:
            codes = sorted(d["code"] for d in m["params"]["diagnostics"])
    cli = json.loads(run_cli("check", str(prog), "--warnings", "--format", "json").stdout)
    assert codes == sorted(i["code"] for i in cli["diagnostics"])
    proc.stdin.write(frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown", "params": None}))
    while (await asyncio.wait_for(read_message(proc.stdout), 30)).get("id") != 2:
        pass
    proc.stdin.write(frame({"jsonrpc": "2.0", "method": "exit", "params": None}))
    assert await asyncio.wait_for(proc.wait(), 10) == 0
