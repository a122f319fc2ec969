/**
 * Who may associate: the access decision the association acceptor takes for each A-ASSOCIATE-RQ,
 * from the configured `callers` list and `acceptAnyCaller`.
 */
import { sameIp } from '../config/ip';
import { trimAe } from '../config/kinds';
import type { CallerConfig, NodeConfig } from '../config/config';
import type { Transport } from '../dimse/scp';

const PLAIN: Transport = { kind: 'plain', certificateNames: [] };

export type CallerCheck =
  { readonly allowed: true; readonly caller: CallerConfig | null } | { readonly allowed: false; readonly reason: string };

/**
 * Whether a peer may associate. A listed calling AE title must come from one
 * of its `hosts` (if given). An unlisted one is accepted only when
 * `acceptAnyCaller` is true (then `caller` is null). IPv4-mapped IPv6 peer
 * addresses ("::ffff:10.0.0.5") match their IPv4 form. A caller with `tls: "required"` or
 * `certificateNames` must come over DICOM TLS; with `certificateNames`, its verified client
 * certificate must carry one of them (so a certificate issued to one modality cannot be used to
 * send as another).
 */
export function checkCaller(
  config: Pick<NodeConfig, 'callers' | 'acceptAnyCaller'>,
  callingAeTitle: string,
  remoteAddress: string | undefined,
  transport: Transport = PLAIN,
): CallerCheck {
  const ae = trimAe(callingAeTitle);
  const caller = config.callers.find((c) => c.aeTitle === ae);
  if (caller === undefined) {
    if (config.acceptAnyCaller) return { allowed: true, caller: null };
    return { allowed: false, reason: `calling AE title "${ae}" is not listed under "callers"` };
  }
  if (caller.hosts !== null && (remoteAddress === undefined || !caller.hosts.some((h) => sameIp(h, remoteAddress)))) {
    return {
      allowed: false,
      reason: `calling AE title "${ae}" is not allowed from ${remoteAddress ?? 'an unknown address'} (allowed: ${caller.hosts.join(', ')})`,
    };
  }
  const refusal = transportRefusal(caller, transport);
  return refusal === null ? { allowed: true, caller } : { allowed: false, reason: refusal };
}

/** Why the transport does not satisfy what the caller's entry requires, or null. */
function transportRefusal(caller: CallerConfig, transport: Transport): string | null {
  const ae = `calling AE title "${caller.aeTitle}"`;
  if (transport.kind !== 'tls' && (caller.tls === 'required' || caller.certificateNames !== null)) {
    const rule = caller.tls === 'required' ? '"tls": "required"' : '"certificateNames" listed';
    return `${ae} must connect over DICOM TLS (${rule} for it under "callers"), not on the plain DICOM port`;
  }
  const wanted = caller.certificateNames;
  if (wanted === null) return null;
  const presented = transport.certificateNames;
  if (presented.some((name) => wanted.some((w) => w.toLowerCase() === name.toLowerCase()))) return null;
  const got = presented.length === 0 ? 'no verified client certificate' : `a client certificate naming ${presented.join(', ')}`;
  return `${ae} is bound to certificate names ${wanted.join(', ')}, but the caller presented ${got}`;
}
