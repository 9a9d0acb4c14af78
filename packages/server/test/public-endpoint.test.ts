import { once } from 'node:events';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type CreateServerOptions, createServer, type TidewireServer } from '../src/index.ts';
import { getSession } from './helpers.ts';

/** A fake AWS IMDSv2 on loopback: a PUT token first, then the public IPv4 with that token. */
async function fakeImds(
  publicIp: string | null,
): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server: Server = createHttpServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      if (req.headers['x-aws-ec2-metadata-token-ttl-seconds'] === undefined)
        return void res.writeHead(400).end();
      return void res.writeHead(200).end('token-1');
    }
    if (req.method === 'GET' && req.url === '/latest/meta-data/public-ipv4') {
      if (req.headers['x-aws-ec2-metadata-token'] !== 'token-1')
        return void res.writeHead(401).end();
      if (publicIp === null) return void res.writeHead(404).end('Not Found');
      return void res.writeHead(200, { 'content-type': 'text/plain' }).end(publicIp);
    }
    res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const servers: TidewireServer[] = [];
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function started(options: CreateServerOptions): Promise<TidewireServer> {
  const server = createServer({
    ...options,
    config: { http: { port: 0 }, tcp: { port: 0 }, ...options.config },
    cloud: { env: {}, ...options.cloud },
  });
  servers.push(server);
  await server.setupAsTCPServer();
  await server.start();
  return server;
}

describe('public endpoint', () => {
  it('is the bound address by default, with no metadata traffic', async () => {
    const imds = await fakeImds('203.0.113.7');
    closers.push(imds.close);
    const server = await started({ cloud: { baseUrl: imds.url } });
    const session = await getSession(server, 'ann');
    expect(session.body).toMatchObject({ host: '127.0.0.1', port: server.tcpPort });
    expect(imds.requests).toEqual([]);
  });

  it('comes from the provider in config and is handed out by the session endpoint', async () => {
    const imds = await fakeImds('203.0.113.7');
    closers.push(imds.close);
    const server = await started({
      config: { publicEndpoint: { provider: 'aws' } },
      cloud: { baseUrl: imds.url },
    });
    expect(server.getPublicEndPoint()).toBe(`203.0.113.7:${server.tcpPort}`);
    const session = await getSession(server, 'ann');
    expect(session.body).toMatchObject({ host: '203.0.113.7', port: server.tcpPort });
    // The resolver also asks for an IPv6 address, which this fake does not have.
    expect(imds.requests).toEqual([
      'PUT /latest/api/token',
      'GET /latest/meta-data/public-ipv4',
      'GET /latest/meta-data/ipv6',
    ]);
  });

  it('an explicit address and TIDEWIRE_PUBLIC_ENDPOINT win over the provider', async () => {
    const imds = await fakeImds('203.0.113.7');
    closers.push(imds.close);
    const configured = await started({
      config: { publicEndpoint: { provider: 'aws', address: 'play.example.com' } },
      cloud: { baseUrl: imds.url },
    });
    expect(configured.getPublicEndPoint()).toBe(`play.example.com:${configured.tcpPort}`);
    const fromEnv = await started({
      config: { publicEndpoint: { provider: 'aws', address: 'play.example.com' } },
      cloud: { baseUrl: imds.url, env: { TIDEWIRE_PUBLIC_ENDPOINT: '198.51.100.1' } },
    });
    expect(fromEnv.getPublicEndPoint()).toBe(`198.51.100.1:${fromEnv.tcpPort}`);
    expect(imds.requests).toEqual([]);
  });

  it('a failed lookup fails start() with the typed error and frees the ports, unless a fallback is set', async () => {
    const imds = await fakeImds(null);
    closers.push(imds.close);
    const failing = createServer({
      config: { http: { port: 0 }, tcp: { port: 0 }, publicEndpoint: { provider: 'aws' } },
      cloud: { baseUrl: imds.url, env: {} },
    });
    servers.push(failing);
    await failing.setupAsTCPServer();
    await expect(failing.start()).rejects.toMatchObject({
      code: 'TIDEWIRE_ERR_CLOUD_NO_PUBLIC_ADDRESS',
    });
    expect(failing.getEndPoint()).toBe('');

    const warnings: string[] = [];
    const withFallback = await started({
      config: { publicEndpoint: { provider: 'aws', fallback: '192.0.2.10' } },
      cloud: { baseUrl: imds.url },
      logger: { warn: (message) => warnings.push(message) },
    });
    expect(withFallback.getPublicEndPoint()).toBe(`192.0.2.10:${withFallback.tcpPort}`);
    expect(warnings.some((w) => w.includes('fallback'))).toBe(true);
  });

  it('setupServerForAWS() after start switches the endpoint; setPublicEndPoint wins over all', async () => {
    const imds = await fakeImds('203.0.113.9');
    closers.push(imds.close);
    const server = await started({ cloud: { baseUrl: imds.url } });
    expect(server.getPublicEndPoint()).toBe(`127.0.0.1:${server.tcpPort}`);
    await server.setupServerForAWS();
    expect(server.getPublicEndPoint()).toBe(`203.0.113.9:${server.tcpPort}`);
    server.setPublicEndPoint('[2001:db8::1]:7777');
    expect((await getSession(server, 'bo')).body).toMatchObject({
      host: '2001:db8::1',
      port: 7777,
    });
  });

  it('rejects an unknown provider in config, naming the key', () => {
    expect(() =>
      createServer({ config: { publicEndpoint: { provider: 'mars' as never } } }),
    ).toThrow(/publicEndpoint\.provider.*'static', 'aws'/);
  });
});
