// Qlik's enigma.js, used as its own documentation shows, judging a Qlik Sense server.
//
//   node enigma_probe.js APP_ID EXPRESSION delta|nodelta
//
// Through the proxy (run under `qlikauth exec --app APP`): QLIK_WS_URL, QLIK_WS_HEADERS_JSON,
// QLIK_ORIGIN and QLIK_ROOT_CA, as exec exports them.
// Direct to the engine with a QMC certificate export: QLIK_ENGINE_URL (wss://host:port),
// QLIK_CERTS (the folder with client.pem, client_key.pem, root.pem) and QLIK_USER (DIR\user).
//
// Prints one JSON object: for each step (open, getDocList, openDoc, evaluate, evaluateEx)
// either {"value": ...} or {"error": "..."}, so a test sees which step failed and how.
'use strict';

const fs = require('fs');
const path = require('path');
const enigma = require('enigma.js');
const WebSocket = require('ws');
const schema = require('enigma.js/schemas/12.2027.0.json');

const [appId, expression, mode] = process.argv.slice(2);
if (!appId || !expression || !['delta', 'nodelta'].includes(mode)) {
  console.error('usage: node enigma_probe.js APP_ID EXPRESSION delta|nodelta');
  process.exit(2);
}

function viaProxy() {
  const headers = JSON.parse(process.env.QLIK_WS_HEADERS_JSON);
  const tls = process.env.QLIK_ROOT_CA ? { ca: fs.readFileSync(process.env.QLIK_ROOT_CA) } : {};
  return {
    url: process.env.QLIK_WS_URL,
    socket: (url) => new WebSocket(url, { headers, origin: process.env.QLIK_ORIGIN, ...tls }),
  };
}

function direct() {
  const certs = process.env.QLIK_CERTS;
  const [directory, userId] = process.env.QLIK_USER.split('\\');
  const user = `UserDirectory=${encodeURIComponent(directory)}; UserId=${encodeURIComponent(userId)}`;
  return {
    url: `${process.env.QLIK_ENGINE_URL}/app/${encodeURIComponent(appId)}`,
    socket: (url) => new WebSocket(url, {
      ca: fs.readFileSync(path.join(certs, 'root.pem')),
      cert: fs.readFileSync(path.join(certs, 'client.pem')),
      key: fs.readFileSync(path.join(certs, 'client_key.pem')),
      headers: { 'X-Qlik-User': user },
    }),
  };
}

// enigma.js makes an API object (type, handle, the class's methods) from an engine answer
// that names one; anything else it resolved with is reported as it is.
function shown(value) {
  return value && typeof value === 'object' && 'handle' in value && 'session' in value
    ? { type: value.type, handle: value.handle }
    : value;
}

async function step(report, name, action) {
  try {
    const value = await action();
    report[name] = { value: shown(value) };
    return value;
  } catch (error) {
    report[name] = { error: String(error && error.message ? error.message : error) };
    return undefined;
  }
}

async function main() {
  const route = process.env.QLIK_CERTS ? direct() : viaProxy();
  const config = { schema, url: route.url, createSocket: route.socket };
  if (mode === 'nodelta') {
    config.protocol = { delta: false }; // as enigma.js's docs say; delta is its default
  }
  const session = enigma.create(config);
  const report = { mode };
  const global = await step(report, 'open', () => session.open());
  if (global !== undefined) {
    await step(report, 'getDocList', () => global.getDocList());
    const app = await step(report, 'openDoc', () => global.openDoc(appId));
    await step(report, 'evaluate', () => app.evaluate(expression));
    await step(report, 'evaluateEx', () => app.evaluateEx(expression));
  }
  await session.close().catch(() => undefined);
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
