// StripeConnectOnboarding: the call to action for a Malet without a payout account (creates it
// and goes to the provider's onboarding page), and the states of an account that cannot be paid
// yet (PENDING / ONBOARDING: continue; SUSPENDED: why, and who to ask).

import type { Account } from '../api';
import { h } from '../dom';

export interface OnboardingActions {
  start(): Promise<void>;
  resume(account: Account): Promise<void>;
}

function button(label: string, testid: string, action: () => Promise<void>): HTMLButtonElement {
  const b = h('button', { class: 'primary', type: 'button', 'data-testid': testid }, label);
  b.addEventListener('click', () => {
    b.disabled = true;
    b.textContent = 'Opening Stripe…';
    action().finally(() => {
      b.disabled = false;
      b.textContent = label;
    });
  });
  return b;
}

export function StripeConnectOnboarding(account: Account | null, actions: OnboardingActions): HTMLElement {
  if (!account) {
    return h(
      'section',
      { class: 'cta', 'data-testid': 'onboarding-cta' },
      h('h2', {}, 'Get paid for your sales'),
      h(
        'p',
        {},
        'Connect a Stripe Express account to receive your earnings. Stripe asks for your identity and bank details; it takes a few minutes.',
      ),
      button('Set up payouts with Stripe', 'start-onboarding', actions.start),
    );
  }
  if (account.status === 'PENDING' && account.provider === 'MANUAL') {
    return h(
      'section',
      { class: 'notice info', 'data-testid': 'awaiting-confirmation' },
      h('h2', {}, 'Waiting for the platform'),
      h('p', {}, 'Your manual payout account is waiting for a Mallnline admin to confirm it; nothing is needed from you.'),
    );
  }
  if (account.status === 'PENDING' || account.status === 'ONBOARDING') {
    return h(
      'section',
      { class: 'cta', 'data-testid': 'onboarding-continue' },
      h('h2', {}, 'Finish setting up payouts'),
      h('p', {}, 'Your Stripe account is not ready to receive payouts yet: Stripe still needs some details.'),
      button('Continue onboarding', 'continue-onboarding', () => actions.resume(account)),
    );
  }
  // SUSPENDED: the dashboard is still shown below this notice.
  return h(
    'section',
    { class: 'notice warning', role: 'status', 'data-testid': 'account-suspended' },
    h('h2', {}, 'Payouts are suspended'),
    h('p', {}, account.statusReason ? `Reason: ${account.statusReason}` : 'Your payout account was suspended.'),
    h('p', {}, 'Your earnings are kept; payouts resume when the platform reinstates the account. Contact Mallnline support.'),
  );
}
