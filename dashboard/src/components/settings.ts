// PayoutSettings: the payout schedule (interval, day of week or of month) with validation
// messages, and the account's KYC status and rolling reserve.

import type { Account, Interval, PayoutSchedule } from '../api';
import { h } from '../dom';
import { formatPercent } from '../money';

const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const INTERVALS: [Interval, string][] = [
  ['DAILY', 'Daily'],
  ['WEEKLY', 'Weekly'],
  ['MONTHLY', 'Monthly'],
  ['MANUAL', 'Manual (on request)'],
];

/** The schedule the form describes, or the message that says what is wrong with it. */
export function parseSchedule(interval: string, dayOfWeek: string, dayOfMonth: string): PayoutSchedule | string {
  switch (interval) {
    case 'DAILY':
    case 'MANUAL':
      return { interval, dayOfWeek: null, dayOfMonth: null };
    case 'WEEKLY': {
      const d = Number(dayOfWeek);
      if (!Number.isInteger(d) || d < 1 || d > 7) return 'Choose the day of the week payouts are made.';
      return { interval, dayOfWeek: d, dayOfMonth: null };
    }
    case 'MONTHLY': {
      if (!/^\d+$/.test(dayOfMonth.trim())) return 'Enter the day of the month as a whole number from 1 to 31.';
      const d = Number(dayOfMonth);
      if (d < 1 || d > 31) return 'The day of the month must be between 1 and 31.';
      return { interval, dayOfWeek: null, dayOfMonth: d };
    }
    default:
      return 'Choose how often payouts are made.';
  }
}

export function scheduleText(s: PayoutSchedule | null): string {
  if (!s) return 'Not set (the provider’s default)';
  switch (s.interval) {
    case 'DAILY':
      return 'Daily';
    case 'WEEKLY':
      return `Weekly, on ${DAYS[(s.dayOfWeek ?? 1) - 1] ?? '?'}`;
    case 'MONTHLY':
      return `Monthly, on day ${s.dayOfMonth ?? '?'}`;
    case 'MANUAL':
      return 'Manual';
  }
}

export function PayoutSettings(account: Account, save: (s: PayoutSchedule) => Promise<void>): HTMLElement {
  const current = account.payoutSchedule;
  const interval = h(
    'select',
    { id: 'interval', name: 'interval', 'data-testid': 'interval' },
    INTERVALS.map(([value, label]) => h('option', { value, selected: current?.interval === value }, label)),
  );
  const dayOfWeek = h(
    'select',
    { id: 'day-of-week', name: 'dayOfWeek', 'data-testid': 'day-of-week' },
    DAYS.map((label, i) => h('option', { value: i + 1, selected: current?.dayOfWeek === i + 1 }, label)),
  );
  const dayOfMonth = h('input', {
    id: 'day-of-month',
    name: 'dayOfMonth',
    inputmode: 'numeric',
    value: current?.dayOfMonth ?? 1,
    'data-testid': 'day-of-month',
  });
  const weekRow = h('label', { class: 'field' }, 'Day of the week', dayOfWeek);
  const monthRow = h('label', { class: 'field' }, 'Day of the month (1–31)', dayOfMonth);
  const message = h('p', { class: 'form-message', role: 'alert', 'data-testid': 'schedule-message' });
  const submit = h('button', { class: 'primary', type: 'submit', 'data-testid': 'save-schedule' }, 'Save schedule');
  const sync = () => {
    weekRow.hidden = interval.value !== 'WEEKLY';
    monthRow.hidden = interval.value !== 'MONTHLY';
  };
  interval.addEventListener('change', sync);
  sync();
  const form = h(
    'form',
    { class: 'schedule', novalidate: true, 'data-testid': 'schedule-form' },
    h('label', { class: 'field' }, 'Payout interval', interval),
    weekRow,
    monthRow,
    submit,
    message,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const parsed = parseSchedule(interval.value, dayOfWeek.value, dayOfMonth.value);
    if (typeof parsed === 'string') {
      message.className = 'form-message error';
      message.textContent = parsed;
      return;
    }
    submit.disabled = true;
    message.className = 'form-message';
    message.textContent = 'Saving…';
    save(parsed)
      .then(() => {
        message.className = 'form-message ok';
        message.textContent = `Saved: ${scheduleText(parsed)}.`;
      })
      .catch((err: unknown) => {
        message.className = 'form-message error';
        message.textContent = err instanceof Error ? err.message : String(err);
      })
      .finally(() => {
        submit.disabled = false;
      });
  });
  const expires = account.reserveExpiresAt
    ? new Date(account.reserveExpiresAt).toLocaleDateString('en-US', { year: 'numeric', month: 'short', day: 'numeric' })
    : null;
  return h(
    'section',
    { class: 'panel', 'aria-label': 'Payout settings' },
    h('h2', {}, 'Payout settings'),
    h(
      'div',
      { class: 'settings-grid' },
      h(
        'div',
        {},
        h('p', { 'data-testid': 'current-schedule' }, 'Current schedule: ', h('strong', {}, scheduleText(current))),
        form,
      ),
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'Verification (KYC)'),
        h(
          'dd',
          { 'data-testid': 'kyc' },
          account.kycVerified
            ? h('span', { class: 'pill pill-settled' }, 'Verified')
            : h('span', { class: 'pill pill-pending' }, 'Not verified yet'),
        ),
        h('dt', {}, 'Account'),
        h('dd', {}, `${account.provider === 'STRIPE_CONNECT' ? 'Stripe Connect' : account.provider} · ${account.status}`, account.providerAccountId ? h('span', { class: 'mono' }, ` ${account.providerAccountId}`) : null),
        h('dt', {}, 'Rolling reserve'),
        h(
          'dd',
          { 'data-testid': 'reserve-terms' },
          account.rollingReservePercent > 0
            ? `${formatPercent(account.rollingReservePercent)} of each sale’s net, held and released after the sale settles${expires ? `; new sales carry no reserve after ${expires}` : ''}`
            : 'None',
        ),
      ),
    ),
  );
}
