import * as diagnosticsChannel from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import { MemoryMesh, MemoryMeshHub, MeshChannel } from '../src/index.ts';
import { meshContract } from './contract.ts';
import { sleep, waitFor } from './helpers.ts';

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

describe('MemoryMesh diagnostics', () => {
  it('publishes node lifecycle and received messages on tidewire:mesh:* channels', async () => {
    const events: Array<{ channel: string; message: unknown }> = [];
    const listeners = [MeshChannel.Node, MeshChannel.Message].map((channel) => {
      const listener = (message: unknown): void => {
        events.push({ channel, message });
      };
      diagnosticsChannel.subscribe(channel, listener);
      return () => diagnosticsChannel.unsubscribe(channel, listener);
    });
    try {
      const hub = new MemoryMeshHub();
      const a = new MemoryMesh({ nodeId: 'diag-a', hub });
      const b = new MemoryMesh({ nodeId: 'diag-b', hub });
      await a.start();
      await b.start();
      await b.registerNode({
        id: 'diag-b',
        role: 'tcp',
        internalAddress: '',
        publicHost: '',
        publicPort: 0,
        state: 'ONLINE',
        ccu: 0,
        load: 0,
      });
      await b.updateNode({ ccu: 1 });
      b.onUserMessage(() => true);
      await b.setUserLocation('u', 's');
      await a.sendToNode('diag-b', 'room', new Uint8Array(1));
      await a.sendToUser('u', 2, 1, new Uint8Array(0));
      await b.close();
      await a.close();
      await waitFor(() => events.length >= 5);
      expect(events).toEqual([
        { channel: 'tidewire:mesh:node', message: { nodeId: 'diag-b', event: 'registered' } },
        { channel: 'tidewire:mesh:node', message: { nodeId: 'diag-b', event: 'updated' } },
        {
          channel: 'tidewire:mesh:message',
          message: { nodeId: 'diag-b', kind: 'message', from: 'diag-a', topic: 'room' },
        },
        {
          channel: 'tidewire:mesh:message',
          message: { nodeId: 'diag-b', kind: 'user', from: 'diag-a' },
        },
        { channel: 'tidewire:mesh:node', message: { nodeId: 'diag-b', event: 'deregistered' } },
      ]);
    } finally {
      for (const off of listeners) off();
    }
  });
});
