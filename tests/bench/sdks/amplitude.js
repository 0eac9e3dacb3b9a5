import * as amplitude from "@amplitude/analytics-browser";
import { ready, SINK } from "./common.js";
// serverUrl = the sink; defaults otherwise (batches of flushQueueSize 30).
await amplitude.init("bench0000000000000000000000000000", undefined, { serverUrl: SINK + "/amp/2/httpapi" }).promise;
ready("amplitude", (e, p) => amplitude.track(e, p));
