/** A file's text, imported with Vite's `?raw` suffix (tests that hold code to documentation). */
declare module "*?raw" {
  const text: string;
  export default text;
}
