// One list of the Node objects, for the one-shot commands (check, plan, diff,
// explain, apply): what the daemon would build from the API server right now.
import type { Config } from '../config/model.js';
import { HttpsNodeApi } from '../membership/api-client.js';
import { loadCredentials } from '../membership/credentials.js';
import { type MembershipView, membershipView, trimNode } from '../membership/loaded-membership.js';
import type { NodeObject } from '../membership/node-object.js';

export interface ListedMembership extends MembershipView {
  server: string;
  resourceVersion: string;
}

export async function listMembershipOnce(config: Config): Promise<ListedMembership> {
  const creds = await loadCredentials(config.kubernetes!.kubeconfig);
  const api = new HttpsNodeApi(creds);
  try {
    const nodes: NodeObject[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const page = await api.listPage({ limit: 500, ...(cont ? { continue: cont } : {}) });
      for (const n of page.items) if (typeof n?.metadata?.name === 'string') nodes.push(trimNode(n, config));
      cont = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion ?? resourceVersion;
    } while (cont);
    return { ...membershipView(nodes, config, creds.server), server: creds.server, resourceVersion };
  } finally {
    api.close();
  }
}
