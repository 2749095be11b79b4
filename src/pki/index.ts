/**
 * src/pki/ owns flanctl's certificates: a cfssl-compatible CA (created, or the etcd CA reused), the
 * client-auth-only flanneld certificate, and checks of both. pki.ts creates and issues (DER built in
 * der.ts, names in subject.ts), check.ts inspects. The rest of src/ imports only this file. It may
 * import model/ and errors.ts, nothing else of src/.
 */
export {
  caFiles,
  certFiles,
  certMismatch,
  createCaPem,
  ensureCa,
  ensureFlanneldCert,
  expiryMs,
  issueCert,
  parseSans,
  readCertInfo,
  EKU_OIDS,
  type CertInfo,
  type CertUsage,
  type EnsureResult,
  type FlanneldCertResult,
  type IssueOptions,
  type KeySpec,
  type SubjectNames,
} from './pki.js';
export { checkPki, type CertCheck, type PkiCheckReport } from './check.js';
export { gitKeyWarnings, holdsPrivateKey, keyHygiene, tightenKeyModes, writePkiGitignore } from './guard.js';
export {
  CA_PHASES, applyCaPhase, caOwnershipProblem, caPemFor, finishCaRotation, pemBlocks, readCaRotation, refuseDuringCaRotation, rotationFiles,
  saveCaRotation, startCaRotation, type CaPhase, type CaRotationState,
} from './rotation.js';
