import { AnalyticsBrowser } from "@segment/analytics-next";
import { ready, SINK, WRITE_KEY } from "./common.js";
// Settings are given inline (no fetch from Segment's CDN); the Segment.io destination is
// pointed at the proxy in front of the reference collector. Default delivery (one request per
// event to {apiHost}/t, /p, …; the proxy maps them to /v1/track, /v1/page, …).
const [analytics] = await AnalyticsBrowser.load({
  writeKey: WRITE_KEY,
  cdnSettings: {
    integrations: {
      "Segment.io": { apiKey: WRITE_KEY, apiHost: SINK.replace(/^https?:\/\//, "") + "/v1", protocol: "http" },
    },
  },
});
ready("segment", (e, p) => analytics.track(e, p));
