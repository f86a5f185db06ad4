// Amounts arrive as integers of minor units (cents) with their currency. They are turned into
// decimal strings by integer arithmetic and only then formatted: no floating point on money.

const digitsCache = new Map<string, number>();

/** The number of minor-unit digits of `currency` (2 for USD, 0 for JPY, 3 for KWD). */
export function minorDigits(currency: string): number {
  let digits = digitsCache.get(currency);
  if (digits === undefined) {
    try {
      digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
    } catch {
      digits = 2;
    }
    digitsCache.set(currency, digits);
  }
  return digits;
}

/** `8880`, `USD` → `"88.80"`; `-5`, `USD` → `"-0.05"`. */
export function toDecimalString(minor: number | string, currency: string): string {
  const raw = BigInt(minor);
  const digits = minorDigits(currency);
  const negative = raw < 0n;
  const abs = (negative ? -raw : raw).toString().padStart(digits + 1, '0');
  const whole = abs.slice(0, abs.length - digits);
  const fraction = digits > 0 ? `.${abs.slice(abs.length - digits)}` : '';
  return `${negative ? '-' : ''}${whole}${fraction}`;
}

/** `8880`, `USD` → `"$88.80"`. */
export function formatMoney(minor: number | string, currency: string): string {
  const decimal = toDecimalString(minor, currency) as Intl.StringNumericLiteral;
  try {
    return new Intl.NumberFormat('en-US', { style: 'currency', currency }).format(decimal);
  } catch {
    return `${decimal} ${currency}`;
  }
}

/** An exact decimal rate string (`"0.08"`) as a percentage (`"8%"`, `"7.5%"`). */
export function formatRate(decimal: string): string {
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(decimal.trim());
  if (!match) return decimal;
  const [, sign, whole = '0', fraction = ''] = match;
  // Shift the decimal point two places right, as strings.
  const padded = fraction.padEnd(2, '0');
  let intPart = (whole + padded.slice(0, 2)).replace(/^0+(?=\d)/, '');
  let rest = padded.slice(2).replace(/0+$/, '');
  if (intPart === '') intPart = '0';
  return `${sign}${intPart}${rest ? `.${rest}` : ''}%`;
}

/** A percent the API gives as a number produced from an exact decimal (`10` → `"10%"`). */
export function formatPercent(value: number): string {
  return `${Number.isInteger(value) ? value : value.toFixed(2).replace(/\.?0+$/, '')}%`;
}
