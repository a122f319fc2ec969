// Storage SOP classes the node accepts: every one the standard defines (PS3.4 Annex B), from the
// project's own dicom-dictionary/ table (derived from the standard by scripts/derive-dictionary.js).
// A node that files whatever the modality sends is what PACS administrators expect; routing decides
// later what is worth a model.

import table from '../../dicom-dictionary/storage-sop-classes.json';

export interface SopClassEntry {
  uid: string;
  name: string;
  retired?: boolean;
}

export const STORAGE_SOP_CLASSES: readonly SopClassEntry[] = table.sopClasses;

export function storageSopClassUids(): string[] {
  return STORAGE_SOP_CLASSES.map((s) => s.uid);
}

const BY_UID = new Map(STORAGE_SOP_CLASSES.map((s) => [s.uid, s]));

export function sopClassName(uid: string): string {
  return BY_UID.get(uid)?.name ?? uid;
}
