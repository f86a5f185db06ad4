// The owner's session token. In production the platform's login opens the dashboard with
// `#token=<jwt>`; the token is kept in this tab's sessionStorage and the fragment removed from
// the address bar. In development the router can mint one (`POST /dev/login`, only when it runs
// with APP_ENV=development and a JWT_SECRET: see router/gateway.mjs).

const KEY = 'mallnline.dashboard.token';

export function takeTokenFromUrl(): void {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  const token = params.get('token');
  if (token) {
    sessionStorage.setItem(KEY, token);
    history.replaceState(null, '', location.pathname + location.search);
  }
}

export function currentToken(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function signOut(): void {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // Nothing was stored.
  }
}

/** Whether this router offers the development login. */
export async function devLoginAvailable(): Promise<boolean> {
  try {
    const res = await fetch('/dev/login', { method: 'GET' });
    if (!res.ok) return false;
    const body = (await res.json()) as { available?: boolean };
    return body.available === true;
  } catch {
    return false;
  }
}

/** Development only: a token for the owner of `maletId`, minted by the router. */
export async function devLogin(maletId: string): Promise<void> {
  const res = await fetch('/dev/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ maletId }),
  });
  const body = (await res.json().catch(() => ({}))) as { token?: string; error?: string };
  if (!res.ok || !body.token) throw new Error(body.error ?? `the development login answered HTTP ${res.status}`);
  sessionStorage.setItem(KEY, body.token);
}
