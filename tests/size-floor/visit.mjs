// Runs the size floor's wasm in node: one page visit per fresh instance (src/lib.rs documents
// the input and the output).
// Owns: encoding the input and decoding the output. Must never: check anything (check.mjs does).
import { readFileSync } from "node:fs";

const FIELD = "\u001f";
const RECORD = "\u001e";

/**
 * `page` = { url, path, search, title, referrer, userAgent, host, locale, timeZone, writeKey,
 * endpoint, event, properties, userId, traits, route, routePath }, `stored` = [[key, value]] (a key starting
 * with `=` is a cookie), `flags` = { gpc, consent: { analytics, marketing } (a choice made) or
 * undefined, status: the collector's answer (200, else 503), reset }. Returns { batches, unload,
 * storage: Map, cookies: Map, error, decorated }.
 */
export function visit({ wasm, exports: names }, { now, flags, page, stored }) {
  // No imports: the floor needs nothing from its host.
  const ex = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(wasm)), {}).exports;
  const memory = ex[names.memory];
  const fields = [page.url, page.path, page.search, page.title, page.referrer, page.userAgent, page.host, page.locale,
    page.timeZone, page.writeKey, page.endpoint, page.event, page.properties, page.userId, page.traits, page.route, page.routePath,
    ...stored.flat(), ""];
  const text = new TextEncoder().encode(fields.join(FIELD));
  const input = new Uint8Array(9 + text.length);
  new DataView(input.buffer).setFloat64(0, now, true);
  const choice = flags.consent;
  input[8] = (flags.gpc ? 1 : 0) | (choice ? 2 : 0) | (choice?.analytics ? 4 : 0) | (choice?.marketing ? 8 : 0) | (flags.status === 200 ? 16 : 0) | (flags.reset ? 32 : 0);
  input.set(text, 9);
  const ptr = ex[names.alloc](input.length);
  new Uint8Array(memory.buffer, ptr, input.length).set(input);
  const out = ex[names.run](ptr, input.length);
  const len = new DataView(memory.buffer).getUint32(out, true);
  const answer = new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(memory.buffer, out + 4, len));
  const result = { batches: [], unload: [], storage: new Map(), cookies: new Map(), error: null, decorated: [] };
  for (const rec of answer.split(RECORD).slice(0, -1)) {
    const [tag, body] = [rec[0], rec.slice(1)];
    const [k, v] = body.split(FIELD);
    if (tag === "B") result.batches.push(JSON.parse(body));
    else if (tag === "U") result.unload.push(JSON.parse(body));
    else if (tag === "S") result.storage.set(k, v);
    else if (tag === "C") result.cookies.set(k, v);
    else if (tag === "E") result.error = body;
    else if (tag === "X") result.decorated.push(body);
    else throw new Error(`unknown record ${JSON.stringify(rec.slice(0, 40))}`);
  }
  return result;
}
