// Connections not associated yet (TLS handshake or A-ASSOCIATE-RQ still awaited, or rejected and
// not yet closed by the peer): each holds a socket and a file descriptor while proving nothing
// about who is calling. Without a bound of their own, a peer that opens connections and stays
// silent (renewing them before the timer closes them) fills the listener's connection limit and
// every legitimate caller is refused. They are counted per remote address and overall; one over
// either limit is closed at once, before any TLS or DICOM work is done for it.

import type net from 'node:net';
import { normalizeAddress } from './association';

export interface PendingLimits {
  /** Connections not associated yet, all addresses together. */
  readonly maxPending: number;
  /** The same, from one remote address (so that one address cannot take them all). */
  readonly maxPendingPerAddress: number;
}

export type Admission = { readonly admitted: true } | { readonly admitted: false; readonly why: string };

export class PendingConnections {
  private total = 0;
  private readonly perAddress = new Map<string, number>();
  /** Release functions by TCP connection (see connectionKey), to end the wait when the RQ arrives. */
  private readonly waiting = new Map<string, () => void>();

  constructor(private readonly limits: PendingLimits) {}

  /** How many connections are not associated now. */
  get count(): number {
    return this.total;
  }

  /** Counts a new connection, or says why it must be closed. It stops counting when it closes. */
  admit(socket: net.Socket): Admission {
    const address = normalizeAddress(socket.remoteAddress ?? '');
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (fromAddress >= this.limits.maxPendingPerAddress) {
      return {
        admitted: false,
        why: `${fromAddress} connections from this address are not associated yet (maxPendingConnectionsPerAddress ${this.limits.maxPendingPerAddress})`,
      };
    }
    if (this.total >= this.limits.maxPending) {
      return {
        admitted: false,
        why: `${this.total} connections are not associated yet (maxPendingConnections ${this.limits.maxPending})`,
      };
    }
    this.total++;
    this.perAddress.set(address, fromAddress + 1);
    const key = connectionKey(socket);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.perAddress.set(address, left);
      else this.perAddress.delete(address);
      if (this.waiting.get(key) === release) this.waiting.delete(key);
    };
    this.waiting.set(key, release);
    socket.once('close', release);
    return { admitted: true };
  }

  /**
   * An association was accepted on the connection: it no longer counts. `socket` may be the TLS
   * socket over the TCP connection that was admitted; both have the same addresses and ports.
   */
  associated(socket: net.Socket): void {
    this.waiting.get(connectionKey(socket))?.();
  }
}

/** A TCP connection's identity while it is open: both ends' addresses and ports. */
function connectionKey(socket: net.Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}|${socket.localAddress}|${socket.localPort}`;
}
