// enigma.js (Qlik's own Node.js client) through the qlikauth proxy, knowing nothing of Qlik
// authentication: node enigma_client.js WS_URL APP_ID EXPRESSION
// Prints one JSON line: the expression's value and the qUrl of a CSV export of a hypercube.
'use strict';
const path = require('path');

const modules = path.resolve(__dirname, '..', 'node', 'node_modules');
const enigma = require(path.join(modules, 'enigma.js'));
const schema = require(path.join(modules, 'enigma.js', 'schemas', '12.2027.0.json'));
const WebSocket = require(path.join(modules, 'ws'));

const [url, appId, expression] = process.argv.slice(2);

async function main() {
  const session = enigma.create({
    schema,
    url,
    createSocket: (address) => new WebSocket(address),
  });
  const global = await session.open();
  const doc = await global.openDoc(appId);
  const value = await doc.evaluate(expression);
  const table = await doc.createSessionObject({
    qInfo: { qType: 'table' },
    qHyperCubeDef: {
      qDimensions: [{ qDef: { qFieldDefs: ['Region'] } }],
      qMeasures: [{ qDef: { qDef: 'Sum(Amount)' } }],
      qInitialDataFetch: [{ qTop: 0, qLeft: 0, qWidth: 2, qHeight: 50 }],
    },
  });
  const exported = await table.exportData('CSV_C', '/qHyperCubeDef');
  await session.close();
  console.log(JSON.stringify({ value, qUrl: exported.qUrl }));
}

main().catch((error) => {
  console.error(`enigma.js failed: ${error && (error.message || error.code || error)}`);
  process.exit(1);
});
