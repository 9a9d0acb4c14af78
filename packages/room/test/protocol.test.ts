import { readFileSync } from 'node:fs';
import * as protocol from '@tidewire/room/protocol';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import * as room from '../src/index.ts';

const packageDir = new URL('../', import.meta.url);

describe('@tidewire/room/protocol', () => {
  it('is the one source of the numbers and codes the package exports', () => {
    expect(protocol.RoomCommand).toBe(room.RoomCommand);
    expect(protocol.RoomEvent).toBe(room.RoomEvent);
    expect(protocol.RoomErrorCode).toBe(room.RoomErrorCode);
    expect(protocol.RoomClosedReason).toBe(room.RoomClosedReason);
    expect(protocol.nodeOfRoom).toBe(room.nodeOfRoom);
    expect(protocol.RoomCommand.Create).toBe(100);
    expect(protocol.RoomEvent.MemberLeft).toBe(112);
  });

  it('imports nothing, so a page bundles it without the server or node: modules', () => {
    const manifest = JSON.parse(readFileSync(new URL('package.json', packageDir), 'utf8')) as {
      exports: Record<string, Record<string, string>>;
      publishConfig: { exports: Record<string, Record<string, string>> };
    };
    const entry = manifest.exports['./protocol'];
    expect(entry).toEqual({
      '@tidewire/source': './src/protocol.ts',
      types: './dist/protocol.d.ts',
      default: './dist/protocol.js',
    });
    expect(manifest.publishConfig.exports['./protocol']).toEqual({
      types: './dist/protocol.d.ts',
      default: './dist/protocol.js',
    });
    const source = readFileSync(new URL(entry?.['@tidewire/source'] ?? '', packageDir), 'utf8');
    const { importedFiles } = ts.preProcessFile(source, true, true);
    expect(importedFiles.map((f) => f.fileName)).toEqual([]);
  });
});
