// Benchmark (a program, not a test): what each part of a golden message costs on the wire,
// plain and gzipped inside a batch of 50 such messages (distinct messageIds and timestamps, as
// the SDK sends them; zlib at its default level, like the browser's CompressionStream).
// Prints a table and writes tests/out/bench-message-parts.json.
//   node tests/bench/message-parts.mjs [fixture dir, default tests/fixtures] [type, default track]
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const dir = process.argv[2] ?? `${ROOT}/tests/fixtures`;
const type = process.argv[3] ?? "track";
const base = JSON.parse(readFileSync(`${dir}/${type}.json`, "utf8"));
const N = 50;

const batch = (msg) => {
  const ms = [];
  for (let i = 0; i < N; i++) {
    const m = structuredClone(msg);
    m.messageId = `07000000-0000-4000-8000-${100000000000 + i * 7919}`;
    m.timestamp = new Date(Date.parse(msg.timestamp) + i * 1337).toISOString();
    ms.push(m);
  }
  return JSON.stringify({ batch: ms, sentAt: msg.timestamp, writeKey: "fixture-key" });
};
const gzip = (m) => gzipSync(batch(m)).length / N;
const plain = (m) => Buffer.byteLength(JSON.stringify(m));
const without = (path) => {
  const m = structuredClone(base);
  let o = m;
  for (const k of path.slice(0, -1)) o = o?.[k];
  if (!o || !(path.at(-1) in o)) return null;
  delete o[path.at(-1)];
  return m;
};

const whole = { plain: plain(base), gzip: gzip(base) };
const rows = [{ part: "whole message", plain: whole.plain, gzip: +whole.gzip.toFixed(1) }];
const parts = ["integrations", "properties", "context", "context.page", "context.omnitrail", "context.omnitrail.touch.campaign",
  "context.omnitrail.touch.sessionId", "context.library", "context.userAgent", "context.locale", "context.timezone",
  "context.screen", "context.consent", "context.campaign", "context.sessionId"];
for (const part of parts) {
  const m = without(part.split("."));
  rows.push(m ? { part, plain: whole.plain - plain(m), gzip: +(whole.gzip - gzip(m)).toFixed(1) } : { part, plain: "absent", gzip: "absent" });
}
console.table(rows);
mkdirSync(`${ROOT}/tests/out`, { recursive: true });
writeFileSync(`${ROOT}/tests/out/bench-message-parts.json`, JSON.stringify({ dir, type, batchOf: N, rows }, null, 2));
