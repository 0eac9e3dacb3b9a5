// `node ssr-check.mjs MODULE [render]`: imports MODULE (a path or a package name) with every
// browser global booby-trapped, so touching one at import time fails; then uses the SDK as a
// server render would and prints the outcome as JSON.
const TRAPS = ["window", "document", "navigator", "localStorage", "sessionStorage", "location", "self"];
const touched = [];
for (const k of TRAPS) {
  Object.defineProperty(globalThis, k, {
    configurable: true,
    get() { touched.push(k); throw new ReferenceError(`${k} is not defined (touched at import)`); },
  });
}
const spec = process.argv[2];
const mod = await import(spec.startsWith("/") ? new URL("file://" + spec).href : spec);
for (const k of TRAPS) delete globalThis[k];
let result;
if (process.argv[3] === "render") {
  result = await mod.render();
} else {
  const { Omnitrail } = mod;
  const ot = await Omnitrail.load({ writeKey: "ssr", endpoint: "http://127.0.0.1:9" });
  ot.page(); ot.track("Server Side"); ot.identify("u"); ot.reset();
  result = { supported: Omnitrail.supported, flushed: await ot.flush(), role: ot.stats().role, user: ot.user(),
    decorated: ot.decorate("https://example.org/a?b=1"),
    cart: { get: ot.cart.get(), synced: await ot.cart.sync(), added: ot.cart.add({ product_id: "p" }) ?? "undefined" },
    direct: new Omnitrail({ writeKey: "ssr", endpoint: "http://127.0.0.1:9" }).anonymousId() };
}
console.log(JSON.stringify({ touched, ...result }));
