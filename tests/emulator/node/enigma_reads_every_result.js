// Qlik's enigma.js, in its default configuration (delta protocol on) and with delta off,
// runs the same calls against the emulator and prints what it read, as JSON on stdout.
// Input (environment): QLIK_URL (wss://…/app/<id>?…), QLIK_COOKIE, QLIK_ORIGIN, QLIK_CA,
// QLIK_APP. enigma.js and ws come from NODE_PATH (tests/node/node_modules).
'use strict';

const fs = require('fs');
const enigma = require('enigma.js');
const schema = require('enigma.js/schemas/12.2027.0.json');
const WebSocket = require('ws');

const env = (name) => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

const CUBE = {
  qInfo: { qType: 'table' },
  qHyperCubeDef: {
    qDimensions: [{ qDef: { qFieldDefs: ['Region'] } }],
    qMeasures: [{ qDef: { qDef: 'Sum(Amount)' } }, { qDef: { qDef: 'Count(OrderId)' } }],
    qInitialDataFetch: [{ qLeft: 0, qTop: 0, qWidth: 3, qHeight: 2 }],
  },
};

async function run(delta) {
  const traffic = { sentDelta: 0, receivedDelta: 0 };
  const session = enigma.create({
    schema,
    url: env('QLIK_URL'),
    protocol: delta === undefined ? undefined : { delta },
    createSocket: (url) => new WebSocket(url, {
      ca: fs.readFileSync(env('QLIK_CA')),
      headers: { Cookie: env('QLIK_COOKIE') },
      origin: env('QLIK_ORIGIN'),
    }),
  });
  session.on('traffic:sent', (data) => { if (data.delta) traffic.sentDelta += 1; });
  session.on('traffic:received', (data) => { if (data.delta) traffic.receivedDelta += 1; });
  const out = {};
  try {
    const global = await session.open();
    out.engineVersion = await global.engineVersion();
    out.productVersion = await global.productVersion();
    out.docList = (await global.getDocList()).map((d) => d.qDocId).sort();
    out.docListAgain = (await global.getDocList()).map((d) => d.qTitle).sort();
    const app = await global.openDoc(env('QLIK_APP'));
    out.evaluate = await app.evaluate('Sum(Amount)');
    out.evaluateAgain = await app.evaluate('Count(OrderId)');
    out.evaluateEx = await app.evaluateEx('Sum(Amount)/2');
    out.appLayoutTitle = (await app.getAppLayout()).qTitle;
    const table = await app.createSessionObject(CUBE);
    const first = await table.getLayout();
    const second = await table.getLayout();
    out.layoutMatrix = first.qHyperCube.qDataPages[0].qMatrix;
    out.layoutStable = JSON.stringify(first) === JSON.stringify(second);
    out.pageTop = await table.getHyperCubeData('/qHyperCubeDef',
      [{ qLeft: 0, qTop: 0, qWidth: 3, qHeight: 2 }]);
    out.pageNext = await table.getHyperCubeData('/qHyperCubeDef',
      [{ qLeft: 0, qTop: 2, qWidth: 3, qHeight: 3 }]);
    out.pageTopAgain = await table.getHyperCubeData('/qHyperCubeDef',
      [{ qLeft: 0, qTop: 0, qWidth: 3, qHeight: 2 }]);
    out.properties = await table.getProperties();
    out.destroyed = await app.destroySessionObject(table.id);
    const other = await app.createSessionObject(CUBE);
    out.otherLayoutMatrix = (await other.getLayout()).qHyperCube.qDataPages[0].qMatrix;
  } finally {
    await session.close().catch(() => {});
  }
  out.traffic = traffic;
  return out;
}

(async () => {
  const result = { default: await run(undefined), noDelta: await run(false) };
  process.stdout.write(JSON.stringify(result));
})().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
