/**
 * Audit events to a syslog collector (RFC 5424 over UDP, RFC 5426): the hospital's SIEM usually
 * listens there. Facility 13 ("log audit"); severity notice for successes, warning for failures;
 * MSGID = the event name; the message is the event as JSON (no patient names: audit events carry
 * AE titles, addresses, UIDs and counts). UDP: a collector that is down loses events, as syslog
 * does; SQLite keeps the full trail.
 */
import dgram from 'node:dgram';
import os from 'node:os';
import net from 'node:net';

const FACILITY_LOG_AUDIT = 13;
const SEVERITY = { success: 5, failure: 4 } as const;

export class SyslogSender {
  private readonly socket: dgram.Socket;
  private readonly hostname = (os.hostname() || '-').replace(/[^\x21-\x7e]/g, '').slice(0, 255) || '-';

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly appName: string,
    private readonly onError: (e: Error) => void,
  ) {
    this.socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    this.socket.on('error', onError);
    this.socket.unref();
  }

  send(event: { at: number; event: string; outcome: 'success' | 'failure' } & Record<string, unknown>): void {
    const pri = FACILITY_LOG_AUDIT * 8 + SEVERITY[event.outcome];
    const msgId = event.event.replace(/[^\x21-\x7e]/g, '').slice(0, 32) || '-';
    const body = JSON.stringify({ ...event, at: new Date(event.at).toISOString() });
    const line = `<${pri}>1 ${new Date(event.at).toISOString()} ${this.hostname} ${this.appName} ${process.pid} ${msgId} - \ufeff${body}`;
    this.socket.send(Buffer.from(line, 'utf8'), this.port, this.host, (err) => {
      if (err) this.onError(err);
    });
  }

  close(): void {
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}
