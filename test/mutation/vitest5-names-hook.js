/** The load hook of vitest5-names.js: " > " between suite and test names in the runner's test ids. */
export async function load(url, context, nextLoad) {
  const result = await nextLoad(url, context);
  if (!url.endsWith("/@stryker-mutator/vitest-runner/dist/src/test-helpers.js")) return result;
  return { ...result, source: String(result.source).replace("nameParts.join(' ')", "nameParts.join(' > ')") };
}
