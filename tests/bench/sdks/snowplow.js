import { newTracker, trackSelfDescribingEvent } from "@snowplow/browser-tracker";
import { ready, SINK } from "./common.js";
// POST to the sink's /com.snowplowanalytics.snowplow/tp2; bufferSize 100 = batching.
newTracker("sp", SINK, { appId: "bench", eventMethod: "post", bufferSize: 100 });
const schema = "iglu:com.omnitrail/bench/jsonschema/1-0-0";
ready("snowplow", (e, p) => trackSelfDescribingEvent({ event: { schema, data: { event: e, ...p } } }));
