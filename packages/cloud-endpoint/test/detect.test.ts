import { afterEach, describe, expect, it } from 'vitest';
import {
  CloudEndpointErrorCode,
  DEFAULT_DETECT_PROVIDERS,
  detect,
  type ProviderName,
} from '../src/index.ts';
import { closedPortUrl, hang, header, send, useFakes } from './fake-server.ts';

/** Every provider pointed at `url` (a refused port unless a test overrides one). */
function everyProvider(url: string): Record<ProviderName, string> {
  return { aws: url, gcp: url, azure: url, alibaba: url, tencent: url, linode: url, generic: url };
}

describe('detect', () => {
  const fakes = useFakes(afterEach);

  it('probes all six metadata providers by default', () => {
    expect([...DEFAULT_DETECT_PROVIDERS].sort()).toEqual([
      'alibaba',
      'aws',
      'azure',
      'gcp',
      'linode',
      'tencent',
    ]);
  });

  it('finds the provider whose metadata service answers its protocol', async () => {
    // One "link-local" server that speaks only Azure IMDS, as 169.254.169.254 does on Azure:
    // the AWS token PUT and the Linode /v1/token get 404 there.
    const azure = await fakes.start((req, res, url) => {
      if (header(req, 'metadata') === 'true' && url.pathname.endsWith('/publicIpAddress')) {
        return send(res, 200, '52.160.0.77');
      }
      return send(res, 404, 'Not found');
    });
    const refused = await closedPortUrl();
    const result = await detect({
      baseUrls: {
        ...everyProvider(refused),
        aws: azure.baseUrl,
        azure: azure.baseUrl,
        linode: azure.baseUrl,
      },
      generic: false,
      fetch: fakes.fetch,
    });
    expect(result).toEqual({ provider: 'azure', ipv4: '52.160.0.77' });
  });

  it('does not wait for slow probes once one answered', async () => {
    const slow = await fakes.start((_req, res) => hang(res));
    const gcp = await fakes.start((_req, res, url) =>
      url.pathname.includes('ipv6')
        ? send(res, 404, 'Not Found', { 'Metadata-Flavor': 'Google' })
        : send(res, 200, '35.190.0.1', { 'Metadata-Flavor': 'Google' }),
    );
    const started = Date.now();
    const result = await detect({
      baseUrls: { ...everyProvider(slow.baseUrl), gcp: gcp.baseUrl },
      probeTimeoutMs: 5000,
      deadlineMs: 5000,
      generic: false,
      fetch: fakes.fetch,
    });
    expect(result.provider).toBe('gcp');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('asks the generic services when no metadata service answers', async () => {
    const refused = await closedPortUrl();
    const whatIsMyIp = await fakes.start((_req, res) => send(res, 200, '203.0.113.50'));
    await expect(
      detect({
        baseUrls: { ...everyProvider(refused), generic: whatIsMyIp.baseUrl },
        fetch: fakes.fetch,
      }),
    ).resolves.toEqual({ provider: 'generic', ipv4: '203.0.113.50' });
    await expect(
      detect({
        baseUrls: everyProvider(refused),
        generic: [whatIsMyIp.baseUrl],
        fetch: fakes.fetch,
      }),
    ).resolves.toEqual({ provider: 'generic', ipv4: '203.0.113.50' });
  });

  it('fails with NOT_DETECTED carrying each provider error', async () => {
    const refused = await closedPortUrl();
    const error = await detect({
      baseUrls: everyProvider(refused),
      generic: false,
      fetch: fakes.fetch,
    }).catch((e) => e);
    expect(error).toMatchObject({
      code: CloudEndpointErrorCode.NotDetected,
      provider: 'auto',
      step: 'fetch',
    });
    expect(error.errors.map((e: { provider: string }) => e.provider).sort()).toEqual([
      'alibaba',
      'aws',
      'azure',
      'gcp',
      'linode',
      'tencent',
    ]);
  });

  it('keeps to its overall deadline when everything hangs', async () => {
    const slow = await fakes.start((_req, res) => hang(res));
    const started = Date.now();
    const error = await detect({
      baseUrls: everyProvider(slow.baseUrl),
      probeTimeoutMs: 100,
      deadlineMs: 300,
      fetch: fakes.fetch,
    }).catch((e) => e);
    const elapsed = Date.now() - started;
    expect(error).toMatchObject({ code: CloudEndpointErrorCode.NotDetected, step: 'timeout' });
    expect(error.errors).toHaveLength(7);
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(1500);
  });

  it('honours the caller signal and validates options', async () => {
    const slow = await fakes.start((_req, res) => hang(res));
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    await expect(
      detect({
        baseUrls: everyProvider(slow.baseUrl),
        signal: controller.signal,
        fetch: fakes.fetch,
      }),
    ).rejects.toMatchObject({ code: CloudEndpointErrorCode.Aborted });
    await expect(
      detect({ providers: ['nimbus' as 'aws'], fetch: fakes.fetch }),
    ).rejects.toMatchObject({
      code: CloudEndpointErrorCode.InvalidArgument,
    });
    await expect(detect({ deadlineMs: -1, fetch: fakes.fetch })).rejects.toMatchObject({
      code: CloudEndpointErrorCode.InvalidArgument,
    });
  });
});

describe('lifetimes', () => {
  const fakes = useFakes(afterEach);
  const timers = (): number =>
    process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

  it('leaves no timer behind after a fast answer or a failure', async () => {
    const refused = await closedPortUrl();
    const tencent = await fakes.start((_req, res) => send(res, 200, '139.199.0.9'));
    const before = timers();
    await detect({
      baseUrls: { ...everyProvider(refused), tencent: tencent.baseUrl },
      probeTimeoutMs: 60_000,
      deadlineMs: 60_000,
      generic: false,
      fetch: fakes.fetch,
    });
    await detect({
      baseUrls: everyProvider(refused),
      probeTimeoutMs: 60_000,
      deadlineMs: 60_000,
      generic: false,
      fetch: fakes.fetch,
    }).catch(() => {});
    expect(timers()).toBe(before);
  });
});
