import { AnalyticsBrowser } from "@segment/analytics-next";
import { ready, SINK, WRITE_KEY } from "./common.js";
// Settings are given inline (no fetch from the Segment CDN); the Segment.io destination is
// pointed at the proxy in front of the reference collector, batching on (POST {apiHost}/b).
const [analytics] = await AnalyticsBrowser.load({
  writeKey: WRITE_KEY,
  cdnSettings: {
    integrations: {
      "Segment.io": {
        apiKey: WRITE_KEY, apiHost: SINK.replace(/^https?:\/\//, "") + "/v1", protocol: "http",
        deliveryStrategy: { strategy: "batching", config: { size: 100, timeout: 1000 } },
      },
    },
  },
});
ready("segment", (e, p) => analytics.track(e, p));
