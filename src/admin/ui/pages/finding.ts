// One finding of a job's result with its slice: the original image, outlined and windowed as the
// route's key image (the PNG comes from /ui/jobs/J/findings/F.png, audited there). A page of its
// own, not the bare PNG: the browser's image viewer would break the pages' CSP, and the operator
// needs the finding's words and a way back to the series next to the picture.

import type { Finding } from '../../../inference/findings';
import { html, type Html } from '../html';

export function findingPage(jobId: number, seriesInstanceUid: string, f: Finding): Html {
  const measured = f.measurements.map((m) => `${m.concept.meaning} ${Number(m.value.toPrecision(4))} ${m.unit.value}`).join(', ');
  return html`<p>
      ${f.code.meaning}${f.site?.text ? `, ${f.site.text}` : ''}${measured ? `: ${measured}` : ''}; confidence ${f.confidence.toFixed(2)}
    </p>
    <figure class="keyimage">
      <img
        src="/ui/jobs/${jobId}/findings/${f.id}.png"
        alt="Slice of finding ${f.id} (${f.code.meaning}) from the original image, the finding outlined"
      />
      <figcaption>Original image, windowed as the route's key image; the finding outlined in yellow</figcaption>
    </figure>
    <p><a href="/ui/series/${encodeURIComponent(seriesInstanceUid)}">Back to the series</a></p>`;
}
