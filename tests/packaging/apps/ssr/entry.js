// Server-side rendering: the package is imported and used while rendering in Node.
import { Omnitrail } from "omnitrail";

export async function render() {
  const ot = await Omnitrail.load({ writeKey: "ssr", endpoint: "http://127.0.0.1:9" });
  ot.page();
  ot.track("Rendered On The Server");
  const flushed = await ot.flush();
  return { supported: Omnitrail.supported, flushed, role: ot.stats().role, user: ot.user() };
}
