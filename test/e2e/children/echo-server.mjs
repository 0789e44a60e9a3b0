// An xDS-enabled gRPC server ("payments") for the end-to-end suite. Runs @grpc/grpc-js-xds with the
// bootstrap the agent wrote (GRPC_XDS_BOOTSTRAP), so listener, RBAC and TLS come from Accord.
// Prints JSON lines: {"event":"serving"|"not-serving", ...}. Stdin: {"cmd":"drain"}.
process.env.GRPC_XDS_EXPERIMENTAL_RBAC ??= 'true';
const grpc = await import('@grpc/grpc-js');
const xds = await import('@grpc/grpc-js-xds');
const { X509Certificate } = await import('node:crypto');
const readline = await import('node:readline');
xds.register();

const name = process.env.SERVER_NAME ?? 'server';
const address = process.env.LISTEN_ADDRESS;
const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
const failures = new Map();

const identity = (b) => b;
const service = {
  Call: { path: '/accord.test.Echo/Call', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};

function peerIdentity(call) {
  try {
    const context = call.getAuthContext?.();
    const der = context?.sslPeerCertificate?.raw;
    if (!der) return { transport: context?.transportSecurityType ?? 'none' };
    const cert = new X509Certificate(der);
    return { transport: context.transportSecurityType, san: cert.subjectAltName, serial: cert.serialNumber };
  } catch (error) {
    return { error: String(error) };
  }
}

const server = new xds.XdsServer({ drainGraceTimeMs: 500 });
server.addService(service, {
  Call(call, callback) {
    let request = {};
    try {
      request = JSON.parse(call.request.toString('utf8') || '{}');
    } catch {
      request = {};
    }
    if (request.failKey && (request.failTimes ?? 0) > 0) {
      const seen = failures.get(request.failKey) ?? 0;
      failures.set(request.failKey, seen + 1);
      if (seen < request.failTimes) {
        callback({ code: grpc.status.UNAVAILABLE, details: `deliberate failure ${seen + 1}` });
        return;
      }
    }
    const reply = () => callback(null, Buffer.from(JSON.stringify({ server: name, peer: peerIdentity(call), attempts: failures.get(request.failKey) ?? 1 })));
    if (request.sleepMs) setTimeout(reply, request.sleepMs);
    else reply();
  },
});
server.addServingStateListener(address, (status) => emit({ event: status.code === grpc.status.OK ? 'serving' : 'not-serving', code: status.code, details: status.details }));
server.bindAsync(address, new xds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (error, port) => {
  emit(error ? { event: 'bind-error', error: String(error) } : { event: 'bound', port });
});

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line);
  if (command.cmd === 'drain') {
    server.drain(address, command.graceMs ?? 200);
    emit({ event: 'drained' });
  }
});
process.on('SIGTERM', () => server.forceShutdown());
