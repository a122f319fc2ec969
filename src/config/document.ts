/**
 * The whole configuration document: one table of its top-level keys, each section read by its
 * own table under sections/. Validation, defaults, "did you mean" and the README's
 * configuration table all walk this.
 */
import { boolean, section } from './kinds';
import { type SectionSchema, SECTION_DEFAULTS, fieldKeys, has } from './schema';
import { type AdminKeys, adminSection } from './sections/admin';
import { auditSection } from './sections/audit';
import { callerList, checkCallerTransport } from './sections/callers';
import { deliverySection } from './sections/delivery';
import { destinationMap } from './sections/destinations';
import { housekeepingSection } from './sections/housekeeping';
import { inferenceSection } from './sections/inference';
import { imagingSection } from './sections/imaging';
import { logSection } from './sections/log';
import { nodeSection } from './sections/node';
import { reportSection } from './sections/report';
import { routeList } from './sections/routes';
import { routingSection } from './sections/routing';
import { seriesSection, storageSection } from './sections/storage';
import type { NodeConfig } from './types';

/** The document's keys as written; `admin` is resolved into NodeConfig's AdminConfig afterwards. */
export type DocumentKeys = Omit<NodeConfig, 'admin' | 'configPath' | 'configDir'> & { readonly admin: AdminKeys };

export const documentSchema: SectionSchema<DocumentKeys> = {
  suggestOtherSections: true,
  fields: {
    node: { kind: section(nodeSection), default: SECTION_DEFAULTS, doc: '' },
    admin: { kind: section(adminSection), default: SECTION_DEFAULTS, doc: '' },
    audit: { kind: section(auditSection), default: SECTION_DEFAULTS, doc: '' },
    housekeeping: { kind: section(housekeepingSection), default: SECTION_DEFAULTS, doc: '' },
    inference: { kind: section(inferenceSection), default: SECTION_DEFAULTS, doc: '' },
    imaging: { kind: section(imagingSection), default: SECTION_DEFAULTS, doc: '' },
    report: { kind: section(reportSection), default: SECTION_DEFAULTS, doc: '' },
    delivery: { kind: section(deliverySection), default: SECTION_DEFAULTS, doc: '' },
    routing: { kind: section(routingSection), default: SECTION_DEFAULTS, doc: '' },
    callers: {
      kind: callerList,
      default: [],
      defaultDoc: '',
      doc: '`{ "aeTitle": "CT01", "hosts": ["10.1.2.3"] }`: a modality or PACS allowed to send',
    },
    acceptAnyCaller: { kind: boolean, default: false, doc: 'accept calling AE titles that are not listed' },
    storage: { kind: section(storageSection), default: SECTION_DEFAULTS, doc: '' },
    series: { kind: section(seriesSection), default: SECTION_DEFAULTS, doc: '' },
    log: { kind: section(logSection), default: SECTION_DEFAULTS, doc: '' },
    destinations: {
      kind: destinationMap,
      default: {},
      defaultDoc: '',
      doc: '`{ "aeTitle", "host", "port" }` (DICOM C-STORE) or `{ "protocol": "dicomweb", "url", "auth" }` (STOW-RS): where reports go',
    },
    routes: { kind: routeList, default: [], defaultDoc: '', doc: 'which series go to which model and destinations' },
  },
  check(document, raw, _at, { problems }) {
    // An unusable `callers` value (not a list) is reported on its own.
    const callersUsable = !has(raw, 'callers') || Array.isArray(raw['callers']);
    if (!document.acceptAnyCaller && callersUsable && document.callers.length === 0) {
      problems.add(
        'callers',
        `${has(raw, 'callers') ? 'the list is empty' : 'missing'} and acceptAnyCaller is false, so no modality could connect; ` +
          'list the calling AE titles of your modalities/PACS here, or set "acceptAnyCaller": true',
      );
    }
    checkCallerTransport(document, problems);
  },
};

/** Sections whose keys are suggested when written elsewhere ("port" at the top level -> "node.port"). */
export const MISPLACED_KEY_HINTS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['node', fieldKeys(nodeSection)],
  ['storage', fieldKeys(storageSection)],
  ['series', fieldKeys(seriesSection)],
  ['log', fieldKeys(logSection)],
];
