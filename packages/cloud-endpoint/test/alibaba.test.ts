import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { CloudEndpointErrorCode, resolveAlibaba } from '../src/index.ts';
import { type Handler, HTML_ERROR_PAGE, hang, header, send, useFakes } from './fake-server.ts';

interface AlibabaFake {
  eipv4?: string;
  publicIpv4?: string;
  /** 'hardened': token required (403 without); 'normal': old service, no token endpoint (404 on PUT). */
  mode: 'hardened' | 'normal';
  data?: 'ok' | 'slow' | 'garbage';
}

function alibaba(options: AlibabaFake): Handler {
  const issued = new Set<string>();
  return (req, res, url) => {
    if (url.pathname === '/latest/api/token') {
      if (options.mode === 'normal')
        return send(res, 404, HTML_ERROR_PAGE, { 'Content-Type': 'text/html' });
      if (req.method !== 'PUT') return send(res, 405);
      const ttl = Number(header(req, 'x-aliyun-ecs-metadata-token-ttl-seconds'));
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return send(res, 400, 'invalid ttl');
      const token = randomBytes(16).toString('hex');
      issued.add(token);
      return send(res, 200, token);
    }
    if (options.mode === 'hardened') {
      const token = header(req, 'x-aliyun-ecs-metadata-token');
      if (token === undefined || !issued.has(token)) return send(res, 403, 'Forbidden');
    }
    if (options.data === 'slow') return hang(res);
    if (options.data === 'garbage')
      return send(res, 200, HTML_ERROR_PAGE, { 'Content-Type': 'text/html' });
    const value =
      url.pathname === '/latest/meta-data/eipv4'
        ? options.eipv4
        : url.pathname === '/latest/meta-data/public-ipv4'
          ? options.publicIpv4
          : undefined;
    if (value === undefined)
      return send(res, 404, HTML_ERROR_PAGE, { 'Content-Type': 'text/html' });
    return send(res, 200, value);
  };
}

describe('resolveAlibaba', () => {
  const fakes = useFakes(afterEach);

  it('uses the hardened-mode token and prefers the elastic IP', async () => {
    const fake = await fakes.start(
      alibaba({ mode: 'hardened', eipv4: '47.96.0.1', publicIpv4: '47.96.0.2' }),
    );
    await expect(resolveAlibaba({ baseUrl: fake.baseUrl, fetch: fakes.fetch })).resolves.toEqual({
      provider: 'alibaba',
      ipv4: '47.96.0.1',
    });
    expect(fake.requests[0]?.method).toBe('PUT');
    expect(
      fake.requests.slice(1).every((r) => header(r, 'x-aliyun-ecs-metadata-token') !== undefined),
    ).toBe(true);
  });

  it('falls back to public-ipv4 when no EIP is bound', async () => {
    const fake = await fakes.start(alibaba({ mode: 'hardened', publicIpv4: '47.96.0.2' }));
    await expect(resolveAlibaba({ baseUrl: fake.baseUrl, fetch: fakes.fetch })).resolves.toEqual({
      provider: 'alibaba',
      ipv4: '47.96.0.2',
    });
    expect(fake.requests.map((r) => r.url)).toEqual([
      '/latest/api/token',
      '/latest/meta-data/eipv4',
      '/latest/meta-data/public-ipv4',
    ]);
  });

  it('works in normal mode when the token endpoint does not exist', async () => {
    const fake = await fakes.start(alibaba({ mode: 'normal', publicIpv4: '47.96.0.3' }));
    await expect(resolveAlibaba({ baseUrl: fake.baseUrl, fetch: fakes.fetch })).resolves.toEqual({
      provider: 'alibaba',
      ipv4: '47.96.0.3',
    });
  });

  it('fails with NO_PUBLIC_ADDRESS for a VPC-only instance', async () => {
    const fake = await fakes.start(alibaba({ mode: 'hardened' }));
    await expect(
      resolveAlibaba({ baseUrl: fake.baseUrl, fetch: fakes.fetch }),
    ).rejects.toMatchObject({
      code: CloudEndpointErrorCode.NoPublicAddress,
      provider: 'alibaba',
    });
  });

  it('fails at the token step on a refused token, parses strictly, times out', async () => {
    const refusing = await fakes.start((_req, res) => send(res, 403, 'Forbidden'));
    await expect(
      resolveAlibaba({ baseUrl: refusing.baseUrl, fetch: fakes.fetch }),
    ).rejects.toMatchObject({
      code: CloudEndpointErrorCode.Token,
      step: 'token',
      status: 403,
    });
    const garbage = await fakes.start(alibaba({ mode: 'hardened', data: 'garbage' }));
    await expect(
      resolveAlibaba({ baseUrl: garbage.baseUrl, fetch: fakes.fetch }),
    ).rejects.toMatchObject({
      code: CloudEndpointErrorCode.Parse,
    });
    const slow = await fakes.start(alibaba({ mode: 'hardened', data: 'slow' }));
    await expect(
      resolveAlibaba({ baseUrl: slow.baseUrl, fetch: fakes.fetch, timeoutMs: 100 }),
    ).rejects.toMatchObject({
      code: CloudEndpointErrorCode.Timeout,
    });
  });
});
