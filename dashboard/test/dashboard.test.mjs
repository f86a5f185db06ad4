#!/usr/bin/env node
// Browser test of the payouts dashboard (issue 15 item 3), run by tests/e2e/tests/dashboard.rs
// against the real subgraphs, router and Stripe sandbox: headless Chromium (Debian's `chromium`)
// driven by playwright-core. A new Malet signs in (development login), onboards in the sandbox,
// receives a sale, sees the KPIs and the table row (the worked example: gross 100.00, commission
// 8.00, fee 3.20, reserve 8.88, net 79.92), changes its payout schedule, and another owner's
// token, a bad token and a dead network each get a message and none of the Malet's numbers.
//
// Environment: ROUTER_URL, SANDBOX_URL, ORDER_SERVICE_TOKEN (may create the sale's payment),
// ADMIN_TOKEN (a platform admin: suspends the account at the end), CHROMIUM (the browser
// executable), MALET, OTHER_MALET and REFRESH_MALET (Malet ids never used before),
// SCREENSHOT_DIR (optional: where the dashboard's screenshots are written).

import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium } from 'playwright-core';

const env = process.env;
const need = (name) => env[name] || fail(`${name} is not set`);
function fail(message) {
  throw new Error(message);
}
const router = need('ROUTER_URL').replace(/\/$/, '');
const sandbox = need('SANDBOX_URL').replace(/\/$/, '');
const orderToken = need('ORDER_SERVICE_TOKEN');
const adminToken = need('ADMIN_TOKEN');
const malet = need('MALET');
const other = need('OTHER_MALET');
const refreshMalet = need('REFRESH_MALET');
const shots = env.SCREENSHOT_DIR ? resolve(env.SCREENSHOT_DIR) : null;
if (shots) mkdirSync(shots, { recursive: true });
const dashboardUrl = (m) => `${router}/${encodeURIComponent(m)}/manage/payouts`;

let step = 'start';
const log = (message) => console.log(`[dashboard test] ${message}`);
const at = (name) => {
  step = name;
  log(name);
};

function assertEq(actual, expected, what) {
  if (actual !== expected) fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

async function text(page, selector) {
  return (await page.locator(selector).first().innerText({ timeout: 10_000 })).trim();
}

/** Reloads until `probe` is true (the ledger reaches the balances through webhooks and the outbox). */
async function until(page, what, probe, timeoutMs = 45_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) fail(`timed out waiting until ${what}`);
    await page.waitForTimeout(1000);
    await page.reload();
  }
}

async function gqlRaw(token, query, variables = {}) {
  const res = await fetch(`${router}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return res.json();
}

async function gql(token, query, variables = {}) {
  const body = await gqlRaw(token, query, variables);
  if (body.errors) fail(`GraphQL error: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** A sale of `gross` for `malet`, paid in the sandbox; returns the order id. */
async function sell(order, gross) {
  const checkout = await gql(
    orderToken,
    'mutation ($input: OrderInput!) { createMurchasePayment(input: $input) { paymentIntentId } }',
    { input: { orderId: order, maletId: malet, grossAmount: gross } },
  );
  const pi = checkout.createMurchasePayment.paymentIntentId;
  const paid = await fetch(`${sandbox}/sandbox/payment_intents/${pi}/succeed`, { method: 'POST' });
  assertEq(paid.status, 200, 'sandbox payment');
  return order;
}

async function mintOwnerToken(maletId) {
  const res = await fetch(`${router}/dev/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ maletId }),
  });
  if (!res.ok) fail(`POST /dev/login answered ${res.status}`);
  return (await res.json()).token;
}

async function shot(page, name, selector) {
  if (!shots) return;
  const path = resolve(shots, `${name}.png`);
  if (selector) await page.locator(selector).screenshot({ path });
  else await page.screenshot({ path, fullPage: true });
}

const browser = await chromium.launch({ executablePath: need('CHROMIUM'), args: ['--no-sandbox'] });
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => log(`page error: ${e.message}`));

  at('a new Malet signs in with the development login');
  await page.goto(dashboardUrl(malet));
  await page.getByTestId('dev-login').click();

  at('no account yet: the onboarding call to action');
  await page.getByTestId('onboarding-cta').waitFor();
  await shot(page, 'onboarding', '[data-testid="onboarding-cta"]');
  await page.getByTestId('start-onboarding').click();

  at('the sandbox onboarding page, then back to the dashboard');
  await page.waitForURL((u) => u.toString().startsWith(sandbox));
  await page.getByRole('button', { name: 'Complete onboarding' }).click();
  await page.locator('#return').click();
  await page.waitForURL((u) => u.toString().startsWith(dashboardUrl(malet)));
  // account.updated reaches payments; the page waits for it and shows the dashboard.
  await page.getByTestId(`kpi-total-earnings-USD`).waitFor({ timeout: 30_000 });
  assertEq(await text(page, '[data-testid="kpi-total-earnings-USD"] .kpi-value'), '$0.00', 'total earnings before any sale');
  assertEq(await text(page, '[data-testid="no-entries"]'), 'No sales yet: every paid order appears here with its split.', 'empty table');

  at('a sale of 100.00 is paid in the sandbox');
  const order = await sell('ord-first', 10000);

  at('the KPIs and the table row show the worked example');
  await until(page, 'the pending balance is $79.92', async () => (await text(page, '[data-testid="kpi-pending-USD"] .kpi-value')) === '$79.92');
  assertEq(await text(page, '[data-testid="kpi-total-earnings-USD"] .kpi-value'), '$88.80', 'total earnings');
  assertEq(await text(page, '[data-testid="kpi-reserve-USD"] .kpi-value'), '$8.88', 'reserve balance');
  assertEq(await text(page, '[data-testid="kpi-rate-USD"] .kpi-value'), '8%', 'commission rate');
  const row = page.locator(`[data-testid="entry"][data-order="${order}"]`);
  await row.waitFor();
  assertEq(await page.locator('[data-testid="entry"]').count(), 1, 'table rows');
  const cell = async (col) => (await row.locator(`[data-col="${col}"]`).innerText()).trim();
  assertEq(await cell('gross'), '$100.00', 'gross');
  assertEq(await cell('rate'), '8%', 'rate');
  assertEq(await cell('commission'), '$8.00', 'commission');
  assertEq(await cell('fee'), '$3.20', 'processing fee');
  assertEq(await cell('reserve'), '$8.88', 'reserve');
  assertEq(await cell('net'), '$79.92', 'net');
  assertEq(await cell('refunded'), '—', 'refunded');
  assertEq((await row.getByTestId('status').innerText()).trim(), 'Pending', 'status pill');
  await row.getByTestId('toggle-details').click();
  const details = page.getByTestId('entry-details').first();
  await details.waitFor();
  const breakdown = await details.innerText();
  for (const expected of ['Platform commission', '$8.00', 'Processing fee', '$3.20', 'Reserve held', '$8.88', 'You (net)', '$79.92']) {
    if (!breakdown.includes(expected)) fail(`the breakdown lacks ${expected}: ${breakdown}`);
  }
  if ((await text(page, '[data-testid="chart-total"]')).endsWith('$88.80 earned') === false) {
    fail(`chart total: ${await text(page, '[data-testid="chart-total"]')}`);
  }
  assertEq(await page.locator('[data-testid="earnings-chart"] rect.bar').count(), 1, 'chart bars (one day of sales)');
  await shot(page, 'dashboard');

  at('the payout schedule: a validation message, then weekly on Friday');
  await page.getByTestId('interval').selectOption('MONTHLY');
  await page.getByTestId('day-of-month').fill('40');
  await page.getByTestId('save-schedule').click();
  assertEq(await text(page, '[data-testid="schedule-message"]'), 'The day of the month must be between 1 and 31.', 'validation message');
  await page.getByTestId('interval').selectOption('WEEKLY');
  await page.getByTestId('day-of-week').selectOption('5');
  await page.getByTestId('save-schedule').click();
  await page.getByText('Saved: Weekly, on Friday.').waitFor();
  await page.reload();
  assertEq(await text(page, '[data-testid="current-schedule"]'), 'Current schedule: Weekly, on Friday', 'saved schedule');
  const next = await text(page, '[data-testid="kpi-next-payout-USD"] .kpi-value');
  const nextDay = new Date(`${next} UTC`);
  if (Number.isNaN(nextDay.getTime()) || nextDay.getUTCDay() !== 5) fail(`the next payout (${next}) is not a Friday`);
  await shot(page, 'settings', 'section[aria-label="Payout settings"]');

  at('the table pages through eleven sales, ten at a time');
  for (let i = 2; i <= 11; i++) await sell(`ord-${String(i).padStart(2, '0')}`, 10000);
  await until(page, 'the table counts 11 sales', async () => (await text(page, '[data-testid="page-info"]')) === 'Page 1 of 2 · 11 sales');
  assertEq(await page.locator('[data-testid="entry"]').count(), 10, 'rows on the first page');
  assertEq(await page.locator(`[data-testid="entry"][data-order="${order}"]`).count(), 0, 'the oldest sale is on page 2');
  await page.getByTestId('next-page').click();
  await page.getByText('Page 2 of 2 · 11 sales').waitFor();
  assertEq(await page.locator('[data-testid="entry"]').count(), 1, 'rows on the second page');
  assertEq(await page.locator(`[data-testid="entry"][data-order="${order}"]`).count(), 1, 'the oldest sale');
  await page.getByTestId('prev-page').click();
  await page.getByText('Page 1 of 2 · 11 sales').waitFor();

  at('another owner sees nothing of it');
  const otherToken = await mintOwnerToken(other);
  const outsider = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const otherPage = await outsider.newPage();
  await otherPage.goto(`${dashboardUrl(malet)}#token=${otherToken}`);
  await otherPage.locator('[data-testid="error"][data-code="FORBIDDEN"]').waitFor();
  const seen = await otherPage.locator('body').innerText();
  for (const secret of ['79.92', '88.80', '8.88', order]) {
    if (seen.includes(secret)) fail(`another owner's page shows ${secret}`);
  }
  assertEq(await otherPage.locator('[data-testid="entry"], [data-testid^="kpi-"]').count(), 0, 'rows and KPIs for another owner');
  await shot(otherPage, 'forbidden', '[data-testid="error"]');
  // Every query the dashboard makes is refused to it, not only the first.
  for (const query of [
    'query ($m: ID!) { commissionLedger(maletId: $m) { id } }',
    'query ($m: ID!) { commissionLedgerCount(maletId: $m) }',
    'query ($m: ID!) { earningsSummary(maletId: $m) { totalGross } }',
    'query ($m: ID!) { previewCommission(input: { maletId: $m, grossAmount: 10000 }) { commissionRateDecimal } }',
    'query ($m: ID!) { payoutStatement(maletId: $m, from: "2026-01-01T00:00:00Z", to: "2026-12-31T00:00:00Z") { lineCount } }',
    'query ($m: ID!) { connectedAccount(maletId: $m) { id } }',
  ]) {
    const r = await gqlRaw(otherToken, query, { m: malet });
    assertEq(r.errors?.[0]?.extensions?.code, 'FORBIDDEN', query);
    if (JSON.stringify(r.data ?? null).match(/\d{3,}|ord-/)) fail(`${query} leaked ${JSON.stringify(r.data)}`);
  }
  // Its own dashboard is its own: a new Malet's onboarding, nothing of the other's.
  await otherPage.evaluate(() => sessionStorage.clear());
  await otherPage.goto(`${dashboardUrl(other)}#token=${otherToken}`);
  await otherPage.getByTestId('onboarding-cta').waitFor();
  if ((await otherPage.locator('body').innerText()).includes('79.92')) fail("the other owner's own page shows the Malet's numbers");

  at('an expired onboarding link sends the seller back through the dashboard to a new one');
  const fresh = await (await browser.newContext()).newPage();
  await fresh.goto(`${dashboardUrl(refreshMalet)}#token=${await mintOwnerToken(refreshMalet)}`);
  await fresh.getByTestId('start-onboarding').click();
  await fresh.waitForURL((u) => u.toString().startsWith(sandbox));
  const firstLink = fresh.url();
  await fresh.goto(`${dashboardUrl(refreshMalet)}?onboarding=refresh`);
  await fresh.waitForURL((u) => u.toString().startsWith(sandbox) && u.toString() !== firstLink);
  await fresh.goto(dashboardUrl(refreshMalet));
  await fresh.getByTestId('onboarding-continue').waitFor();

  at('a bad token and an unreachable API are explained');
  const bad = await (await browser.newContext()).newPage();
  await bad.goto(`${dashboardUrl(malet)}#token=not-a-token`);
  await bad.locator('[data-testid="error"][data-code="UNAUTHENTICATED"]').waitFor();
  const offline = await browser.newContext();
  await offline.route('**/graphql', (route) => route.abort('connectionrefused'));
  const down = await offline.newPage();
  await down.goto(`${dashboardUrl(malet)}#token=${await mintOwnerToken(malet)}`);
  await down.locator('[data-testid="error"][data-code="NETWORK"]').waitFor();

  at('a suspended account: the reason, and the dashboard still readable');
  const account = await gql(adminToken, 'query ($m: ID!) { connectedAccount(maletId: $m) { id } }', { m: malet });
  await gql(adminToken, 'mutation ($id: ID!) { suspendConnectedAccount(connectedAccountId: $id, reason: "identity check") { status } }', {
    id: account.connectedAccount.id,
  });
  await page.reload();
  await page.getByTestId('account-suspended').waitFor();
  if (!(await text(page, '[data-testid="account-suspended"]')).includes('Reason: identity check')) fail('the suspension reason is not shown');
  assertEq(await text(page, '[data-testid="kpi-reserve-USD"] .kpi-value'), '$97.68', 'reserve of eleven sales, still shown');
  log('passed');
} catch (e) {
  console.error(`[dashboard test] FAILED at "${step}": ${e.stack ?? e}`);
  for (const context of browser.contexts()) {
    for (const p of context.pages()) console.error(`[dashboard test] open page ${p.url()}:\n${await p.locator('body').innerText().catch(() => '?')}`);
  }
  process.exitCode = 1;
} finally {
  await browser.close();
}
