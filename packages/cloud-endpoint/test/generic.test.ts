import { afterEach, describe, expect, it } from 'vitest';
import { CloudEndpointErrorCode, DEFAULT_GENERIC_SERVICES, resolveGeneric } from '../src/index.ts';
import { closedPortUrl, HTML_ERROR_PAGE, hang, send, useFakes } from './fake-server.ts';

describe('resolveGeneric', () => {
  const fakes = useFakes(afterEach);

  it('default services are HTTPS', () => {
    expect(DEFAULT_GENERIC_SERVICES.length).toBeGreaterThan(1);
    for (const service of DEFAULT_GENERIC_SERVICES)
      expect(new URL(service).protocol).toBe('https:');
  });

  it('returns the first valid answer, by family', async () => {
    const v4 = await fakes.start((_req, res) => send(res, 200, '198.51.100.20\n'));
    await expect(resolveGeneric({ services: [v4.baseUrl], fetch: fakes.fetch })).resolves.toEqual({
      provider: 'generic',
      ipv4: '198.51.100.20',
    });
    const v6 = await fakes.start((_req, res) => send(res, 200, '2001:db8::20'));
    await expect(resolveGeneric({ baseUrl: v6.baseUrl, fetch: fakes.fetch })).resolves.toEqual({
      provider: 'generic',
      ipv6: '2001:db8::20',
    });
  });

  it('tries services in turn past garbage, errors, slowness and refusal', async () => {
    const garbage = await fakes.start((_req, res) =>
      send(res, 200, HTML_ERROR_PAGE, { 'Content-Type': 'text/html' }),
    );
    const failing = await fakes.start((_req, res) => send(res, 503, 'Service Unavailable'));
    const slow = await fakes.start((_req, res) => hang(res));
    const refused = await closedPortUrl();
    const good = await fakes.start((_req, res) => send(res, 200, '203.0.113.99'));
    const started = Date.now();
    const result = await resolveGeneric({
      services: [garbage.baseUrl, failing.baseUrl, slow.baseUrl, refused, good.baseUrl],
      timeoutMs: 100,
      fetch: fakes.fetch,
    });
    expect(result).toEqual({ provider: 'generic', ipv4: '203.0.113.99' });
    expect(Date.now() - started).toBeLessThan(1500);
    expect([garbage, failing, slow, good].map((f) => f.requests.length)).toEqual([1, 1, 1, 1]);
  });

  it('fails with every service error when none answers', async () => {
    const garbage = await fakes.start((_req, res) => send(res, 200, 'your ip: 1.2.3.4'));
    const notFound = await fakes.start((_req, res) => send(res, 404, HTML_ERROR_PAGE));
    const error = await resolveGeneric({
      services: [garbage.baseUrl, notFound.baseUrl],
      fetch: fakes.fetch,
    }).catch((e) => e);
    expect(error).toMatchObject({ code: CloudEndpointErrorCode.Fetch, provider: 'generic' });
    expect(error.errors.map((e: { code: string }) => e.code)).toEqual([
      CloudEndpointErrorCode.Parse,
      CloudEndpointErrorCode.Fetch,
    ]);
    const slow = await fakes.start((_req, res) => hang(res));
    await expect(
      resolveGeneric({ services: [slow.baseUrl, slow.baseUrl], timeoutMs: 50, fetch: fakes.fetch }),
    ).rejects.toMatchObject({ code: CloudEndpointErrorCode.Timeout });
  });

  it('stops at once when the caller aborts', async () => {
    const slow = await fakes.start((_req, res) => hang(res));
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    await expect(
      resolveGeneric({
        services: [slow.baseUrl, slow.baseUrl],
        signal: controller.signal,
        fetch: fakes.fetch,
      }),
    ).rejects.toMatchObject({ code: CloudEndpointErrorCode.Aborted });
    expect(slow.requests).toHaveLength(1);
  });
});
