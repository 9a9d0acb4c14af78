import { parseIpAddress } from '../address.ts';
import {
  getAddressLeaf,
  MAX_JSON_BODY,
  originOf,
  parseError,
  parseJson,
  publicAddress,
  request,
  runResolution,
  statusError,
} from '../http.ts';
import type { PublicAddress, ResolveOptions } from '../types.ts';

/** Azure Instance Metadata Service. */
export const AZURE_IMDS_BASE_URL = 'http://169.254.169.254';
/** api-version used for the instance network leaf. */
export const AZURE_INSTANCE_API_VERSION = '2021-02-01';
/** api-version used for the load balancer document (introduced in 2020-10-01). */
export const AZURE_LOADBALANCER_API_VERSION = '2020-10-01';

/**
 * Azure VMs: with `Metadata: true`,
 * `GET /metadata/instance/network/interface/0/ipv4/ipAddress/0/publicIpAddress?api-version=…&format=text`.
 * IMDS reports only Basic-SKU public IPs there; when the leaf is empty or 404
 * (Standard SKU, or a VM behind a Standard Load Balancer) this falls back to
 * `GET /metadata/loadbalancer?api-version=2020-10-01` and takes the first
 * `loadbalancer.publicIpAddresses[].frontendIpAddress` of each family.
 */
export function resolveAzure(options: ResolveOptions = {}): Promise<PublicAddress> {
  return runResolution('azure', options, 1000, async (ctx) => {
    const origin = originOf('azure', options.baseUrl, AZURE_IMDS_BASE_URL);
    const headers = { Metadata: 'true' };
    const leaf = `${origin}/metadata/instance/network/interface/0/ipv4/ipAddress/0/publicIpAddress?api-version=${AZURE_INSTANCE_API_VERSION}&format=text`;
    const ipv4 = await getAddressLeaf(ctx, leaf, headers, 4);
    if (ipv4 !== undefined) return publicAddress('azure', ipv4, undefined);

    const lbUrl = `${origin}/metadata/loadbalancer?api-version=${AZURE_LOADBALANCER_API_VERSION}`;
    const answer = await request(ctx, 'fetch', lbUrl, { headers }, MAX_JSON_BODY);
    if (answer.status === 404) return publicAddress('azure', undefined, undefined);
    if (answer.status !== 200) throw statusError(ctx, 'fetch', lbUrl, answer);
    const doc = parseJson(ctx, answer, 'load balancer metadata');
    const entries = readFrontends(doc);
    if (entries === undefined)
      throw parseError(ctx, 'load balancer metadata', answer.body, answer.status);
    let lb4: string | undefined;
    let lb6: string | undefined;
    for (const text of entries) {
      const ip = parseIpAddress(text);
      if (ip === undefined)
        throw parseError(ctx, 'loadbalancer frontendIpAddress', text, answer.status);
      if (ip.includes(':')) lb6 ??= ip;
      else lb4 ??= ip;
    }
    return publicAddress('azure', lb4, lb6);
  });
}

function readFrontends(doc: unknown): string[] | undefined {
  if (typeof doc !== 'object' || doc === null) return undefined;
  const lb = (doc as { loadbalancer?: unknown }).loadbalancer;
  if (typeof lb !== 'object' || lb === null) return undefined;
  const list = (lb as { publicIpAddresses?: unknown }).publicIpAddresses;
  if (list === undefined) return [];
  if (!Array.isArray(list)) return undefined;
  const out: string[] = [];
  for (const entry of list) {
    if (typeof entry !== 'object' || entry === null) return undefined;
    const value = (entry as { frontendIpAddress?: unknown }).frontendIpAddress;
    if (typeof value !== 'string') return undefined;
    if (value.length > 0) out.push(value);
  }
  return out;
}
