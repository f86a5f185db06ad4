#!/usr/bin/env node
// Composes the supergraph with Apollo's own composition library (@apollo/composition, the code
// Rover and GraphOS run) from the Rover config `supergraph.yaml` at the repository root and writes
// `schema/supergraph.graphql`.
//
//   node router/compose.mjs            write schema/supergraph.graphql
//   node router/compose.mjs --check    exit 1 when the checked-in file differs from a fresh
//                                      composition (or composition fails); writes nothing
//   node router/compose.mjs --stdout   print the composed supergraph
//
// Composition errors always exit 1; hints are printed as warnings. The `federation_version`
// pinned in supergraph.yaml (`=2.x.y`) must equal the installed @apollo/composition version, so
// this script and `rover supergraph compose` produce the same file.

import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import YAML from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const args = new Set(process.argv.slice(2));
const configPath = resolve(root, process.env.SUPERGRAPH_CONFIG ?? 'supergraph.yaml');
const outPath = resolve(root, process.env.SUPERGRAPH_OUT ?? 'schema/supergraph.graphql');

function fail(message) {
  console.error(`compose: ${message}`);
  process.exit(1);
}

const config = YAML.parse(readFileSync(configPath, 'utf8'));
if (!config || typeof config.subgraphs !== 'object') fail(`${configPath}: no 'subgraphs' map`);

// Rover's `federation_version`: `=2.14.4` pins an exact version, `2` means "latest 2.x".
const require = createRequire(import.meta.url);
const installed = require('@apollo/composition/package.json').version;
const wanted = String(config.federation_version ?? '');
if (wanted.startsWith('=')) {
  if (wanted.slice(1) !== installed) {
    fail(`supergraph.yaml pins federation_version ${wanted} but @apollo/composition ${installed} is installed ` +
      `(update router/package.json and run npm install in router/)`);
  }
} else if (!/^2(\.|$)/.test(wanted)) {
  fail(`supergraph.yaml: unsupported federation_version '${wanted}' (use =${installed})`);
}

// Rover keeps subgraphs in a sorted map; compose in the same (name) order.
const services = Object.keys(config.subgraphs).sort().map((name) => {
  const sg = config.subgraphs[name];
  if (!sg?.schema?.file) fail(`subgraph ${name}: only 'schema.file' sources are supported here`);
  if (!sg.routing_url) fail(`subgraph ${name}: 'routing_url' is required`);
  const file = resolve(dirname(configPath), sg.schema.file);
  if (!existsSync(file)) fail(`subgraph ${name}: ${file} does not exist (run scripts/export-schema)`);
  let typeDefs;
  try {
    typeDefs = parse(readFileSync(file, 'utf8'));
  } catch (e) {
    fail(`subgraph ${name}: ${file}: ${e.message}`);
  }
  return { name, url: sg.routing_url, typeDefs };
});

const result = composeServices(services);
if (result.errors && result.errors.length > 0) {
  for (const e of result.errors) {
    console.error(`composition error${e.extensions?.code ? ` [${e.extensions.code}]` : ''}: ${e.message}`);
  }
  fail(`composition failed with ${result.errors.length} error(s)`);
}
for (const h of result.hints ?? []) {
  console.error(`composition hint [${h.definition?.code ?? 'HINT'}]: ${h.message}`);
}

const sdl = result.supergraphSdl.endsWith('\n') ? result.supergraphSdl : `${result.supergraphSdl}\n`;
const rel = outPath.startsWith(root) ? outPath.slice(root.length + 1) : outPath;

if (args.has('--stdout')) {
  process.stdout.write(sdl);
} else if (args.has('--check')) {
  const current = existsSync(outPath) ? readFileSync(outPath, 'utf8') : null;
  if (current === null) fail(`${rel} is missing: run \`node router/compose.mjs\` and commit it`);
  if (current !== sdl) {
    const a = current.split('\n');
    const b = sdl.split('\n');
    const i = a.findIndex((line, n) => line !== b[n]);
    const at = i === -1 ? Math.min(a.length, b.length) : i;
    console.error(`first difference at line ${at + 1}:\n  checked in: ${a[at] ?? '<end of file>'}\n  composed:   ${b[at] ?? '<end of file>'}`);
    fail(`${rel} is out of date with supergraph.yaml and the subgraph schemas: run \`node router/compose.mjs\` and commit it`);
  }
  console.log(`compose: ${rel} is up to date (@apollo/composition ${installed})`);
} else {
  const current = existsSync(outPath) ? readFileSync(outPath, 'utf8') : null;
  if (current !== sdl) writeFileSync(outPath, sdl);
  console.log(`compose: ${current === sdl ? 'unchanged' : 'wrote'} ${rel} (@apollo/composition ${installed})`);
}
