// Named failsafe lists, for `failsafe: <name>` in config.yaml.
//
// calico: Felix's default failsafe ports (FailsafeInboundHostPorts and
// FailsafeOutboundHostPorts, as Calico's documentation lists them), which are
// in force on every host endpoint of a cluster whose FelixConfiguration sets
// none (MetalK8s sets none). A cutover that must keep what Calico's failsafes
// allowed (SSH from any workstation, among others) names this preset; the
// default stays artesca-fw's own (udp:68 inbound). Current Felix lists tcp:5473
// (Typha) in both directions, which older releases did not: it is kept, since
// the preset stands for the Felix that runs now.
export const FAILSAFE_PRESETS = {
  calico: {
    inbound: ['tcp:22', 'udp:68', 'tcp:179', 'tcp:2379', 'tcp:2380', 'tcp:5473', 'tcp:6443', 'tcp:6666', 'tcp:6667'],
    outbound: ['udp:53', 'udp:67', 'tcp:179', 'tcp:2379', 'tcp:2380', 'tcp:5473', 'tcp:6443', 'tcp:6666', 'tcp:6667'],
  },
} as const satisfies Record<string, { inbound: readonly string[]; outbound: readonly string[] }>;

export type FailsafePreset = keyof typeof FAILSAFE_PRESETS;
