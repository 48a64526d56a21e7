import type { IncomingMessage } from "node:http";

/**
 * The local database stand-ins listen on loopback, which every web page open in the developer's
 * browser can also reach: a page could open the bridge's WebSocket or POST SQL to the /sql endpoint.
 * Browsers always send `Origin` on those requests; the Worker's own calls (workerd's fetch and
 * WebSocket) never do. So any request with an Origin is a web page's, and is refused.
 */
export function fromBrowser(req: IncomingMessage): boolean {
  return req.headers.origin !== undefined;
}
