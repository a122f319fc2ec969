// The frame every dashboard page shares: navigation, the sign-out form (with its CSRF token), and
// the stylesheet. No script at all: pages are server-rendered HTML, so the Content-Security-Policy
// can forbid scripts outright.

import { html, type Html } from './html';
import { hex } from '../../delivery/echo-destination';

export const NAV: readonly { path: string; label: string }[] = [
  { path: '/ui/', label: 'Overview' },
  { path: '/ui/series', label: 'Studies and series' },
  { path: '/ui/deliveries', label: 'Deliveries' },
  { path: '/ui/audit', label: 'Audit' },
  { path: '/ui/config', label: 'Configuration' },
];

export function layout(o: { title: string; active: string; csrf: string; body: Html; notice?: string | null }): Html {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${o.title} · DICOM AI node</title>
        <link rel="stylesheet" href="/ui/style.css" />
        <link rel="icon" href="data:," />
      </head>
      <body>
        <header class="top">
          <a class="brand" href="/ui/">DICOM AI node</a>
          <nav aria-label="Main">
            <ul>
              ${NAV.map((n) => html`<li><a href="${n.path}" ${n.path === o.active ? html` aria-current="page"` : ''}>${n.label}</a></li>`)}
            </ul>
          </nav>
          <form method="post" action="/ui/sign-out" class="signout">
            <input type="hidden" name="csrf" value="${o.csrf}" /><button type="submit">Sign out</button>
          </form>
        </header>
        <main id="main">
          <h1>${o.title}</h1>
          ${o.notice ? html`<p class="notice" role="status">${o.notice}</p>` : ''} ${o.body}
        </main>
      </body>
    </html> `;
}

/** The sign-in page: the only page shown without a session. */
export function signInPage(message: string | null): Html {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>Sign in · DICOM AI node</title>
        <link rel="stylesheet" href="/ui/style.css" />
        <link rel="icon" href="data:," />
      </head>
      <body>
        <main id="main" class="signin">
          <h1>DICOM AI node</h1>
          <p>Sign in with the admin token (<code>admin.token</code>, or the variable <code>admin.tokenEnv</code> names).</p>
          ${message ? html`<p class="error" role="alert">${message}</p>` : ''}
          <form method="post" action="/ui/sign-in">
            <label for="token">Admin token</label>
            <input id="token" name="token" type="password" autocomplete="current-password" required />
            <button type="submit">Sign in</button>
          </form>
        </main>
      </body>
    </html> `;
}

/** A state as a badge; the word is always shown (colour is never the only cue). */
export function badge(state: string): Html {
  const tone = /^(done|delivered|stable|ok|success|loaded)$/.test(state)
    ? 'good'
    : /^(failed|refused|failure)$/.test(state)
      ? 'bad'
      : /^(queued|sending|processing|receiving)$/.test(state)
        ? 'busy'
        : 'plain';
  return html`<span class="badge ${tone}">${state}</span>`;
}

export const STYLE = `
:root { --fg:#1b1f24; --muted:#4a5562; --line:#d0d7de; --bg:#f6f8fa; --accent:#0a4fa3; --good:#0d6b2f; --bad:#a40e26; --busy:#7a4d00; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui, sans-serif; color:var(--fg); background:#fff; }
a { color:var(--accent); }
.top { display:flex; gap:1.5rem; align-items:center; padding:.5rem 1rem; background:var(--bg); border-bottom:1px solid var(--line); }
.brand { font-weight:700; text-decoration:none; color:var(--fg); }
nav ul { display:flex; gap:1rem; list-style:none; margin:0; padding:0; }
nav a[aria-current] { font-weight:700; text-decoration:none; color:var(--fg); }
.signout { margin-left:auto; }
main { padding:1rem 1.5rem; max-width:1200px; }
td:first-child { white-space:nowrap; }
h1 { font-size:1.5rem; margin:.5rem 0 1rem; }
h2 { font-size:1.15rem; margin:1.5rem 0 .5rem; }
h3 { font-size:1rem; margin:1rem 0 .25rem; }
table { border-collapse:collapse; width:100%; margin:.5rem 0; }
th, td { text-align:left; padding:.3rem .5rem; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:var(--bg); }
code, .uid { font-family:ui-monospace, monospace; font-size:.85em; word-break:break-all; }
.badge { display:inline-block; padding:0 .45rem; border-radius:.6rem; border:1px solid currentColor; font-size:.85em; }
.badge.good { color:var(--good); } .badge.bad { color:var(--bad); } .badge.busy { color:var(--busy); } .badge.plain { color:var(--muted); }
.cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(230px, 1fr)); gap:.75rem; }
.card { border:1px solid var(--line); border-radius:6px; padding:.6rem .8rem; }
.card h2 { margin-top:0; }
.muted { color:var(--muted); }
.error { color:var(--bad); font-weight:600; }
.notice { background:#eef5ff; border:1px solid #9cc3f5; padding:.4rem .7rem; border-radius:4px; }
form.inline { display:inline; }
form.filters { display:flex; flex-wrap:wrap; gap:.75rem; align-items:end; margin:.5rem 0 1rem; }
form.filters label { display:flex; flex-direction:column; font-size:.85em; color:var(--muted); }
input, select, button { font:inherit; padding:.25rem .4rem; }
button { cursor:pointer; border:1px solid var(--accent); background:#fff; color:var(--accent); border-radius:4px; }
.signin { max-width:28rem; margin:3rem auto; }
.signin form { display:flex; flex-direction:column; gap:.5rem; }
ol.timeline { list-style:none; padding:0; margin:0; border-left:3px solid var(--line); }
ol.timeline > li { margin:0 0 .8rem; padding-left:1rem; position:relative; }
ol.timeline > li::before { content:''; position:absolute; left:-.55rem; top:.35rem; width:.7rem; height:.7rem; border-radius:50%; background:var(--accent); }
.report ul { margin:.2rem 0; padding-left:1.2rem; }
.report .num { font-weight:600; }
.keyimage img { max-width:100%; height:auto; border:1px solid var(--line); background:#000; }
svg.chart { width:100%; height:auto; max-width:560px; }
svg.chart rect { fill:var(--accent); }
.pager { display:flex; gap:1rem; margin:.5rem 0; }
`;

/** What every POST form carries: the session's CSRF token and the page to return to. */
export interface PostContext {
  readonly csrf: string;
  readonly back: string;
}

/**
 * A POST form of one button: the CSRF token always, and the page to come back to (`back`, a
 * dashboard path) so the action's outcome shows where the operator clicked.
 */
export function postButton(action: string, label: string, f: PostContext): Html {
  return html`<form class="inline" method="post" action="${action}">
    <input type="hidden" name="csrf" value="${f.csrf}" /><input type="hidden" name="back" value="${f.back}" /><button type="submit">
      ${label}
    </button>
  </form>`;
}

/** A delivery's last DIMSE status, with the error text when it failed. */
export function deliveryStatus(d: { lastStatus: number | null; lastError: string | null }): Html {
  return html`${hex(d.lastStatus)}${d.lastError ? html` <span class="error">${d.lastError}</span>` : ''}`;
}

/** Retry a failed delivery or re-send a delivered one; nothing for one still queued or sending. */
export function deliveryAction(d: { id: number; state: string }, post: PostContext): Html | string {
  if (d.state !== 'failed' && d.state !== 'delivered') return '';
  return postButton(`/ui/deliveries/${d.id}/retry`, `${d.state === 'failed' ? 'Retry' : 'Re-send'} delivery ${d.id}`, post);
}
