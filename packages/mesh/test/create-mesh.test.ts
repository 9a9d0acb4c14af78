import { describe, expect, it } from 'vitest';
import { createMesh, MemoryMesh, MemoryMeshHub, RedisMesh } from '../src/index.ts';

describe('createMesh', () => {
  it('makes a MemoryMesh by default and for { type: "memory" }', () => {
    expect(createMesh(undefined, { env: {} })).toBeInstanceOf(MemoryMesh);
    const hub = new MemoryMeshHub();
    const mesh = createMesh({ type: 'memory' }, { env: {}, nodeId: 'm1', hub, ttlMs: 900 });
    expect(mesh).toBeInstanceOf(MemoryMesh);
    expect((mesh as MemoryMesh).hub).toBe(hub);
    expect(mesh.nodeId).toBe('m1');
    expect((mesh as MemoryMesh).ttlMs).toBe(900);
  });

  it('makes a RedisMesh for { type: "redis" } with its url, prefix and timeouts', () => {
    const mesh = createMesh(
      { type: 'redis', url: 'redis://10.0.0.5:6380/2', keyPrefix: 'game1:' },
      { env: {}, connectTimeoutMs: 700, commandTimeoutMs: 800 },
    ) as RedisMesh;
    expect(mesh).toBeInstanceOf(RedisMesh);
    expect(mesh.url).toBe('redis://10.0.0.5:6380/2');
    expect(mesh.keyPrefix).toBe('game1:');
    expect(mesh.connectTimeoutMs).toBe(700);
    expect(mesh.commandTimeoutMs).toBe(800);
    expect(
      (createMesh({ type: 'redis', url: 'rediss://h:1' }, { env: {} }) as RedisMesh).keyPrefix,
    ).toBe('tidewire:');
  });

  it('lets TIDEWIRE_MESH_URL override the config', () => {
    const fromEnv = createMesh(
      { type: 'memory' },
      { env: { TIDEWIRE_MESH_URL: 'redis://127.0.0.1:7777' } },
    ) as RedisMesh;
    expect(fromEnv).toBeInstanceOf(RedisMesh);
    expect(fromEnv.url).toBe('redis://127.0.0.1:7777');
    const keepsPrefix = createMesh(
      { type: 'redis', url: 'redis://a:1', keyPrefix: 'p:' },
      { env: { TIDEWIRE_MESH_URL: ' redis://b:2 ' } },
    ) as RedisMesh;
    expect([keepsPrefix.url, keepsPrefix.keyPrefix]).toEqual(['redis://b:2', 'p:']);
    expect(
      createMesh({ type: 'redis', url: 'redis://a:1' }, { env: { TIDEWIRE_MESH_URL: 'memory' } }),
    ).toBeInstanceOf(MemoryMesh);
    expect(
      createMesh({ type: 'redis', url: 'redis://a:1' }, { env: { TIDEWIRE_MESH_URL: '' } }),
    ).toBeInstanceOf(RedisMesh);
  });

  it('reads process.env when no env is given', () => {
    const saved = process.env.TIDEWIRE_MESH_URL;
    process.env.TIDEWIRE_MESH_URL = 'redis://127.0.0.1:6399';
    try {
      expect(createMesh({ type: 'memory' })).toBeInstanceOf(RedisMesh);
    } finally {
      if (saved === undefined) delete process.env.TIDEWIRE_MESH_URL;
      else process.env.TIDEWIRE_MESH_URL = saved;
    }
  });

  it('rejects configs it cannot use with MESH_INVALID_CONFIG', () => {
    const invalid = { code: 'TIDEWIRE_ERR_MESH_INVALID_CONFIG' };
    expect(() =>
      createMesh({ type: 'memory' }, { env: { TIDEWIRE_MESH_URL: 'mysql://x' } }),
    ).toThrow(expect.objectContaining(invalid));
    expect(() =>
      createMesh({ type: 'etcd' } as unknown as { type: 'memory' }, { env: {} }),
    ).toThrow(expect.objectContaining(invalid));
    expect(() => createMesh({ type: 'redis', url: 'localhost:6379' }, { env: {} })).toThrow(
      expect.objectContaining(invalid),
    );
    expect(() => createMesh({ type: 'memory' }, { env: {}, nodeId: 'has space' })).toThrow(
      expect.objectContaining({ code: 'TIDEWIRE_ERR_INVALID_ARGUMENT' }),
    );
    expect(() => createMesh({ type: 'memory' }, { env: {}, ttlMs: 0 })).toThrow(
      expect.objectContaining({ code: 'TIDEWIRE_ERR_INVALID_ARGUMENT' }),
    );
  });

  it('gives default node ids in the id alphabet, unique per mesh', () => {
    const a = createMesh(undefined, { env: {} });
    const b = createMesh(undefined, { env: {} });
    expect(a.nodeId).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
    expect(a.nodeId).not.toBe(b.nodeId);
  });
});
