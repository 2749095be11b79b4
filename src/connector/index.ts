export { run, type Connector, type ExecOptions, type ExecResult } from './connector.js';
export { connectSsh, type SshConnectOptions } from './ssh.js';
export { localConnector, type LocalConnectorOptions } from './local.js';
export { fakeConnector, argvMatches, type FakeConnector, type FakeCall, type ArgvMatcher, type ExecResponse } from './fake.js';
export { openPool, type Pool, type PoolOptions } from './pool.js';
export { shellQuote, quoteArg } from './quote.js';
export { remoteSha256, remoteMatches, sha256Hex } from './sha256.js';
export { fingerprintSha256, parseKnownHosts, knownHostName, hostVerifier, recordHostKey } from './known-hosts.js';
