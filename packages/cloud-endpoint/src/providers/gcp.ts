import { CloudEndpointError, CloudEndpointErrorCode } from '../errors.ts';
import {
  getAddressLeaf,
  type HttpAnswer,
  originOf,
  publicAddress,
  runResolution,
} from '../http.ts';
import type { PublicAddress, ResolveOptions } from '../types.ts';

/** Compute Engine metadata server. */
export const GCP_METADATA_BASE_URL = 'http://metadata.google.internal';

const INTERFACE = '/computeMetadata/v1/instance/network-interfaces/0';

/**
 * Google Compute Engine: with `Metadata-Flavor: Google`,
 * `GET .../network-interfaces/0/access-configs/0/external-ip` and
 * `.../ipv6-access-configs/0/external-ipv6` (404 when absent). The answer must
 * carry the `Metadata-Flavor: Google` response header, which tells the real
 * metadata server from anything else listening at that name.
 */
export function resolveGcp(options: ResolveOptions = {}): Promise<PublicAddress> {
  return runResolution('gcp', options, 1000, async (ctx) => {
    const origin = originOf('gcp', options.baseUrl, GCP_METADATA_BASE_URL);
    const headers = { 'Metadata-Flavor': 'Google' };
    const check = (answer: HttpAnswer): void => {
      if (answer.headers.get('metadata-flavor') !== 'Google') {
        throw new CloudEndpointError(
          CloudEndpointErrorCode.Fetch,
          'gcp',
          'fetch',
          'answer lacks the Metadata-Flavor: Google header (not a GCP metadata server)',
          { status: answer.status },
        );
      }
    };
    const [ipv4, ipv6] = await Promise.all([
      getAddressLeaf(ctx, `${origin}${INTERFACE}/access-configs/0/external-ip`, headers, 4, check),
      getAddressLeaf(
        ctx,
        `${origin}${INTERFACE}/ipv6-access-configs/0/external-ipv6`,
        headers,
        6,
        check,
      ),
    ]);
    return publicAddress('gcp', ipv4, ipv6);
  });
}
