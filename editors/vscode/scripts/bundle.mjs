// Copies a `netpol` binary into server/, so that `npm run package` bundles it in the .vsix
// (the extension prefers the netpol.server.path setting, then this binary, then PATH).
// NETPOL_BIN names the binary (default: the repository's release build).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const exe = process.platform === "win32" ? "netpol.exe" : "netpol";
const from = process.env.NETPOL_BIN ?? path.resolve(here, "../../../target/release", exe);
if (!fs.statSync(from, { throwIfNoEntry: false })?.isFile()) {
  console.error(`error: no netpol binary at ${from} (build it with cargo build --release, or set NETPOL_BIN)`);
  process.exit(1);
}
fs.mkdirSync(path.resolve(here, "../server"), { recursive: true });
fs.copyFileSync(from, path.resolve(here, "../server", exe));
fs.chmodSync(path.resolve(here, "../server", exe), 0o755);
console.log(`bundled ${from}`);
