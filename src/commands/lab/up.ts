import { Flags } from '@oclif/core';
import { FlanctlCommand } from '../../command.js';
import { DEFAULT_NODES, labUp } from '../../lab/lab.js';
import { labUpSummary } from '../../lab/state.js';
import { MAX_NODES } from '../../lab/names.js';
import { dirFlag } from '../../lab/cli-flags.js';
import { DEFAULT_RELEASE, STANDIN_RELEASES } from '../../lab/standin.js';

export default class LabUp extends FlanctlCommand<typeof LabUp> {
  static summary = 'Start a local cluster of network-namespace nodes, with TLS etcd, and write its inventory (root).';
  static description = `Creates a host bridge and N nodes. A node has its own network, mount, uts, ipc and pid namespaces, an eth0 on the bridge, copy-on-write /etc /usr /var over the host's, fresh /opt /root /run /tmp /var/log, and runs its own sshd and supervisord. One etcd listens with TLS and client-cert auth on the bridge address (v2 API enabled too). Writes DIR/inventory.yaml, ready for \`flanctl bootstrap -i DIR/inventory.yaml\`.

With --init systemd every node boots a real systemd instead (systemd-nspawn in the same netns; sshd as a unit) from a shared Debian rootfs built once with mmdebstrap (DIR/rootfs, or --rootfs); the inventory then says flannel.service: systemd.

Idempotent: running nodes are kept, stopped ones are started, nodes beyond --nodes are removed. Several labs (different --dir) can run side by side.`;

  static examples = [
    '<%= config.bin %> lab up',
    '<%= config.bin %> lab up --nodes 5 --dir /srv/lab',
    '<%= config.bin %> lab up --release v0.11.0',
    '<%= config.bin %> lab up --release v0.20.2 --watch-bug',
    '<%= config.bin %> lab up --flannel-tarball ./flannel-v0.20.2-linux-amd64.tar.gz',
    '<%= config.bin %> lab up --fresh --install-deps',
    '<%= config.bin %> lab up --init systemd --nodes 3',
  ];

  static flags = {
    nodes: Flags.integer({ char: 'n', summary: 'Number of nodes.', default: DEFAULT_NODES, min: 1, max: MAX_NODES }),
    dir: dirFlag,
    'flannel-tarball': Flags.string({ summary: 'A real flannel release tarball for the inventory (default: the built flanneld stand-in).', exclusive: ['release'] }),
    release: Flags.string({
      summary: `The flannel release the stand-in emulates (default ${DEFAULT_RELEASE}); etcd.api follows it (v2 for v0.11.0).`,
      options: [...STANDIN_RELEASES],
    }),
    'watch-bug': Flags.boolean({ summary: "Switch on the stand-in's v0.20.2 etcd watch bug in every node (test equipment; off without this flag)." }),
    'watch-bug-gap': Flags.integer({
      summary: 'With --watch-bug: milliseconds the stand-in waits before each new etcd watch, widening the window in which v0.20.2 loses lease events (default 0: as fast as the machine allows).',
      min: 0,
      max: 10_000,
      dependsOn: ['watch-bug'],
    }),
    fresh: Flags.boolean({ summary: 'Remove an existing lab in DIR first (nodes, etcd data, keys, CA) and start anew.' }),
    'install-deps': Flags.boolean({ summary: 'apt-get install missing Debian packages (without starting their services on this machine).' }),
    init: Flags.string({ summary: 'The nodes\' init: supervisord, or a real systemd booted with systemd-nspawn.', options: ['supervisord', 'systemd'], default: 'supervisord' }),
    rootfs: Flags.string({ summary: '--init systemd: the nodes\' shared Debian rootfs, built once with mmdebstrap (default DIR/rootfs).', env: 'FLANCTL_LAB_ROOTFS' }),
    'rebuild-rootfs': Flags.boolean({ summary: '--init systemd: build the rootfs again (restarts the systemd nodes).' }),
  };

  async run(): Promise<unknown> {
    const t0 = Date.now();
    const state = await labUp({
      dir: this.flags.dir,
      nodes: this.flags.nodes,
      flannelTarball: this.flags['flannel-tarball'],
      release: this.flags.release,
      watchBug: this.flags['watch-bug'],
      watchBugGapMs: this.flags['watch-bug-gap'],
      fresh: this.flags.fresh,
      installDeps: this.flags['install-deps'],
      init: this.flags.init as 'supervisord' | 'systemd',
      rootfs: this.flags.rootfs,
      rebuildRootfs: this.flags['rebuild-rootfs'],
      log: (line) => this.say(line),
    });
    const seconds = ((Date.now() - t0) / 1000).toFixed(1);
    this.say(`lab up: ${state.nodes.length} nodes on ${state.bridge} (${state.subnet}), etcd ${state.etcd?.endpoint}, in ${seconds} s`);
    this.say(`inventory: ${state.inventory}`);
    this.say(`next: flanctl lab status -d ${this.flags.dir} · flanctl lab exec node1 -d ${this.flags.dir} -- ip -br addr · flanctl bootstrap -i ${state.inventory}`);
    return labUpSummary(state, Number(seconds));
  }
}
