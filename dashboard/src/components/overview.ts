// PayoutOverview: KPI cards per currency (total earnings, pending and reserve balances, the
// next payout date and the commission rate now).

import type { Account, Summary } from '../api';
import { h } from '../dom';
import { formatMoney, formatRate } from '../money';

export interface CurrencyOverview {
  currency: string;
  /** The payout account's figures when it settles in this currency. */
  account: Account | null;
  summary: Summary;
  nextPayoutDate: string | null;
  rateDecimal: string | null;
}

function card(testid: string, label: string, value: string, note?: string): HTMLElement {
  return h(
    'div',
    { class: 'kpi', 'data-testid': testid },
    h('div', { class: 'kpi-label' }, label),
    h('div', { class: 'kpi-value' }, value),
    note ? h('div', { class: 'kpi-note' }, note) : null,
  );
}

function nextPayout(o: CurrencyOverview): string {
  if (o.nextPayoutDate) {
    const d = new Date(`${o.nextPayoutDate}T00:00:00Z`);
    return d.toLocaleDateString('en-US', { timeZone: 'UTC', year: 'numeric', month: 'short', day: 'numeric' });
  }
  if (o.account?.payoutSchedule?.interval === 'MANUAL') return 'Manual';
  return '—';
}

export function PayoutOverview(overviews: CurrencyOverview[]): HTMLElement {
  return h(
    'section',
    { class: 'panel', 'aria-label': 'Payout overview' },
    h('h2', {}, 'Overview'),
    overviews.map((o) => {
      const c = o.currency;
      const account = o.account;
      // The payout account is the truth of what will be paid; other currencies come from the ledger.
      const earnings = account ? account.totalEarnings : o.summary.totalNetPayouts;
      const pending = account ? account.pendingBalance : o.summary.pendingBalance;
      const reserve = account ? account.reserveBalance : o.summary.reserveBalance;
      return h(
        'div',
        { class: 'kpis', 'data-currency': c },
        h('h3', { class: 'currency' }, c),
        h(
          'div',
          { class: 'kpi-row' },
          card(
            `kpi-total-earnings-${c}`,
            account ? 'Total earnings' : 'Net earnings (no payout account)',
            formatMoney(earnings, c),
            `Gross sales ${formatMoney(o.summary.totalGross, c)} · commission ${formatMoney(o.summary.totalCommission, c)}`,
          ),
          card(`kpi-pending-${c}`, 'Pending balance', formatMoney(pending, c), pending < 0 ? 'Refunds exceeded earnings: recovered from the next sales' : 'Paid at the next payout'),
          card(`kpi-reserve-${c}`, 'Reserve balance', formatMoney(reserve, c), 'Held from new sales, released after settlement'),
          card(`kpi-next-payout-${c}`, 'Next payout', nextPayout(o), !account
              ? 'No payout account in this currency'
              : account.payoutSchedule
                ? `Paid ${formatMoney(account.totalPayouts, c)} so far`
                : `Set a schedule below · paid ${formatMoney(account.totalPayouts, c)} so far`),
          card(`kpi-rate-${c}`, 'Commission rate', o.rateDecimal ? formatRate(o.rateDecimal) : '—', 'On the items subtotal of each sale'),
        ),
      );
    }),
  );
}
