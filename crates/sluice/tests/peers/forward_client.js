// Sends COUNT records to a forward input with the npm fluent-logger
// client in the given event mode, each waiting for its ack, then exits
// 0 once every callback succeeded (1 on the first error).
//
//   node forward_client.js PORT MODE COUNT [SHARED_KEY]
'use strict';
const { createFluentSender, EventTime } = require('fluent-logger');

const [port, mode, count, sharedKey] = process.argv.slice(2);
const options = {
  host: '127.0.0.1',
  port: Number(port),
  eventMode: mode,
  requireAckResponse: true,
  ackResponseTimeout: 10000,
  flushInterval: 20,
  enableReconnect: false,
};
if (sharedKey) {
  options.security = { clientHostname: 'node-peer', sharedKey, username: '', password: '' };
}
const logger = createFluentSender('node', options);
logger.on('error', (err) => {
  console.error('fluent-logger error:', err.message || err);
  process.exit(1);
});

let pending = Number(count);
for (let n = 0; n < Number(count); n++) {
  logger.emit(mode, { n, mode }, EventTime.now(), (err) => {
    if (err) {
      console.error('emit failed:', err.message || err);
      process.exit(1);
    }
    pending -= 1;
    if (pending === 0) {
      logger.end(null, null, () => process.exit(0));
    }
  });
}
