// The built-in policies, as data: exactly the table of ../shared/spec/policies.md
// (from the ARTESCA "Network Firewall" document). They are written in the same
// schema as user policies; a user policy with the same name replaces one.
import type { RawPolicy } from '../config/schema.js';

const cp = { plane: 'controlPlane' } as const;
const wp = { plane: 'workloadPlane' } as const;
const cpRoles = (...roles: ('bootstrap' | 'master' | 'etcd' | 'infra' | 'registry')[]) => ({
  plane: 'controlPlane' as const,
  roles,
});

export const BUILTIN_POLICIES: RawPolicy[] = [
  {
    name: 'control-plane-bootstrap',
    order: 100,
    appliesTo: cpRoles('bootstrap'),
    ingress: [
      { action: 'allow', protocol: 'tcp', ports: [4505, 4506, 4507], from: cp, comment: 'salt-master, salt-api' },
      { action: 'allow', protocol: 'tcp', ports: [8428], comment: 'artifacts server' },
      { action: 'allow', protocol: 'udp', ports: [123], comment: 'NTP (hardware appliances)' },
    ],
    egress: [{ action: 'allow', protocol: 'tcp', ports: [22], to: cp, comment: 'SSH to nodes' }],
  },
  {
    name: 'control-plane-master',
    order: 101,
    appliesTo: cpRoles('master'),
    ingress: [
      { action: 'allow', protocol: 'tcp', ports: [6443], from: cp, comment: 'kube-apiserver' },
      { action: 'allow', protocol: 'tcp', ports: [8443], comment: 'control-plane ingress' },
      { action: 'allow', protocol: 'tcp', ports: [10257], from: cpRoles('infra'), comment: 'kube-controller-manager metrics' },
      { action: 'allow', protocol: 'tcp', ports: [10259], from: cpRoles('infra'), comment: 'kube-scheduler metrics' },
    ],
  },
  {
    name: 'control-plane-etcd',
    order: 102,
    appliesTo: cpRoles('etcd'),
    ingress: [
      { action: 'allow', protocol: 'tcp', ports: [2379], from: cpRoles('etcd'), comment: 'etcd client' },
      { action: 'allow', protocol: 'tcp', ports: [2380], from: cp, comment: 'etcd peer' },
      { action: 'allow', protocol: 'tcp', ports: [2381], from: cpRoles('infra'), comment: 'etcd metrics' },
    ],
    egress: [{ action: 'allow', protocol: 'tcp', ports: [2380], to: cpRoles('etcd'), comment: 'etcd peer' }],
  },
  {
    name: 'control-plane-registry',
    order: 103,
    appliesTo: cpRoles('registry'),
    ingress: [{ action: 'allow', protocol: 'tcp', ports: [8080], comment: 'registry (images, OS packages)' }],
    egress: [{ action: 'allow', protocol: 'tcp', ports: [8428], to: cpRoles('bootstrap'), comment: 'artifacts server' }],
  },
  {
    name: 'control-plane-infra',
    order: 104,
    appliesTo: cpRoles('infra'),
    egress: [
      {
        action: 'allow',
        protocol: 'tcp',
        ports: [10257, 10259],
        to: cpRoles('master'),
        comment: 'controller-manager / scheduler metrics',
      },
      { action: 'allow', protocol: 'tcp', ports: [2381], to: cpRoles('etcd'), comment: 'etcd metrics' },
      { action: 'allow', protocol: 'tcp', ports: [9100], to: cp, comment: 'node-exporter' },
      { action: 'allow', protocol: 'tcp', ports: [10249], to: cp, comment: 'kube-proxy metrics' },
      { action: 'allow', protocol: 'tcp', ports: [10250], to: cp, comment: 'kubelet metrics' },
    ],
  },
  {
    name: 'control-plane-general',
    order: 105,
    appliesTo: cp,
    ingress: [
      { action: 'allow', protocol: 'tcp', ports: [10250], from: cp, comment: 'kubelet API' },
      { action: 'allow', protocol: 'tcp', ports: [10256], from: cp, comment: 'kube-proxy healthcheck' },
      { action: 'allow', protocol: 'tcp', ports: [9100], from: cpRoles('infra'), comment: 'node-exporter' },
      { action: 'allow', protocol: 'tcp', ports: [10249], from: cpRoles('infra'), comment: 'kube-proxy metrics' },
      { action: 'allow', protocol: 'tcp', ports: [22], from: cpRoles('bootstrap'), comment: 'SSH from bootstrap' },
    ],
    egress: [
      { action: 'allow', protocol: 'tcp', ports: [2379], to: cp, comment: 'etcd client' },
      { action: 'allow', protocol: 'tcp', ports: [4505, 4506], to: cpRoles('bootstrap'), comment: 'salt-minion' },
      { action: 'allow', protocol: 'tcp', ports: [6443], to: cp, comment: 'kube-apiserver' },
      { action: 'allow', protocol: 'tcp', ports: [8080], to: cpRoles('registry'), comment: 'registry' },
      { action: 'allow', protocol: 'tcp', ports: [8428], to: cpRoles('bootstrap'), comment: 'artifacts server' },
      { action: 'allow', protocol: 'tcp', ports: [10250], comment: 'kubelet' },
      { action: 'allow', protocol: 'tcp', ports: [10256], to: cp, comment: 'kube-proxy healthcheck' },
      { action: 'allow', protocol: 'tcp', ports: [8443], to: cpRoles('master'), comment: 'control-plane ingress' },
      { action: 'allow', protocol: 'udp', ports: [123], comment: 'NTP' },
      { action: 'allow', protocol: 'tcp', comment: 'all TCP egress' },
      { action: 'allow', protocol: 'udp', comment: 'all UDP egress' },
    ],
  },
  {
    name: 'workload-plane',
    order: 200,
    appliesTo: wp,
    ingress: [
      { action: 'allow', protocol: 'tcp', ports: [80, 443], comment: 'workload ingress (S3 ...)' },
      { action: 'allow', protocol: 'vrrp', comment: 'keepalived' },
      { action: 'allow', protocol: 'tcp', ports: [179], from: wp, comment: 'Calico BGP' },
    ],
    egress: [
      { action: 'allow', protocol: 'vrrp', comment: 'keepalived' },
      { action: 'allow', protocol: 'tcp', comment: 'all TCP egress' },
      { action: 'allow', protocol: 'udp', comment: 'all UDP egress' },
    ],
  },
];
