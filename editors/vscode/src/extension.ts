// The netpol extension: starts `netpol lsp` and adds the YAML preview and a restart command.

import * as fs from "fs";
import * as path from "path";
import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions } from "vscode-languageclient/node";
import { findServer } from "./server";

let client: LanguageClient | undefined;

const YAML_SCHEME = "netpol-yaml";
const STD_SCHEME = "netpol-std";

interface CompiledYaml {
  yaml: string | null;
  errors: number;
}

/** The compiled YAML of the program a `.netpol` file belongs to, for the preview. */
class YamlPreview implements vscode.TextDocumentContentProvider {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private timer: NodeJS.Timeout | undefined;

  refresh(uris: readonly vscode.Uri[]): void {
    if (this.timer) {
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      for (const u of uris) {
        this.changed.fire(u);
      }
    }, 200);
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    if (!client) {
      return "# the netpol language server is not running\n";
    }
    const source = vscode.Uri.file(uri.path.replace(/\.yaml$/, ""));
    const answer = await client.sendRequest<CompiledYaml>("netpol/compiledYaml", { uri: source.toString() });
    if (answer.yaml === null) {
      return `# ${path.basename(source.fsPath)}: the program has ${String(answer.errors)} error(s); fix them to see its policies\n`;
    }
    return answer.yaml;
  }
}

/** The standard library's modules, shown read-only when a definition leads there. */
class StdSource implements vscode.TextDocumentContentProvider {
  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    if (!client) {
      return "";
    }
    return client.sendRequest<string>("netpol/stdSource", { uri: uri.toString() });
  }
}

async function start(context: vscode.ExtensionContext): Promise<void> {
  const configured = vscode.workspace.getConfiguration("netpol").get<string>("server.path") ?? "";
  const found = findServer(configured, context.extensionPath, process.env.PATH ?? "", process.platform, (p) => {
    try {
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  });
  if (!found.ok) {
    void vscode.window.showErrorMessage(found.message, "Open settings").then((choice) => {
      if (choice) {
        void vscode.commands.executeCommand("workbench.action.openSettings", "netpol.server.path");
      }
    });
    return;
  }
  const serverOptions: ServerOptions = { command: found.path, args: ["lsp"] };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file", language: "netpol" }],
  };
  client = new LanguageClient("netpol", "netpol", serverOptions, clientOptions);
  await client.start();
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const preview = new YamlPreview();
  context.subscriptions.push(
    vscode.workspace.registerTextDocumentContentProvider(YAML_SCHEME, preview),
    vscode.workspace.registerTextDocumentContentProvider(STD_SCHEME, new StdSource()),
    vscode.commands.registerCommand("netpol.previewYaml", async () => {
      const editor = vscode.window.activeTextEditor;
      if (!editor || editor.document.languageId !== "netpol") {
        void vscode.window.showInformationMessage("Open a .netpol file to preview its compiled YAML.");
        return;
      }
      const uri = vscode.Uri.from({ scheme: YAML_SCHEME, path: editor.document.uri.path + ".yaml" });
      const doc = await vscode.workspace.openTextDocument(uri);
      await vscode.languages.setTextDocumentLanguage(doc, "yaml");
      await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: false, preserveFocus: true });
    }),
    vscode.commands.registerCommand("netpol.restartServer", async () => {
      if (client) {
        await client.stop();
        client = undefined;
      }
      await start(context);
    }),
    vscode.workspace.onDidChangeTextDocument((e) => {
      if (e.document.languageId === "netpol") {
        const open = vscode.workspace.textDocuments.filter((d) => d.uri.scheme === YAML_SCHEME).map((d) => d.uri);
        preview.refresh(open);
      }
    }),
  );
  await start(context);
}

export async function deactivate(): Promise<void> {
  if (client) {
    await client.stop();
  }
}
