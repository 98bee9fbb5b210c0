// The server is found from the setting, then the bundled binary, then PATH (node --test).
import assert from "node:assert/strict";
import test from "node:test";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { findServer } = require("../out/server.js");

const files = (...present) => (p) => present.includes(p);

test("the setting wins, and a wrong setting is an error, not a fallback", () => {
  const all = files("/opt/netpol", "/ext/server/netpol", "/usr/bin/netpol");
  assert.deepEqual(findServer("/opt/netpol", "/ext", "/usr/bin", "linux", all), { ok: true, path: "/opt/netpol", from: "setting" });
  const r = findServer("/nope", "/ext", "/usr/bin", "linux", all);
  assert.equal(r.ok, false);
  assert.match(r.message, /netpol\.server\.path/);
});

test("then the bundled binary, then PATH in order", () => {
  assert.equal(findServer("", "/ext", "/usr/bin", "linux", files("/ext/server/netpol", "/usr/bin/netpol")).from, "bundled");
  const r = findServer("", "/ext", "/a:/b:/c", "linux", files("/b/netpol", "/c/netpol"));
  assert.deepEqual(r, { ok: true, path: "/b/netpol", from: "PATH" });
});

test("nothing found says how to fix it", () => {
  const r = findServer("", "/ext", "/a:/b", "linux", files());
  assert.equal(r.ok, false);
  assert.match(r.message, /netpol\.server\.path/);
  assert.match(r.message, /PATH/);
});
