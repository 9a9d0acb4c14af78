import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CloudChannel,
  CloudEndpointErrorCode,
  PUBLIC_ENDPOINT_ENV,
  type PublicEndpointConfig,
  resolvePublicEndpoint,
} from '../src/index.ts';
import { closedPortUrl, forbiddenFetch, send, useFakes } from './fake-server.ts';

const noEnv = {};

describe('resolvePublicEndpoint', () => {
  const fakes = useFakes(afterEach);

  it('static without an address is loopback and makes no network call at all', async () => {
    const guard = forbiddenFetch();
    await expect(
      resolvePublicEndpoint({ provider: 'static' }, { env: noEnv, fetch: guard.fetch }),
    ).resolves.toEqual({
      provider: 'static',
      host: '127.0.0.1',
      ipv4: '127.0.0.1',
      source: 'default',
    });
    expect(guard.calls).toEqual([]);
  });

  it('TIDEWIRE_PUBLIC_ENDPOINT wins over the config, with no probing', async () => {
    const guard = forbiddenFetch();
    const env = { [PUBLIC_ENDPOINT_ENV]: ' game.example.com ' };
    for (const config of [
      { provider: 'aws', address: '203.0.113.1' },
      { provider: 'auto' },
      { provider: 'static' },
    ] satisfies PublicEndpointConfig[]) {
      await expect(resolvePublicEndpoint(config, { env, fetch: guard.fetch })).resolves.toEqual({
        provider: 'static',
        host: 'game.example.com',
        source: 'env',
      });
    }
    expect(guard.calls).toEqual([]);
  });

  it('an explicit address wins over the provider; IPv6 may be bracketed', async () => {
    const guard = forbiddenFetch();
    await expect(
      resolvePublicEndpoint(
        { provider: 'gcp', address: '[2001:DB8::7]' },
        { env: { [PUBLIC_ENDPOINT_ENV]: '' }, fetch: guard.fetch },
      ),
    ).resolves.toEqual({
      provider: 'static',
      host: '2001:db8::7',
      ipv6: '2001:db8::7',
      source: 'config',
    });
    expect(guard.calls).toEqual([]);
  });

  it('a blank address counts as unset', async () => {
    const guard = forbiddenFetch();
    await expect(
      resolvePublicEndpoint(
        { provider: 'static', address: '  ' },
        { env: noEnv, fetch: guard.fetch },
      ),
    ).resolves.toMatchObject({ host: '127.0.0.1', source: 'default' });
  });

  it('refuses explicit values that are not an IP or host name', async () => {
    for (const bad of ['http://example.com', 'example.com:7000', '<html>', '999.1.1.1', 'a b']) {
      await expect(
        resolvePublicEndpoint({ provider: 'static' }, { env: { [PUBLIC_ENDPOINT_ENV]: bad } }),
      ).rejects.toMatchObject({
        code: CloudEndpointErrorCode.InvalidAddress,
        provider: 'static',
        step: 'config',
      });
    }
    await expect(
      resolvePublicEndpoint({ provider: 'nimbus' as 'aws' }, { env: noEnv }),
    ).rejects.toMatchObject({
      code: CloudEndpointErrorCode.InvalidArgument,
    });
  });

  it('resolves through the configured provider', async () => {
    const tencent = await fakes.start((_req, res) => send(res, 200, '139.199.0.1'));
    await expect(
      resolvePublicEndpoint(
        { provider: 'tencent' },
        { env: noEnv, baseUrl: tencent.baseUrl, fetch: fakes.fetch },
      ),
    ).resolves.toEqual({
      provider: 'tencent',
      host: '139.199.0.1',
      ipv4: '139.199.0.1',
      source: 'metadata',
    });
    const generic = await fakes.start((_req, res) => send(res, 200, '2001:db8::9'));
    await expect(
      resolvePublicEndpoint(
        { provider: 'generic' },
        { env: noEnv, services: [generic.baseUrl], fetch: fakes.fetch },
      ),
    ).resolves.toEqual({
      provider: 'generic',
      host: '2001:db8::9',
      ipv6: '2001:db8::9',
      source: 'generic',
    });
  });

  it('auto runs detect() with the given base URLs', async () => {
    const refused = await closedPortUrl();
    const tencent = await fakes.start((_req, res) => send(res, 200, '139.199.0.2'));
    const baseUrls = {
      aws: refused,
      gcp: refused,
      azure: refused,
      alibaba: refused,
      linode: refused,
      tencent: tencent.baseUrl,
    };
    await expect(
      resolvePublicEndpoint(
        { provider: 'auto' },
        { env: noEnv, fetch: fakes.fetch, detect: { baseUrls, generic: false } },
      ),
    ).resolves.toEqual({
      provider: 'tencent',
      host: '139.199.0.2',
      ipv4: '139.199.0.2',
      source: 'metadata',
    });
  });

  it('uses the fallback (with a warning) when the provider fails, else throws', async () => {
    const refused = await closedPortUrl();
    const warnings: string[] = [];
    const logger = { warn: (message: string) => warnings.push(message) };
    await expect(
      resolvePublicEndpoint(
        { provider: 'aws', fallback: '10.0.0.5' },
        { env: noEnv, baseUrl: refused, fetch: fakes.fetch, logger },
      ),
    ).resolves.toEqual({
      provider: 'static',
      host: '10.0.0.5',
      ipv4: '10.0.0.5',
      source: 'fallback',
    });
    expect(warnings).toHaveLength(1);
    await expect(
      resolvePublicEndpoint(
        { provider: 'aws' },
        { env: noEnv, baseUrl: refused, fetch: fakes.fetch },
      ),
    ).rejects.toMatchObject({ code: CloudEndpointErrorCode.Token, provider: 'aws' });
  });

  it('publishes resolutions and failures on diagnostics channels', async () => {
    const seen: Array<{ name: string; message: Record<string, unknown> }> = [];
    const onResolved = (message: unknown): void => {
      seen.push({ name: 'resolved', message: message as Record<string, unknown> });
    };
    const onFailed = (message: unknown): void => {
      seen.push({ name: 'failed', message: message as Record<string, unknown> });
    };
    subscribe(CloudChannel.Resolved, onResolved);
    subscribe(CloudChannel.Failed, onFailed);
    try {
      const tencent = await fakes.start((_req, res) => send(res, 200, '139.199.0.3'));
      await resolvePublicEndpoint(
        { provider: 'tencent' },
        { env: noEnv, baseUrl: tencent.baseUrl, fetch: fakes.fetch },
      );
      const empty = await fakes.start((_req, res) => send(res, 404, 'no'));
      await resolvePublicEndpoint(
        { provider: 'tencent' },
        { env: noEnv, baseUrl: empty.baseUrl, fetch: fakes.fetch },
      ).catch(() => {});
    } finally {
      unsubscribe(CloudChannel.Resolved, onResolved);
      unsubscribe(CloudChannel.Failed, onFailed);
    }
    expect(seen.map((s) => s.name)).toEqual(['resolved', 'failed']);
    expect(seen[0]?.message).toMatchObject({ provider: 'tencent', ipv4: '139.199.0.3' });
    expect(seen[1]?.message).toMatchObject({
      provider: 'tencent',
      code: CloudEndpointErrorCode.NoPublicAddress,
    });
  });
});
