import {
  expectAddress,
  MAX_JSON_BODY,
  originOf,
  parseError,
  parseJson,
  publicAddress,
  readToken,
  request,
  runResolution,
  statusError,
} from '../http.ts';
import type { PublicAddress, ResolveOptions } from '../types.ts';

/** Akamai (Linode) metadata service. */
export const LINODE_METADATA_BASE_URL = 'http://169.254.169.254';
/** Metadata token lifetime requested, in seconds. */
export const LINODE_TOKEN_EXPIRY_SECONDS = 60;

/**
 * Akamai Cloud (Linode): `PUT /v1/token` with `Metadata-Token-Expiry-Seconds`,
 * then `GET /v1/network` with `Metadata-Token` and `Accept: application/json`.
 * The document lists addresses in CIDR form: `ipv4.public` is an array
 * (`"203.0.113.5/32"`), `ipv6.slaac` one prefix (`"2600:3c00::1/128"`); the
 * first public IPv4 and the SLAAC address are returned.
 */
export function resolveLinode(options: ResolveOptions = {}): Promise<PublicAddress> {
  return runResolution('linode', options, 1000, async (ctx) => {
    const origin = originOf('linode', options.baseUrl, LINODE_METADATA_BASE_URL);
    const tokenAnswer = await request(ctx, 'token', `${origin}/v1/token`, {
      method: 'PUT',
      headers: { 'Metadata-Token-Expiry-Seconds': String(LINODE_TOKEN_EXPIRY_SECONDS) },
    });
    const token = readToken(ctx, tokenAnswer);
    const url = `${origin}/v1/network`;
    const answer = await request(
      ctx,
      'fetch',
      url,
      { headers: { 'Metadata-Token': token, Accept: 'application/json' } },
      MAX_JSON_BODY,
    );
    if (answer.status !== 200) throw statusError(ctx, 'fetch', url, answer);
    const doc = parseJson(ctx, answer, 'network metadata');
    if (typeof doc !== 'object' || doc === null)
      throw parseError(ctx, 'network metadata', answer.body, 200);
    const { ipv4, ipv6 } = doc as { ipv4?: unknown; ipv6?: unknown };
    let v4: string | undefined;
    let v6: string | undefined;
    if (ipv4 !== undefined && ipv4 !== null) {
      const list = (ipv4 as { public?: unknown }).public;
      if (list !== undefined && list !== null) {
        if (!Array.isArray(list)) throw parseError(ctx, 'ipv4.public', JSON.stringify(list), 200);
        const first: unknown = list[0];
        if (first !== undefined) {
          if (typeof first !== 'string')
            throw parseError(ctx, 'ipv4.public[0]', JSON.stringify(first), 200);
          v4 = expectAddress(ctx, first, 4, 'ipv4.public[0]', 200, true);
        }
      }
    }
    if (ipv6 !== undefined && ipv6 !== null) {
      const slaac = (ipv6 as { slaac?: unknown }).slaac;
      if (typeof slaac === 'string' && slaac.length > 0)
        v6 = expectAddress(ctx, slaac, 6, 'ipv6.slaac', 200, true);
      else if (slaac !== undefined && slaac !== null && slaac !== '') {
        throw parseError(ctx, 'ipv6.slaac', JSON.stringify(slaac), 200);
      }
    }
    return publicAddress('linode', v4, v6);
  });
}
