// The inline snippet (script-tag users paste its minified form, js/dist/snippet.min.js, into
// their page). It defines window.omnitrail as a stub that queues every call with its
// arguments and time, loads the SDK as a module, and exposes `ready`, a promise of the real
// API. If the SDK never loads, calls keep queueing (bounded) and nothing throws.
// Configure it by editing the object passed at the end.
(function (w, d, config) {
  var o = w.omnitrail = w.omnitrail || {};
  if (o._q) return;
  o._q = [];
  o.config = config;
  o.ready = new Promise(function (r) { o._ready = r; });
  "track page screen identify group alias reset flush setAnonymousId setConsent".split(" ").forEach(function (m) {
    o[m] = function () {
      if (o._q.length < 1000) o._q.push([m, [].slice.call(arguments), Date.now()]);
    };
  });
  o.consent = { set: o.setConsent };
  var s = d.createElement("script");
  s.type = "module";
  s.src = config.src;
  d.head.appendChild(s);
})(window, document, window.OMNITRAIL_CONFIG || {});
