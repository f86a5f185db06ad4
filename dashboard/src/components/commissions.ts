// CommissionTable: the Malet's ledger, newest first, a page at a time, with status pills and an
// expandable breakdown of each entry (who holds what of it, and how it was computed).

import type { Entry } from '../api';
import { h } from '../dom';
import { formatMoney, formatRate } from '../money';

export const PAGE_SIZE = 10;

const STATUS_LABEL: Record<Entry['status'], string> = {
  PENDING: 'Pending',
  SETTLED: 'Settled',
  PARTIALLY_REFUNDED: 'Partially refunded',
  REFUNDED: 'Refunded',
};

const ROLE_LABEL: Record<string, string> = {
  PLATFORM: 'Platform commission',
  PROCESSING_FEE: 'Processing fee',
  RESERVE: 'Reserve held',
  AFFILIATE: 'Affiliate',
  SELLER: 'You (net)',
  DISPUTE: 'Lost disputes',
  BUYER: 'Refunded to the buyer',
};

function date(iso: string): string {
  return new Date(iso).toLocaleDateString('en-US', { year: 'numeric', month: 'short', day: 'numeric' });
}

function pills(e: Entry): HTMLElement {
  return h(
    'span',
    { class: 'pills' },
    h('span', { class: `pill pill-${e.status.toLowerCase()}`, 'data-testid': 'status' }, STATUS_LABEL[e.status] ?? e.status),
    e.disputed ? h('span', { class: 'pill pill-disputed' }, 'Disputed') : null,
  );
}

function details(e: Entry, columns: number): HTMLTableRowElement {
  const m = (v: number) => formatMoney(v, e.currency);
  return h(
    'tr',
    { class: 'details', hidden: true, 'data-testid': 'entry-details' },
    h(
      'td',
      { colspan: columns },
      h(
        'div',
        { class: 'details-grid' },
        h(
          'div',
          {},
          h('h4', {}, 'Who holds what'),
          h(
            'dl',
            {},
            e.parties.map((p) => [h('dt', {}, ROLE_LABEL[p.role] ?? p.role, p.id && p.role === 'AFFILIATE' ? ` (${p.id})` : ''), h('dd', {}, m(p.amount))]),
          ),
        ),
        h(
          'div',
          {},
          h('h4', {}, `How it was computed (${e.breakdown.tier}, ${e.breakdown.rounding})`),
          h('ol', { class: 'steps' }, e.breakdown.steps.map((s) => h('li', {}, s))),
          h('p', { class: 'muted' }, `Funding: ${e.funding === 'SEPARATE_TRANSFER' ? 'transfer from a multi-seller order' : 'destination charge'}${e.settlementDate ? ` · settled ${date(e.settlementDate)}` : ''}`),
        ),
      ),
    ),
  );
}

export function CommissionTable(
  entries: Entry[],
  total: number,
  page: number,
  go: (page: number) => void,
): HTMLElement {
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const headers = ['Date', 'Order', 'Gross', 'Rate', 'Commission', 'Fee', 'Reserve', 'Net', 'Refunded', 'Status', ''];
  const body = h('tbody', {});
  for (const e of entries) {
    const m = (v: number | null) => (v ? formatMoney(v, e.currency) : '—');
    const more = details(e, headers.length);
    const toggle = h('button', { class: 'link', type: 'button', 'aria-expanded': 'false', 'data-testid': 'toggle-details' }, 'Breakdown');
    toggle.addEventListener('click', () => {
      more.hidden = !more.hidden;
      toggle.setAttribute('aria-expanded', String(!more.hidden));
    });
    body.append(
      h(
        'tr',
        { 'data-testid': 'entry', 'data-order': e.orderId },
        h('td', {}, date(e.createdAt)),
        h('td', { class: 'mono' }, e.orderId),
        h('td', { class: 'num', 'data-col': 'gross' }, formatMoney(e.grossAmount, e.currency)),
        h('td', { class: 'num', 'data-col': 'rate' }, formatRate(e.commissionRateDecimal)),
        h('td', { class: 'num', 'data-col': 'commission' }, formatMoney(e.commissionAmount, e.currency)),
        h('td', { class: 'num', 'data-col': 'fee' }, formatMoney(e.processingFee, e.currency)),
        h('td', { class: 'num', 'data-col': 'reserve' }, formatMoney(e.reserveAmount, e.currency)),
        h('td', { class: 'num', 'data-col': 'net' }, formatMoney(e.netPayout, e.currency)),
        h('td', { class: 'num', 'data-col': 'refunded' }, m(e.refundedAmount)),
        h('td', {}, pills(e)),
        h('td', {}, toggle),
      ),
      more,
    );
  }
  const prev = h('button', { type: 'button', disabled: page <= 0, 'data-testid': 'prev-page' }, '← Newer');
  prev.addEventListener('click', () => go(page - 1));
  const next = h('button', { type: 'button', disabled: page + 1 >= pages, 'data-testid': 'next-page' }, 'Older →');
  next.addEventListener('click', () => go(page + 1));
  return h(
    'section',
    { class: 'panel', 'aria-label': 'Commission history' },
    h('h2', {}, 'Commission history'),
    entries.length === 0
      ? h('p', { class: 'empty', 'data-testid': 'no-entries' }, 'No sales yet: every paid order appears here with its split.')
      : h(
          'div',
          { class: 'table-wrap' },
          h('table', { 'data-testid': 'commission-table' }, h('thead', {}, h('tr', {}, headers.map((t) => h('th', {}, t)))), body),
        ),
    h(
      'div',
      { class: 'pager' },
      prev,
      h('span', { 'data-testid': 'page-info' }, `Page ${Math.min(page + 1, pages)} of ${pages} · ${total} ${total === 1 ? 'sale' : 'sales'}`),
      next,
    ),
  );
}
