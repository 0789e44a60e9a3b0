/** Messages up to this size are carved from a slab; larger ones get memory of their own. */
const MAX_CARVED = 64 * 1024;
const SLAB_SIZE = 4 * MAX_CARVED;

/**
 * Memory for outgoing xDS messages, which live only until grpc-js has framed them (it copies each
 * into a buffer of its own). `Buffer.allocUnsafe` gives every message over 4 KB (a CDS or LDS
 * response) an ArrayBuffer of its own and starts a new 8 KB pool every few smaller ones; creating
 * those backing stores was ≈ 4 % of the control plane's CPU in a reconnect storm of 10,000
 * proxies (docs/benchmarks.md, `fleet`). Here one 256 KB slab serves dozens of messages. A slab
 * is freed once every message carved from it is gone; nothing long-lived may be carved from it
 * (cached resources use `Buffer.allocUnsafeSlow`, see `encodeAny`).
 */
export class MessageSlab {
  private slab: Buffer = Buffer.alloc(0);
  private used = 0;

  take(length: number): Buffer {
    if (length > MAX_CARVED) return Buffer.allocUnsafeSlow(length);
    if (this.used + length > this.slab.length) {
      this.slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
      this.used = 0;
    }
    const out = this.slab.subarray(this.used, this.used + length);
    // Keep the next message 8-byte aligned, as Node's own pool does.
    this.used += (length + 7) & ~7;
    return out;
  }
}
