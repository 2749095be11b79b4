/**
 * Names and addresses of lab k (several labs coexist on one machine, each with its own index k):
 * bridge flanlab<k> with 10.77.<k>.1/24, nodes node1..N at 10.77.<k>.11.., netns flanlab-<k>-node<i>,
 * host-side veth flanlab<k>n<i> (at most 15 characters), etcd on https://10.77.<k>.1:2379.
 */
export const MAX_INDEX = 250;
export const MAX_NODES = 200;
export const FIRST_HOST = 11;

export interface LabNames {
  index: number;
  bridge: string;
  subnet: string;
  hostIp: string;
  prefixLen: number;
  etcdClientUrl: string;
  etcdPeerUrl: string;
}

export function labNames(k: number): LabNames {
  const hostIp = `10.77.${k}.1`;
  return {
    index: k,
    bridge: `flanlab${k}`,
    subnet: `10.77.${k}.0/24`,
    hostIp,
    prefixLen: 24,
    etcdClientUrl: `https://${hostIp}:2379`,
    etcdPeerUrl: `http://${hostIp}:2380`,
  };
}

export interface NodeNames {
  name: string;
  ip: string;
  netns: string;
  veth: string;
}

export function nodeNames(k: number, i: number): NodeNames {
  return { name: `node${i}`, ip: `10.77.${k}.${FIRST_HOST + i - 1}`, netns: `flanlab-${k}-node${i}`, veth: `flanlab${k}n${i}` };
}

/** node7 → 7, anything else → undefined. */
export function nodeNumber(name: string): number | undefined {
  const m = /^node([1-9]\d*)$/.exec(name);
  return m ? Number(m[1]) : undefined;
}
