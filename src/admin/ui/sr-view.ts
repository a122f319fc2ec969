// An SR document as a readable report: containers become headings, measurements show value and
// unit, codes show their meaning, text stays text. Read with the node's own SR reader
// (srContentTree, src/report/sr-dump.ts), so what is shown is what the PACS received.

import type { SrContentNode, SrDocument } from '../../report/sr-dump';
import { html, type Html } from './html';

/** `(code, scheme, "meaning")` as sr-dump writes a code → its meaning. */
function codeMeaning(value: string): string {
  return /"(.*)"\)$/.exec(value)?.[1] ?? value;
}

/** NUM as sr-dump writes it, "7.5 mm (millimeter)" → "7.5 mm". */
function measurement(value: string): string {
  return value.replace(/ \([^)]*\)$/, '');
}

function itemValue(n: SrContentNode, textLanguage: string): Html | string {
  switch (n.valueType) {
    case 'TEXT':
      // The report's sentences are in its language; concept names stay the standard's English.
      return html`<span lang="${textLanguage}">${n.value}</span>`;
    case 'CODE':
      return codeMeaning(n.value);
    case 'NUM':
      return html`<span class="num">${measurement(n.value)}</span>`;
    case 'IMAGE':
    case 'COMPOSITE':
      return html`<span class="muted">${n.value}</span>`;
    case 'SCOORD':
    case 'SCOORD3D':
      return html`<span class="muted">${n.value}</span>`;
    default:
      return n.value;
  }
}

/** Containers of many image references (the image library: one per slice) start folded. */
const FOLD_AFTER = 12;

function isLongListOfReferences(n: SrContentNode): boolean {
  const refs = n.children.filter((c) => c.valueType === 'IMAGE' || c.valueType === 'COMPOSITE');
  return n.children.length > FOLD_AFTER && refs.length === n.children.length;
}

/** A container: a heading and its items; a long one folded in a <details> (no script needed). */
function container(n: SrContentNode, depth: number, lang: string): Html {
  const name = n.name ?? 'Section';
  const items = html`<ul>
    ${n.children.map((c) => item(c, depth + 1, lang))}
  </ul>`;
  if (isLongListOfReferences(n))
    return html`<details>
      <summary>${name} (${n.children.length} items)</summary>
      ${items}
    </details>`;
  return html`<section>${heading(Math.min(6, depth + 3), name)}${items}</section>`;
}

/** One content item as a list item (a nested container inside it). */
function item(n: SrContentNode, depth: number, lang: string): Html {
  if (n.valueType === 'CONTAINER') return html`<li>${container(n, depth, lang)}</li>`;
  const children =
    n.children.length > 0
      ? html`<ul>
          ${n.children.map((c) => item(c, depth + 1, lang))}
        </ul>`
      : '';
  return html`<li>${n.name ? html`<strong>${n.name}</strong>: ` : ''}${itemValue(n, lang)}${children}</li>`;
}

/** h3..h6 by depth: a fixed set of tag names, never text from the document. */
function heading(level: number, text: string): Html {
  if (level <= 3) return html`<h3>${text}</h3>`;
  if (level === 4) return html`<h4>${text}</h4>`;
  if (level === 5) return html`<h5>${text}</h5>`;
  return html`<h6>${text}</h6>`;
}

/**
 * The language the SR declares for its content: "Language of Content Item and Descendants"
 * (DCM 121049, TID 1204) with its "Country of Language" (DCM 121046) modifier, as a BCP 47 tag
 * ("zh-CN"); undefined when the document declares none.
 */
export function declaredLanguage(doc: SrDocument): string | undefined {
  const item = doc.root.children.find((c) => c.valueType === 'CODE' && c.name === 'Language of Content Item and Descendants');
  const code = (n: SrContentNode | undefined) => (n ? /^\(([^,]+),/.exec(n.value)?.[1]?.trim() : undefined);
  const language = code(item);
  if (!language || !/^[A-Za-z]{2,3}$/.test(language)) return undefined;
  const country = code(item?.children.find((c) => c.valueType === 'CODE' && c.name === 'Country of Language'));
  return country && /^[A-Za-z]{2}$/.test(country) ? `${language}-${country.toUpperCase()}` : language;
}

/** `fallbackLanguage` (report.language) marks the text when the SR declares no language of its own. */
export function srView(doc: SrDocument, fallbackLanguage: string): Html {
  const language = declaredLanguage(doc) ?? fallbackLanguage;
  return html`<article class="report" aria-label="Structured report">
    <p class="muted">
      ${doc.sopClassName}; completion ${doc.completion ?? '—'}, verification
      ${doc.verification ?? '—'}${doc.preliminary ? `, ${doc.preliminary}` : ''}; content ${doc.content}
    </p>
    ${
      doc.root.valueType === 'CONTAINER'
        ? container(doc.root, 0, language)
        : html`<ul>
            ${item(doc.root, 0, language)}
          </ul>`
    }
  </article>`;
}
