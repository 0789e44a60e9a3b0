import * as grpc from '@grpc/grpc-js';

/** Ends a server stream with a status: OK ends it normally, anything else as an error status. */
export function endWithError(call: grpc.ServerDuplexStream<Buffer, Buffer>, code: grpc.status, details: string): void {
  if (code === grpc.status.OK) {
    call.end();
    return;
  }
  const error: Partial<grpc.StatusObject> & Error = Object.assign(new Error(details), { code, details });
  call.emit('error', error);
}
