// One way for tests and benches to open an association with the project's own SCU: the settings a
// test does not care about (implementation identity, limits, timers) are filled in here, so each
// test names only what it is about (calling AE, contexts, TLS, source address).
import { ScuAssociation, type ScuOptions } from '../../src/dimse/scu';
import { VERIFICATION_SOP_CLASS, VERIFICATION_TRANSFER_SYNTAX_PREFERENCE } from '../../src/dimse/uids';

export type TestScuOptions = Partial<Omit<ScuOptions, 'port'>>;

/** C-ECHO only: the context every association test can use. */
export const VERIFICATION_CONTEXT = {
  abstractSyntax: VERIFICATION_SOP_CLASS,
  transferSyntaxes: [...VERIFICATION_TRANSFER_SYNTAX_PREFERENCE],
};

export function openTestScu(port: number, options: TestScuOptions = {}): Promise<ScuAssociation> {
  return ScuAssociation.open({
    host: '127.0.0.1',
    callingAeTitle: 'TESTSCU',
    calledAeTitle: 'DICOM_AI',
    contexts: [VERIFICATION_CONTEXT],
    implementationClassUid: '1.2.3.4',
    implementationVersionName: 'TEST',
    limits: { maxPduLength: 16384, maxCommandBytes: 65536, maxAssociateLength: 1 << 20, maxDataSetBytes: 0 },
    timeouts: { artimMs: 5000, idleMs: 60_000 },
    ...options,
    port,
  });
}
