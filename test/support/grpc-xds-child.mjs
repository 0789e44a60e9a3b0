// A proxyless gRPC app (real @grpc/grpc-js-xds) in its own process, one xDS identity per
// process. The bootstrap comes from GRPC_XDS_BOOTSTRAP_CONFIG. Commands arrive on stdin and
// replies leave on stdout, one JSON object per line:
//   {"id":1,"op":"call","target":"xds:///echo","timeoutMs":2000}
//     -> {"id":1,"ok":true,"reply":"backend-a"} | {"id":1,"ok":false,"code":14,"details":"..."}
//   {"id":2,"op":"serve","address":"127.0.0.1:9001","name":"xds-server"}
//     -> {"id":2,"ok":true} once bound; serving-state changes arrive as
//        {"event":"serving","address":"...","code":0,"details":"..."}
//   {"id":3,"op":"exit"}
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';

xds.register();

const raw = (b) => b;
const Echo = grpc.makeGenericClientConstructor(
  {
    Who: {
      path: '/accord.test.Echo/Who',
      requestStream: false,
      responseStream: false,
      requestSerialize: raw,
      requestDeserialize: raw,
      responseSerialize: raw,
      responseDeserialize: raw,
    },
  },
  'Echo',
);

const servers = [];
function serve(id, address, name) {
  const server = new xds.XdsServer({ drainGraceTimeMs: 500 });
  server.addService(Echo.service, {
    Who: (_call, callback) => callback(null, Buffer.from(name)),
  });
  server.bindAsync(address, new xds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (err) => {
    if (err) reply({ id, ok: false, details: err.message });
    else reply({ id, ok: true });
  });
  // Listeners attach to a bound port entry, which bindAsync creates.
  server.addServingStateListener(address, (state) => {
    reply({ event: 'serving', address, code: state.code, details: state.details });
  });
  servers.push(server);
}

const clients = new Map();
function clientFor(target) {
  let client = clients.get(target);
  if (!client) {
    // xDS security when the cluster carries a TLS transport socket; plaintext otherwise.
    client = new Echo(target, new xds.XdsChannelCredentials(grpc.credentials.createInsecure()));
    clients.set(target, client);
  }
  return client;
}

function reply(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let command;
  try {
    command = JSON.parse(line);
  } catch {
    reply({ ok: false, details: `not JSON: ${line}` });
    return;
  }
  const { id, op } = command;
  if (op === 'exit') {
    for (const client of clients.values()) client.close();
    for (const server of servers) server.forceShutdown();
    reply({ id, ok: true });
    process.exit(0);
  }
  if (op === 'call') {
    const deadline = Date.now() + (command.timeoutMs ?? 2000);
    clientFor(command.target).Who(Buffer.from('who'), { deadline }, (err, value) => {
      if (err) reply({ id, ok: false, code: err.code, details: err.details });
      else reply({ id, ok: true, reply: value.toString() });
    });
    return;
  }
  if (op === 'serve') {
    serve(id, command.address, command.name);
    return;
  }
  reply({ id, ok: false, details: `unknown op ${op}` });
});
lines.on('close', () => process.exit(0));
reply({ ready: true });
