#!/usr/bin/env node
// The local router: Apollo's @apollo/gateway served by @apollo/server on a plain node:http server.
//
// - Serves the composed supergraph file (static supergraphSdl: no subgraph introspection, no
//   polling, no Apollo GraphOS).
// - Forwards the client's `Authorization` header to every subgraph request (the subgraphs verify
//   the JWT themselves; this process checks nothing).
// - Subgraph errors reach the client with their `extensions.code` (UNAUTHENTICATED, FORBIDDEN,
//   QUERY_TOO_COMPLEX, …) unchanged; the gateway only adds `extensions.serviceName`.
// - Outside development, validation errors carry no "Did you mean …?" suggestions.
// - `GET /health`: the process is up and the supergraph is loaded. `GET /ready`: additionally every
//   subgraph answers its own `/ready` (503 otherwise).
// - The Malet Owner payouts dashboard: `GET /<maletHandle>/manage/payouts` serves its page and
//   `GET /dashboard/<file>` its bundled assets, from DASHBOARD_DIR (built by `npm run build` in
//   dashboard/; a 503 page says so when it is not built). It calls this router's `/graphql`.
// - Development login, only with APP_ENV=development, a JWT_SECRET (HS256) and a loopback
//   ROUTER_HOST, for requests whose Host is loopback (403 otherwise): `GET /dev/login`
//   answers {available: true}; `POST /dev/login {"maletId": "…"}` mints an 8-hour owner token of
//   that Malet (VIEW_PAYOUTS MANAGE_PAYOUTS VIEW_REVENUE, JWT_ISSUER / JWT_AUDIENCE when set).
//   Anywhere else both are 404: in production the token comes from the platform's login.
//
// Environment (defaults in brackets):
//   ROUTER_HOST [127.0.0.1]   ROUTER_PORT [4000]
//   SUPERGRAPH_PATH [<repo>/schema/supergraph.graphql]
//   PAYMENTS_URL, MURCHASES_URL (generally <SUBGRAPH>_URL): replace the supergraph's routing URL
//   APP_ENV [production]: `development` enables introspection and the Apollo Sandbox landing page
//   ROUTER_INTROSPECTION [true in development, else false]
//   ROUTER_BODY_LIMIT [262144] bytes    ROUTER_CORS_ORIGIN [*]    ROUTER_QUIET [false]
//   SUBGRAPH_TIMEOUT_MS [30000]: a subgraph request taking longer fails with a GraphQL error
//   DASHBOARD_DIR [<repo>/dashboard/dist]
//   JWT_SECRET, JWT_ISSUER, JWT_AUDIENCE: the development login's token (development only)

import http from 'node:http';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer, HeaderMap } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';

const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;

const host = env.ROUTER_HOST || '127.0.0.1';
const port = Number.parseInt(env.ROUTER_PORT || '4000', 10);
const supergraphPath = resolve(env.SUPERGRAPH_PATH || resolve(here, '..', 'schema', 'supergraph.graphql'));
const development = env.APP_ENV === 'development';
const introspection = env.ROUTER_INTROSPECTION ? env.ROUTER_INTROSPECTION === 'true' : development;
const bodyLimit = Number.parseInt(env.ROUTER_BODY_LIMIT || String(256 * 1024), 10);
const corsOrigin = env.ROUTER_CORS_ORIGIN || '*';
const quiet = env.ROUTER_QUIET === 'true';
const subgraphTimeoutMs = Number.parseInt(env.SUBGRAPH_TIMEOUT_MS || '30000', 10);
const dashboardDir = resolve(env.DASHBOARD_DIR || resolve(here, '..', 'dashboard', 'dist'));
// The development login exists only in development, with a shared HS256 secret to sign with,
// and only on a loopback address (nobody else on the network can mint tokens).
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
const devLoginSecret = development && env.JWT_SECRET && LOOPBACK_HOSTS.has(host) ? env.JWT_SECRET : null;

const log = (...args) => {
  if (!quiet) console.log('[gateway]', ...args);
};

if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`[gateway] invalid ROUTER_PORT '${env.ROUTER_PORT}'`);
  process.exit(2);
}

let supergraphSdl;
try {
  supergraphSdl = readFileSync(supergraphPath, 'utf8');
} catch (e) {
  console.error(`[gateway] cannot read the supergraph ${supergraphPath}: ${e.message} (run: node router/compose.mjs)`);
  process.exit(2);
}

// Subgraph name → URL: the supergraph's routing URL unless <NAME>_URL overrides it.
const envName = (name) => `${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_URL`;
const subgraphs = new Map();
for (const m of supergraphSdl.matchAll(/@join__graph\(name:\s*"([^"]+)",\s*url:\s*"([^"]*)"\)/g)) {
  const [, name, url] = m;
  subgraphs.set(name, env[envName(name)] || url);
}
if (subgraphs.size === 0) {
  console.error(`[gateway] ${supergraphPath} declares no subgraphs (is it a composed supergraph?)`);
  process.exit(2);
}

/** Forwards the incoming Authorization header; nothing else of the client's request is passed on. */
class AuthForwardingDataSource extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    if (context?.authorization) {
      request.http.headers.set('authorization', context.authorization);
    }
  }
}

const gateway = new ApolloGateway({
  supergraphSdl,
  buildService: ({ name, url }) =>
    new AuthForwardingDataSource({
      url: subgraphs.get(name) ?? url,
      fetcher: (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(subgraphTimeoutMs) }),
    }),
});

const httpServer = http.createServer();
const apollo = new ApolloServer({
  gateway,
  introspection,
  includeStacktraceInErrorResponses: false,
  // No "Did you mean …?" hints in validation errors: they describe the schema to callers who
  // cannot introspect it.
  hideSchemaDetailsFromClientErrors: !development,
  stopOnTerminationSignals: false,
  plugins: [
    ApolloServerPluginDrainHttpServer({ httpServer }),
    development ? ApolloServerPluginLandingPageLocalDefault({ embed: true }) : ApolloServerPluginLandingPageDisabled(),
  ],
});

let started = false;

// ---- The payouts dashboard (static files) and the development login. ----

const DASHBOARD_PAGE = /^\/([^/]+)\/manage\/payouts\/?$/;
const ASSET = /^\/dashboard\/([A-Za-z0-9_-]+\.(?:js|css|js\.map))$/;
const CONTENT_TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.map': 'application/json' };
// The page loads only its own script and styles and talks only to this router.
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

async function serveDashboard(res, file) {
  let body;
  try {
    body = await readFile(resolve(dashboardDir, file));
  } catch {
    res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
    log(`dashboard file missing: ${resolve(dashboardDir, file)}`);
    res.end('The payouts dashboard is not built: run `npm ci && npm run build` in dashboard/ (./scripts/dev does it), or set DASHBOARD_DIR.\n');
    return;
  }
  res.writeHead(200, { 'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream', ...PAGE_HEADERS });
  res.end(body);
}

const b64url = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** An HS256 JWT for the owner of `maletId`, as `<bin> mint-token` makes them. */
function mintOwnerToken(maletId) {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    sub: `dev-owner-${maletId}`,
    scope: 'VIEW_PAYOUTS MANAGE_PAYOUTS VIEW_REVENUE',
    malets: [maletId],
    exp: now + 8 * 3600,
    iat: now,
    ...(env.JWT_ISSUER ? { iss: env.JWT_ISSUER } : {}),
    ...(env.JWT_AUDIENCE ? { aud: env.JWT_AUDIENCE } : {}),
  };
  const unsigned = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}`;
  const signature = createHmac('sha256', devLoginSecret).update(unsigned).digest('base64url');
  return { token: `${unsigned}.${signature}`, expiresAt: new Date(claims.exp * 1000).toISOString() };
}

async function devLogin(req, res) {
  // A page of another site resolving its name to 127.0.0.1 (DNS rebinding) sends its own Host.
  const hostHeader = (req.headers.host ?? '').replace(/:\d+$/, '');
  if (!LOOPBACK_HOSTS.has(hostHeader)) {
    send(res, 403, { error: 'the development login answers only requests addressed to a loopback host' });
    return;
  }
  if (req.method === 'GET') {
    send(res, 200, { available: true });
    return;
  }
  if (req.method !== 'POST') {
    send(res, 405, { error: 'GET or POST' });
    return;
  }
  let maletId;
  try {
    maletId = JSON.parse(await readBody(req)).maletId;
  } catch {
    send(res, 400, { error: 'the body must be JSON: {"maletId": "…"}' });
    return;
  }
  // The subgraphs refuse ids that are not canonical; refuse them here too, with a message. `*`
  // would be every Malet (a platform-wide reader), never an owner.
  if (typeof maletId !== 'string' || maletId.length === 0 || maletId.length > 200 || maletId.trim() !== maletId || /\p{Cc}/u.test(maletId) || maletId === '*') {
    send(res, 400, { error: 'maletId must be one Malet id (1–200 characters, no surrounding spaces, not *)' });
    return;
  }
  log(`development login: minted an owner token for ${JSON.stringify(maletId)}`);
  send(res, 200, mintOwnerToken(maletId), { 'cache-control': 'no-store' });
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

const tooLarge = () => Object.assign(new Error(`request body larger than ${bodyLimit} bytes`), { status: 413 });

function readBody(req) {
  return new Promise((resolveBody, reject) => {
    if (Number(req.headers['content-length'] ?? 0) > bodyLimit) {
      reject(tooLarge());
      return;
    }
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      // Past the limit keep draining (so the 413 reaches the client) but store nothing more.
      if (size <= bodyLimit) chunks.push(chunk);
    });
    req.on('end', () => (size > bodyLimit ? reject(tooLarge()) : resolveBody(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

async function subgraphsReady() {
  const checks = await Promise.all(
    [...subgraphs].map(async ([name, url]) => {
      const readyUrl = new URL('/ready', url).toString();
      try {
        const r = await fetch(readyUrl, { signal: AbortSignal.timeout(2000) });
        return [name, r.ok ? 'ready' : `HTTP ${r.status}`];
      } catch (e) {
        return [name, `unreachable (${e.cause?.code ?? e.message})`];
      }
    }),
  );
  return Object.fromEntries(checks);
}

httpServer.on('request', async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const cors = {
    'access-control-allow-origin': corsOrigin,
    'access-control-allow-headers': 'authorization, content-type, apollo-require-preflight, x-apollo-operation-name',
    'access-control-allow-methods': 'GET, POST, OPTIONS',
  };
  try {
    if (url.pathname === '/health') {
      send(res, started ? 200 : 503, { status: started ? 'UP' : 'STARTING' });
      return;
    }
    if (url.pathname === '/ready') {
      const status = await subgraphsReady();
      const ok = started && Object.values(status).every((s) => s === 'ready');
      send(res, ok ? 200 : 503, { status: ok ? 'ready' : 'not ready', subgraphs: status });
      return;
    }
    if (req.method === 'GET' && DASHBOARD_PAGE.test(url.pathname)) {
      await serveDashboard(res, 'index.html');
      return;
    }
    const asset = req.method === 'GET' ? ASSET.exec(url.pathname) : null;
    if (asset) {
      await serveDashboard(res, asset[1]);
      return;
    }
    if (url.pathname === '/dev/login' && devLoginSecret) {
      await devLogin(req, res);
      return;
    }
    if (url.pathname !== '/' && url.pathname !== '/graphql') {
      send(res, 404, { errors: [{ message: 'not found: GraphQL is served on / and /graphql' }] });
      return;
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors);
      res.end();
      return;
    }
    const raw = await readBody(req);
    let body;
    const contentType = req.headers['content-type'] ?? '';
    if (raw.length > 0 && contentType.includes('json')) {
      try {
        body = JSON.parse(raw);
      } catch {
        send(res, 400, { errors: [{ message: 'request body is not valid JSON', extensions: { code: 'BAD_REQUEST' } }] }, cors);
        return;
      }
    } else {
      body = raw.length > 0 ? raw : undefined;
    }
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: (req.method ?? 'GET').toUpperCase(), headers, search: url.search, body },
      context: async () => ({ authorization: req.headers.authorization }),
    });
    for (const [key, value] of response.headers) res.setHeader(key, value);
    for (const [key, value] of Object.entries(cors)) res.setHeader(key, value);
    res.statusCode = response.status || 200;
    if (response.body.kind === 'complete') {
      res.end(response.body.string);
    } else {
      for await (const chunk of response.body.asyncIterator) res.write(chunk);
      res.end();
    }
  } catch (e) {
    const status = e.status ?? 500;
    if (status === 500) console.error('[gateway] request failed:', e);
    const close = status === 413 ? { connection: 'close' } : {};
    if (!res.headersSent) {
      send(res, status, { errors: [{ message: status === 500 ? 'internal error' : e.message }] }, { ...cors, ...close });
    } else {
      res.end();
    }
  }
});

let stopping = false;
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  log(`${signal} received, draining`);
  const force = setTimeout(() => process.exit(1), 5000);
  force.unref();
  try {
    await apollo.stop();
  } finally {
    process.exit(0);
  }
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));

try {
  await apollo.start();
} catch (e) {
  console.error(`[gateway] cannot load ${supergraphPath}: ${e.message}`);
  process.exit(2);
}
httpServer.listen({ host, port }, () => {
  started = true;
  const address = httpServer.address();
  const routes = [...subgraphs].map(([name, u]) => `${name} -> ${u}`).join(', ');
  // One stable line that scripts and tests wait for (the port is the real one when ROUTER_PORT=0).
  console.log(`[gateway] listening on http://${address.address}:${address.port}/ (${routes})`);
  if (devLoginSecret) log('development login enabled (POST /dev/login): APP_ENV=development');
});
httpServer.on('error', (e) => {
  console.error(`[gateway] cannot listen on ${host}:${port}: ${e.message}`);
  process.exit(2);
});
