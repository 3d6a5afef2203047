// The two guards of kubernetes.md (pure): a membership without the local node,
// or one that lost more than `maxShrink` of the last good one, looks like the
// wrong cluster or a broken API server. It is refused and the rules stay; an
// operator who means it runs `artesca-fw apply` by hand.
import type { InventoryNode } from '../config/model.js';

export interface GuardInput {
  next: InventoryNode[];
  localName: string;
  /** Size of the last membership that was accepted; undefined: none yet. */
  lastGoodCount: number | undefined;
  maxShrink: number;
  server: string;
}

/** Undefined when the membership may be used; otherwise the reason it is refused. */
export function refuseMembership(g: GuardInput): string | undefined {
  if (!g.next.some((n) => n.name === g.localName)) {
    return `the Nodes of ${g.server} do not include this node "${g.localName}" (${g.next.length} Node(s) usable): wrong cluster or kubeconfig? Rules unchanged`;
  }
  if (g.lastGoodCount !== undefined) {
    const least = Math.ceil(g.lastGoodCount * (1 - g.maxShrink));
    if (g.next.length < least) {
      return `${g.server} gives ${g.next.length} usable Node(s), fewer than ${least} (the last good membership had ${g.lastGoodCount}, maxShrink ${g.maxShrink}): rules unchanged; run "artesca-fw apply" by hand if the cluster really shrank`;
    }
  }
  return undefined;
}
