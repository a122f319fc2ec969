// Identity of this implementation on the wire (PS3.7 D.3.3.2): a UID of our own under the 2.25
// (UUID-derived) root, and a version name of at most 16 characters. VERSION must equal
// package.json's version (a test checks it; package.json is not imported so that the compiled
// tree holds no second package.json).

export const VERSION = '0.1.0';
export const IMPLEMENTATION_CLASS_UID = '2.25.233218663924147817833393679735933519618';
export const IMPLEMENTATION_VERSION_NAME = `DICOM_AI_${VERSION}`.slice(0, 16);
