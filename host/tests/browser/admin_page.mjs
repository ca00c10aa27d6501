// Drives the admin page in headless Chromium (Debian's) with playwright-core:
// it loads, asks for the token, lists the plugins and a recent request,
// shows the failed delivery, and a Replay (by keyboard) gets it delivered.
//
//   node admin_page.mjs ADMIN_URL TOKEN DEAD_DELIVERY_ID REQUEST_ID SCREENSHOT
import { chromium } from "playwright-core";

const [admin, token, deadId, requestId, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // As root in a container Chromium's sandbox cannot start.
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
try {
  // A phone's viewport: the page must be readable there.
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  const problems = [];
  page.on("pageerror", (e) => problems.push(e.message));
  page.on("requestfailed", (r) => problems.push("failed: " + r.url()));
  await page.goto(admin + "/");

  // The API needs the token: the page asks for it.
  const field = page.getByLabel("Admin token");
  await field.waitFor({ timeout: 10000 });
  await field.fill(token);
  await page.getByRole("button", { name: "Use token" }).click();
  await page.waitForSelector("body[data-loaded=true]", { timeout: 10000 });

  for (const plugin of ["echo-bot", "flaky"]) {
    await page.locator("#plugins-rows tr", { hasText: plugin }).first().waitFor({ timeout: 10000 });
  }
  await page.locator("#requests-rows tr", { hasText: requestId }).waitFor({ timeout: 10000 });

  const row = page.locator(`#deliveries-rows tr[data-id="${deadId}"]`);
  await row.locator("td.state-dead").waitFor({ timeout: 10000 });
  const text = await row.innerText();
  if (!text.includes("boom")) throw new Error("the dead delivery's error is not shown: " + text);

  // By keyboard: focus the button and press Enter.
  const replay = row.getByRole("button", { name: "Replay delivery " + deadId });
  await replay.focus();
  await page.keyboard.press("Enter");
  await page
    .locator(`#deliveries-rows tr[data-id="${deadId}"] td.state-done`)
    .waitFor({ timeout: 20000 });
  // Nothing wider than the phone's screen but the tables' own scroll boxes.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) throw new Error("the page is " + overflow + " px wider than a phone");
  await page.screenshot({ path: screenshot, fullPage: true });
  if (problems.length) throw new Error("page problems: " + problems.join("; "));
  console.log("admin page: loaded, listed, replayed");
} finally {
  await browser.close();
}
