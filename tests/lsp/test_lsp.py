"""`netpol lsp` end to end over stdio with a third-party client (pytest-lsp / pygls), once
with VS Code's capabilities and once with Neovim's. Expected answers come from the CLI run
on the same files, or from the manifests themselves, never from constants."""

import asyncio
import re
import time

import pytest
import yaml
from lsprotocol import types

import json

from conftest import CLIENTS, declares_lens_refresh, run_cli, start, uri, without_related_information

SHOP = "shop.netpol"


def open_doc(client, path, text=None, version=1):
    text = path.read_text() if text is None else text
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri(path), language_id="netpol", version=version, text=text
            )
        )
    )
    return text


def change(client, path, text, version):
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri(path), version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


async def wait_for(pred, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def cleared(client, path):
    """Waits until the file's diagnostics were published empty."""
    await wait_for(
        lambda: uri(path) in client.diagnostics and len(client.diagnostics[uri(path)]) == 0,
        "diagnostics to clear",
    )


def position_of(text, needle, delta=0):
    """The LSP position (UTF-16) of the first `needle` in `text`, plus `delta` characters."""
    offset = text.index(needle) + delta
    before = text[:offset]
    line = before.count("\n")
    col = len(before.split("\n")[-1].encode("utf-16-le")) // 2
    return types.Position(line=line, character=col)


def offset_of(text, pos):
    lines = text.split("\n")
    start = sum(len(l) + 1 for l in lines[: pos.line])
    line = lines[pos.line]
    units = 0
    for i, ch in enumerate(line):
        if units >= pos.character:
            return start + i
        units += len(ch.encode("utf-16-le")) // 2
    return start + len(line)


def apply_edits(text, edits):
    spans = sorted(
        ((offset_of(text, e.range.start), offset_of(text, e.range.end), e.new_text) for e in edits),
        reverse=True,
    )
    for s, e, new in spans:
        text = text[:s] + new + text[e:]
    return text


def cli_diagnostics(folder):
    """(code, message) of every diagnostic `netpol check` prints for a folder."""
    out = run_cli("check", str(folder), "--color", "never")
    return sorted(re.findall(r"^(?:error|warning)\[(\w+)\]: (.*)$", out.stderr, re.M))


@pytest.mark.parametrize("spec", CLIENTS)
async def test_diagnostics_are_the_clis_and_clear_after_a_fix(client, shop, spec):
    await start(client, spec, shop)
    path = shop / SHOP
    text = open_doc(client, path)
    await wait_for(lambda: uri(path) in client.diagnostics, "first diagnostics")
    assert len(client.diagnostics[uri(path)]) == 0
    broken = text.replace("frontend      -> checkout:grpc", "frontendd     -> checkout:grpc")
    broken = broken.replace("service batch in jobs", "service batch in jobz")
    change(client, path, broken, 2)
    diags = await wait_for(lambda: client.diagnostics.get(uri(path)), "diagnostics of the edit")
    # The same codes and messages as `netpol check` on the same text.
    path.write_text(broken)
    expected = cli_diagnostics(shop)
    assert expected, "the edit breaks the program"
    got = sorted(
        (d.code, m)
        for d in diags
        for (c, m) in expected
        if d.code == c and d.message.startswith(m)
    )
    assert sorted(got) == expected, [(d.code, d.message) for d in diags]
    assert len(diags) == len(expected)
    for d in diags:
        slug = d.code.lower()
        assert d.code_description.href.split("#")[1].startswith(slug + "-"), d.code_description
        assert d.code_description.href.split("#")[0].endswith("docs/diagnostics.md")
    # Fix it: the diagnostics clear.
    change(client, path, text, 3)
    await cleared(client, path)


@pytest.mark.parametrize("spec", CLIENTS)
async def test_secondary_labels_are_related_information(client, shop, spec):
    await start(client, spec, shop)
    path = shop / SHOP
    text = open_doc(client, path)
    dup = text + "\nservice frontend in shop {\n  select app = \"frontend\"\n}\n"
    change(client, path, dup, 2)
    diags = await wait_for(
        lambda: [d for d in client.diagnostics.get(uri(path), []) if d.code == "E006"], "E006"
    )
    related = diags[0].related_information
    assert related, diags[0]
    first = related[0].location
    assert first.uri == uri(path)
    start_off, end_off = offset_of(dup, first.range.start), offset_of(dup, first.range.end)
    assert dup[start_off:end_off] == "frontend"
    assert start_off == text.index("service frontend in shop") + len("service ")


@pytest.mark.parametrize("spec", CLIENTS)
async def test_related_information_is_folded_for_a_client_without_it(client, shop, spec):
    """The same E006 as above, for a client that does not declare `relatedInformation`: no
    related information, each secondary label a line of the message, and the CLI's
    `--format json` gives the same labels and places."""
    await start(client, spec, shop, capabilities=without_related_information(spec))
    path = shop / SHOP
    text = open_doc(client, path)
    dup = text + "\nservice frontend in shop {\n  select app = \"frontend\"\n}\n"
    change(client, path, dup, 2)
    diags = await wait_for(
        lambda: [d for d in client.diagnostics.get(uri(path), []) if d.code == "E006"], "E006"
    )
    assert diags[0].related_information is None, diags[0]
    path.write_text(dup)
    report = json.loads(run_cli("check", str(shop), "--format", "json").stdout)
    e006 = [i for i in report["diagnostics"] if i["code"] == "E006"]
    assert len(e006) == 1 and e006[0]["related"], e006
    for r in e006[0]["related"]:
        start_ = r["location"]["start"]
        where = f"{SHOP}:{start_['line']}:{start_['column']}: {r['message']}"
        assert "\n" + where in diags[0].message, (where, diags[0].message)


@pytest.mark.parametrize("spec", CLIENTS)
async def test_hover_shows_workloads_ports_and_the_compiled_yaml(client, shop, spec):
    await start(client, spec, shop)
    path = shop / SHOP
    text = open_doc(client, path)
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri(path)),
            position=position_of(text, "orders-db in data", 2),
        )
    )
    value = hover.contents.value
    compiled = run_cli("compile", str(shop)).stdout
    doc = next(d for d in compiled.split("---\n") if "name: orders-db\n" in d)
    assert doc in value, value
    # Every workload of `data` with app=postgres is listed, with its ports.
    for f in (shop / "k8s").glob("*.yaml"):
        for obj in yaml.safe_load_all(f.read_text()):
            if not obj or obj.get("metadata", {}).get("namespace") != "data":
                continue
            labels = obj.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
            if labels.get("app") == "postgres" and labels.get("role") in ("primary", "replica"):
                assert f"{obj['kind']}/{obj['metadata']['name']}" in value
    assert "`postgres` = 5432/TCP" in value


@pytest.mark.parametrize("spec", CLIENTS)
async def test_definition_and_references_across_files(client, tmp_path, spec):
    prog = tmp_path / "prog"
    prog.mkdir()
    (prog / "a.netpol").write_text(
        'namespace shop\nservice web in shop {\n  select app = "web"\n  port http = 8080\n}\n'
        'service api in shop {\n  select app = "api"\n}\n'
    )
    b = 'api -> web:http\nweb -> api:443\n'
    (prog / "b.netpol").write_text(b)
    await start(client, spec, prog)
    open_doc(client, prog / "b.netpol")
    got = await client.text_document_definition_async(
        types.DefinitionParams(
            text_document=types.TextDocumentIdentifier(uri=uri(prog / "b.netpol")),
            position=position_of(b, "web"),
        )
    )
    loc = got if isinstance(got, types.Location) else got[0]
    assert loc.uri == uri(prog / "a.netpol")
    a = (prog / "a.netpol").read_text()
    assert a[offset_of(a, loc.range.start):offset_of(a, loc.range.end)] == "web"
    refs = await client.text_document_references_async(
        types.ReferenceParams(
            text_document=types.TextDocumentIdentifier(uri=uri(prog / "b.netpol")),
            position=position_of(b, "web"),
            context=types.ReferenceContext(include_declaration=True),
        )
    )
    texts = {"a.netpol": a, "b.netpol": b}
    names = [
        texts[r.uri.rsplit("/", 1)[1]][
            offset_of(texts[r.uri.rsplit("/", 1)[1]], r.range.start):offset_of(
                texts[r.uri.rsplit("/", 1)[1]], r.range.end
            )
        ]
        for r in refs
    ]
    assert names == ["web"] * 3, names
    assert sorted({r.uri for r in refs}) == sorted({uri(prog / "a.netpol"), uri(prog / "b.netpol")})


@pytest.mark.parametrize("spec", CLIENTS)
async def test_definition_into_the_stdlib_is_read_only(client, shop, spec):
    await start(client, spec, shop)
    path = shop / SHOP
    text = open_doc(client, path)
    pos = position_of(text, "kube-dns:dns")
    got = await client.text_document_definition_async(
        types.DefinitionParams(text_document=types.TextDocumentIdentifier(uri=uri(path)), position=pos)
    )
    loc = got if isinstance(got, types.Location) else got[0]
    assert loc.uri.startswith("netpol-std:///std/dns.netpol"), loc.uri
    source = await client.protocol.send_request_async("netpol/stdSource", {"uri": loc.uri})
    assert source[offset_of(source, loc.range.start):offset_of(source, loc.range.end)] == "kube-dns"
    with pytest.raises(Exception, match="standard library"):
        await client.text_document_rename_async(
            types.RenameParams(
                text_document=types.TextDocumentIdentifier(uri=uri(path)), position=pos, new_name="dns2"
            )
        )


def workload_label_values(shop, namespace, key):
    values = set()
    for f in (shop / "k8s").glob("*.yaml"):
        for obj in yaml.safe_load_all(f.read_text()):
            if not obj or obj.get("metadata", {}).get("namespace", "default") != namespace:
                continue
            labels = obj.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
            if key in labels:
                values.add(labels[key])
    return values


@pytest.mark.parametrize("spec", CLIENTS)
async def test_completion_of_label_values_from_the_workloads(client, shop, spec):
    await start(client, spec, shop)
    path = shop / SHOP
    text = open_doc(client, path)
    half = text.replace('select app = "checkout"', 'select app = "', 1)
    change(client, path, half, 2)
    pos = position_of(half, 'select app = "\n', len('select app = "'))
    got = await client.text_document_completion_async(
        types.CompletionParams(text_document=types.TextDocumentIdentifier(uri=uri(path)), position=pos)
    )
    items = got if isinstance(got, list) else got.items
    expected = workload_label_values(shop, "shop", "app")
    assert expected
    assert {i.label for i in items} == expected
    assert all(i.kind == types.CompletionItemKind.Value for i in items)


@pytest.mark.parametrize("spec", CLIENTS)
async def test_rename_edits_every_file_and_the_program_still_checks(client, shop, spec):
    await start(client, spec, shop)
    path = shop / SHOP
    text = open_doc(client, path)
    before = cli_diagnostics(shop)
    edit = await client.text_document_rename_async(
        types.RenameParams(
            text_document=types.TextDocumentIdentifier(uri=uri(path)),
            position=position_of(text, "checkout in shop"),
            new_name="payments-api",
        )
    )
    edits = edit.changes[uri(path)]
    renamed = apply_edits(text, edits)
    assert renamed.count("payments-api") == len(edits)
    code = re.sub(r'"[^"\n]*"|//[^\n]*', "", renamed)
    assert not re.search(r"(?<![\w-])checkout(?![\w-])", code), code
    assert len(edits) == len(re.findall(r"(?<![\w-])checkout(?![\w-])", re.sub(r'"[^"\n]*"|//[^\n]*', "", text)))
    path.write_text(renamed)
    assert cli_diagnostics(shop) == before


@pytest.mark.parametrize("spec", CLIENTS)
async def test_formatting_is_netpol_fmt(client, shop, spec, tmp_path):
    await start(client, spec, shop)
    path = shop / SHOP
    text = path.read_text()
    messy = re.sub(r"^( +)", r"\1\1\1", text, flags=re.M).replace(" -> ", "   ->   ")
    open_doc(client, path, messy)
    edits = await client.text_document_formatting_async(
        types.DocumentFormattingParams(
            text_document=types.TextDocumentIdentifier(uri=uri(path)),
            options=types.FormattingOptions(tab_size=2, insert_spaces=True),
        )
    )
    formatted = apply_edits(messy, edits)
    other = tmp_path / "other.netpol"
    other.write_text(messy)
    assert run_cli("fmt", str(other)).returncode == 0
    assert formatted == other.read_text()
    assert formatted != messy


@pytest.mark.parametrize("spec", CLIENTS)
async def test_code_actions_apply_the_did_you_mean_fix(client, shop, spec):
    await start(client, spec, shop)
    path = shop / SHOP
    text = open_doc(client, path)
    broken = text.replace("frontend      -> checkout:grpc", "frontend      -> checkuot:grpc")
    change(client, path, broken, 2)
    diags = await wait_for(lambda: client.diagnostics.get(uri(path)), "E002")
    d = next(d for d in diags if d.code == "E002")
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri(path)),
            range=d.range,
            context=types.CodeActionContext(diagnostics=[d]),
        )
    )
    fix = next(a for a in actions if a.title == "replace with `checkout`")
    fixed = apply_edits(broken, fix.edit.changes[uri(path)])
    assert fixed == text
    change(client, path, fixed, 3)
    await cleared(client, path)


@pytest.mark.parametrize("spec", CLIENTS)
async def test_compiled_yaml_request_is_netpol_compile(client, shop, spec):
    await start(client, spec, shop)
    path = shop / SHOP
    open_doc(client, path)
    answer = await client.protocol.send_request_async("netpol/compiledYaml", {"uri": uri(path)})
    assert answer.yaml == run_cli("compile", str(shop)).stdout
    assert answer.errors == 0


@pytest.mark.parametrize("spec", CLIENTS)
async def test_fast_typing_cancels_and_ends_on_the_last_version(client, shop, spec):
    await start(client, spec, shop)
    path = shop / SHOP
    text = open_doc(client, path)
    insert_at = text.index('select app = "checkout"') + len('select app = "checkout')
    hovers = []
    typed = ""
    for i, ch in enumerate("-and-more-text-typed-quickly"):
        typed += ch
        change(client, path, text[:insert_at] + typed + text[insert_at:], 2 + i)
        hovers.append(
            client.text_document_hover_async(
                types.HoverParams(
                    text_document=types.TextDocumentIdentifier(uri=uri(path)),
                    position=position_of(text, "checkout in shop"),
                )
            )
        )
    last = 2 + len(typed) - 1
    results = await asyncio.gather(*hovers, return_exceptions=True)
    for r in results:
        # Either an answer, or ContentModified (-32801) for a query an edit cancelled.
        assert not isinstance(r, Exception) or "-32801" in repr(r) or "Content modified" in str(r), r
    assert any(not isinstance(r, Exception) for r in results)
    final = text[:insert_at] + typed + text[insert_at:]
    path.write_text(final)
    expected = cli_diagnostics(shop)
    await wait_for(
        lambda: sorted((d.code, d.message.split(": ")[0]) for d in client.diagnostics.get(uri(path), []))
        == sorted((c, m.split(": ")[0]) for c, m in expected),
        "diagnostics of the last version",
    )


@pytest.mark.parametrize("spec", CLIENTS)
async def test_hostile_positions_and_files_never_crash(client, shop, spec):
    await start(client, spec, shop)
    path = shop / SHOP
    text = open_doc(client, path, "// \U0001F600 emoji\n" + path.read_text())
    doc = types.TextDocumentIdentifier(uri=uri(path))
    for pos in [
        types.Position(line=0, character=4),  # inside the emoji's surrogate pair
        types.Position(line=0, character=9999),
        types.Position(line=9999, character=0),
    ]:
        await client.text_document_hover_async(types.HoverParams(text_document=doc, position=pos))
        await client.text_document_completion_async(types.CompletionParams(text_document=doc, position=pos))
        await client.text_document_definition_async(types.DefinitionParams(text_document=doc, position=pos))
    # Half-typed text everywhere, a huge file, a manifest that stops parsing, a file deleted.
    for i, cut in enumerate(range(0, len(text), max(1, len(text) // 40))):
        change(client, path, text[:cut], 10 + i)
    change(client, path, "service a in b {\n" * 20000, 100)
    (shop / "k8s" / "shop.yaml").write_text("kind: [unclosed\n")
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=uri(shop / "k8s" / "shop.yaml"), type=types.FileChangeType.Changed)]
        )
    )
    change(client, path, text, 101)
    manifest = uri(shop / "k8s" / "shop.yaml")
    diags = await wait_for(lambda: client.diagnostics.get(manifest), "the manifest's diagnostic")
    assert any(d.code == "E020" for d in diags)
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=doc))
    path.unlink()
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=uri(path), type=types.FileChangeType.Deleted)]
        )
    )
    # Still alive and answering.
    symbols = await client.workspace_symbol_async(types.WorkspaceSymbolParams(query=""))
    assert symbols is not None


@pytest.mark.parametrize("spec", CLIENTS)
async def test_failed_tests_on_save_become_diagnostics(client, shop, spec):
    await start(client, spec, shop)
    path = shop / SHOP
    text = open_doc(client, path)
    wrong = text.replace("denied frontend -> orders-db:postgres", "allowed frontend -> orders-db:postgres")
    change(client, path, wrong, 2)
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri(path))))
    diags = await wait_for(
        lambda: [d for d in client.diagnostics.get(uri(path), []) if d.source == "netpol test"], "test failure"
    )
    assert len(diags) == 1
    line = wrong.split("\n")[diags[0].range.start.line]
    assert "allowed frontend -> orders-db:postgres" in line
    path.write_text(wrong)
    assert run_cli("test", str(shop)).returncode == 1


@pytest.mark.parametrize("spec", CLIENTS)
async def test_semantic_tokens_symbols_and_inlay_hints(client, shop, spec):
    await start(client, spec, shop)
    path = shop / SHOP
    text = open_doc(client, path)
    doc = types.TextDocumentIdentifier(uri=uri(path))
    symbols = await client.text_document_document_symbol_async(types.DocumentSymbolParams(text_document=doc))
    names = {s.name for s in symbols}
    declared = set(re.findall(r"^(?:service|group|external) ([\w-]+)", text, re.M))
    assert declared <= names
    hints = await client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=doc,
            range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=10000, character=0)),
        )
    )
    at = position_of(text, "checkout:grpc", len("checkout:grpc"))
    assert any(h.position == at and h.label == " = 5050/TCP" for h in hints), hints
    tokens = await client.text_document_semantic_tokens_full_async(types.SemanticTokensParams(text_document=doc))
    assert len(tokens.data) % 5 == 0 and len(tokens.data) > 0


@pytest.mark.parametrize("spec", CLIENTS)
async def test_exit_ends_the_process_though_stdin_stays_open(bare_client, shop, spec):
    lsp_client = bare_client
    await start(lsp_client, spec, shop)
    open_doc(lsp_client, shop / SHOP)
    await lsp_client.shutdown_async(None)
    lsp_client.exit(None)
    server = lsp_client._server
    # pygls keeps the server's stdin open: the server must end by itself.
    await asyncio.wait_for(server.wait(), timeout=10)
    assert server.returncode == 0


def save(client, path):
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri(path)))
    )


async def code_lenses(client, path):
    return await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri(path)))
    )


@pytest.mark.parametrize("spec", CLIENTS)
async def test_code_lenses_give_each_test_blocks_last_run(client, shop, spec):
    await start(client, spec, shop)
    path = shop / SHOP
    text = open_doc(client, path)
    await wait_for(lambda: uri(path) in client.diagnostics, "first diagnostics")
    blocks = [i for i, line in enumerate(text.split("\n")) if line.startswith('test "')]
    assert blocks
    lenses = await code_lenses(client, path)
    assert [l.range.start.line for l in lenses] == blocks
    assert all("save to run" in l.command.title for l in lenses), lenses
    # A wrong assertion, saved: each lens gives its test's counts from `netpol test`.
    wrong = text.replace("denied frontend -> orders-db:postgres", "allowed frontend -> orders-db:postgres")
    change(client, path, wrong, 2)
    save(client, path)
    await wait_for(
        lambda: [d for d in client.diagnostics.get(uri(path), []) if d.source == "netpol test"], "test failure"
    )
    lenses = await code_lenses(client, path)
    path.write_text(wrong)
    report = json.loads(run_cli("test", str(shop), "--format", "json").stdout)
    tests = [t for t in report["tests"] if t["location"]["file"].endswith(SHOP)]
    assert [t["location"]["start"]["line"] - 1 for t in tests] == [l.range.start.line for l in lenses]
    assert any(not a["passed"] for t in tests for a in t["assertions"])
    for t, lens in zip(tests, lenses):
        total = len(t["assertions"])
        failed = sum(1 for a in t["assertions"] if not a["passed"])
        if failed:
            assert lens.command.title.startswith(f"✗ failed: {failed} of {total} "), lens
        else:
            checked = sum(a["checked"] for a in t["assertions"])
            assert lens.command.title.startswith(f"✓ passed: {total} "), lens
            assert f"({checked} connection" in lens.command.title, lens
    # Asked to refresh exactly when the client declared it can be.
    refreshed = lambda: getattr(client, "lens_refreshes", 0) > 0
    if declares_lens_refresh(spec):
        await wait_for(refreshed, "a code lens refresh")
    else:
        await asyncio.sleep(0.5)
        assert not refreshed()
    # An edit makes them stale until the next save.
    change(client, path, text, 3)
    await wait_for(lambda: not [d for d in client.diagnostics.get(uri(path), []) if d.source == "netpol test"], "stale")
    lenses = await code_lenses(client, path)
    assert all("save to run" in l.command.title for l in lenses), lenses
