declare global {
  namespace Cloudflare {
    /** Types `exports.default` of "cloudflare:workers" as the Worker under test. */
    interface GlobalProps {
      mainModule: typeof import("../functions/index.ts");
    }
  }
}

export {};
