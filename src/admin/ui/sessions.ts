// Dashboard sessions, kept in the node's memory (a restart signs everyone out): an opaque random
// id in an HttpOnly, SameSite=Strict cookie, an absolute expiry, and a per-session CSRF token that
// every POST form carries (OWASP "synchronizer token" pattern). Sign-in failures are limited per
// client address, so the admin token cannot be guessed at HTTP speed.

import { randomBytes, timingSafeEqual } from 'node:crypto';

export interface Session {
  readonly id: string;
  readonly csrf: string;
  readonly expiresAt: number;
}

/** 256 bits from the OS's CSPRNG, URL-safe. */
const token = () => randomBytes(32).toString('base64url');

export class Sessions {
  private readonly byId = new Map<string, Session>();

  constructor(
    readonly lifetimeMs: number,
    /** More live sessions than this: the oldest goes (a bound on memory, not a security control). */
    private readonly max = 1000,
  ) {}

  create(now: number): Session {
    this.sweep(now);
    if (this.byId.size >= this.max) this.byId.delete(this.byId.keys().next().value!);
    const s: Session = { id: token(), csrf: token(), expiresAt: now + this.lifetimeMs };
    this.byId.set(s.id, s);
    return s;
  }

  /** The live session with this id; an expired one is forgotten. */
  get(id: string | undefined, now: number): Session | undefined {
    if (!id) return undefined;
    const s = this.byId.get(id);
    if (!s) return undefined;
    if (s.expiresAt <= now) {
      this.byId.delete(id);
      return undefined;
    }
    return s;
  }

  end(id: string): void {
    this.byId.delete(id);
  }

  private sweep(now: number): void {
    for (const [id, s] of this.byId) if (s.expiresAt <= now) this.byId.delete(id);
  }
}

/** Constant-time comparison of a submitted CSRF token with the session's. */
export function csrfMatches(session: Session, submitted: string | undefined): boolean {
  if (!submitted) return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(submitted);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * At most `maxFailures` failed sign-ins per address within `windowMs`; further attempts are refused
 * (without checking the token) until the oldest failure leaves the window.
 */
export class SignInLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
  ) {}

  /** Milliseconds until this address may try again; 0 when it may now. */
  waitMs(address: string, now: number): number {
    const recent = this.recent(address, now);
    return recent.length < this.maxFailures ? 0 : recent[0]! + this.windowMs - now;
  }

  failed(address: string, now: number): void {
    this.failures.set(address, [...this.recent(address, now), now]);
    if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value!);
  }

  succeeded(address: string): void {
    this.failures.delete(address);
  }

  private recent(address: string, now: number): number[] {
    return (this.failures.get(address) ?? []).filter((t) => t > now - this.windowMs);
  }
}
