// Drives the browser example's bot (/examples/browser/, section "Bot") in headless Chromium: it joins a meeting on behalf of
// a user with the OBF and SDK bundle it receives. Prints one JSON line when the page shows a refused join
// ({event:"refused"}), and one when it shows a successful join ({event:"joined"}); whoever runs it puts the user
// in the meeting in between, or, with ADMIT=button, the page's own "Put the user in the meeting (sandbox)" button
// does. Any failure prints {event:"fatal"}.
//
//   TOKEN_SERVER_URL=http://localhost:3000 USER_ID=pat@example.com MEETING_ID=85746065432 node join-check.js
// CHROMIUM: the browser binary (default /usr/bin/chromium). Uses playwright-core, which downloads no browser.
import { chromium } from "playwright-core";

const url = process.env.TOKEN_SERVER_URL || process.env.SERVER_URL || `http://localhost:${process.env.PORT || 3000}`;
const say = (obj) => console.log(JSON.stringify(obj));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${url}/examples/browser/`);
  await page.fill("#b-user", process.env.USER_ID ?? "participant@example.com");
  await page.fill("#b-meeting", process.env.MEETING_ID ?? "85746065432");
  await page.fill("#b-every", process.env.JOIN_EVERY_S ?? "0.2");
  await page.click("#b-join");
  const shown = async () => ({
    status: await page.$eval("#b-status", (o) => o.value),
    log: await page.$$eval("#b-log li", (lis) => lis.map((li) => `${li.className}: ${li.textContent}`)),
  });
  await page.waitForSelector("#b-log li.refused", { timeout: 30000 });
  say({ event: "refused", ...(await shown()) });
  if (process.env.ADMIT === "button") {
    await page.click("#b-admit");
  }
  await page.waitForSelector("#b-log li.joined", { timeout: 60000 });
  say({ event: "joined", ...(await shown()), errors });
} catch (err) {
  say({ event: "fatal", message: String(err) });
  process.exitCode = 1;
} finally {
  await browser.close();
}
