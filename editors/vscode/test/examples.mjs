// Grammar tests over every example program and stdlib module: each file is turned into a
// vscode-tmgrammar-test case whose assertions come from an independent scan of the file
// (comments, strings, keywords, arrows, numbers), with the keywords read from the one
// definition of the syntax, grammar/netpol.pest. Then vscode-tmgrammar-test runs them all.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../../..");
const pest = fs.readFileSync(path.join(repo, "grammar/netpol.pest"), "utf8");

// `kw_service = @{ "service" ~ !ident_char }`, plus the verdicts and directions.
const keywords = new Set([...pest.matchAll(/^kw_\w+\s*=\s*@\{\s*"(\w+)"/gm)].map((m) => m[1]));
for (const rule of ["verdict", "direction"]) {
  const m = pest.match(new RegExp(`^${rule}\\s*=\\s*@\\{\\s*\\(([^)]*)\\)`, "m"));
  if (!m) throw new Error(`grammar/netpol.pest has no ${rule} rule`);
  for (const w of m[1].matchAll(/"(\w+)"/g)) keywords.add(w[1]);
}
if (keywords.size < 15) throw new Error(`only ${keywords.size} keywords read from the grammar`);

function walk(dir, out) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.name.endsWith(".netpol")) out.push(p);
  }
  return out;
}

/** The tokens of one line that the grammar must scope: [column, length, scope]. */
function expected(line) {
  const out = [];
  let i = 0;
  while (i < line.length) {
    const rest = line.slice(i);
    if (rest.startsWith("//")) {
      out.push([i, line.length - i, "comment.line.double-slash.netpol"]);
      break;
    }
    if (rest[0] === '"') {
      let j = i + 1;
      while (j < line.length && line[j] !== '"') j += line[j] === "\\" ? 2 : 1;
      out.push([i, Math.min(j + 1, line.length) - i, "string.quoted.double.netpol"]);
      i = j + 1;
      continue;
    }
    if (rest.startsWith("->")) {
      out.push([i, 2, "keyword.operator.arrow.netpol"]);
      i += 2;
      continue;
    }
    const word = rest.match(/^[A-Za-z0-9_.\/:]+(?:-(?!>)[A-Za-z0-9_.\/:]*)*/);
    if (word) {
      const w = word[0];
      if (keywords.has(w)) out.push([i, w.length, "keyword.control.netpol"]);
      else if (/^\d+$/.test(w)) out.push([i, w.length, "constant.numeric.integer.netpol"]);
      i += w.length;
      continue;
    }
    i += 1;
  }
  return out;
}

function assertion([col, len, scope]) {
  if (col < 2) return `// <${"~".repeat(col)}${"-".repeat(len)} ${scope}`;
  return `//${" ".repeat(col - 2)}${"^".repeat(len)} ${scope}`;
}

const files = [...walk(path.join(repo, "examples"), []), ...walk(path.join(repo, "stdlib"), [])].sort();
if (files.length === 0) throw new Error("no example files found");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "netpol-grammar-"));
let assertions = 0;
for (const f of files) {
  const lines = [`// SYNTAX TEST "source.netpol" "${path.relative(repo, f)}"`];
  for (const line of fs.readFileSync(f, "utf8").split("\n")) {
    lines.push(line);
    for (const t of expected(line)) {
      lines.push(assertion(t));
      assertions += 1;
    }
  }
  fs.writeFileSync(path.join(dir, path.relative(repo, f).replaceAll("/", "__")), lines.join("\n"));
}
console.log(`${files.length} example files, ${assertions} assertions`);
try {
  execFileSync(
    path.join(here, "..", "node_modules", ".bin", "vscode-tmgrammar-test"),
    ["-g", path.join(here, "..", "syntaxes", "netpol.tmLanguage.json"), path.join(dir, "*.netpol")],
    { stdio: "inherit" },
  );
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
