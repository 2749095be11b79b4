/**
 * src/connector/ owns the host seam Connector (connector.ts): exec(argv) / read / write / close over
 * SSH (ssh.ts: one connection per host, host keys verified in known-hosts.ts), locally with an argv
 * prefix such as nsenter (local.ts), or in memory for tests (fake.ts); pool.ts keeps one connection per
 * node for a run. quote.ts is the only place argv is quoted for a shell. It may import model/ and
 * errors.ts only.
 */
export { run, type Connector, type ExecOptions, type ExecResult } from './connector.js';
export { connectSsh, type SshConnectOptions } from './ssh.js';
export { localConnector, type LocalConnectorOptions } from './local.js';
export { fakeConnector, argvMatches, type FakeConnector, type FakeCall, type ArgvMatcher, type ExecResponse } from './fake.js';
export { openPool, type Pool, type PoolOptions } from './pool.js';
export { shellQuote, quoteArg } from './quote.js';
export { remoteSha256, remoteMatches, sha256Hex } from './sha256.js';
export { fingerprintSha256, parseKnownHosts, knownHostName, hostVerifier, recordHostKey } from './known-hosts.js';
