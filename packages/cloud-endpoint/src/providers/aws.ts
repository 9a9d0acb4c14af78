import {
  getAddressLeaf,
  originOf,
  publicAddress,
  readToken,
  request,
  runResolution,
} from '../http.ts';
import type { PublicAddress, ResolveOptions } from '../types.ts';

/** EC2 instance metadata service (IMDS), IPv4 link-local origin. */
export const AWS_IMDS_BASE_URL = 'http://169.254.169.254';
/** EC2 IMDS over IPv6 (Nitro instances with the IPv6 endpoint enabled): pass as `baseUrl`. */
export const AWS_IMDS_IPV6_BASE_URL = 'http://[fd00:ec2::254]';
/** IMDSv2 session token lifetime requested, in seconds (AWS accepts 1 to 21600). */
export const AWS_TOKEN_TTL_SECONDS = 60;

/**
 * AWS EC2 through IMDSv2: `PUT /latest/api/token` with
 * `X-aws-ec2-metadata-token-ttl-seconds`, then with `X-aws-ec2-metadata-token`
 * `GET /latest/meta-data/public-ipv4` and `GET /latest/meta-data/ipv6`
 * (each 404 when the instance has no such address).
 */
export function resolveAws(options: ResolveOptions = {}): Promise<PublicAddress> {
  return runResolution('aws', options, 1000, async (ctx) => {
    const origin = originOf('aws', options.baseUrl, AWS_IMDS_BASE_URL);
    const tokenAnswer = await request(ctx, 'token', `${origin}/latest/api/token`, {
      method: 'PUT',
      headers: { 'X-aws-ec2-metadata-token-ttl-seconds': String(AWS_TOKEN_TTL_SECONDS) },
    });
    const headers = { 'X-aws-ec2-metadata-token': readToken(ctx, tokenAnswer) };
    const [ipv4, ipv6] = await Promise.all([
      getAddressLeaf(ctx, `${origin}/latest/meta-data/public-ipv4`, headers, 4),
      getAddressLeaf(ctx, `${origin}/latest/meta-data/ipv6`, headers, 6),
    ]);
    return publicAddress('aws', ipv4, ipv6);
  });
}
