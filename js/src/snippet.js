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
  function q(m) {
    return function () {
      if (o._q.length < 1000) o._q.push([m, [].slice.call(arguments), Date.now()]);
    };
  }
  "track page screen identify group alias reset flush setAnonymousId setConsent".split(" ").forEach(function (m) {
    o[m] = q(m);
  });
  o.consent = { set: o.setConsent };
  // cart.add(…) is queued as "cartAdd" (the wasm method's name).
  o.cart = {};
  "add remove setQuantity update applyCoupon removeCoupon setCurrency clear view checkout orderCompleted connect onChange".split(" ").forEach(function (m) {
    o.cart[m] = q("cart" + m[0].toUpperCase() + m.slice(1));
  });
  var s = d.createElement("script"), src = config.src;
  // Under Trusted Types (CSP `require-trusted-types-for 'script'`), a script URL must come
  // from a policy: allow `trusted-types omnitrail` in the site's CSP.
  if (w.trustedTypes && w.trustedTypes.createPolicy) {
    try { src = w.trustedTypes.createPolicy("omnitrail", { createScriptURL: function (u) { return u; } }).createScriptURL(src); } catch (e) { /* policy exists or is not allowed */ }
  }
  s.type = "module";
  s.src = src;
  d.head.appendChild(s);
})(window, document, window.OMNITRAIL_CONFIG || {});
