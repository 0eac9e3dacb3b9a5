import { RudderAnalytics } from "@rudderstack/analytics-js/bundled";
import { ready, SINK, WRITE_KEY } from "./common.js";
// The bundled export (plugins inside the bundle: the default export loads them from
// RudderStack's CDN). Source config from the sink (configUrl), events to the proxy in front of
// the reference collector (dataPlaneUrl), XhrQueue batching on (POST /v1/batch).
const rs = new RudderAnalytics();
rs.load(WRITE_KEY, SINK, {
  configUrl: SINK + "/rs",
  plugins: ["XhrQueue"],
  queueOptions: { batch: { enabled: true, maxItems: 100, flushInterval: 1000 } },
  onLoaded: () => ready("rudderstack", (e, p) => rs.track(e, p)),
});
