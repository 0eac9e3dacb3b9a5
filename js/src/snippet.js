// The inline snippet (script-tag users paste its minified form, js/dist/snippet.min.js, into
// their page). It defines window.omnitrail as a stub that queues every call with its
// arguments and time, loads the SDK as a module, and exposes `ready`, a promise of the real
// API. If the SDK never loads, calls keep queueing (bounded) and nothing throws. It uses no
// method of the page's Array/String prototypes (a host page may have broken them): strings
// and arguments are walked by index, and the queue is written by index.
// Configure it by editing the object passed at the end.
(function (w, d, config) {
  var o = w.omnitrail = w.omnitrail || {};
  if (o._q) return;
  o._q = [];
  o.config = config;
  o.ready = new Promise(function (r) { o._ready = r; });
  function q(m) {
    return function () {
      for (var a = [], i = 0; i < arguments.length; i++) a[i] = arguments[i];
      if (o._q.length < 1000) o._q[o._q.length] = [m, a, Date.now()];
    };
  }
  // f(word) for each space-separated word of s (no method of the page's String/Array
  // prototypes: a host page may have broken them).
  function each(s, f) {
    for (var i = 0, t = ""; i <= s.length; i++) {
      if (i < s.length && s[i] != " ") t += s[i];
      else if (t) f(t), t = "";
    }
  }
  each("track page screen identify group alias reset flush setAnonymousId", function (m) {
    o[m] = q(m);
  });
  // What answers is answered safely until `ready`: `flush()` is queued (undefined),
  // `anonymousId()`, `user()`, `stats()`, `consent.get()` and `cart.get()` are null,
  // `decorate(url)` is `url`, `cart.sync()` resolves false.
  function nil() { return null; }
  o.anonymousId = o.user = o.stats = nil;
  o.decorate = function (u) { return u; };
  // consent.set(…) is queued as "consentset", cart.add(…) as "cartadd": the namespace + the
  // name as is (src/names.rs, unqueue).
  function ns(n, names) {
    var x = o[n] = { get: nil };
    each(names, function (m) {
      x[m] = q(n + m);
    });
    return x;
  }
  ns("consent", "set onChange");
  ns("cart", "add remove setQuantity update applyCoupon removeCoupon setCurrency clear view checkout orderCompleted connect onChange").sync = function () { return Promise.resolve(false); };
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
