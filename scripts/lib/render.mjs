// The render step: results.json, and what is rendered from it alone (summary.md, index.html), written
// beside each other in a report's directory.
import { writeFile } from 'node:fs/promises';
import { reportPage } from './report-page.mjs';
import { summaryMarkdown } from './summary.mjs';

/** { file name: text } of everything rendered from `results`. */
export function renderReport(results) {
  const markdown = summaryMarkdown(results);
  return { 'summary.md': markdown, 'index.html': reportPage(results, markdown) };
}

/** Writes results.json (unless `results` is false: it is there already) and its renderings into `dir`. */
export async function writeReportFiles(dir, results, { results: writeResults = true } = {}) {
  if (writeResults) await writeFile(`${dir}/results.json`, `${JSON.stringify(results, null, 2)}\n`);
  for (const [file, text] of Object.entries(renderReport(results))) await writeFile(`${dir}/${file}`, text);
}
