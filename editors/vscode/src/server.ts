// Where the `netpol` binary is: the setting, then the binary bundled in the extension, then PATH.

import * as path from "path";

export type Found = { ok: true; path: string; from: "setting" | "bundled" | "PATH" } | { ok: false; message: string };

export function findServer(
  configured: string,
  extensionPath: string,
  envPath: string,
  platform: string,
  isFile: (p: string) => boolean,
): Found {
  const exe = platform === "win32" ? "netpol.exe" : "netpol";
  if (configured !== "") {
    if (isFile(configured)) {
      return { ok: true, path: configured, from: "setting" };
    }
    return { ok: false, message: `netpol.server.path is set to "${configured}", which is not a file.` };
  }
  const bundled = path.join(extensionPath, "server", exe);
  if (isFile(bundled)) {
    return { ok: true, path: bundled, from: "bundled" };
  }
  const sep = platform === "win32" ? ";" : ":";
  for (const dir of envPath.split(sep)) {
    if (dir !== "" && isFile(path.join(dir, exe))) {
      return { ok: true, path: path.join(dir, exe), from: "PATH" };
    }
  }
  return {
    ok: false,
    message:
      "The netpol language server was not found: set netpol.server.path, or put `netpol` on PATH (cargo install --path . in the netpol repository).",
  };
}
