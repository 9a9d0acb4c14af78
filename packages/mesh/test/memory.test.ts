import { describe, expect, it } from 'vitest';
import { MemoryMesh, MemoryMeshHub } from '../src/index.ts';
import { meshContract } from './contract.ts';
import { sleep } from './helpers.ts';

meshContract('MemoryMesh', () => ({
  newCluster() {
    const hub = new MemoryMeshHub();
    return (options) => new MemoryMesh({ ...options, hub });
  },
}));

describe('MemoryMesh specifics', () => {
  it('is a one-node cluster by default', async () => {
    const a = new MemoryMesh({ nodeId: 'a' });
    const b = new MemoryMesh({ nodeId: 'b' });
    await a.start();
    await b.start();
    await b.registerNode({
      id: 'b',
      role: 'tcp',
      internalAddress: '',
      publicHost: '127.0.0.1',
      publicPort: 1,
      state: 'ONLINE',
      ccu: 0,
      load: 0,
    });
    expect(await a.listNodes()).toEqual([]);
    expect(a.hub).not.toBe(b.hub);
    await a.close();
    await b.close();
  });

  it('refuses two started meshes with one node id on a hub', async () => {
    const hub = new MemoryMeshHub();
    const a = new MemoryMesh({ nodeId: 'same', hub });
    const b = new MemoryMesh({ nodeId: 'same', hub });
    await a.start();
    await expect(b.start()).rejects.toMatchObject({ code: 'TIDEWIRE_ERR_INVALID_ARGUMENT' });
    await a.close();
    expect(hub.attached).toBe(0);
  });

  it('drops hub entries whose TTL passed (a node that stopped heart-beating)', async () => {
    const hub = new MemoryMeshHub();
    hub.setNode(
      {
        id: 'dead',
        role: 'tcp',
        internalAddress: '',
        publicHost: '',
        publicPort: 0,
        state: 'ONLINE',
        ccu: 0,
        load: 0,
        updatedAt: Date.now(),
      },
      60,
    );
    hub.setUser('u', { nodeId: 'dead', sid: 's' }, 10_000);
    const observer = new MemoryMesh({ nodeId: 'observer', hub });
    await observer.start();
    expect((await observer.listNodes()).map((node) => node.id)).toEqual(['dead']);
    expect(await observer.locateUser('u')).toEqual({ nodeId: 'dead', sid: 's' });
    await sleep(100);
    expect(await observer.listNodes()).toEqual([]);
    expect(await observer.locateUser('u')).toBeNull();
    expect(await observer.selectNode('tcp')).toBeNull();
    await expect(observer.sendToNode('dead', 't', new Uint8Array(1))).rejects.toMatchObject({
      code: 'TIDEWIRE_ERR_NODE_UNKNOWN',
    });
    await observer.close();
  });

  it('keeps a registered node alive with heartbeats past its TTL', async () => {
    const hub = new MemoryMeshHub();
    const node = new MemoryMesh({ nodeId: 'beating', hub, ttlMs: 90 });
    const observer = new MemoryMesh({ nodeId: 'observer', hub });
    await node.start();
    await observer.start();
    await node.registerNode({
      id: 'beating',
      role: 'udp',
      internalAddress: '',
      publicHost: '',
      publicPort: 0,
      state: 'ONLINE',
      ccu: 0,
      load: 0,
    });
    await node.setUserLocation('u', 's');
    const reported = (await observer.listNodes())[0]!.updatedAt;
    await sleep(250);
    const nodes = await observer.listNodes();
    expect(nodes.map((n) => n.id)).toEqual(['beating']);
    // Heartbeats keep it alive; updatedAt is the time of the last report.
    expect(nodes[0]!.updatedAt).toBe(reported);
    expect(await observer.locateUser('u')).toEqual({ nodeId: 'beating', sid: 's' });
    await node.close();
    await observer.close();
  });
});
