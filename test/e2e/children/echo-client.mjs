// A proxyless gRPC client for the end-to-end suite: @grpc/grpc-js-xds with XdsChannelCredentials and
// the bootstrap its agent wrote (GRPC_XDS_BOOTSTRAP). Commands arrive as JSON lines on stdin and
// are answered as JSON lines on stdout, each with the command's id.
//   {"id":1,"cmd":"call","target":"xds:///payments","n":10,"deadlineMs":2000,"body":{},"fresh":false}
//   {"id":2,"cmd":"startLoad","target":"xds:///payments","rate":100,"deadlineMs":1000}
//   {"id":3,"cmd":"stopLoad"}
const grpc = await import('@grpc/grpc-js');
const xds = await import('@grpc/grpc-js-xds');
const readline = await import('node:readline');
xds.register();

const identity = (b) => b;
const Client = grpc.makeGenericClientConstructor({
  Call: { path: '/accord.test.Echo/Call', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
});
const clients = new Map();
let freshCount = 0;
function clientFor(target, fresh) {
  if (fresh) {
    freshCount += 1;
    // A private subchannel pool forces a new connection, hence a new TLS handshake.
    return new Client(target, new xds.XdsChannelCredentials(grpc.credentials.createInsecure()), { 'grpc.use_local_subchannel_pool': 1, 'accord.fresh': freshCount });
  }
  let client = clients.get(target);
  if (!client) {
    client = new Client(target, new xds.XdsChannelCredentials(grpc.credentials.createInsecure()));
    clients.set(target, client);
  }
  return client;
}

function callOnce(client, body, deadlineMs) {
  return new Promise((resolve) => {
    const started = Date.now();
    client.Call(Buffer.from(JSON.stringify(body ?? {})), { deadline: Date.now() + deadlineMs }, (error, response) => {
      const ms = Date.now() - started;
      if (error) resolve({ ok: false, code: error.code, details: error.details, ms });
      else resolve({ ok: true, body: JSON.parse(response.toString('utf8')), ms });
    });
  });
}

const emit = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
let load;

async function handle(command) {
  if (command.cmd === 'call') {
    const client = clientFor(command.target, command.fresh);
    const results = [];
    for (let i = 0; i < (command.n ?? 1); i += 1) results.push(await callOnce(client, command.body, command.deadlineMs ?? 2000));
    if (command.fresh) client.close();
    return { results };
  }
  if (command.cmd === 'startLoad') {
    const client = clientFor(command.target, false);
    const stats = { ok: 0, failed: 0, errors: [], servers: {}, serials: {} };
    const interval = Math.max(1, Math.round(1000 / (command.rate ?? 100)));
    const timer = setInterval(() => {
      callOnce(client, command.body, command.deadlineMs ?? 1000).then((result) => {
        if (result.ok) {
          stats.ok += 1;
          stats.servers[result.body.server] = (stats.servers[result.body.server] ?? 0) + 1;
        } else {
          stats.failed += 1;
          if (stats.errors.length < 20) stats.errors.push({ code: result.code, details: result.details, at: Date.now() });
        }
      });
    }, interval);
    load = { timer, stats };
    return { started: true };
  }
  if (command.cmd === 'stopLoad') {
    clearInterval(load?.timer);
    await new Promise((r) => setTimeout(r, (command.settleMs ?? 1200)));
    const stats = load?.stats;
    load = undefined;
    return { stats };
  }
  if (command.cmd === 'loadStats') return { stats: load?.stats };
  return { error: `unknown command ${command.cmd}` };
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line);
  handle(command).then(
    (result) => emit({ id: command.id, ...result }),
    (error) => emit({ id: command.id, error: String(error) }),
  );
});
emit({ event: 'ready' });
