import posthog from "posthog-js";
import { ready, SINK } from "./common.js";
// api_host = the sink. The client-side rate limit (default 10/s, burst 100) is raised so the
// 10,000-event burst is not dropped in the page; the bot filter (HeadlessChrome) is off.
posthog.init("phc_bench", {
  api_host: SINK + "/ph",
  rate_limiting: { events_per_second: 100000, events_burst_limit: 100000 },
  opt_out_useragent_filter: true,
  loaded: (ph) => ready("posthog", (e, p) => ph.capture(e, p)),
});
