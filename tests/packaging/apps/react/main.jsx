// A React app in StrictMode, written the way a newcomer would from "load it in an effect":
// StrictMode runs the effect twice, so `Omnitrail.load` runs twice in one page. The product
// route tracks as soon as the SDK is there; the test reads window.result.
import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { Omnitrail } from "omnitrail";

function useOmnitrail() {
  const [ot, setOt] = useState(null);
  useEffect(() => {
    let live = true;
    window.loads = (window.loads ?? 0) + 1;
    const { writeKey, endpoint } = window.OMNITRAIL_CONFIG;
    Omnitrail.load({ writeKey, endpoint, flushInterval: 100 }).then((x) => { if (live) setOt(x); });
    return () => { live = false; };
  }, []);
  return ot;
}

function Product({ ot }) {
  useEffect(() => {
    if (!ot) return;
    ot.identify("strict-user", { plan: "pro" });
    ot.track("Product Viewed", { product_id: "tee" });
    ot.track("Product Added", { product_id: "tee", quantity: 1 });
    ot.flush().then((flushed) => {
      window.result = { flushed, stats: ot.stats(), loads: window.loads,
        waiting: Object.keys(localStorage).filter((k) => k.startsWith("ot1.q.")) };
    });
  }, [ot]);
  return <p>{ot ? "tracking" : "loading"}</p>;
}

function App() {
  const ot = useOmnitrail();
  return <Product ot={ot} />;
}

createRoot(document.getElementById("root")).render(<StrictMode><App /></StrictMode>);
