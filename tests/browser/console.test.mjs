// The relay's admin console in a real browser (Debian's Chromium driven by
// playwright-core). Run by scripts/test.d/55-console.sh, which starts the
// relay, syncs two devices with the real CLI and passes in:
//   RELAY_URL, ADMIN_TOKEN, LICENSE_ID, KEEP_ID, REVOKE_ID, REVOKE_NAME,
//   PLAINTEXTS (JSON array of the synced records' plaintext), ARTIFACTS.
// Prints one "ok"/"FAIL" line per check; exits 1 on any failure.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const RELAY = env('RELAY_URL');
const TOKEN = env('ADMIN_TOKEN');
const LICENSE = env('LICENSE_ID');
const KEEP = env('KEEP_ID');
const REVOKE = env('REVOKE_ID');
const REVOKE_NAME = env('REVOKE_NAME');
const PLAINTEXTS = JSON.parse(env('PLAINTEXTS'));
const ARTIFACTS = env('ARTIFACTS');
mkdirSync(ARTIFACTS, { recursive: true });

// The flags /work/shared/toolchain.md lists for Chromium as root, offline.
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

let passed = 0;
let failed = 0;
function check(cond, what) {
  if (cond) { passed++; console.log(`  ok   ${what}`); } else { failed++; console.log(`  FAIL ${what}`); }
}

// Every console answer's body, to look for plaintext in afterwards.
const bodies = [];
const pending = [];
function record(page) {
  page.on('response', (r) => {
    pending.push(r.body()
      .then((b) => bodies.push({ url: r.url(), status: r.status(), body: b }))
      .catch(() => bodies.push({ url: r.url(), status: r.status(), body: Buffer.alloc(0) })));
  });
}

// A browser with a fresh profile directory of its own.
async function browser(options = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'azmx-console-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: '/usr/bin/chromium', headless: true, args: ARGS, ...options,
  });
  return { ctx, close: async () => { await ctx.close(); rmSync(dir, { recursive: true, force: true }); } };
}

async function signIn(page, token) {
  await page.goto(`${RELAY}/admin/`);
  await page.getByLabel('Admin token').fill(token);
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/admin/login') && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  await page.waitForLoadState();
  return resp;
}

async function deviceRows(page) {
  return page.locator('#device-table tbody tr').allInnerTexts();
}

const main = async () => {
  const { ctx, close } = await browser({ viewport: { width: 1280, height: 900 } });
  const page = ctx.pages()[0] ?? await ctx.newPage();
  record(page);

  // 1. Signed out, the console asks for the token; a wrong one is refused.
  const wrong = await signIn(page, 'definitely-not-the-token');
  check(wrong.status() === 401, `wrong token refused (${wrong.status()})`);
  check(await page.getByText('Wrong admin token').isVisible(), 'the page says the token was wrong');
  check((await ctx.cookies()).length === 0, 'no cookie after a wrong token');

  // 2. Sign in: the cookie is HttpOnly, SameSite=Strict, only for /admin.
  const ok = await signIn(page, TOKEN);
  check(ok.status() === 303, `right token accepted (${ok.status()})`);
  const cookie = (await ctx.cookies()).find((c) => c.name === 'azmx_console');
  check(cookie && cookie.httpOnly && cookie.sameSite === 'Strict' && cookie.path === '/admin',
    'session cookie HttpOnly, SameSite=Strict, Path=/admin');
  check(await page.getByRole('heading', { name: 'Licenses' }).isVisible(), 'licenses page after sign-in');
  const home = await page.locator('table').innerText();
  check(home.includes(LICENSE), 'the license is listed');

  // 3. The license page shows both devices of the real sync.
  await page.getByRole('link', { name: LICENSE }).click();
  await page.waitForLoadState();
  let rows = await deviceRows(page);
  check(rows.length === 2, `two devices listed (${rows.length})`);
  check(rows.some((r) => r.includes(KEEP)) && rows.some((r) => r.includes(REVOKE)), 'both device ids shown');
  check(rows.every((r) => /Active/.test(r)), 'both active before the revoke');
  check(rows.every((r) => /\b[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}\b/.test(r)), 'fingerprints shown');
  check(await page.locator('svg.chart').count() === 2, 'the activity chart is drawn');
  const t = page.locator('#device-table time').first();
  check(/Z$/.test(await t.getAttribute('datetime') ?? '') && /UTC$/.test(await t.getAttribute('title') ?? ''),
    'relative times carry the UTC time');

  // Sorting is server-side: by name, then the other way.
  await page.getByRole('link', { name: /^Name/ }).click();
  await page.waitForLoadState();
  const asc = await deviceRows(page);
  await page.getByRole('link', { name: /^Name/ }).click();
  await page.waitForLoadState();
  const desc = await deviceRows(page);
  check(page.url().includes('sort=-name') && asc[0] === desc[1] && asc[1] === desc[0], 'sort by name both ways');

  // 4. Revoke one device through the confirmation step.
  await page.locator(`a[href$="/devices/${REVOKE}/revoke"]`).click();
  await page.waitForLoadState();
  check(await page.getByRole('heading', { name: 'Revoke a device' }).isVisible(), 'confirmation page first');
  await page.getByRole('button', { name: `Revoke ${REVOKE_NAME}` }).click();
  await page.waitForLoadState();
  rows = await deviceRows(page);
  const revokedRow = rows.find((r) => r.includes(REVOKE)) ?? '';
  const keptRow = rows.find((r) => r.includes(KEEP)) ?? '';
  check(/Revoked/.test(revokedRow) && /Active/.test(keptRow), 'the revoked device shows Revoked, the other Active');

  // 5. The device table, as an artifact.
  const shot = join(ARTIFACTS, 'console-devices.png');
  await page.locator('#device-table').screenshot({ path: shot });
  await page.screenshot({ path: join(ARTIFACTS, 'console-license.png'), fullPage: true });
  check(true, `screenshot ${shot}`);

  // 6. Readable on a phone: nothing wider than the screen but the table's scroller.
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `no page-wide horizontal scroll on a phone (${overflow}px)`);

  await Promise.all(pending);
  await close();

  // 7. JavaScript off: sign in and read the device table all the same.
  const nojs = await browser({ javaScriptEnabled: false });
  const p2 = nojs.ctx.pages()[0] ?? await nojs.ctx.newPage();
  record(p2);
  await signIn(p2, TOKEN);
  await p2.goto(`${RELAY}/admin/licenses/${encodeURIComponent(LICENSE)}`);
  const rows2 = await deviceRows(p2);
  check(rows2.length === 2 && rows2.some((r) => r.includes(REVOKE) && /Revoked/.test(r)),
    'without JavaScript the device table reads the same');
  await Promise.all(pending);
  await nojs.close();

  // 8. No console answer carries any synced record's plaintext.
  const consoleBodies = bodies.filter((b) => new URL(b.url).pathname.startsWith('/admin'));
  const leaks = [];
  for (const b of consoleBodies) {
    const text = b.body.toString('utf8');
    for (const p of PLAINTEXTS) if (text.includes(p)) leaks.push(`${b.url}: ${p}`);
  }
  check(consoleBodies.length >= 10, `recorded ${consoleBodies.length} console responses`);
  check(leaks.length === 0, `no plaintext in any console response (${PLAINTEXTS.length} records checked)${leaks.length ? ': ' + leaks.join(', ') : ''}`);
};

try {
  await main();
} catch (e) {
  failed++;
  console.log(`  FAIL ${e.stack ?? e}`);
}
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
