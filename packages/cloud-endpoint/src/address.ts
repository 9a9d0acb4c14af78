import { isIP } from 'node:net';

/**
 * Returns the IP address in `text` when the whole (trimmed) text is one IPv4 or
 * IPv6 literal, otherwise `undefined`. A CIDR suffix (`/32`, `/128`) is accepted
 * only when `allowPrefix` is set (Linode answers in CIDR form). Unspecified
 * addresses (`0.0.0.0`, `::`) are refused: they are never a public endpoint.
 */
export function parseIpAddress(text: string, allowPrefix: boolean = false): string | undefined {
  let value = text.trim();
  if (value.length === 0 || value.length > 64) return undefined;
  if (allowPrefix) {
    const slash = value.indexOf('/');
    if (slash !== -1) {
      const prefix = value.slice(slash + 1);
      if (!/^\d{1,3}$/.test(prefix)) return undefined;
      value = value.slice(0, slash);
    }
  }
  const family = isIP(value);
  if (family === 0) return undefined;
  if (family === 4 && value === '0.0.0.0') return undefined;
  if (family === 6 && /^[0:]+$/.test(value)) return undefined;
  return family === 6 ? value.toLowerCase() : value;
}

/** 4 or 6 for an IP literal, 0 otherwise. */
export function ipFamily(value: string): 0 | 4 | 6 {
  const family = isIP(value);
  return family === 4 || family === 6 ? family : 0;
}

const HOST_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;

/**
 * Normalises an explicitly configured endpoint: an IP literal (IPv6 may be in
 * brackets) or a DNS host name. Returns `undefined` when it is neither (a URL,
 * a `host:port`, spaces, HTML...).
 */
export function normaliseHost(text: string): string | undefined {
  let value = text.trim();
  if (value.startsWith('[') && value.endsWith(']')) value = value.slice(1, -1);
  const ip = parseIpAddress(value);
  if (ip !== undefined) return ip;
  if (value.length === 0 || value.length > 253) return undefined;
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  const labels = name.split('.');
  if (!labels.every((label) => HOST_LABEL.test(label))) return undefined;
  // A name made only of digits and dots is a malformed IPv4, not a host name.
  if (/^[\d.]+$/.test(name)) return undefined;
  return name.toLowerCase();
}
