import { afterEach, describe, expect, it } from 'vitest';
import { CloudEndpointErrorCode, resolveGcp } from '../src/index.ts';
import { type Handler, HTML_ERROR_PAGE, hang, header, send, useFakes } from './fake-server.ts';

const NIC = '/computeMetadata/v1/instance/network-interfaces/0';

/** The GCE metadata server: `Metadata-Flavor: Google` required, and echoed on every answer. */
function gcp(options: {
  ipv4?: string;
  ipv6?: string;
  data?: 'ok' | 'slow' | 'garbage' | 'impostor' | 'impostor404';
}): Handler {
  return (req, res, url) => {
    if (options.data === 'impostor') {
      return url.pathname.includes('ipv6')
        ? send(res, 404, 'Not Found')
        : send(res, 200, '203.0.113.1');
    }
    if (options.data === 'impostor404') return send(res, 404, 'Not Found');
    const flavor = { 'Metadata-Flavor': 'Google' };
    if (header(req, 'metadata-flavor') !== 'Google') {
      return send(res, 403, 'Missing Metadata-Flavor:Google header.', flavor);
    }
    if (options.data === 'slow') return hang(res);
    if (options.data === 'garbage')
      return send(res, 200, HTML_ERROR_PAGE, { ...flavor, 'Content-Type': 'text/html' });
    const value =
      url.pathname === `${NIC}/access-configs/0/external-ip`
        ? options.ipv4
        : url.pathname === `${NIC}/ipv6-access-configs/0/external-ipv6`
          ? options.ipv6
          : undefined;
    if (value === undefined)
      return send(res, 404, HTML_ERROR_PAGE, { ...flavor, 'Content-Type': 'text/html' });
    return send(res, 200, value, { ...flavor, 'Content-Type': 'application/text' });
  };
}

describe('resolveGcp', () => {
  const fakes = useFakes(afterEach);

  it('reads the external IPv4 and IPv6 with Metadata-Flavor: Google', async () => {
    const fake = await fakes.start(gcp({ ipv4: '35.190.0.9', ipv6: '2600:1900:4000::1' }));
    await expect(resolveGcp({ baseUrl: fake.baseUrl, fetch: fakes.fetch })).resolves.toEqual({
      provider: 'gcp',
      ipv4: '35.190.0.9',
      ipv6: '2600:1900:4000::1',
    });
    expect(fake.requests.every((r) => header(r, 'metadata-flavor') === 'Google')).toBe(true);
  });

  it('returns IPv6 alone for an IPv6-only interface', async () => {
    const fake = await fakes.start(gcp({ ipv6: '2600:1900:4000::2' }));
    await expect(resolveGcp({ baseUrl: fake.baseUrl, fetch: fakes.fetch })).resolves.toEqual({
      provider: 'gcp',
      ipv6: '2600:1900:4000::2',
    });
  });

  it('fails with NO_PUBLIC_ADDRESS when there is no access config (404)', async () => {
    const fake = await fakes.start(gcp({}));
    await expect(resolveGcp({ baseUrl: fake.baseUrl, fetch: fakes.fetch })).rejects.toMatchObject({
      code: CloudEndpointErrorCode.NoPublicAddress,
      provider: 'gcp',
    });
  });

  it('refuses a server that does not answer Metadata-Flavor: Google', async () => {
    const fake = await fakes.start(gcp({ data: 'impostor' }));
    await expect(resolveGcp({ baseUrl: fake.baseUrl, fetch: fakes.fetch })).rejects.toMatchObject({
      code: CloudEndpointErrorCode.Fetch,
      step: 'fetch',
    });
  });

  it('does not take an impostor 404 for "no public IP"', async () => {
    const fake = await fakes.start(gcp({ data: 'impostor404' }));
    await expect(resolveGcp({ baseUrl: fake.baseUrl, fetch: fakes.fetch })).rejects.toMatchObject({
      code: CloudEndpointErrorCode.Fetch,
      status: 404,
    });
  });

  it('refuses HTML and times out on slow answers', async () => {
    const garbage = await fakes.start(gcp({ data: 'garbage' }));
    await expect(
      resolveGcp({ baseUrl: garbage.baseUrl, fetch: fakes.fetch }),
    ).rejects.toMatchObject({
      code: CloudEndpointErrorCode.Parse,
      step: 'parse',
    });
    const slow = await fakes.start(gcp({ data: 'slow' }));
    await expect(
      resolveGcp({ baseUrl: slow.baseUrl, fetch: fakes.fetch, timeoutMs: 100 }),
    ).rejects.toMatchObject({
      code: CloudEndpointErrorCode.Timeout,
      step: 'timeout',
    });
  });
});
