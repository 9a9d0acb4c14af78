/**
 * Splits a `"host:port"` endpoint (IPv6 in brackets: `"[::1]:7200"`) as the
 * session endpoint, the mesh registry and peer-to-peer signalling write it.
 * Null when it is not of that shape or the port is over 65535.
 */
export function parseHostPort(value: string): { host: string; port: number } | null {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  if (match === null) return null;
  const port = Number(match[3]);
  return port > 65535 ? null : { host: (match[1] ?? match[2])!, port };
}
