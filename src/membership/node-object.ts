// The part of a Kubernetes Node object (core/v1) the agent reads, and the
// list and watch envelopes it arrives in. Everything else on a Node is ignored.

export interface NodeAddress {
  type: string;
  address: string;
}

export interface NodeObject {
  metadata: {
    name: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  status?: { addresses?: NodeAddress[] };
}

export interface NodeList {
  metadata: { resourceVersion?: string; continue?: string };
  items: NodeObject[];
}

/** A meta/v1 Status, as sent with an error code or in an ERROR watch event. */
export interface ApiStatus {
  kind: 'Status';
  code?: number;
  reason?: string;
  message?: string;
}

export type WatchEvent =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: NodeObject }
  | { type: 'BOOKMARK'; object: { metadata: { resourceVersion: string } } }
  | { type: 'ERROR'; object: ApiStatus };
