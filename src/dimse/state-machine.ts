// The DICOM Upper Layer state machine (PS3.8 section 9.2) as data: its 13 states, 19 events,
// 28 actions and the state transition table (Table 9-10). Nothing here does I/O: the
// association (association.ts) feeds every received PDU, timer expiry, closed connection and
// local request through `transition()` and performs the action it names. Keeping the table as
// data lets a test compare every cell with the standard, and makes a cell that was left out
// (a release collision, say) visible instead of buried in an if.

/** PS3.8 Tables 9-1 to 9-5. */
export const STATES = {
  Sta1: 'Idle (no association)',
  Sta2: 'Transport connection open, awaiting A-ASSOCIATE-RQ PDU',
  Sta3: 'Awaiting local A-ASSOCIATE response primitive',
  Sta4: 'Awaiting transport connection opening to complete',
  Sta5: 'Awaiting A-ASSOCIATE-AC or A-ASSOCIATE-RJ PDU',
  Sta6: 'Association established, ready for data transfer',
  Sta7: 'Awaiting A-RELEASE-RP PDU',
  Sta8: 'Awaiting local A-RELEASE response primitive',
  Sta9: 'Release collision, requestor side: awaiting local A-RELEASE response primitive',
  Sta10: 'Release collision, acceptor side: awaiting A-RELEASE-RP PDU',
  Sta11: 'Release collision, requestor side: awaiting A-RELEASE-RP PDU',
  Sta12: 'Release collision, acceptor side: awaiting local A-RELEASE response primitive',
  Sta13: 'Awaiting transport connection close (the association no longer exists)',
} as const;

export type State = keyof typeof STATES;

/** PS3.8 Table 9-10, first column. */
export const EVENTS = {
  Evt1: 'A-ASSOCIATE request (local user)',
  Evt2: 'Transport connect confirmation (local transport service)',
  Evt3: 'A-ASSOCIATE-AC PDU received',
  Evt4: 'A-ASSOCIATE-RJ PDU received',
  Evt5: 'Transport connection indication (local transport service)',
  Evt6: 'A-ASSOCIATE-RQ PDU received',
  Evt7: 'A-ASSOCIATE response primitive (accept)',
  Evt8: 'A-ASSOCIATE response primitive (reject)',
  Evt9: 'P-DATA request primitive',
  Evt10: 'P-DATA-TF PDU received',
  Evt11: 'A-RELEASE request primitive',
  Evt12: 'A-RELEASE-RQ PDU received',
  Evt13: 'A-RELEASE-RP PDU received',
  Evt14: 'A-RELEASE response primitive',
  Evt15: 'A-ABORT request primitive',
  Evt16: 'A-ABORT PDU received',
  Evt17: 'Transport connection closed indication',
  Evt18: 'ARTIM timer expired',
  Evt19: 'Unrecognized or invalid PDU received',
} as const;

export type Event = keyof typeof EVENTS;

export interface ActionSpec {
  /** What PS3.8 says the action does. */
  readonly does: string;
  /** The states it may lead to; AE-6 and AR-8 choose between two. */
  readonly next: readonly State[];
}

/** PS3.8 Tables 9-6 to 9-9. */
export const ACTIONS = {
  'AE-1': { does: 'Issue TRANSPORT CONNECT request primitive to local transport service', next: ['Sta4'] },
  'AE-2': { does: 'Send A-ASSOCIATE-RQ PDU', next: ['Sta5'] },
  'AE-3': { does: 'Issue A-ASSOCIATE confirmation (accept) primitive', next: ['Sta6'] },
  'AE-4': { does: 'Issue A-ASSOCIATE confirmation (reject) primitive and close transport connection', next: ['Sta1'] },
  'AE-5': { does: 'Issue transport connection response primitive; start ARTIM timer', next: ['Sta2'] },
  'AE-6': {
    does: 'Stop ARTIM timer; if the A-ASSOCIATE-RQ is acceptable issue A-ASSOCIATE indication, else send A-ASSOCIATE-RJ PDU and start ARTIM',
    next: ['Sta3', 'Sta13'],
  },
  'AE-7': { does: 'Send A-ASSOCIATE-AC PDU', next: ['Sta6'] },
  'AE-8': { does: 'Send A-ASSOCIATE-RJ PDU and start ARTIM timer', next: ['Sta13'] },
  'DT-1': { does: 'Send P-DATA-TF PDU', next: ['Sta6'] },
  'DT-2': { does: 'Send P-DATA indication primitive', next: ['Sta6'] },
  'AR-1': { does: 'Send A-RELEASE-RQ PDU', next: ['Sta7'] },
  'AR-2': { does: 'Issue A-RELEASE indication primitive', next: ['Sta8'] },
  'AR-3': { does: 'Issue A-RELEASE confirmation primitive and close transport connection', next: ['Sta1'] },
  'AR-4': { does: 'Send A-RELEASE-RP PDU and start ARTIM timer', next: ['Sta13'] },
  'AR-5': { does: 'Stop ARTIM timer', next: ['Sta1'] },
  'AR-6': { does: 'Issue P-DATA indication', next: ['Sta7'] },
  'AR-7': { does: 'Send P-DATA-TF PDU', next: ['Sta8'] },
  'AR-8': { does: 'Issue A-RELEASE indication (release collision): Sta9 if association-requestor, else Sta10', next: ['Sta9', 'Sta10'] },
  'AR-9': { does: 'Send A-RELEASE-RP PDU', next: ['Sta11'] },
  'AR-10': { does: 'Issue A-RELEASE confirmation primitive', next: ['Sta12'] },
  'AA-1': { does: 'Send A-ABORT PDU (service-user source) and start (or restart) ARTIM timer', next: ['Sta13'] },
  'AA-2': { does: 'Stop ARTIM timer if running; close transport connection', next: ['Sta1'] },
  'AA-3': { does: 'Issue A-ABORT (or A-P-ABORT) indication and close transport connection', next: ['Sta1'] },
  'AA-4': { does: 'Issue A-P-ABORT indication primitive', next: ['Sta1'] },
  'AA-5': { does: 'Stop ARTIM timer', next: ['Sta1'] },
  'AA-6': { does: 'Ignore PDU', next: ['Sta13'] },
  'AA-7': { does: 'Send A-ABORT PDU', next: ['Sta13'] },
  'AA-8': { does: 'Send A-ABORT PDU (service-provider source), issue A-P-ABORT indication, start ARTIM timer', next: ['Sta13'] },
} as const satisfies Record<string, ActionSpec>;

export type Action = keyof typeof ACTIONS;

/**
 * One row per state: the action for each event, or null where Table 9-10 leaves the cell blank
 * (the event cannot occur in that state: a local request the user may not make there, or a PDU
 * before any transport connection exists).
 */
type Row = Record<Event, Action | null>;

/** A row of blanks, to be filled with the cells Table 9-10 defines for one state. */
function row(cells: Partial<Row>): Row {
  const blank = Object.fromEntries(Object.keys(EVENTS).map((event) => [event, null])) as Row;
  return { ...blank, ...cells };
}

/** A received PDU or event in Sta3 and Sta5 to Sta12 that the state does not expect: AA-8. */
const UNEXPECTED_IN_ASSOCIATION: Partial<Row> = {
  Evt3: 'AA-8',
  Evt4: 'AA-8',
  Evt6: 'AA-8',
  Evt10: 'AA-8',
  Evt12: 'AA-8',
  Evt13: 'AA-8',
  Evt15: 'AA-1',
  Evt16: 'AA-3',
  Evt17: 'AA-4',
  Evt19: 'AA-8',
};

/** PS3.8 Table 9-10. */
export const TRANSITIONS: Readonly<Record<State, Readonly<Row>>> = {
  Sta1: row({ Evt1: 'AE-1', Evt5: 'AE-5' }),
  Sta2: row({
    Evt3: 'AA-1',
    Evt4: 'AA-1',
    Evt6: 'AE-6',
    Evt10: 'AA-1',
    Evt12: 'AA-1',
    Evt13: 'AA-1',
    Evt16: 'AA-2',
    Evt17: 'AA-5',
    Evt18: 'AA-2',
    Evt19: 'AA-1',
  }),
  Sta3: row({ ...UNEXPECTED_IN_ASSOCIATION, Evt7: 'AE-7', Evt8: 'AE-8' }),
  Sta4: row({ Evt2: 'AE-2', Evt15: 'AA-2', Evt17: 'AA-4' }),
  Sta5: row({ ...UNEXPECTED_IN_ASSOCIATION, Evt3: 'AE-3', Evt4: 'AE-4' }),
  Sta6: row({ ...UNEXPECTED_IN_ASSOCIATION, Evt9: 'DT-1', Evt10: 'DT-2', Evt11: 'AR-1', Evt12: 'AR-2' }),
  Sta7: row({ ...UNEXPECTED_IN_ASSOCIATION, Evt10: 'AR-6', Evt12: 'AR-8', Evt13: 'AR-3' }),
  Sta8: row({ ...UNEXPECTED_IN_ASSOCIATION, Evt9: 'AR-7', Evt14: 'AR-4' }),
  Sta9: row({ ...UNEXPECTED_IN_ASSOCIATION, Evt14: 'AR-9' }),
  Sta10: row({ ...UNEXPECTED_IN_ASSOCIATION, Evt13: 'AR-10' }),
  Sta11: row({ ...UNEXPECTED_IN_ASSOCIATION, Evt13: 'AR-3' }),
  Sta12: row({ ...UNEXPECTED_IN_ASSOCIATION, Evt14: 'AR-4' }),
  Sta13: row({
    Evt3: 'AA-6',
    Evt4: 'AA-6',
    Evt6: 'AA-7',
    Evt10: 'AA-6',
    Evt12: 'AA-6',
    Evt13: 'AA-6',
    Evt16: 'AA-2',
    Evt17: 'AR-5',
    Evt18: 'AA-2',
    Evt19: 'AA-7',
  }),
};

/** The action Table 9-10 gives for `event` in `state`; null where the cell is blank. */
export function transition(state: State, event: Event): Action | null {
  return TRANSITIONS[state][event];
}

/** Whether `next` is a state the action may lead to (an action choosing another is a bug). */
export function isNextStateOf(action: Action, next: State): boolean {
  return (ACTIONS[action].next as readonly State[]).includes(next);
}
