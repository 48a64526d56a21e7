import type { Context } from "hono";
import type { AppEnv } from "../env.ts";

/**
 * GET /docs: the API reference (Scalar) over /openapi.json. Both scripts are Workers static assets
 * under public/docs/assets/ (wrangler.toml [assets]): the reference at the version package.json pins,
 * and its boot script. Nothing comes from another origin, so the page renders offline and its CSP
 * (middleware/security-headers.ts) allows scripts from 'self' only.
 */
const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>clinic-edge API</title>
    <link rel="icon" href="data:," />
  </head>
  <body>
    <div id="app" data-url="/openapi.json"></div>
    <script src="/docs/assets/api-reference.js"></script>
    <script src="/docs/assets/init.js"></script>
  </body>
</html>
`;

export function docsPage(c: Context<AppEnv>): Response {
  return c.html(PAGE);
}
