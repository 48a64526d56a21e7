/* global Scalar, document -- Scalar: defined by api-reference.js, loaded before this file */
// Boots the API reference on /docs. A file rather than an inline script, so the page's CSP can allow
// scripts from its own origin only. No default fonts (they come from a CDN) and no telemetry: the
// page makes no request beyond this origin.
// The document's URL comes from the page (data-url), so this file holds no address of its own.
Scalar.createApiReference("#app", {
  url: document.getElementById("app").dataset.url,
  withDefaultFonts: false,
  telemetry: false,
  // Every operation listed at once: the page is the whole contract, searchable with the browser's find.
  defaultOpenAllTags: true,
});
