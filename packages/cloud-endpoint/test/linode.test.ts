import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { CloudEndpointErrorCode, resolveLinode } from '../src/index.ts';
import { type Handler, hang, header, send, useFakes } from './fake-server.ts';

/** A /v1/network document as the Akamai metadata service returns it (CIDR strings). */
function network(ipv4: string[], slaac?: string): unknown {
  return {
    vlans: [],
    ipv4: { public: ipv4, private: ['192.168.128.5/17'], shared: [] },
    ipv6: {
      slaac: slaac ?? null,
      'link-local': 'fe80::f03c:94ff:fe01:2/128',
      ranges: [],
      'shared-ranges': [],
    },
  };
}

function linode(options: { doc?: unknown; body?: string; data?: 'ok' | 'slow' }): Handler {
  const issued = new Set<string>();
  return (req, res, url) => {
    if (url.pathname === '/v1/token') {
      if (req.method !== 'PUT') return send(res, 405, 'Method Not Allowed');
      const expiry = Number(header(req, 'metadata-token-expiry-seconds'));
      if (!Number.isInteger(expiry) || expiry < 1 || expiry > 86400)
        return send(res, 400, 'Bad Request');
      const token = randomBytes(32).toString('hex');
      issued.add(token);
      return send(res, 200, token);
    }
    const token = header(req, 'metadata-token');
    if (token === undefined || !issued.has(token)) return send(res, 401, 'Unauthorized');
    if (url.pathname !== '/v1/network') return send(res, 404, 'Not Found');
    if (options.data === 'slow') return hang(res);
    if (header(req, 'accept') !== 'application/json') {
      return send(res, 200, 'ipv4.public: 203.0.113.5/32\nipv6.slaac: 2600:3c00::1/128\n');
    }
    return send(res, 200, options.body ?? JSON.stringify(options.doc), {
      'Content-Type': 'application/json',
    });
  };
}

describe('resolveLinode', () => {
  const fakes = useFakes(afterEach);

  it('gets a token, then the first public IPv4 and the SLAAC IPv6 from /v1/network', async () => {
    const fake = await fakes.start(
      linode({
        doc: network(['172.105.0.5/32', '172.105.0.6/32'], '2600:3c00::f03c:94ff:fe01:2/128'),
      }),
    );
    await expect(resolveLinode({ baseUrl: fake.baseUrl, fetch: fakes.fetch })).resolves.toEqual({
      provider: 'linode',
      ipv4: '172.105.0.5',
      ipv6: '2600:3c00::f03c:94ff:fe01:2',
    });
    expect(fake.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'PUT /v1/token',
      'GET /v1/network',
    ]);
  });

  it('fails with NO_PUBLIC_ADDRESS when the lists are empty', async () => {
    const fake = await fakes.start(linode({ doc: network([]) }));
    await expect(
      resolveLinode({ baseUrl: fake.baseUrl, fetch: fakes.fetch }),
    ).rejects.toMatchObject({
      code: CloudEndpointErrorCode.NoPublicAddress,
    });
  });

  it('refuses non-JSON, wrong shapes and non-addresses', async () => {
    for (const body of [
      '<html>oops</html>',
      '{"ipv4":{"public":"203.0.113.5/32"}}',
      '{"ipv4":{"public":["not-an-ip/32"]}}',
    ]) {
      const fake = await fakes.start(linode({ body }));
      await expect(
        resolveLinode({ baseUrl: fake.baseUrl, fetch: fakes.fetch }),
      ).rejects.toMatchObject({
        code: CloudEndpointErrorCode.Parse,
        step: 'parse',
      });
    }
  });

  it('fails at the token step when the token endpoint is missing, and times out', async () => {
    const aws = await fakes.start((_req, res) => send(res, 404, 'Not Found'));
    await expect(resolveLinode({ baseUrl: aws.baseUrl, fetch: fakes.fetch })).rejects.toMatchObject(
      {
        code: CloudEndpointErrorCode.Token,
        step: 'token',
        status: 404,
      },
    );
    const slow = await fakes.start(linode({ data: 'slow' }));
    await expect(
      resolveLinode({ baseUrl: slow.baseUrl, fetch: fakes.fetch, timeoutMs: 100 }),
    ).rejects.toMatchObject({
      code: CloudEndpointErrorCode.Timeout,
    });
  });
});
