// The Malet Owner payouts dashboard at /<maletHandle>/manage/payouts (the handle is the Malet's
// id). It reads and writes only through the router's GraphQL with the owner's token, and renders
// the onboarding flow for a Malet whose payout account is missing or not ready, the full
// dashboard for an ACTIVE (or SUSPENDED) one, and every API failure as a message.

import {
  ACCOUNT_QUERY,
  type Account,
  ApiError,
  CREATE_ACCOUNT,
  type Entry,
  LEDGER_QUERY,
  OVERVIEW_QUERY,
  type PayoutSchedule,
  REFRESH_LINK,
  type StatementLine,
  SUMMARY_QUERY,
  type Summary,
  UPDATE_SCHEDULE,
  gql,
} from './api';
import { currentToken, devLogin, devLoginAvailable, signOut, takeTokenFromUrl } from './auth';
import { EarningsChart } from './components/chart';
import { CommissionTable, PAGE_SIZE } from './components/commissions';
import { StripeConnectOnboarding } from './components/onboarding';
import { type CurrencyOverview, PayoutOverview } from './components/overview';
import { PayoutSettings, scheduleText } from './components/settings';
import { h, mount } from './dom';

const CHART_DAYS = 90;

const CHART_QUERY = `query Chart($malet: ID!, $currency: String!, $from: DateTime!, $to: DateTime!) {
  payoutStatement(maletId: $malet, from: $from, to: $to, currency: $currency) { lines { at kind earningsDelta } }
}`;

const root = document.getElementById('app') as HTMLElement;
const params = new URLSearchParams(location.search);

/** The Malet id of the address (`''` when the address names none or is not valid UTF-8). */
function handleOf(pathname: string): string {
  const match = /^\/([^/]+)\/manage\/payouts\/?$/.exec(pathname);
  try {
    return match?.[1] ? decodeURIComponent(match[1]) : '';
  } catch {
    return '';
  }
}
const handle = handleOf(location.pathname);

/**
 * Each (re)load of the page is one generation; a load that a newer one replaced (sign out,
 * sign in, retry) renders nothing more, so an old owner's figures never land on a newer page.
 */
let generation = 0;
type Gen = number;
const current = (mine: Gen) => mine === generation;

function header(): HTMLElement {
  const token = currentToken();
  return h(
    'header',
    { class: 'top' },
    h('div', { class: 'brand' }, h('span', { class: 'logo' }, 'M'), 'Mallnline'),
    h('nav', { class: 'crumbs' }, h('span', {}, handle || '?'), ' / Manage / ', h('strong', {}, 'Payouts')),
    token ? h('button', { class: 'link', type: 'button', onclick: () => { signOut(); void start(); }, 'data-testid': 'sign-out' }, 'Sign out') : null,
  );
}

function page(mine: Gen, ...children: (Node | null)[]): void {
  if (current(mine)) mount(root, header(), h('main', { class: 'content' }, ...children));
}

const MESSAGES: Record<string, (e: ApiError) => string> = {
  UNAUTHENTICATED: () => 'Your session is missing, expired or not valid. Sign in again.',
  FORBIDDEN: () => `You are signed in, but not as an owner of “${handle}”: its payouts are not shown.`,
  NETWORK: (e) => e.message,
};

function errorView(err: unknown): HTMLElement {
  const e = err instanceof ApiError ? err : new ApiError('CLIENT', err instanceof Error ? err.message : String(err));
  const text = MESSAGES[e.code]?.(e) ?? `Something went wrong: ${e.message}`;
  const actions: HTMLElement[] = [];
  if (e.code === 'UNAUTHENTICATED' || e.code === 'FORBIDDEN') {
    actions.push(h('button', { type: 'button', class: 'primary', onclick: () => { signOut(); void start(); } }, 'Sign in as someone else'));
  } else {
    actions.push(h('button', { type: 'button', class: 'primary', onclick: () => void start() }, 'Try again'));
  }
  return h(
    'section',
    { class: 'notice error', role: 'alert', 'data-testid': 'error', 'data-code': e.code },
    h('h2', {}, e.code === 'FORBIDDEN' ? 'Not your payouts' : e.code === 'UNAUTHENTICATED' ? 'Please sign in' : e.code === 'NETWORK' ? 'Cannot reach Mallnline' : 'Something went wrong'),
    h('p', {}, text),
    h('p', { class: 'muted' }, `Error code: ${e.code}`),
    h('div', { class: 'actions' }, ...actions),
  );
}

async function signInView(mine: Gen): Promise<void> {
  const dev = await devLoginAvailable();
  const message = h('p', { class: 'form-message error', role: 'alert' });
  const body = dev
    ? [
        h('p', {}, `Development login: the router mints a token for the owner of “${handle}” (APP_ENV=development only).`),
        h(
          'button',
          {
            class: 'primary',
            type: 'button',
            'data-testid': 'dev-login',
            onclick: () => {
              devLogin(handle)
                .then(() => start())
                .catch((e: unknown) => {
                  message.textContent = e instanceof Error ? e.message : String(e);
                });
            },
          },
          `Sign in as the owner of ${handle}`,
        ),
        message,
      ]
    : [h('p', {}, 'Sign in through the Mallnline platform: it opens this page with your session.')];
  page(mine, h('section', { class: 'cta', 'data-testid': 'sign-in' }, h('h2', {}, 'Sign in to see your payouts'), ...body));
}

function isoDaysAgo(days: number): string {
  return new Date(Date.now() - days * 86_400_000).toISOString();
}

/** The onboarding link for a new or unfinished account: the browser goes to the provider. */
function goOnboard(account: Account): void {
  if (!account.onboardingUrl) throw new ApiError('CONFLICT', 'The provider gave no onboarding link; try again in a moment.');
  location.assign(account.onboardingUrl);
}

async function onboarding(mine: Gen, token: string, account: Account | null): Promise<HTMLElement> {
  const notice = h('div', {});
  const fail = (e: unknown) => mount(notice, errorView(e));
  page(
    mine,
    notice,
    StripeConnectOnboarding(account, {
      start: () =>
        gql<{ createConnectedAccount: Account }>(token, CREATE_ACCOUNT, { malet: handle })
          .then((r) => goOnboard(r.createConnectedAccount))
          .catch(fail),
      resume: (a) =>
        gql<{ refreshOnboardingLink: Account }>(token, REFRESH_LINK, { id: a.id })
          .then((r) => goOnboard(r.refreshOnboardingLink))
          .catch(fail),
    }),
  );
  if (account && params.get('onboarding') === 'done') {
    notice.append(h('p', { class: 'notice info', 'data-testid': 'confirming' }, 'Stripe is confirming your details; this page updates by itself.'));
  }
  return notice;
}

async function overviews(token: string, account: Account, entries: Entry[]): Promise<CurrencyOverview[]> {
  const now = new Date().toISOString();
  const main = await gql<{
    earningsSummary: Summary;
    payoutStatement: { nextPayoutDate: string | null };
    previewCommission: { commissionRateDecimal: string };
  }>(token, OVERVIEW_QUERY, { malet: handle, currency: account.currency, from: isoDaysAgo(1 / 1440), to: now });
  const rate = main.previewCommission.commissionRateDecimal;
  const result: CurrencyOverview[] = [
    { currency: account.currency, account, summary: main.earningsSummary, nextPayoutDate: main.payoutStatement.nextPayoutDate, rateDecimal: rate },
  ];
  const others = [...new Set(entries.map((e) => e.currency))].filter((c) => c !== account.currency).sort();
  for (const currency of others) {
    const s = await gql<{ earningsSummary: Summary; previewCommission: { commissionRateDecimal: string } }>(
      token,
      SUMMARY_QUERY,
      { malet: handle, currency },
    );
    result.push({
      currency,
      account: null,
      summary: s.earningsSummary,
      nextPayoutDate: null,
      rateDecimal: s.previewCommission.commissionRateDecimal,
    });
  }
  return result;
}

/** UTC midnight of the chart's first day (it shows today and the 89 days before). */
function chartStart(): Date {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - (CHART_DAYS - 1)));
}

async function chart(token: string, currency: string): Promise<HTMLElement> {
  try {
    const r = await gql<{ payoutStatement: { lines: StatementLine[] } }>(token, CHART_QUERY, {
      malet: handle,
      currency,
      from: chartStart().toISOString(),
      to: new Date().toISOString(),
    });
    return EarningsChart(r.payoutStatement.lines, currency, null, CHART_DAYS);
  } catch (e) {
    return EarningsChart(null, currency, `The chart is not available: ${e instanceof Error ? e.message : String(e)}`, CHART_DAYS);
  }
}

async function ledgerPage(token: string, pageNo: number): Promise<{ entries: Entry[]; total: number }> {
  const r = await gql<{ commissionLedger: Entry[]; commissionLedgerCount: number | string }>(token, LEDGER_QUERY, {
    malet: handle,
    limit: PAGE_SIZE,
    offset: pageNo * PAGE_SIZE,
  });
  return { entries: r.commissionLedger, total: Number(r.commissionLedgerCount) };
}

async function dashboard(mine: Gen, token: string, account: Account): Promise<void> {
  const first = await ledgerPage(token, 0);
  const [kpis, chartView] = await Promise.all([overviews(token, account, first.entries), chart(token, account.currency)]);
  const overviewBox = h('div', {}, PayoutOverview(kpis));
  const tableBox = h('div', {});
  const showTable = (entries: Entry[], total: number, pageNo: number) =>
    current(mine) &&
    mount(
      tableBox,
      CommissionTable(entries, total, pageNo, (next) => {
        ledgerPage(token, next)
          .then((p) => showTable(p.entries, p.total, next))
          .catch((e: unknown) => current(mine) && mount(tableBox, errorView(e)));
      }),
    );
  showTable(first.entries, first.total, 0);
  const save = async (schedule: PayoutSchedule): Promise<void> => {
    const r = await gql<{ updatePayoutSchedule: Account }>(token, UPDATE_SCHEDULE, {
      input: { connectedAccountId: account.id, ...schedule },
    });
    const updated = r.updatePayoutSchedule;
    const shown = settingsBox.querySelector('[data-testid="current-schedule"] strong');
    if (shown) shown.textContent = scheduleText(updated.payoutSchedule);
    // The next payout date follows the schedule.
    overviews(token, updated, first.entries)
      .then((o) => current(mine) && mount(overviewBox, PayoutOverview(o)))
      .catch(() => undefined);
  };
  const settingsBox = h('div', {}, PayoutSettings(account, save));
  page(
    mine,
    account.status === 'SUSPENDED' ? StripeConnectOnboarding(account, { start: async () => {}, resume: async () => {} }) : null,
    overviewBox,
    chartView,
    tableBox,
    settingsBox,
  );
}

async function start(): Promise<void> {
  const mine = ++generation;
  if (!handle) {
    page(mine, errorView(new ApiError('NOT_FOUND', 'This address names no Malet: open /<maletHandle>/manage/payouts.')));
    return;
  }
  document.title = `Payouts · ${handle} · Mallnline`;
  try {
    const token = currentToken();
    if (!token) {
      await signInView(mine);
      return;
    }
    page(mine, h('p', { class: 'loading', 'data-testid': 'loading' }, 'Loading your payouts…'));
    const account = (await gql<{ connectedAccount: Account | null }>(token, ACCOUNT_QUERY, { malet: handle })).connectedAccount;
    if (!current(mine)) return;
    if (account && (account.status === 'PENDING' || account.status === 'ONBOARDING') && params.get('onboarding') === 'refresh') {
      // The provider sent the seller back because the link expired: issue a new one.
      params.delete('onboarding');
      const r = await gql<{ refreshOnboardingLink: Account }>(token, REFRESH_LINK, { id: account.id });
      if (current(mine)) goOnboard(r.refreshOnboardingLink);
      return;
    }
    if (!account || account.status === 'PENDING' || account.status === 'ONBOARDING') {
      const notice = await onboarding(mine, token, account);
      if (account && params.get('onboarding') === 'done') await awaitConfirmation(mine, token, notice);
      return;
    }
    await dashboard(mine, token, account);
  } catch (e) {
    page(mine, errorView(e));
  }
}

/** Back from onboarding: the provider's confirmation (a webhook) may take a moment. */
async function awaitConfirmation(mine: Gen, token: string, notice: HTMLElement): Promise<void> {
  for (let i = 0; i < 30 && current(mine); i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const account = (await gql<{ connectedAccount: Account | null }>(token, ACCOUNT_QUERY, { malet: handle })).connectedAccount;
    if (account && account.status !== 'PENDING' && account.status !== 'ONBOARDING') {
      if (!current(mine)) return;
      history.replaceState(null, '', location.pathname);
      params.delete('onboarding');
      await dashboard(mine, token, account);
      return;
    }
  }
  if (current(mine)) {
    mount(
      notice,
      h(
        'div',
        { class: 'notice info', 'data-testid': 'not-confirmed' },
        h('p', {}, 'Stripe has not confirmed your details yet. It can take a few minutes; your onboarding is saved.'),
        h('button', { type: 'button', class: 'primary', onclick: () => void start() }, 'Check again'),
      ),
    );
  }
}

try {
  takeTokenFromUrl();
} catch {
  // Storage refused (a privacy mode): the sign-in view explains what is missing.
}
void start();
