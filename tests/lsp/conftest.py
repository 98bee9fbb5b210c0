"""Fixtures of the language server's end-to-end tests: a copy of an example program in a
temporary folder, and a real LSP client (pytest-lsp, pygls) talking to `netpol lsp` over
stdio with VS Code's or Neovim's capability set."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities, make_test_lsp_client

ROOT = pathlib.Path(__file__).resolve().parents[2]
NETPOL = os.environ.get("NETPOL_BIN", str(ROOT / "target" / "debug" / "netpol"))
CLIENTS = ["visual-studio-code", "neovim"]


def run_cli(*args, cwd=None):
    """Runs the `netpol` CLI, as a user would."""
    return subprocess.run([NETPOL, *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture
def shop(tmp_path):
    """examples/shop copied to a temporary folder (tests edit it)."""
    dest = tmp_path / "shop"
    shutil.copytree(ROOT / "examples" / "shop", dest)
    return dest


def uri(path):
    return pathlib.Path(path).resolve().as_uri()


async def start(client: LanguageClient, spec: str, folder: pathlib.Path, capabilities=None):
    """Initializes the session with `spec`'s capability set (or `capabilities`)."""
    await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities or client_capabilities(spec),
            workspace_folders=[types.WorkspaceFolder(uri=uri(folder), name=folder.name)],
            root_uri=uri(folder),
        )
    )


def make_client():
    """pytest-lsp's client, which also accepts dynamic registrations (file watching), as
    VS Code and Neovim do."""
    c = make_test_lsp_client()

    @c.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(params):
        c.registrations = getattr(c, "registrations", []) + list(params.registrations)
        return None

    @c.feature(types.WORKSPACE_CODE_LENS_REFRESH)
    def code_lens_refresh(params):
        c.lens_refreshes = getattr(c, "lens_refreshes", 0) + 1
        return None

    return c


def without_related_information(spec: str) -> types.ClientCapabilities:
    """`spec`'s capability set, less `textDocument.publishDiagnostics.relatedInformation`."""
    caps = client_capabilities(spec)
    caps.text_document.publish_diagnostics.related_information = False
    return caps


def declares_lens_refresh(spec: str) -> bool:
    workspace = client_capabilities(spec).workspace
    return bool(workspace and workspace.code_lens and workspace.code_lens.refresh_support)


CONFIG = ClientServerConfig(server_command=[NETPOL, "lsp"], client_factory=make_client)


@pytest_lsp.fixture(config=CONFIG)
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=CONFIG)
async def bare_client(lsp_client: LanguageClient):
    """A client the test itself shuts down."""
    yield
