import { afterEach, describe, expect, it } from 'vitest';
import { AZURE_INSTANCE_API_VERSION, CloudEndpointErrorCode, resolveAzure } from '../src/index.ts';
import { type Handler, hang, header, send, useFakes } from './fake-server.ts';

const LEAF = '/metadata/instance/network/interface/0/ipv4/ipAddress/0/publicIpAddress';

interface AzureFake {
  /** Basic-SKU public IP, shown in the instance leaf. */
  basic?: string;
  /** Standard-SKU / load balancer frontends; `undefined` → 404 on /metadata/loadbalancer. */
  frontends?: string[];
  data?: 'ok' | 'slow' | 'garbage';
}

/** Azure IMDS: `Metadata: true` and `api-version` required (400 otherwise); format=text for leaves. */
function azure(options: AzureFake): Handler {
  return (req, res, url) => {
    const json = { 'Content-Type': 'application/json; charset=utf-8' };
    if (header(req, 'metadata') !== 'true') {
      return send(
        res,
        400,
        '{"error":"Bad request. Required metadata header not specified"}',
        json,
      );
    }
    if (!url.searchParams.has('api-version'))
      return send(
        res,
        400,
        '{"error":"Bad request. api-version was not specified in the request"}',
        json,
      );
    if (options.data === 'slow') return hang(res);
    if (url.pathname === LEAF) {
      if (url.searchParams.get('format') !== 'text')
        return send(res, 200, JSON.stringify(options.basic ?? ''), json);
      return send(res, 200, options.basic ?? '');
    }
    if (url.pathname === '/metadata/loadbalancer') {
      if (options.data === 'garbage')
        return send(
          res,
          200,
          '{"loadbalancer": {"publicIpAddresses": [{"frontendIpAddress": "<html>"}]}}',
          json,
        );
      if (options.frontends === undefined) return send(res, 404, '{"error":"Not found"}', json);
      const publicIpAddresses = options.frontends.map((ip) => ({
        frontendIpAddress: ip,
        privateIpAddress: '10.1.0.4',
      }));
      return send(
        res,
        200,
        JSON.stringify({
          loadbalancer: { publicIpAddresses, inboundRules: [], outboundRules: [] },
        }),
        json,
      );
    }
    return send(res, 404, '{"error":"Not found"}', json);
  };
}

describe('resolveAzure', () => {
  const fakes = useFakes(afterEach);

  it('reads a Basic-SKU public IP from the instance leaf as text', async () => {
    const fake = await fakes.start(azure({ basic: '52.160.0.5' }));
    await expect(resolveAzure({ baseUrl: fake.baseUrl, fetch: fakes.fetch })).resolves.toEqual({
      provider: 'azure',
      ipv4: '52.160.0.5',
    });
    const first = new URL(fake.requests[0]?.url ?? '', 'http://x');
    expect(first.searchParams.get('api-version')).toBe(AZURE_INSTANCE_API_VERSION);
    expect(first.searchParams.get('format')).toBe('text');
    expect(fake.requests).toHaveLength(1);
  });

  it('falls back to the load balancer document for Standard-SKU IPs', async () => {
    const fake = await fakes.start(azure({ frontends: ['2603:10e1:100:2::1:1', '20.50.0.1'] }));
    await expect(resolveAzure({ baseUrl: fake.baseUrl, fetch: fakes.fetch })).resolves.toEqual({
      provider: 'azure',
      ipv4: '20.50.0.1',
      ipv6: '2603:10e1:100:2::1:1',
    });
    expect(fake.requests.map((r) => new URL(r.url, 'http://x').pathname)).toEqual([
      LEAF,
      '/metadata/loadbalancer',
    ]);
  });

  it('fails with NO_PUBLIC_ADDRESS when neither the leaf nor a load balancer has one', async () => {
    const noLb = await fakes.start(azure({}));
    await expect(resolveAzure({ baseUrl: noLb.baseUrl, fetch: fakes.fetch })).rejects.toMatchObject(
      {
        code: CloudEndpointErrorCode.NoPublicAddress,
      },
    );
    const emptyLb = await fakes.start(azure({ frontends: [] }));
    await expect(
      resolveAzure({ baseUrl: emptyLb.baseUrl, fetch: fakes.fetch }),
    ).rejects.toMatchObject({
      code: CloudEndpointErrorCode.NoPublicAddress,
    });
  });

  it('refuses a non-address frontend and times out on slow answers', async () => {
    const garbage = await fakes.start(azure({ data: 'garbage' }));
    await expect(
      resolveAzure({ baseUrl: garbage.baseUrl, fetch: fakes.fetch }),
    ).rejects.toMatchObject({
      code: CloudEndpointErrorCode.Parse,
      step: 'parse',
    });
    const slow = await fakes.start(azure({ data: 'slow' }));
    await expect(
      resolveAzure({ baseUrl: slow.baseUrl, fetch: fakes.fetch, timeoutMs: 100 }),
    ).rejects.toMatchObject({
      code: CloudEndpointErrorCode.Timeout,
    });
  });

  it('reports an IMDS refusal (400) as a fetch failure with its status', async () => {
    // A server that wants another header value than the one we send.
    const fake = await fakes.start((_req, res) => send(res, 400, '{"error":"Bad request"}'));
    await expect(resolveAzure({ baseUrl: fake.baseUrl, fetch: fakes.fetch })).rejects.toMatchObject(
      {
        code: CloudEndpointErrorCode.Fetch,
        status: 400,
      },
    );
  });
});
