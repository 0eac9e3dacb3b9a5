// Shared by every SDK entry: marks the moment the SDK is ready to take calls.
export function ready(name, track) {
  window.__track = track;
  window.__bench = { sdk: name, readyAt: performance.now() };
}
export const SINK = window.BENCH.sink; // counting sink / proxy (127.0.0.1, another port)
export const WRITE_KEY = "bench";
