// The tiny app every bundler builds: load the SDK from the package, send a page view and one
// event, flush, and report on window.result (the test reads it).
import { Omnitrail } from "omnitrail";

export async function run(bundler, wasm) {
  try {
    const { writeKey, endpoint } = window.OMNITRAIL_CONFIG;
    const ot = await Omnitrail.load({ writeKey, endpoint, flushInterval: 100, ...(wasm ? { wasm } : {}) });
    window.ot = ot;
    ot.page();
    ot.track("Bundled App Loaded", { bundler });
    const flushed = await ot.flush();
    // An invalid configuration is the one error that reaches the app: load() rejects.
    const invalid = await Omnitrail.load({ writeKey: "", endpoint }).then(() => null, (e) => String((e && e.message) || e));
    window.result = { ok: true, bundler, flushed, invalid, supported: Omnitrail.supported, user: ot.user(), stats: ot.stats() };
  } catch (e) {
    window.result = { ok: false, bundler, error: String((e && e.stack) || e) };
  }
}
