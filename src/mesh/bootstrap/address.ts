import { isIP } from 'node:net';

export interface HostPort {
  readonly host: string;
  readonly port: number;
  /** Whether `host` is an IP literal (as opposed to a name that needs DNS). */
  readonly isIp: boolean;
}

/** Parses `host:port`, `ipv4:port` or `[ipv6]:port`; throws on anything else. */
export function parseHostPort(address: string): HostPort {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(address);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`invalid address "${address}": expected host:port or [ipv6]:port with a port from 1 to 65535`);
  }
  if (match?.[1] !== undefined && isIP(host) !== 6) throw new Error(`invalid address "${address}": "${host}" is not an IPv6 address`);
  return { host, port, isIp: isIP(host) !== 0 };
}
