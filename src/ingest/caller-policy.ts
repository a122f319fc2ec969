/**
 * Who may associate: the access decision the association acceptor takes for each A-ASSOCIATE-RQ,
 * from the configured `callers` list and `acceptAnyCaller`.
 */
import { sameIp } from '../config/ip';
import { trimAe } from '../config/kinds';
import type { CallerConfig, NodeConfig } from '../config/config';

export type CallerCheck =
  { readonly allowed: true; readonly caller: CallerConfig | null } | { readonly allowed: false; readonly reason: string };

/**
 * Whether a peer may associate. A listed calling AE title must come from one
 * of its `hosts` (if given). An unlisted one is accepted only when
 * `acceptAnyCaller` is true (then `caller` is null). IPv4-mapped IPv6 peer
 * addresses ("::ffff:10.0.0.5") match their IPv4 form.
 */
export function checkCaller(
  config: Pick<NodeConfig, 'callers' | 'acceptAnyCaller'>,
  callingAeTitle: string,
  remoteAddress: string | undefined,
): CallerCheck {
  const ae = trimAe(callingAeTitle);
  const caller = config.callers.find((c) => c.aeTitle === ae);
  if (caller === undefined) {
    if (config.acceptAnyCaller) return { allowed: true, caller: null };
    return { allowed: false, reason: `calling AE title "${ae}" is not listed under "callers"` };
  }
  if (caller.hosts === null) return { allowed: true, caller };
  if (remoteAddress !== undefined && caller.hosts.some((h) => sameIp(h, remoteAddress))) {
    return { allowed: true, caller };
  }
  return {
    allowed: false,
    reason: `calling AE title "${ae}" is not allowed from ${remoteAddress ?? 'an unknown address'} (allowed: ${caller.hosts.join(', ')})`,
  };
}
