import {
  getAddressLeaf,
  originOf,
  publicAddress,
  readToken,
  request,
  runResolution,
} from '../http.ts';
import type { PublicAddress, ResolveOptions } from '../types.ts';

/** Alibaba Cloud ECS metadata service. */
export const ALIBABA_METADATA_BASE_URL = 'http://100.100.100.200';
/** Hardened-mode token lifetime requested, in seconds (Alibaba accepts 1 to 21600). */
export const ALIBABA_TOKEN_TTL_SECONDS = 60;

/**
 * Alibaba Cloud ECS in security-hardening mode: `PUT /latest/api/token` with
 * `X-aliyun-ecs-metadata-token-ttl-seconds`, then with
 * `X-aliyun-ecs-metadata-token` `GET /latest/meta-data/eipv4` (elastic IP) and,
 * when that is 404, `GET /latest/meta-data/public-ipv4` (fixed public IP).
 * A 404 or 405 on the token request (a service without hardened mode) falls
 * back to normal mode, without the token header; any other refusal fails.
 */
export function resolveAlibaba(options: ResolveOptions = {}): Promise<PublicAddress> {
  return runResolution('alibaba', options, 1000, async (ctx) => {
    const origin = originOf('alibaba', options.baseUrl, ALIBABA_METADATA_BASE_URL);
    const tokenAnswer = await request(ctx, 'token', `${origin}/latest/api/token`, {
      method: 'PUT',
      headers: { 'X-aliyun-ecs-metadata-token-ttl-seconds': String(ALIBABA_TOKEN_TTL_SECONDS) },
    });
    const headers: Record<string, string> = {};
    if (tokenAnswer.status === 404 || tokenAnswer.status === 405) {
      options.logger?.debug?.('cloud-endpoint: alibaba token endpoint absent, using normal mode', {
        status: tokenAnswer.status,
      });
    } else {
      headers['X-aliyun-ecs-metadata-token'] = readToken(ctx, tokenAnswer);
    }
    const eip = await getAddressLeaf(ctx, `${origin}/latest/meta-data/eipv4`, headers, 4);
    const ipv4 =
      eip ?? (await getAddressLeaf(ctx, `${origin}/latest/meta-data/public-ipv4`, headers, 4));
    return publicAddress('alibaba', ipv4, undefined);
  });
}
