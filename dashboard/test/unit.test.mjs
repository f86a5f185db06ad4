// Unit tests of the dashboard's pure functions (money formatting, rates, schedule validation,
// daily earnings), bundled from the TypeScript sources by esbuild and run with node:test.
// `npm run test:unit`; tests/e2e/tests/dashboard.rs runs it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { build } from 'esbuild';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = await build({
  stdin: {
    contents: `export * from './money'; export { parseSchedule } from './components/settings'; export { dailyEarnings } from './components/chart';`,
    resolveDir: resolve(here, '../src'),
    loader: 'ts',
  },
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  write: false,
});
const m = await import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString('base64')}`);

test('minor units become exact decimals, whatever their size and sign', () => {
  assert.equal(m.toDecimalString(8880, 'USD'), '88.80');
  assert.equal(m.toDecimalString(5, 'USD'), '0.05');
  assert.equal(m.toDecimalString(-5, 'USD'), '-0.05');
  assert.equal(m.toDecimalString(0, 'USD'), '0.00');
  assert.equal(m.toDecimalString(1234, 'JPY'), '1234');
  assert.equal(m.toDecimalString(1234, 'KWD'), '1.234');
  // Beyond 2^53 (a Long may arrive as a string): still exact.
  assert.equal(m.toDecimalString('9007199254740993', 'USD'), '90071992547409.93');
});

test('money is formatted from the decimal string', () => {
  assert.equal(m.formatMoney(8880, 'USD'), '$88.80');
  assert.equal(m.formatMoney(-320, 'USD'), '-$3.20');
  assert.equal(m.formatMoney(123456789, 'USD'), '$1,234,567.89');
  assert.equal(m.formatMoney(1234, 'JPY'), '¥1,234');
  assert.equal(m.formatMoney('9007199254740993', 'USD'), '$90,071,992,547,409.93');
  assert.match(m.formatMoney(100, 'EUR'), /^€1\.00$/);
});

test('exact decimal rates become percentages without rounding', () => {
  assert.equal(m.formatRate('0.08'), '8%');
  assert.equal(m.formatRate('0.075'), '7.5%');
  assert.equal(m.formatRate('0.1234'), '12.34%');
  assert.equal(m.formatRate('1'), '100%');
  assert.equal(m.formatRate('0'), '0%');
  assert.equal(m.formatRate('0.0005'), '0.05%');
  assert.equal(m.formatPercent(10), '10%');
  assert.equal(m.formatPercent(7.5), '7.5%');
  assert.equal(m.formatPercent(7.001), '7%');
});

test('the schedule form is checked before anything is sent', () => {
  assert.deepEqual(m.parseSchedule('DAILY', '3', '40'), { interval: 'DAILY', dayOfWeek: null, dayOfMonth: null });
  assert.deepEqual(m.parseSchedule('WEEKLY', '5', ''), { interval: 'WEEKLY', dayOfWeek: 5, dayOfMonth: null });
  assert.deepEqual(m.parseSchedule('MONTHLY', '', ' 31 '), { interval: 'MONTHLY', dayOfWeek: null, dayOfMonth: 31 });
  assert.equal(m.parseSchedule('MONTHLY', '', '40'), 'The day of the month must be between 1 and 31.');
  assert.equal(m.parseSchedule('MONTHLY', '', '0'), 'The day of the month must be between 1 and 31.');
  assert.equal(m.parseSchedule('MONTHLY', '', '2.5'), 'Enter the day of the month as a whole number from 1 to 31.');
  assert.equal(m.parseSchedule('WEEKLY', '8', ''), 'Choose the day of the week payouts are made.');
  assert.equal(m.parseSchedule('YEARLY', '', ''), 'Choose how often payouts are made.');
});

test('daily earnings sum each UTC day and fill the others with zero', () => {
  const lines = [
    { at: '2026-12-03T10:00:00Z', kind: 'SALE', earningsDelta: 8880 },
    { at: '2026-12-03T11:00:00Z', kind: 'REFUND_CLAWBACK', earningsDelta: -3552 },
    { at: '2026-12-01T23:59:59Z', kind: 'SALE', earningsDelta: 100 },
  ];
  const days = m.dailyEarnings(lines, 3, new Date('2026-12-03T12:00:00Z'));
  assert.deepEqual(days, [
    { day: '2026-12-01', amount: 100n },
    { day: '2026-12-02', amount: 0n },
    { day: '2026-12-03', amount: 5328n },
  ]);
});
