import posthog from "posthog-js";
import { ready, SINK } from "./common.js";
// api_host = the sink; the bot filter (HeadlessChrome) is off; defaults otherwise, including
// the client-side rate limit (10 events/s, burst 100: the rest of a burst is dropped in the page).
posthog.init("phc_bench", {
  api_host: SINK + "/ph",
  opt_out_useragent_filter: true,
  loaded: (ph) => ready("posthog", (e, p) => ph.capture(e, p)),
});
