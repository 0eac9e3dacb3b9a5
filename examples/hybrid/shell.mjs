// A simulated native shell for the hybrid example and its test: plays the app around one or
// more web views (Playwright pages) the way the Swift/Kotlin snippets in README.md do.
//
// - Before each web view loads, it injects `window.omnitrailNative` with what the app holds
//   (identity, session, consent, cart) and the platform's bridge object, whose `postMessage`
//   reaches `receive()` here (Playwright's exposeBinding stands in for WKScriptMessageHandler
//   or @JavascriptInterface).
// - `receive()` keeps the app's copy of the shared state up to date from the web view's
//   messages, records every message, and delivers `batch` messages itself (native batching).
// - `send(page, message)` is the app calling `window.omnitrailReceive(json)` in a web view.

/** The JavaScript global each platform's bridge lives at, as the SDK detects them. */
const BRIDGES = {
  ios: "window.webkit = { messageHandlers: { omnitrail: { postMessage: post } } };",
  android: "window.OmnitrailAndroid = { postMessage: post };",
  "react-native": "window.ReactNativeWebView = { postMessage: post };",
  capacitor: "window.Capacitor = { Plugins: { Omnitrail: { postMessage: (o) => post(o.message) } } };",
};

export class NativeShell {
  /**
   * @param {object} o
   * @param {"ios"|"android"|"react-native"|"capacitor"} o.platform
   * @param {object} [o.state] what the app knows at start: { anonymousId, userId, sessionId,
   *   lastActivity, consent, cart }
   * @param {string} [o.collector] where the app delivers `batch` messages (`{collector}/v1/batch`)
   */
  constructor({ platform, state = {}, collector = null }) {
    if (!BRIDGES[platform]) throw new Error(`unknown platform ${platform}`);
    this.platform = platform;
    this.state = { ...state };
    this.collector = collector;
    this.messages = [];
    this.delivered = 0;
  }

  /** Opens a web view on `url` in `context` (one context = one web view data store). */
  async openWebView(context, url) {
    if (!context.__omnitrailShell) {
      context.__omnitrailShell = true;
      await context.exposeBinding("__nativePost", (_source, json) => this.receive(json));
    }
    const page = await context.newPage();
    page.logs = [];
    page.on("console", (m) => page.logs.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => page.logs.push(`pageerror: ${e.message}`));
    // Injected at document start, as WKUserScript(.atDocumentStart) / addDocumentStartJavaScript do.
    await page.addInitScript(`(() => {
      const post = (json) => { window.__nativePost(json); };
      ${BRIDGES[this.platform]}
      window.omnitrailNative = ${JSON.stringify(this.native())};
    })();`);
    await page.goto(url);
    await page.evaluate(() => window.omnitrail.ready);
    return page;
  }

  /** `window.omnitrailNative` as the app would inject it now. */
  native() {
    const s = this.state;
    const n = {};
    for (const k of ["anonymousId", "userId", "sessionId", "lastActivity", "consent", "cart"]) if (s[k] != null) n[k] = s[k];
    return n;
  }

  /** A message from a web view (what the platform's message handler receives). */
  async receive(json) {
    const m = JSON.parse(json);
    this.messages.push(m);
    if (m.omnitrail !== 1) return;
    switch (m.type) {
      case "identity": Object.assign(this.state, { anonymousId: m.anonymousId, userId: m.userId }); break;
      case "session": Object.assign(this.state, { sessionId: m.sessionId, lastActivity: m.lastActivity }); break;
      case "consent": this.state.consent = m.preferences; break;
      case "cart": this.state.cart = m.state; break;
      case "batch":
        if (this.collector) {
          const r = await fetch(`${this.collector}/v1/batch`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(m.body) });
          if (r.ok) this.delivered += m.body.batch.length;
        }
        break;
    }
  }

  /** The app calls `window.omnitrailReceive(json)` in a web view; resolves what it returned. */
  send(page, message) {
    return page.evaluate((json) => window.omnitrailReceive(json), JSON.stringify({ omnitrail: 1, ...message }));
  }

  /** Messages of a type received so far. */
  of(type) {
    return this.messages.filter((m) => m.type === type);
  }
}
