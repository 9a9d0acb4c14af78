import { parseHostPort } from '@tidewire/wire';
import type { NodeInfo, NodeRole } from './types.ts';

/**
 * True when `node` serves `role`: its `role`, or one of the extra roles a
 * node running several transports lists in `meta.roles` (comma-separated,
 * e.g. "udp"), with that role's endpoint in `meta["endpoint.<role>"]`.
 */
export function servesRole(node: NodeInfo, role: NodeRole): boolean {
  if (node.role === role) return true;
  const extra = node.meta?.roles;
  return extra?.split(',').includes(role) === true;
}

/**
 * The endpoint clients of `role` use on `node`: `publicHost`/`publicPort`
 * for its main role, `meta["endpoint.<role>"]` ("host:port") for an extra one.
 */
export function endpointFor(node: NodeInfo, role: NodeRole): { host: string; port: number } | null {
  if (node.role === role) return { host: node.publicHost, port: node.publicPort };
  const value = node.meta?.[`endpoint.${role}`];
  return value === undefined ? null : parseHostPort(value);
}

/**
 * The selection rule for new users: among nodes serving `role` in state ONLINE,
 * the lowest `load`; ties go to the lowest `ccu + pending(node)`, where
 * `pending` counts the unexpired tickets this mesh issued to the node after
 * its last report (issued at or after `updatedAt`), so a burst of sessions
 * spreads before reports catch up, and tickets nobody used stop counting when
 * they expire; remaining ties go to the smallest id (code-unit order). Null when no
 * node qualifies.
 */
export function pickNode(
  nodes: readonly NodeInfo[],
  role: NodeRole,
  pending: (node: NodeInfo) => number,
): NodeInfo | null {
  let best: NodeInfo | null = null;
  let bestUsers = 0;
  for (const node of nodes) {
    if (node.state !== 'ONLINE' || !servesRole(node, role)) continue;
    const users = node.ccu + pending(node);
    if (
      best === null ||
      node.load < best.load ||
      (node.load === best.load && (users < bestUsers || (users === bestUsers && node.id < best.id)))
    ) {
      best = node;
      bestUsers = users;
    }
  }
  return best;
}
