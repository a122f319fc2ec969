/**
 * What became of one narrative request: the vocabulary shared by the narrative stage and the SR
 * writer (a leaf module, so that report/ does not depend on the HTTP client).
 */

/** Where a drafted text came from, written beside it in the SR. */
export interface NarrativeSource {
  /** The model name the server reported in its answer. */
  readonly serverModel: string;
  /** The model name the node asked for (report.narrative.model). */
  readonly configuredModel: string;
  readonly promptSha256: string;
  /** Host (and port) of the server, never its path or a key. */
  readonly backendHost: string;
}

import type { NarrativeReason } from './reason-wording';

/**
 * reason: in English, for the log, the audit trail and /api/jobs. why: the same as data, where the
 * node words it itself (the SR's Comment words it in the report's language); absent where the
 * reason is a transport error's own message.
 */
export type NarrativeOutcome =
  /** The text passed grounding: it goes into the SR as a machine-generated draft. */
  | { readonly kind: 'accepted'; readonly findings: string; readonly impression: string; readonly source: NarrativeSource }
  /** The server answered, but the text disagrees with the measurements: not used. */
  | { readonly kind: 'rejected'; readonly reason: string; readonly why?: NarrativeReason; readonly source: NarrativeSource }
  /** No usable answer (timeout, HTTP error, malformed, empty, refusal, too large, TLS). */
  | { readonly kind: 'failed'; readonly reason: string; readonly why?: NarrativeReason }
  /** Not asked at all (burned-in risk, nothing to show). */
  | { readonly kind: 'skipped'; readonly reason: string; readonly why?: NarrativeReason };

export type NarrativeOutcomeKind = NarrativeOutcome['kind'];
