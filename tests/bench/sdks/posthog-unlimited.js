import posthog from "posthog-js";
import { ready, SINK } from "./common.js";
// As posthog.js, with the client-side rate limit raised so that the whole burst is captured.
posthog.init("phc_bench", {
  api_host: SINK + "/ph",
  opt_out_useragent_filter: true,
  rate_limiting: { events_per_second: 100000, events_burst_limit: 100000 },
  loaded: (ph) => ready("posthog-unlimited", (e, p) => ph.capture(e, p)),
});
