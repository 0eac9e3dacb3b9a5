import { RudderAnalytics } from "@rudderstack/analytics-js/bundled";
import { ready, SINK, WRITE_KEY } from "./common.js";
// The bundled export (plugins inside the bundle: the default export loads them from
// RudderStack's CDN). Source config from the sink (configUrl), events to the proxy in front of
// the reference collector (dataPlaneUrl); default delivery (XhrQueue, one request per event).
const rs = new RudderAnalytics();
rs.load(WRITE_KEY, SINK, {
  configUrl: SINK + "/rs",
  onLoaded: () => ready("rudderstack", (e, p) => rs.track(e, p)),
});
