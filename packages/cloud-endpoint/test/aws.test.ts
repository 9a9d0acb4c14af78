import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { CloudEndpointErrorCode, resolveAws } from '../src/index.ts';
import {
  closedPortUrl,
  type FakeServer,
  HTML_ERROR_PAGE,
  hang,
  header,
  loopbackFetch,
  send,
  startFake,
} from './fake-server.ts';

interface AwsFakeOptions {
  ipv4?: string;
  ipv6?: string;
  /** How the data paths behave. */
  data?: 'ok' | 'slow' | 'garbage';
  /** 'off': IMDS disabled (403 on token); 'forget': tokens are never valid (expired). */
  tokens?: 'ok' | 'off' | 'forget';
}

/** IMDSv2 as EC2 runs it with `HttpTokens: required`. */
function startAws(options: AwsFakeOptions): Promise<FakeServer> {
  const issued = new Set<string>();
  return startFake((req, res, url) => {
    if (url.pathname === '/latest/api/token') {
      if (req.method !== 'PUT') return send(res, 405);
      if (options.tokens === 'off') return send(res, 403, 'Forbidden');
      const ttl = Number(header(req, 'x-aws-ec2-metadata-token-ttl-seconds'));
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return send(res, 400, 'Bad Request');
      const token = randomBytes(24).toString('base64');
      if (options.tokens !== 'forget') issued.add(token);
      return send(res, 200, token, { 'X-aws-ec2-metadata-token-ttl-seconds': String(ttl) });
    }
    if (!url.pathname.startsWith('/latest/meta-data/')) return send(res, 404, HTML_ERROR_PAGE);
    const token = header(req, 'x-aws-ec2-metadata-token');
    if (token === undefined || !issued.has(token)) return send(res, 401, 'Unauthorized');
    if (options.data === 'slow') return hang(res);
    if (options.data === 'garbage')
      return send(res, 200, HTML_ERROR_PAGE, { 'Content-Type': 'text/html' });
    const leaf = url.pathname.slice('/latest/meta-data/'.length);
    const value =
      leaf === 'public-ipv4' ? options.ipv4 : leaf === 'ipv6' ? options.ipv6 : undefined;
    if (value === undefined)
      return send(res, 404, HTML_ERROR_PAGE, { 'Content-Type': 'text/html' });
    return send(res, 200, value);
  });
}

describe('resolveAws (IMDSv2)', () => {
  const fakes: FakeServer[] = [];
  const guard = loopbackFetch();
  afterEach(async () => {
    await Promise.all(fakes.splice(0).map((f) => f.close()));
    expect(guard.violations).toEqual([]);
  });
  const start = async (options: AwsFakeOptions): Promise<FakeServer> => {
    const fake = await startAws(options);
    fakes.push(fake);
    return fake;
  };

  it('gets a token, then the public IPv4 and IPv6 with it', async () => {
    const fake = await start({ ipv4: '203.0.113.10', ipv6: '2001:DB8::10' });
    const result = await resolveAws({ baseUrl: fake.baseUrl, fetch: guard.fetch });
    expect(result).toEqual({ provider: 'aws', ipv4: '203.0.113.10', ipv6: '2001:db8::10' });
    const [tokenRequest, ...dataRequests] = fake.requests;
    expect(tokenRequest?.method).toBe('PUT');
    expect(tokenRequest && header(tokenRequest, 'x-aws-ec2-metadata-token-ttl-seconds')).toBe('60');
    expect(dataRequests.map((r) => r.url).sort()).toEqual([
      '/latest/meta-data/ipv6',
      '/latest/meta-data/public-ipv4',
    ]);
  });

  it('returns IPv4 alone when the instance has no IPv6 (404)', async () => {
    const fake = await start({ ipv4: '198.51.100.7' });
    await expect(resolveAws({ baseUrl: `${fake.baseUrl}/`, fetch: guard.fetch })).resolves.toEqual({
      provider: 'aws',
      ipv4: '198.51.100.7',
    });
  });

  it('fails with NO_PUBLIC_ADDRESS when both leaves are 404', async () => {
    const fake = await start({});
    await expect(resolveAws({ baseUrl: fake.baseUrl, fetch: guard.fetch })).rejects.toMatchObject({
      code: CloudEndpointErrorCode.NoPublicAddress,
      provider: 'aws',
      step: 'fetch',
    });
  });

  it('fails at the token step when IMDS refuses tokens', async () => {
    const fake = await start({ ipv4: '203.0.113.10', tokens: 'off' });
    await expect(resolveAws({ baseUrl: fake.baseUrl, fetch: guard.fetch })).rejects.toMatchObject({
      code: CloudEndpointErrorCode.Token,
      step: 'token',
      status: 403,
    });
  });

  it('reports a 401 on the data request (token not accepted) as a fetch failure', async () => {
    const fake = await start({ ipv4: '203.0.113.10', tokens: 'forget' });
    await expect(resolveAws({ baseUrl: fake.baseUrl, fetch: guard.fetch })).rejects.toMatchObject({
      code: CloudEndpointErrorCode.Fetch,
      step: 'fetch',
      status: 401,
    });
  });

  it('refuses an HTML page in place of an address', async () => {
    const fake = await start({ data: 'garbage' });
    await expect(resolveAws({ baseUrl: fake.baseUrl, fetch: guard.fetch })).rejects.toMatchObject({
      code: CloudEndpointErrorCode.Parse,
      step: 'parse',
    });
  });

  it('times out on a slow answer within timeoutMs', async () => {
    const fake = await start({ data: 'slow' });
    const started = Date.now();
    const error = await resolveAws({
      baseUrl: fake.baseUrl,
      fetch: guard.fetch,
      timeoutMs: 150,
    }).catch((e) => e);
    expect(error).toMatchObject({
      code: CloudEndpointErrorCode.Timeout,
      step: 'timeout',
      provider: 'aws',
    });
    expect(error.message).toContain('during fetch');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('honours the caller signal', async () => {
    const fake = await start({ data: 'slow' });
    const controller = new AbortController();
    const pending = resolveAws({
      baseUrl: fake.baseUrl,
      fetch: guard.fetch,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 30);
    await expect(pending).rejects.toMatchObject({ code: CloudEndpointErrorCode.Aborted });
    await expect(
      resolveAws({ signal: AbortSignal.abort(), fetch: guard.fetch }),
    ).rejects.toMatchObject({
      code: CloudEndpointErrorCode.Aborted,
    });
  });

  it('fails at the token step when nothing listens', async () => {
    const baseUrl = await closedPortUrl();
    await expect(resolveAws({ baseUrl, fetch: guard.fetch })).rejects.toMatchObject({
      code: CloudEndpointErrorCode.Token,
      step: 'token',
    });
  });

  it('rejects bad options before any request', async () => {
    await expect(
      resolveAws({ baseUrl: 'ftp://127.0.0.1', fetch: guard.fetch }),
    ).rejects.toMatchObject({
      code: CloudEndpointErrorCode.InvalidArgument,
    });
    await expect(
      resolveAws({ baseUrl: 'http://127.0.0.1:1', timeoutMs: 0, fetch: guard.fetch }),
    ).rejects.toMatchObject({ code: CloudEndpointErrorCode.InvalidArgument });
  });
});
