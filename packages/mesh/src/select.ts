import type { NodeInfo, NodeRole } from './types.ts';

/**
 * The selection rule for new users: among nodes of `role` in state ONLINE,
 * the lowest `load`; ties go to the lowest `ccu + pending(node)`, where
 * `pending` counts the tickets this mesh issued to the node after its last
 * report (issued at or after `updatedAt`), so a burst of sessions spreads before reports catch
 * up; remaining ties go to the smallest id (code-unit order). Null when no
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
    if (node.role !== role || node.state !== 'ONLINE') continue;
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
