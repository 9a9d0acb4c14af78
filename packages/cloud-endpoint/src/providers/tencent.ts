import { getAddressLeaf, originOf, publicAddress, runResolution } from '../http.ts';
import type { PublicAddress, ResolveOptions } from '../types.ts';

/** Tencent Cloud CVM metadata service (resolvable only inside Tencent Cloud). */
export const TENCENT_METADATA_BASE_URL = 'http://metadata.tencentyun.com';

/**
 * Tencent Cloud CVM: `GET /latest/meta-data/public-ipv4` (no token, no header;
 * 404 when the instance has no public IP).
 */
export function resolveTencent(options: ResolveOptions = {}): Promise<PublicAddress> {
  return runResolution('tencent', options, 1000, async (ctx) => {
    const origin = originOf('tencent', options.baseUrl, TENCENT_METADATA_BASE_URL);
    const ipv4 = await getAddressLeaf(ctx, `${origin}/latest/meta-data/public-ipv4`, {}, 4);
    return publicAddress('tencent', ipv4, undefined);
  });
}
