// The router's GraphQL, with the owner's token. Every failure becomes an ApiError with a kind
// the page can explain: the API's own `extensions.code` (UNAUTHENTICATED, FORBIDDEN,
// BAD_USER_INPUT, …), NETWORK when the router cannot be reached, or HTTP for anything else.

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

export const GRAPHQL_URL = '/graphql';

export async function gql<T>(token: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(GRAPHQL_URL, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
  } catch (e) {
    throw new ApiError('NETWORK', `The payouts API cannot be reached (${e instanceof Error ? e.message : String(e)}).`);
  }
  let body: GraphQLResponse<T>;
  try {
    body = (await res.json()) as GraphQLResponse<T>;
  } catch {
    throw new ApiError('HTTP', `The payouts API answered HTTP ${res.status} without a GraphQL response.`);
  }
  const first = body.errors?.[0];
  if (first) throw new ApiError(first.extensions?.code ?? 'INTERNAL_SERVER_ERROR', first.message);
  if (!body.data) throw new ApiError('HTTP', `The payouts API answered HTTP ${res.status} without data.`);
  return body.data;
}

// ---- The shapes the dashboard reads (a subset of schema/supergraph.graphql). ----

export type AccountStatus = 'PENDING' | 'ONBOARDING' | 'ACTIVE' | 'SUSPENDED' | 'DEACTIVATED';
export type Interval = 'DAILY' | 'WEEKLY' | 'MONTHLY' | 'MANUAL';

export interface PayoutSchedule {
  interval: Interval;
  dayOfWeek: number | null;
  dayOfMonth: number | null;
}

export interface Account {
  id: string;
  status: AccountStatus;
  statusReason: string | null;
  provider: string;
  providerAccountId: string | null;
  currency: string;
  kycVerified: boolean;
  onboardingUrl: string | null;
  rollingReservePercent: number;
  reserveExpiresAt: string | null;
  totalEarnings: number;
  totalPayouts: number;
  pendingBalance: number;
  reserveBalance: number;
  payoutSchedule: PayoutSchedule | null;
}

export interface Entry {
  id: string;
  orderId: string;
  currency: string;
  grossAmount: number;
  commissionRateDecimal: string;
  commissionAmount: number;
  processingFee: number;
  reserveAmount: number;
  affiliateAmount: number;
  netPayout: number;
  refundedAmount: number | null;
  refundedCommission: number | null;
  status: 'PENDING' | 'SETTLED' | 'PARTIALLY_REFUNDED' | 'REFUNDED';
  disputed: boolean;
  funding: string;
  createdAt: string;
  settlementDate: string | null;
  parties: { role: string; id: string | null; amount: number }[];
  breakdown: { tier: string; rounding: string; inputs: string[]; steps: string[] };
}

export interface Summary {
  currency: string;
  totalGross: number;
  totalCommission: number;
  totalNetPayouts: number;
  pendingBalance: number;
  reserveBalance: number;
}

export interface StatementLine {
  at: string;
  kind: string;
  earningsDelta: number;
}

const ACCOUNT_FIELDS = `id status statusReason provider providerAccountId currency kycVerified onboardingUrl
  rollingReservePercent reserveExpiresAt totalEarnings totalPayouts pendingBalance reserveBalance
  payoutSchedule { interval dayOfWeek dayOfMonth }`;

export const ACCOUNT_QUERY = `query Account($malet: ID!) { connectedAccount(maletId: $malet) { ${ACCOUNT_FIELDS} } }`;

export const LEDGER_QUERY = `query Ledger($malet: ID!, $limit: Int!, $offset: Int!) {
  commissionLedgerCount(maletId: $malet)
  commissionLedger(maletId: $malet, limit: $limit, offset: $offset) {
    id orderId currency grossAmount commissionRateDecimal commissionAmount processingFee reserveAmount
    affiliateAmount netPayout refundedAmount refundedCommission status disputed funding createdAt settlementDate
    parties { role id amount }
    breakdown { tier rounding inputs steps }
  }
}`;

export const OVERVIEW_QUERY = `query Overview($malet: ID!, $currency: String!, $from: DateTime!, $to: DateTime!) {
  earningsSummary(maletId: $malet, currency: $currency) { currency totalGross totalCommission totalNetPayouts pendingBalance reserveBalance }
  payoutStatement(maletId: $malet, from: $from, to: $to, currency: $currency) { nextPayoutDate lines { at kind earningsDelta } }
  previewCommission(input: { maletId: $malet, currency: $currency, grossAmount: 10000 }) { commissionRateDecimal }
}`;

export const SUMMARY_QUERY = `query Summary($malet: ID!, $currency: String!) {
  earningsSummary(maletId: $malet, currency: $currency) { currency totalGross totalCommission totalNetPayouts pendingBalance reserveBalance }
  previewCommission(input: { maletId: $malet, currency: $currency, grossAmount: 10000 }) { commissionRateDecimal }
}`;

export const CREATE_ACCOUNT = `mutation Create($malet: ID!) { createConnectedAccount(input: { maletId: $malet }) { ${ACCOUNT_FIELDS} } }`;
export const REFRESH_LINK = `mutation Refresh($id: ID!) { refreshOnboardingLink(connectedAccountId: $id) { ${ACCOUNT_FIELDS} } }`;
export const UPDATE_SCHEDULE = `mutation Schedule($input: UpdatePayoutScheduleInput!) { updatePayoutSchedule(input: $input) { ${ACCOUNT_FIELDS} } }`;
