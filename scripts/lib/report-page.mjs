// index.html: the report as a page that opens offline. It is summary.md itself, turned into HTML (the
// few Markdown forms summary.mjs writes: headings, paragraphs, lists, tables, code blocks, images on their
// own line; inline code, bold and links), with the links to the report's other files above it. Every
// text is escaped; a picture or a link is made only to a file beside the page (a bare file name), so the
// page loads nothing from anywhere else. The styles are inline.
import { exporterMetricsWritten } from './summary.mjs';

const escapeHtml = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
// a file of the report, beside the page: no scheme, no directory, no query
const LOCAL_FILE = /^[\w][\w.-]*$/;
const IMAGE_LINE = /^!\[([^\]]*)\]\(([^)\s]+)\)$/;

const STYLE = `
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1b1f24; background: #fff; }
main, nav { max-width: 1100px; margin: 0 auto; padding: 0 1.25rem; }
nav { padding-top: 1rem; font-size: 0.95em; }
nav a { margin-right: 1.25em; }
h1 { font-size: 1.6em; margin-top: 0.6em; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #d0d7de; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d7de; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f5f7; }
pre { background: #f3f5f7; padding: 0.7em 1em; overflow-x: auto; }
code { font: 0.92em ui-monospace, monospace; }
figure { margin: 1em 0; }
img { max-width: 100%; border: 1px solid #d0d7de; }
figcaption { font-size: 0.9em; color: #57606a; }
@media (prefers-color-scheme: dark) {
  body { color: #e6edf3; background: #0d1117; }
  th, pre { background: #161b22; }
  th, td, h2, img { border-color: #30363d; }
  a { color: #58a6ff; }
}
`;

/** The page of a report: `markdown` is its summary.md, rendered from the same results. */
export function reportPage(results, markdown) {
  const files = [
    ['summary.md', 'summary.md'],
    ['results.json', 'results.json (everything, machine-readable)'],
    ...(exporterMetricsWritten(results)
      ? [['exporter-metrics.txt', "exporter-metrics.txt (av-exporter's metrics)"]]
      : []),
  ];
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(`Load test report, ${results.window.evaluated_at}`)}</title>
<style>${STYLE}</style>
</head>
<body>
<nav>${files.map(([file, text]) => `<a href="${escapeHtml(file)}">${escapeHtml(text)}</a>`).join('\n')}</nav>
<main>
${markdownToHtml(markdown)}
</main>
</body>
</html>
`;
}

/** The Markdown summary.mjs writes, as HTML. */
export function markdownToHtml(markdown) {
  const lines = markdown.split('\n');
  const html = [];
  const startsBlock = (line) => /^(#{1,6} |```|\||- )/.test(line) || IMAGE_LINE.test(line);
  for (let i = 0; i < lines.length;) {
    const line = lines[i];
    const heading = /^(#{1,6}) (.*)$/.exec(line);
    if (line.trim() === '') {
      i++;
    } else if (heading) {
      html.push(`<h${heading[1].length}>${inline(heading[2])}</h${heading[1].length}>`);
      i++;
    } else if (line.startsWith('```')) {
      const language = line.slice(3).trim();
      const code = [];
      for (i++; i < lines.length && !lines[i].startsWith('```'); i++) code.push(lines[i]);
      i++; // the closing fence
      html.push(
        `<pre><code${language ? ` class="language-${escapeHtml(language)}"` : ''}>${escapeHtml(code.join('\n'))}</code></pre>`,
      );
    } else if (line.startsWith('|')) {
      const rows = [];
      for (; i < lines.length && lines[i].startsWith('|'); i++) rows.push(lines[i]);
      html.push(table(rows));
    } else if (line.startsWith('- ')) {
      const items = [];
      for (; i < lines.length && lines[i].startsWith('- '); i++) items.push(`<li>${inline(lines[i].slice(2))}</li>`);
      html.push(`<ul>\n${items.join('\n')}\n</ul>`);
    } else if (IMAGE_LINE.test(line)) {
      html.push(image(line));
      i++;
    } else {
      const paragraph = [];
      for (; i < lines.length && lines[i].trim() !== '' && (paragraph.length === 0 || !startsBlock(lines[i])); i++)
        paragraph.push(lines[i]);
      html.push(`<p>${inline(paragraph.join('\n'))}</p>`);
    }
  }
  return html.join('\n');
}

/** A picture of the report, when it is a file beside the page; its words otherwise. */
function image(line) {
  const [, alt, src] = IMAGE_LINE.exec(line);
  if (!LOCAL_FILE.test(src)) return `<p>${escapeHtml(line)}</p>`;
  return `<figure><img src="${escapeHtml(src)}" alt="${escapeHtml(alt)}" loading="lazy"><figcaption>${escapeHtml(alt)}</figcaption></figure>`;
}

/** A Markdown table: its first row the header, its second the separator. */
function table(rows) {
  const cells = (row) =>
    row
      .replace(/^\|/, '')
      .replace(/\|$/, '')
      .split('|')
      .map((cell) => cell.trim());
  const [header, , ...body] = rows;
  return `<table>
<thead><tr>${cells(header)
    .map((cell) => `<th>${inline(cell)}</th>`)
    .join('')}</tr></thead>
<tbody>
${body
  .map(
    (row) =>
      `<tr>${cells(row)
        .map((cell) => `<td>${inline(cell)}</td>`)
        .join('')}</tr>`,
  )
  .join('\n')}
</tbody>
</table>`;
}

/** Inline Markdown: `code` (taken as it is), **bold**, and [links](to a file of the report); the rest escaped. */
function inline(text) {
  return text
    .split(/(`[^`]*`)/)
    .map((part) => {
      if (part.length >= 2 && part.startsWith('`') && part.endsWith('`'))
        return `<code>${escapeHtml(part.slice(1, -1))}</code>`;
      return escapeHtml(part)
        .replace(/\*\*(.+?)\*\*/gs, '<strong>$1</strong>')
        .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (whole, label, href) =>
          LOCAL_FILE.test(href) ? `<a href="${href}">${label}</a>` : whole,
        );
    })
    .join('');
}
