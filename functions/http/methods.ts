/** RFC 9110's safe methods: they only read. Every other method the API serves may change state. */
const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"]);

/** True for a request that may change state (POST, PUT, PATCH, DELETE). */
export function isWriteMethod(method: string): boolean {
  return !SAFE_METHODS.has(method);
}
