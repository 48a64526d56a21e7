/**
 * A headless page that loads only what a test allows: any other request is refused and recorded,
 * and so is every console error and uncaught page error (a CSP violation is one).
 */
import type { Page } from "puppeteer-core";

export interface PageGuard {
  /** URLs the page asked for and was refused. */
  refused: string[];
  errors: string[];
}

export async function guardPage(page: Page, allowed: (url: string) => boolean): Promise<PageGuard> {
  const guard: PageGuard = { refused: [], errors: [] };
  await page.setRequestInterception(true);
  page.on("request", (request) => {
    if (allowed(request.url())) return void request.continue();
    guard.refused.push(request.url());
    void request.abort();
  });
  page.on("console", (message) => {
    if (message.type() === "error") guard.errors.push(message.text());
  });
  page.on("pageerror", (error) => guard.errors.push(String(error)));
  return guard;
}
