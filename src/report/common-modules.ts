/**
 * What the objects the node creates (the SR in build-sr.ts, the key image Secondary Capture in
 * key-image-sc.ts) have in common: the tags both write, the SOP Common, Patient, General Study and
 * General Equipment modules, and the Part 10 framing. Patient and study identity are copied from
 * the ORIGINAL source instance (source.ts), already decoded, and written as UTF-8 (ISO_IR 192).
 */
import { encodeNodes } from '../deid/dataset-writer';
import { buildFileMetaInformation } from '../dicom/part10';
import { TAG } from '../dicom/tags';
import { EXPLICIT_LE, TRANSFER_SYNTAX } from '../dicom/transfer-syntax';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../version';
import { copied, Node, sorted, text, uid } from './elements';
import { SourceIdentity } from './source';

/** The node as the creator of an object (General Equipment, observer, Part 10 source AE). */
export interface CreatingDevice {
  aeTitle: string;
  deviceUid: string;
  manufacturer: string;
  modelName: string;
  softwareVersion: string;
}

/** DA and TM in UTC (Timezone Offset From UTC says +0000), to the second. */
export function dicomDateTime(d: Date): { date: string; time: string } {
  const iso = d.toISOString(); // 2026-01-02T03:04:05.678Z
  return { date: iso.slice(0, 10).replace(/-/g, ''), time: iso.slice(11, 19).replace(/:/g, '') };
}

/** LO-sized text from configuration: cut at a character boundary rather than rejected. */
export function truncate(s: string, max: number): string {
  const chars = [...s.replace(/\\/g, '/')];
  return chars.length <= max ? s.replace(/\\/g, '/') : chars.slice(0, max).join('');
}

/** The Station Name (SH) and Part 10 Source AE Title: the AE title, trimmed, at most 16 characters. */
function stationName(dev: CreatingDevice): string {
  return dev.aeTitle.trim().slice(0, 16);
}

/** SOP Common: UTF-8, created at `date` `time` (UTC), the SOP class and instance. */
export function sopCommonNodes(sopClassUid: string, sopInstanceUid: string, date: string, time: string): Node[] {
  return [
    text(TAG.SpecificCharacterSet, 'CS', 'ISO_IR 192'),
    text(TAG.InstanceCreationDate, 'DA', date),
    text(TAG.InstanceCreationTime, 'TM', time),
    uid(TAG.SOPClassUID, sopClassUid),
    uid(TAG.SOPInstanceUID, sopInstanceUid),
    text(TAG.TimezoneOffsetFromUTC, 'SH', '+0000'),
  ];
}

/**
 * Patient and General Study modules, copied from the source identity: type 2 attributes always
 * (empty when the source has none), the optional ones only when the source has them.
 */
export function patientStudyNodes(id: SourceIdentity): (Node | undefined)[] {
  return [
    // Patient
    copied(TAG.PatientName, 'PN', id.PatientName),
    copied(TAG.PatientID, 'LO', id.PatientID),
    id.IssuerOfPatientID ? copied(TAG.IssuerOfPatientID, 'LO', id.IssuerOfPatientID) : undefined,
    copied(TAG.PatientBirthDate, 'DA', id.PatientBirthDate),
    copied(TAG.PatientSex, 'CS', id.PatientSex),
    id.OtherPatientIDs ? copied(TAG.OtherPatientIDs, 'LO', id.OtherPatientIDs) : undefined,
    // General Study
    uid(TAG.StudyInstanceUID, id.StudyInstanceUID as string),
    copied(TAG.StudyDate, 'DA', id.StudyDate),
    copied(TAG.StudyTime, 'TM', id.StudyTime),
    copied(TAG.ReferringPhysicianName, 'PN', id.ReferringPhysicianName),
    copied(TAG.StudyID, 'SH', id.StudyID),
    copied(TAG.AccessionNumber, 'SH', id.AccessionNumber),
    id.StudyDescription ? copied(TAG.StudyDescription, 'LO', id.StudyDescription) : undefined,
  ];
}

/** General Equipment: the node. */
export function equipmentNodes(dev: CreatingDevice): Node[] {
  return [
    text(TAG.Manufacturer, 'LO', truncate(dev.manufacturer, 64)),
    text(TAG.StationName, 'SH', stationName(dev)),
    text(TAG.ManufacturerModelName, 'LO', truncate(dev.modelName, 64)),
    uid(TAG.DeviceUID, dev.deviceUid),
    text(TAG.SoftwareVersions, 'LO', truncate(dev.softwareVersion, 64)),
  ];
}

/** The data set (sorted here), Explicit VR Little Endian, as a Part 10 file from the node's AE. */
export function part10Bytes(
  sopClassUid: string,
  sopInstanceUid: string,
  nodes: readonly (Node | undefined)[],
  dev: CreatingDevice,
): Buffer {
  const dataset = encodeNodes(sorted(nodes), EXPLICIT_LE);
  const meta = buildFileMetaInformation({
    mediaStorageSopClassUid: sopClassUid,
    mediaStorageSopInstanceUid: sopInstanceUid,
    transferSyntaxUid: TRANSFER_SYNTAX.ExplicitVRLittleEndian,
    implementationClassUid: IMPLEMENTATION_CLASS_UID,
    implementationVersionName: IMPLEMENTATION_VERSION_NAME,
    sourceApplicationEntityTitle: stationName(dev) || undefined,
  });
  return Buffer.concat([meta, dataset]);
}
