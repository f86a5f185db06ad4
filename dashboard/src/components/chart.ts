// The earnings chart: what each day of the last 90 added to the seller's lifetime earnings
// (the statement's `earningsDelta`: sales less clawbacks), as SVG bars. No chart library.

import type { StatementLine } from '../api';
import { h } from '../dom';
import { formatMoney } from '../money';

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** Daily sums of `earningsDelta` (UTC days) over `days` days ending today. */
export function dailyEarnings(lines: StatementLine[], days: number, today: Date): { day: string; amount: bigint }[] {
  const sums = new Map<string, bigint>();
  for (const l of lines) {
    const day = l.at.slice(0, 10);
    sums.set(day, (sums.get(day) ?? 0n) + BigInt(l.earningsDelta));
  }
  const out: { day: string; amount: bigint }[] = [];
  for (let i = days - 1; i >= 0; i--) {
    const d = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - i));
    const day = d.toISOString().slice(0, 10);
    out.push({ day, amount: sums.get(day) ?? 0n });
  }
  return out;
}

export function EarningsChart(lines: StatementLine[] | null, currency: string, error: string | null, days: number): HTMLElement {
  const section = h('section', { class: 'panel', 'aria-label': 'Earnings over time' }, h('h2', {}, `Earnings, last ${days} days`));
  if (error || !lines) {
    section.append(h('p', { class: 'muted' }, error ?? 'No statement available.'));
    return section;
  }
  const data = dailyEarnings(lines, days, new Date());
  const max = data.reduce((m, d) => (d.amount > m ? d.amount : m), 0n);
  const min = data.reduce((m, d) => (d.amount < m ? d.amount : m), 0n);
  const total = data.reduce((s, d) => s + d.amount, 0n);
  const width = 720;
  const height = 160;
  const span = max - min === 0n ? 1n : max - min;
  // Heights are for drawing only: scaled with integers (per mille of the span), never money.
  const y = (v: bigint) => Number(((max - v) * 1000n) / span) / 1000 * (height - 20) + 10;
  const barW = width / data.length;
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': `Daily earnings in ${currency}`, class: 'chart', 'data-testid': 'earnings-chart' });
  chart.append(svg('line', { x1: 0, x2: width, y1: y(0n), y2: y(0n), class: 'axis' }));
  data.forEach((d, i) => {
    if (d.amount === 0n) return;
    const top = Math.min(y(d.amount), y(0n));
    const bar = svg('rect', {
      x: i * barW + 1,
      y: top,
      width: Math.max(barW - 2, 1),
      height: Math.max(Math.abs(y(d.amount) - y(0n)), 1),
      class: d.amount < 0n ? 'bar negative' : 'bar',
      'data-day': d.day,
    });
    bar.append(svg('title', {}, `${d.day}: ${formatMoney(d.amount.toString(), currency)}`));
    chart.append(bar);
  });
  section.append(
    chart,
    h(
      'p',
      { class: 'muted', 'data-testid': 'chart-total' },
      `${data[0]?.day ?? ''} – ${data[data.length - 1]?.day ?? ''}: ${formatMoney(total.toString(), currency)} earned`,
    ),
  );
  return section;
}
