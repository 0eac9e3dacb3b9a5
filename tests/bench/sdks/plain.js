import { ready, SINK, WRITE_KEY } from "./common.js";
// The floor: a hand-written minimal tracker. Segment-spec messages, batches of up to 100 or
// every second, POST text/plain to {SINK}/v1/batch, no retry, no persistence; at pagehide what
// is queued leaves with sendBeacon (text/plain, no preflight), as the least a tracker does.
const aid = crypto.randomUUID();
let queue = [], timer = 0;
const body = (batch) => JSON.stringify({ batch, sentAt: new Date().toISOString(), writeKey: WRITE_KEY });
function send() {
  clearTimeout(timer); timer = 0;
  const batch = queue; queue = [];
  fetch(SINK + "/v1/batch", { method: "POST", keepalive: false, body: body(batch) }).catch(() => {});
}
addEventListener("pagehide", () => {
  if (!queue.length) return;
  clearTimeout(timer); timer = 0;
  navigator.sendBeacon(SINK + "/v1/batch", body(queue));
  queue = [];
});
function track(event, properties) {
  queue.push({ type: "track", event, properties, anonymousId: aid, messageId: crypto.randomUUID(),
    timestamp: new Date().toISOString() });
  if (queue.length >= 100) send(); else if (!timer) timer = setTimeout(send, 1000);
}
ready("plain", track);
