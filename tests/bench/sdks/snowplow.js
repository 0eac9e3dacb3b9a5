import { newTracker, trackSelfDescribingEvent } from "@snowplow/browser-tracker";
import { ready, SINK } from "./common.js";
// POST (the default) to the sink's /com.snowplowanalytics.snowplow/tp2, defaults otherwise.
newTracker("sp", SINK, { appId: "bench" });
const schema = "iglu:com.omnitrail/bench/jsonschema/1-0-0";
ready("snowplow", (e, p) => trackSelfDescribingEvent({ event: { schema, data: { event: e, ...p } } }));
