// The app of the `npm pack` test: a fresh project that installed the tarball, in TypeScript,
// bundled with esbuild; the wasm is copied next to the bundle, where the package's default
// `new URL("./omnitrail_bg.wasm", import.meta.url)` finds it.
import { Omnitrail, type LoadOptions, type Stats } from "omnitrail";

declare global {
  interface Window { OMNITRAIL_CONFIG: { writeKey: string; endpoint: string }; result?: unknown; ot?: Omnitrail }
}

async function main(): Promise<void> {
  try {
    const { writeKey, endpoint } = window.OMNITRAIL_CONFIG;
    const options: LoadOptions = { writeKey, endpoint, flushInterval: 100, retry: { baseMs: 100, maxMs: 2000 } };
    const ot = await Omnitrail.load(options);
    window.ot = ot;
    ot.page("Docs", "Install", { from: "tarball" });
    ot.identify("fresh-user", { plan: "free" });
    ot.track("Tarball Installed", { bundler: "esbuild (from npm pack)" }, { context: { fresh: true } });
    const flushed: boolean = await ot.flush();
    const stats: Stats = ot.stats();
    window.result = { ok: true, flushed, stats, user: ot.user() };
  } catch (e) {
    window.result = { ok: false, error: String((e as Error)?.stack ?? e) };
  }
}
main();
