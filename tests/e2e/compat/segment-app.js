// A page using Segment's own browser SDK, @segment/analytics-next, unmodified, in batching
// mode, pointed at the reference collector (settings inline: nothing fetched from Segment).
import { AnalyticsBrowser } from "@segment/analytics-next";

const { writeKey, apiHost } = window.COMPAT;
const [analytics] = await AnalyticsBrowser.load({
  writeKey,
  cdnSettings: {
    integrations: {
      "Segment.io": {
        apiKey: writeKey,
        apiHost,
        protocol: "http",
        deliveryStrategy: { strategy: "batching", config: { size: 5, timeout: 300 } },
      },
    },
  },
});
window.segmentReady = Promise.resolve();
window.segment = analytics;
