// The running configuration, read-only, as the node parsed it (defaults filled in). Secrets are
// masked by their key's name: the admin token, passwords, private keys' passphrases, API keys.

import { html, type Html } from '../html';
import type { DashboardSources } from '../sources';

const SECRET_KEY = /token|secret|password|passphrase|apikey|api_key|credential/i;

/** The config with every secret-named value replaced by a note that it is set. */
export function maskSecrets(value: unknown, key = ''): unknown {
  if (SECRET_KEY.test(key) && !/env$/i.test(key)) return value === null || value === undefined ? value : '•••••• (set, not shown)';
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v));
  if (value instanceof RegExp) return String(value);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, maskSecrets(v, k)]));
  return value;
}

export function configPage(src: DashboardSources): Html {
  return html`<p>
      As the node read it at start-up, defaults included; change it in the configuration file and restart. Secrets are not shown.
    </p>
    <pre class="config">${JSON.stringify(maskSecrets(src.config), null, 2)}</pre>`;
}
