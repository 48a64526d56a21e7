/**
 * Polls `probe` until it returns a value accepted by `done`, for at most `timeoutMs`; returns the
 * last value either way, so the caller's assertion shows what was seen. For effects that happen
 * just after a response (a backend exiting after Terminate), not for timing claims.
 */
export async function settle<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 2_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await probe();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    value = await probe();
  }
  return value;
}
