import { afterEach, describe, expect, it } from 'vitest';
import { CloudEndpointErrorCode, resolveTencent } from '../src/index.ts';
import { type Handler, HTML_ERROR_PAGE, hang, send, useFakes } from './fake-server.ts';

function tencent(options: { ipv4?: string; data?: 'ok' | 'slow' | 'garbage' | 'huge' }): Handler {
  return (_req, res, url) => {
    if (url.pathname !== '/latest/meta-data/public-ipv4') return send(res, 404, HTML_ERROR_PAGE);
    if (options.data === 'slow') return hang(res);
    if (options.data === 'garbage')
      return send(res, 200, HTML_ERROR_PAGE, { 'Content-Type': 'text/html' });
    if (options.data === 'huge') return send(res, 200, `1.2.3.4${' '.repeat(100_000)}`);
    if (options.ipv4 === undefined)
      return send(res, 404, HTML_ERROR_PAGE, { 'Content-Type': 'text/html' });
    return send(res, 200, `${options.ipv4}\n`);
  };
}

describe('resolveTencent', () => {
  const fakes = useFakes(afterEach);

  it('reads public-ipv4', async () => {
    const fake = await fakes.start(tencent({ ipv4: '139.199.11.29' }));
    await expect(resolveTencent({ baseUrl: fake.baseUrl, fetch: fakes.fetch })).resolves.toEqual({
      provider: 'tencent',
      ipv4: '139.199.11.29',
    });
    expect(fake.requests.map((r) => r.url)).toEqual(['/latest/meta-data/public-ipv4']);
  });

  it('fails with NO_PUBLIC_ADDRESS on 404', async () => {
    const fake = await fakes.start(tencent({}));
    await expect(
      resolveTencent({ baseUrl: fake.baseUrl, fetch: fakes.fetch }),
    ).rejects.toMatchObject({
      code: CloudEndpointErrorCode.NoPublicAddress,
    });
  });

  it('refuses HTML, oversized bodies, an IPv6 where IPv4 is due, and times out', async () => {
    const garbage = await fakes.start(tencent({ data: 'garbage' }));
    await expect(
      resolveTencent({ baseUrl: garbage.baseUrl, fetch: fakes.fetch }),
    ).rejects.toMatchObject({
      code: CloudEndpointErrorCode.Parse,
    });
    const huge = await fakes.start(tencent({ data: 'huge' }));
    await expect(
      resolveTencent({ baseUrl: huge.baseUrl, fetch: fakes.fetch }),
    ).rejects.toMatchObject({
      code: CloudEndpointErrorCode.Parse,
    });
    const wrongFamily = await fakes.start(tencent({ ipv4: '2001:db8::1' }));
    await expect(
      resolveTencent({ baseUrl: wrongFamily.baseUrl, fetch: fakes.fetch }),
    ).rejects.toMatchObject({
      code: CloudEndpointErrorCode.Parse,
    });
    const slow = await fakes.start(tencent({ data: 'slow' }));
    await expect(
      resolveTencent({ baseUrl: slow.baseUrl, fetch: fakes.fetch, timeoutMs: 100 }),
    ).rejects.toMatchObject({
      code: CloudEndpointErrorCode.Timeout,
    });
  });

  it('reports a 500 as a fetch failure with its status', async () => {
    const fake = await fakes.start((_req, res) => send(res, 500, 'Internal Server Error'));
    await expect(
      resolveTencent({ baseUrl: fake.baseUrl, fetch: fakes.fetch }),
    ).rejects.toMatchObject({
      code: CloudEndpointErrorCode.Fetch,
      status: 500,
    });
  });
});
