// Drives the browser example (/examples/browser/) in headless Chromium: a participant
// connects and waits; a host connects and distributes; the participant's page
// must show its token. Prints one JSON line with what the pages showed.
//
//   TOKEN_SERVER_URL=http://localhost:3000 node browser-check.js
// CHROMIUM: the browser binary (default /usr/bin/chromium). Uses playwright-core,
// which downloads no browser of its own.
import { chromium } from "playwright-core";

const url = process.env.TOKEN_SERVER_URL || process.env.SERVER_URL || `http://localhost:${process.env.PORT || 3000}`;
const shot = process.env.SCREENSHOT;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const participant = await browser.newPage();
  const host = await browser.newPage();
  const errors = [];
  for (const p of [participant, host]) p.on("pageerror", (e) => errors.push(String(e)));

  await participant.goto(`${url}/examples/browser/`);
  await participant.click("#p-connect");
  await participant.waitForFunction(() => document.getElementById("p-status").value.startsWith("connected as"), null, { timeout: 15000 });

  await host.goto(`${url}/examples/browser/`);
  await host.click("#h-connect");
  await host.waitForFunction(() => !document.getElementById("h-distribute").disabled, null, { timeout: 15000 });
  await host.click("#h-distribute");
  await host.waitForFunction(() => document.getElementById("h-result").textContent.length > 0, null, { timeout: 15000 });
  await participant.waitForSelector("#p-tokens li", { timeout: 15000 });

  const result = JSON.parse(await host.textContent("#h-result"));
  const tokens = await participant.$$eval("#p-tokens li", (lis) => lis.map((li) => li.textContent));
  if (shot) await participant.screenshot({ path: shot, fullPage: true });
  console.log(JSON.stringify({ ok: true, distributed: result, participantTokens: tokens, errors }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, error: String(err) }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
