// The PS3.8 state machine: every cell of Table 9-10 against a copy transcribed from the standard
// (not derived from src/dimse/state-machine.ts), and the release collision played out on real
// sockets from both sides.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ACTIONS, Action, EVENTS, Event, STATES, State, TRANSITIONS, transition } from '../src/dimse/state-machine';
import { Association, Transition } from '../src/dimse/association';
import { ScuAssociation } from '../src/dimse/scu';
import {
  AssociateRQ,
  PDU_TYPE,
  decodeAssociateRQ,
  encodeAssociateAC,
  encodeAssociateRQ,
  encodeReleaseRP,
  encodeReleaseRQ,
} from '../src/dimse/pdu';
import { PduReader, RawPdu, pduBody } from '../src/dimse/pdu-reader';
import { APPLICATION_CONTEXT, TS, VERIFICATION_SOP_CLASS } from '../src/dimse/uids';

// PS3.8 Table 9-10, row by row (events), one column per state Sta1..Sta13; '' is a blank cell.
// prettier-ignore
const TABLE_9_10: Record<Event, string[]> = {
  //      Sta1    Sta2    Sta3    Sta4    Sta5    Sta6    Sta7    Sta8    Sta9    Sta10   Sta11   Sta12   Sta13
  Evt1:  ['AE-1', '',     '',     '',     '',     '',     '',     '',     '',     '',     '',     '',     ''],
  Evt2:  ['',     '',     '',     'AE-2', '',     '',     '',     '',     '',     '',     '',     '',     ''],
  Evt3:  ['',     'AA-1', 'AA-8', '',     'AE-3', 'AA-8', 'AA-8', 'AA-8', 'AA-8', 'AA-8', 'AA-8', 'AA-8', 'AA-6'],
  Evt4:  ['',     'AA-1', 'AA-8', '',     'AE-4', 'AA-8', 'AA-8', 'AA-8', 'AA-8', 'AA-8', 'AA-8', 'AA-8', 'AA-6'],
  Evt5:  ['AE-5', '',     '',     '',     '',     '',     '',     '',     '',     '',     '',     '',     ''],
  Evt6:  ['',     'AE-6', 'AA-8', '',     'AA-8', 'AA-8', 'AA-8', 'AA-8', 'AA-8', 'AA-8', 'AA-8', 'AA-8', 'AA-7'],
  Evt7:  ['',     '',     'AE-7', '',     '',     '',     '',     '',     '',     '',     '',     '',     ''],
  Evt8:  ['',     '',     'AE-8', '',     '',     '',     '',     '',     '',     '',     '',     '',     ''],
  Evt9:  ['',     '',     '',     '',     '',     'DT-1', '',     'AR-7', '',     '',     '',     '',     ''],
  Evt10: ['',     'AA-1', 'AA-8', '',     'AA-8', 'DT-2', 'AR-6', 'AA-8', 'AA-8', 'AA-8', 'AA-8', 'AA-8', 'AA-6'],
  Evt11: ['',     '',     '',     '',     '',     'AR-1', '',     '',     '',     '',     '',     '',     ''],
  Evt12: ['',     'AA-1', 'AA-8', '',     'AA-8', 'AR-2', 'AR-8', 'AA-8', 'AA-8', 'AA-8', 'AA-8', 'AA-8', 'AA-6'],
  Evt13: ['',     'AA-1', 'AA-8', '',     'AA-8', 'AA-8', 'AR-3', 'AA-8', 'AA-8', 'AR-10','AR-3', 'AA-8', 'AA-6'],
  Evt14: ['',     '',     '',     '',     '',     '',     '',     'AR-4', 'AR-9', '',     '',     'AR-4', ''],
  Evt15: ['',     '',     'AA-1', 'AA-2', 'AA-1', 'AA-1', 'AA-1', 'AA-1', 'AA-1', 'AA-1', 'AA-1', 'AA-1', ''],
  Evt16: ['',     'AA-2', 'AA-3', '',     'AA-3', 'AA-3', 'AA-3', 'AA-3', 'AA-3', 'AA-3', 'AA-3', 'AA-3', 'AA-2'],
  Evt17: ['',     'AA-5', 'AA-4', 'AA-4', 'AA-4', 'AA-4', 'AA-4', 'AA-4', 'AA-4', 'AA-4', 'AA-4', 'AA-4', 'AR-5'],
  Evt18: ['',     'AA-2', '',     '',     '',     '',     '',     '',     '',     '',     '',     '',     'AA-2'],
  Evt19: ['',     'AA-1', 'AA-8', '',     'AA-8', 'AA-8', 'AA-8', 'AA-8', 'AA-8', 'AA-8', 'AA-8', 'AA-8', 'AA-7'],
};

// PS3.8 Tables 9-6 to 9-9: the state each action leads to.
const NEXT_STATES: Record<Action, State[]> = {
  'AE-1': ['Sta4'],
  'AE-2': ['Sta5'],
  'AE-3': ['Sta6'],
  'AE-4': ['Sta1'],
  'AE-5': ['Sta2'],
  'AE-6': ['Sta3', 'Sta13'],
  'AE-7': ['Sta6'],
  'AE-8': ['Sta13'],
  'DT-1': ['Sta6'],
  'DT-2': ['Sta6'],
  'AR-1': ['Sta7'],
  'AR-2': ['Sta8'],
  'AR-3': ['Sta1'],
  'AR-4': ['Sta13'],
  'AR-5': ['Sta1'],
  'AR-6': ['Sta7'],
  'AR-7': ['Sta8'],
  'AR-8': ['Sta9', 'Sta10'],
  'AR-9': ['Sta11'],
  'AR-10': ['Sta12'],
  'AA-1': ['Sta13'],
  'AA-2': ['Sta1'],
  'AA-3': ['Sta1'],
  'AA-4': ['Sta1'],
  'AA-5': ['Sta1'],
  'AA-6': ['Sta13'],
  'AA-7': ['Sta13'],
  'AA-8': ['Sta13'],
};

const ALL_STATES = Array.from({ length: 13 }, (_, i) => `Sta${i + 1}` as State);
const ALL_EVENTS = Array.from({ length: 19 }, (_, i) => `Evt${i + 1}` as Event);

test('13 states, 19 events and 28 actions, each described', () => {
  assert.deepEqual(Object.keys(STATES), ALL_STATES);
  assert.deepEqual(Object.keys(EVENTS), ALL_EVENTS);
  assert.deepEqual(Object.keys(ACTIONS).sort(), Object.keys(NEXT_STATES).sort());
  for (const text of [...Object.values(STATES), ...Object.values(EVENTS), ...Object.values(ACTIONS).map((a) => a.does)])
    assert.ok(text.length > 5);
  assert.deepEqual(Object.keys(TRANSITIONS), ALL_STATES);
  for (const state of ALL_STATES) assert.deepEqual(Object.keys(TRANSITIONS[state]).sort(), [...ALL_EVENTS].sort(), state);
});

for (const state of ALL_STATES) {
  test(`Table 9-10, ${state}: every event gives the standard's action and next state`, () => {
    const column = ALL_STATES.indexOf(state);
    for (const event of ALL_EVENTS) {
      const expected = TABLE_9_10[event][column];
      const action = transition(state, event);
      assert.equal(action ?? '', expected, `${state} + ${event}`);
      if (action) assert.deepEqual([...ACTIONS[action].next], NEXT_STATES[action], `${state} + ${event} → ${action}`);
    }
  });
}

test('every action of PS3.8 is used by some cell', () => {
  const used = new Set(ALL_STATES.flatMap((s) => ALL_EVENTS.map((e) => transition(s, e))));
  for (const action of Object.keys(ACTIONS)) assert.ok(used.has(action as Action), action);
});

// ---------------------------------------------------------------------------------------------
// Release collision on real sockets

const limits = { maxPduLength: 16384, maxCommandBytes: 65536, maxAssociateLength: 1 << 20, maxDataSetBytes: 1 << 20 };
const timeouts = { artimMs: 2000, idleMs: 10_000 };

function rqFor(): AssociateRQ {
  return {
    protocolVersion: 1,
    calledAeTitle: 'PEER',
    callingAeTitle: 'US',
    applicationContext: APPLICATION_CONTEXT,
    presentationContexts: [{ id: 1, abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [TS.ImplicitVRLittleEndian] }],
    userInformation: { maxPduLength: 16384, implementationClassUid: '1.2.3.4', roleSelections: [], otherItems: [] },
  };
}

function acFor(rq: AssociateRQ) {
  return {
    protocolVersion: 1,
    calledAeTitle: rq.calledAeTitle,
    callingAeTitle: rq.callingAeTitle,
    applicationContext: APPLICATION_CONTEXT,
    presentationContexts: rq.presentationContexts.map((pc) => ({ id: pc.id, result: 0, transferSyntax: TS.ImplicitVRLittleEndian })),
    userInformation: { maxPduLength: 16384, roleSelections: [], otherItems: [] },
  };
}

/** Reads PDUs off a raw socket and hands each to `onPdu`; remembers the types seen. */
function rawPeer(socket: net.Socket, onPdu: (pdu: RawPdu) => void): number[] {
  const seen: number[] = [];
  const reader = new PduReader({ maxPDataLength: 1 << 20, maxAssociateLength: 1 << 20 });
  socket.on('data', (chunk: Buffer) => {
    for (const pdu of reader.push(chunk)) {
      seen.push(pdu.type);
      onPdu(pdu);
    }
  });
  socket.on('error', () => undefined);
  return seen;
}

const path = (steps: Transition[]) => steps.map((t) => `${t.from}+${t.event}:${t.action}→${t.to}`);

test('release collision, requestor side: both send A-RELEASE-RQ, the association ends released (AR-8, AR-9, AR-3)', async () => {
  let peerSeen: number[] = [];
  const server = net.createServer((socket) => {
    peerSeen = rawPeer(socket, (pdu) => {
      if (pdu.type === PDU_TYPE.AssociateRQ) socket.write(encodeAssociateAC(acFor(decodeAssociateRQ(pduBody(pdu)))));
      // The peer wants to release too: its A-RELEASE-RQ crosses ours. As the acceptor side of the
      // collision it answers our RQ only after we answered its own.
      if (pdu.type === PDU_TYPE.ReleaseRQ) socket.write(encodeReleaseRQ());
      if (pdu.type === PDU_TYPE.ReleaseRP) socket.write(encodeReleaseRP());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const scu = await ScuAssociation.open({
      host: '127.0.0.1',
      port: (server.address() as net.AddressInfo).port,
      callingAeTitle: 'US',
      calledAeTitle: 'PEER',
      contexts: [{ abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [TS.ImplicitVRLittleEndian] }],
      implementationClassUid: '1.2.3.4',
      implementationVersionName: 'TEST',
      limits,
      timeouts,
    });
    const steps: Transition[] = [];
    scu.assoc.on('transition', (t) => steps.push(t));
    const closed = new Promise<string>((r) => scu.assoc.once('closed', r));
    await scu.release();
    assert.equal(await closed, 'released');
    assert.deepEqual(path(steps), ['Sta6+Evt11:AR-1→Sta7', 'Sta7+Evt12:AR-8→Sta9', 'Sta9+Evt14:AR-9→Sta11', 'Sta11+Evt13:AR-3→Sta1']);
    assert.deepEqual(peerSeen, [PDU_TYPE.AssociateRQ, PDU_TYPE.ReleaseRQ, PDU_TYPE.ReleaseRP], 'no A-ABORT sent');
  } finally {
    server.close();
  }
});

test('release collision, acceptor side: AR-8, AR-10, then A-RELEASE-RP and released once the peer closes', async () => {
  let acceptor: Association | undefined;
  const server = net.createServer((socket) => {
    const assoc = new Association(socket, 'acceptor', limits, timeouts);
    assoc.on('associate-rq', (rq) => assoc.accept(acFor(rq), rq));
    acceptor = assoc;
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const client = net.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
    await new Promise((r) => client.once('connect', r));
    const established = new Promise<void>((r) => {
      const clientSeen = rawPeer(client, (pdu) => {
        if (pdu.type === PDU_TYPE.AssociateAC) r();
        // Our requestor side of the collision: its own RQ, then the answer to the acceptor's (AR-9)...
        if (pdu.type === PDU_TYPE.ReleaseRQ) client.write(Buffer.concat([encodeReleaseRQ(), encodeReleaseRP()]));
        // ...and on the acceptor's RP it closes (AR-3).
        if (pdu.type === PDU_TYPE.ReleaseRP) client.end();
      });
      client.once('close', () => assert.ok(!clientSeen.includes(PDU_TYPE.Abort), 'no A-ABORT'));
    });
    client.write(encodeAssociateRQ(rqFor()));
    await established;
    const assoc = acceptor!;
    const steps: Transition[] = [];
    assoc.on('transition', (t) => steps.push(t));
    const closed = new Promise<string>((r) => assoc.once('closed', r));
    await assoc.release();
    assert.equal(await closed, 'released');
    assert.deepEqual(path(steps), [
      'Sta6+Evt11:AR-1→Sta7',
      'Sta7+Evt12:AR-8→Sta10',
      'Sta10+Evt13:AR-10→Sta12',
      'Sta12+Evt14:AR-4→Sta13',
      'Sta13+Evt17:AR-5→Sta1',
    ]);
  } finally {
    server.close();
  }
});

test('an ordinary association goes Sta1 → Sta4 → Sta5 → Sta6 → Sta7 → Sta1 on the requestor side', async () => {
  const server = net.createServer((socket) => {
    rawPeer(socket, (pdu) => {
      if (pdu.type === PDU_TYPE.AssociateRQ) socket.write(encodeAssociateAC(acFor(decodeAssociateRQ(pduBody(pdu)))));
      if (pdu.type === PDU_TYPE.ReleaseRQ) socket.write(encodeReleaseRP());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const socket = net.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
    await new Promise((r) => socket.once('connect', r));
    const assoc = new Association(socket, 'requestor', limits, timeouts);
    const steps: Transition[] = [];
    assoc.on('transition', (t) => steps.push(t));
    assert.equal(assoc.state, 'Sta4');
    await assoc.request(encodeAssociateRQ(rqFor()));
    await assoc.release();
    assert.deepEqual(path(steps), ['Sta4+Evt2:AE-2→Sta5', 'Sta5+Evt3:AE-3→Sta6', 'Sta6+Evt11:AR-1→Sta7', 'Sta7+Evt13:AR-3→Sta1']);
    assert.equal(assoc.closeReason, 'released');
  } finally {
    server.close();
  }
});

/** An acceptor Association on a local server, and a raw client connected to it. */
async function acceptorWithRawClient(decide: (assoc: Association, rq: AssociateRQ) => void) {
  let acceptor: Association | undefined;
  const server = net.createServer((socket) => {
    const assoc = new Association(socket, 'acceptor', limits, timeouts);
    assoc.on('associate-rq', (rq) => decide(assoc, rq));
    acceptor = assoc;
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = net.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
  await new Promise((r) => client.once('connect', r));
  const clientClosed = new Promise((r) => client.once('close', r));
  const received: RawPdu[] = [];
  rawPeer(client, (pdu) => received.push(pdu));
  const steps: Transition[] = [];
  client.write(encodeAssociateRQ(rqFor()));
  await new Promise<void>((r) => {
    const poll = setInterval(() => {
      if (received.length > 0) {
        clearInterval(poll);
        r();
      }
    }, 5);
  });
  acceptor!.on('transition', (t) => steps.push(t));
  const closed = new Promise<string>((r) => acceptor!.once('closed', r));
  return { server, client, clientClosed, received, steps, closed, acceptor: acceptor! };
}

test('an A-ASSOCIATE-RQ on an established association: A-ABORT, unexpected PDU (Sta6 + Evt6 → AA-8)', async () => {
  const t = await acceptorWithRawClient((assoc, rq) => assoc.accept(acFor(rq), rq));
  try {
    assert.equal(t.received[0]!.type, PDU_TYPE.AssociateAC);
    t.client.write(encodeAssociateRQ(rqFor()));
    assert.equal(await t.closed, 'protocol error: unexpected A-ASSOCIATE-RQ');
    assert.deepEqual(path(t.steps), ['Sta6+Evt6:AA-8→Sta13', 'Sta13+Evt17:AR-5→Sta1']);
    await t.clientClosed;
    const abort = t.received.find((p) => p.type === PDU_TYPE.Abort);
    assert.ok(abort, 'A-ABORT sent');
    assert.deepEqual([...pduBody(abort)], [0, 0, 2, 2], 'service provider, unexpected PDU');
  } finally {
    t.client.destroy();
    t.server.close();
  }
});

test('after A-ASSOCIATE-RJ, a stray PDU is ignored (Sta13 + Evt10 → AA-6) until the peer closes', async () => {
  const t = await acceptorWithRawClient((assoc) => assoc.reject({ result: 1, source: 1, reason: 1 }));
  try {
    assert.equal(t.received[0]!.type, PDU_TYPE.AssociateRJ);
    t.client.write(Buffer.from([PDU_TYPE.PData, 0, 0, 0, 0, 6, 0, 0, 0, 2, 1, 3]));
    await new Promise((r) => setTimeout(r, 50));
    t.client.end();
    assert.equal(await t.closed, 'association rejected');
    assert.deepEqual(path(t.steps), ['Sta13+Evt10:AA-6→Sta13', 'Sta13+Evt17:AR-5→Sta1']);
    await t.clientClosed;
    assert.ok(!t.received.some((p) => p.type === PDU_TYPE.Abort), 'no A-ABORT');
  } finally {
    t.server.close();
  }
});
