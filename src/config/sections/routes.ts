/** `routes[]`: which series go to which model, and where its results are sent. */
import { boolean, choice, integer } from '../kinds';
import { closestMatch, describeValue, indexPath, isCommentKey, isPlainObject, keyPath } from '../problems';
import { type Kind, type NestedSection, type SectionSchema, readSection, required } from '../schema';
import { type MatchCondition, type RouteConfig, ROUTE_OUTPUTS, type RouteOutput, WINDOW_PRESET_NAMES } from '../types';

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const KEYWORD = /^[A-Z][A-Za-z0-9]{0,63}$/;
/** Offered as "did you mean" for a misspelt match keyword. */
const COMMON_KEYWORDS = [
  'Modality',
  'BodyPartExamined',
  'StudyDescription',
  'SeriesDescription',
  'ProtocolName',
  'Manufacturer',
  'ManufacturerModelName',
  'StationName',
  'InstitutionName',
  'SOPClassUID',
  'ImageType',
  'SliceThickness',
  'ConvolutionKernel',
  'ContrastBolusAgent',
  'ViewPosition',
  'PatientSex',
  'AccessionNumber',
  'StudyInstanceUID',
  'SeriesInstanceUID',
  'PhotometricInterpretation',
  'ScanningSequence',
  'Laterality',
  'ImageLaterality',
];

/** `outputs`: the objects a route sends; the SR always (the SEG and key image are read beside it). */
const outputList: Kind<readonly RouteOutput[] | null> = {
  read(value, at, { problems }) {
    const example = `e.g. ["sr", "seg"] (choices: ${ROUTE_OUTPUTS.join(', ')})`;
    if (!Array.isArray(value)) {
      problems.add(at, `${describeValue(value)} should be a list of outputs, ${example}`);
      return undefined;
    }
    const outputs: RouteOutput[] = [];
    value.forEach((entry: unknown, index) => {
      const known = ROUTE_OUTPUTS.find((o) => o === entry);
      if (known === undefined) problems.add(indexPath(at, index), `${describeValue(entry)} is not an output; ${example}`);
      else if (outputs.includes(known)) problems.add(indexPath(at, index), `"${known}" is listed more than once`);
      else outputs.push(known);
    });
    if (!outputs.includes('sr'))
      problems.add(at, 'the list has no "sr": the structured report is what the other outputs are read with; add "sr"');
    return outputs;
  },
};

const routeName: Kind<string> = {
  read(value, at, { problems }) {
    if (typeof value === 'string' && value.trim() !== '') return value.trim();
    problems.add(at, `${describeValue(value)} is not a route name; write a short name as text, e.g. "chest-ct"`);
    return undefined;
  },
};

const modelName: Kind<string> = {
  read(value, at, { problems }) {
    if (typeof value === 'string' && MODEL_NAME.test(value.trim())) return value.trim();
    problems.add(at, `${describeValue(value)} is not a valid model name (letters, digits, . _ - ; no spaces or slashes)`);
    return undefined;
  },
};

/** DICOM keyword -> text (compared ignoring case) or "/regex/flags". */
const matchConditions: Kind<Readonly<Record<string, MatchCondition>>> = {
  read(value, at, { problems }) {
    if (!isPlainObject(value)) {
      problems.add(at, `${describeValue(value)} should be an object of DICOM keyword and value, e.g. {"Modality": "CT"}`);
      return undefined;
    }
    const conditions: Record<string, MatchCondition> = {};
    for (const keyword of Object.keys(value)) {
      if (isCommentKey(keyword)) continue;
      const keywordAt = keyPath(at, keyword);
      if (!KEYWORD.test(keyword)) {
        const suggestion = closestMatch(keyword, COMMON_KEYWORDS);
        problems.add(
          keywordAt,
          `${JSON.stringify(keyword)} is not a DICOM keyword (keywords are written like "Modality" or "BodyPartExamined")${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
        );
        continue;
      }
      const wanted = value[keyword];
      if (typeof wanted !== 'string') {
        const hint =
          typeof wanted === 'number' || typeof wanted === 'boolean' ? `; write it in double quotes: "${String(wanted)}"` : ', e.g. "CT"';
        problems.add(keywordAt, `${describeValue(wanted)} should be text${hint}`);
        continue;
      }
      // "/chest|thorax/i" is a regular expression; anything else is compared as text, ignoring case.
      const regex = /^\/(.*)\/([a-z]*)$/s.exec(wanted);
      if (regex === null) {
        conditions[keyword] = { kind: 'equals', value: wanted.trim() };
        continue;
      }
      const [, source = '', flags = ''] = regex;
      try {
        new RegExp(source, flags);
        conditions[keyword] = { kind: 'regex', source, flags };
      } catch (err) {
        problems.add(keywordAt, `${JSON.stringify(wanted)} is not a valid regular expression: ${(err as Error).message}`);
      }
    }
    return conditions;
  },
};

/** Names defined under `destinations`, each once. */
const destinationList: Kind<readonly string[]> = {
  read(value, at, { problems, destinationNames }) {
    if (!Array.isArray(value)) {
      const hint = typeof value === 'string' ? `; write it as a list: [${JSON.stringify(value)}]` : '';
      problems.add(at, `${describeValue(value)} should be a list of destination names${hint}`);
      return undefined;
    }
    if (value.length === 0) {
      problems.add(at, 'the list is empty, so results would not be sent anywhere; list at least one name defined under "destinations"');
      return undefined;
    }
    const names: string[] = [];
    value.forEach((name: unknown, index) => {
      const nameAt = indexPath(at, index);
      if (typeof name !== 'string') {
        problems.add(nameAt, `${describeValue(name)} should be the name of a destination, as text`);
      } else if (!destinationNames.includes(name)) {
        const list = destinationNames.length > 0 ? `defined: ${destinationNames.join(', ')}` : 'no destinations are defined';
        const suggestion = closestMatch(name, destinationNames);
        problems.add(
          nameAt,
          `${JSON.stringify(name)} is not defined under "destinations" (${list})${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
        );
      } else if (names.includes(name)) {
        problems.add(nameAt, `"${name}" is listed more than once`);
      } else {
        names.push(name);
      }
    });
    return names;
  },
};

const CENTER_WIDTH = /^-?\d+(\.\d+)?\/\d+(\.\d+)?$/;
const WINDOW_WORDS: readonly string[] = ['auto', 'percentile', 'minmax', ...WINDOW_PRESET_NAMES];

const windowSetting: Kind<string> = {
  read(value, at, { problems }) {
    if (typeof value === 'string' && (WINDOW_WORDS.includes(value.trim()) || CENTER_WIDTH.test(value.trim()))) return value.trim();
    problems.add(
      at,
      `${describeValue(value)} is not a window: use auto, percentile, minmax, one of ${WINDOW_PRESET_NAMES.join(', ')}, or center/width like "-600/1500"`,
    );
    return undefined;
  },
};

const instances = integer({ min: 1, unit: 'instances' });

export const routeSection: SectionSchema<RouteConfig> = {
  fields: {
    name: { kind: routeName, default: '', missing: required('a short name for this route, e.g. "chest-ct"'), doc: 'route name' },
    match: {
      kind: matchConditions,
      default: {},
      missing: required('which series this route applies to, e.g. {"Modality": "CT"} ({} = every series)'),
      defaultDoc: '',
      doc: 'DICOM keyword → text (compared ignoring case) or `"/regex/flags"`; `{}` = every series; keywords: Modality, BodyPartExamined, SeriesDescription, StudyDescription, Manufacturer, and `CallingAETitle`',
    },
    minInstances: { kind: instances, default: 1, doc: 'fewest instances a series needs (keep scouts out)' },
    maxInstances: { kind: instances, default: null, defaultDoc: 'none', doc: 'most instances a series may have' },
    model: { kind: modelName, default: '', missing: required('the name of the AI model to run'), doc: 'model to run' },
    destinations: {
      kind: destinationList,
      default: [],
      missing: required('a list of destination names defined under "destinations"'),
      doc: 'destination names',
    },
    priority: { kind: choice(['urgent', 'normal'] as const), default: 'normal', doc: '`urgent` jobs go first' },
    window: {
      kind: windowSetting,
      default: 'auto',
      doc: '`lung`, `mediastinum`, `bone`, `brain`, `abdomen`, `liver`, `C/W` such as `-600/1500`, `percentile`, `minmax`, `auto`',
    },
    burnedInAnnotation: {
      kind: choice(['skip', 'flag'] as const),
      default: 'skip',
      doc: 'series at risk of burned-in text: `skip` or `flag`',
    },
    outputs: {
      kind: outputList,
      default: null,
      defaultDoc: '`["sr"]`, plus `"key-image-sc"` when `keyImage` is `true`',
      doc: "objects sent per result: `sr` (the structured report), `seg` (a DICOM Segmentation of a segmentation model's regions, sent before the SR), `key-image-sc` (the key image as a Secondary Capture)",
    },
    keyImage: {
      kind: boolean,
      default: false,
      defaultDoc: '`false` (default config: `true`)',
      doc: 'older spelling of `outputs`: `true` = with `"key-image-sc"`; ignored when `outputs` is given (must then agree with it)',
    },
    narrative: {
      kind: boolean,
      default: true,
      doc: 'ask the narrative model for report text when `report.narrative` is set',
    },
  },
  check(route, raw, at, { problems }) {
    if (route.outputs !== null && typeof raw.keyImage === 'boolean' && raw.keyImage !== route.outputs.includes('key-image-sc'))
      problems.add(
        keyPath(at, 'keyImage'),
        `keyImage ${raw.keyImage} contradicts outputs [${route.outputs.join(', ')}]; remove keyImage (outputs replaces it)`,
      );
    if (route.maxInstances !== null && route.maxInstances < route.minInstances)
      problems.add(keyPath(at, 'maxInstances'), `${route.maxInstances} is below minInstances (${route.minInstances})`);
  },
};

const nested: NestedSection = { pathSuffix: '[]', schema: routeSection };

/** The list of routes; route names unique. */
export const routeList: Kind<readonly RouteConfig[]> = {
  nested,
  read(value, at, ctx) {
    if (!Array.isArray(value)) {
      ctx.problems.add(at, `${describeValue(value)} should be a list [ ... ] of routes`);
      return undefined;
    }
    const routes: RouteConfig[] = [];
    const firstIndex = new Map<string, number>();
    value.forEach((entry: unknown, index) => {
      const entryAt = indexPath(at, index);
      if (!isPlainObject(entry)) {
        ctx.problems.add(
          entryAt,
          `${describeValue(entry)} should be an object like {"name": "chest-ct", "match": {"Modality": "CT"}, "model": "...", "destinations": ["PACS"]}`,
        );
        return;
      }
      const route = readSection(routeSection, entry, entryAt, ctx);
      const earlier = firstIndex.get(route.name);
      if (earlier !== undefined) {
        ctx.problems.add(keyPath(entryAt, 'name'), `"${route.name}" is already used by routes[${earlier}]; route names must be unique`);
      } else if (route.name !== '') {
        firstIndex.set(route.name, index);
      }
      routes.push(route);
    });
    return routes;
  },
};
