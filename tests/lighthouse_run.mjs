// Runs Lighthouse (its default: mobile, simulated throttling) on pages, one
// after another, in a Chromium that is already running (tests/test_lighthouse.py
// starts it), and prints one JSON line per page: its scores and every audit
// that scored below 1.
//
//   node tests/lighthouse_run.mjs LIGHTHOUSE_DIR PORT < pages.json
//
// pages.json: [{"name": "home", "url": "http://127.0.0.1:.../", "status": 200}]
// A page whose expected status is not 200 (the 404 page) is measured all the
// same (Lighthouse's ignoreStatusCode), and its SEO says what it thinks of it.

import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import {pathToFileURL} from 'node:url';

const [lighthouseDir, port] = process.argv.slice(2);
const {default: lighthouse} = await import(
  pathToFileURL(join(lighthouseDir, 'core', 'index.js')).href);
const CATEGORIES = ['performance', 'accessibility', 'best-practices', 'seo'];
const pages = JSON.parse(readFileSync(0, 'utf8'));
const METRICS = {
  FCP: 'first-contentful-paint',
  LCP: 'largest-contentful-paint',
  TBT: 'total-blocking-time',
  CLS: 'cumulative-layout-shift',
  SI: 'speed-index',
};

// What an audit found (its first five items: a message, a URL, an element),
// so that a failure says where to look.
function itemsOf(audit) {
  const items = (audit.details && audit.details.items) || [];
  return items.slice(0, 5).map((item) => {
    const source = item.source || {};
    const node = item.node || (source.type === 'node' ? source : {});
    return {
      description: String(item.description || '').slice(0, 200),
      url: item.url || source.url || (item.sourceLocation && item.sourceLocation.url) || '',
      node: String(node.selector || node.snippet || '').slice(0, 200),
    };
  });
}

for (const page of pages) {
  const flags = {
    port: Number(port),
    output: 'json',
    logLevel: 'error',
    onlyCategories: CATEGORIES,
    ignoreStatusCode: page.status !== 200,
  };
  const result = await lighthouse(page.url, flags);
  const lhr = result.lhr;
  const scores = {};
  const failing = [];
  for (const id of CATEGORIES) {
    const category = lhr.categories[id];
    scores[id] = category.score === null ? null : Math.round(category.score * 100);
    for (const ref of category.auditRefs) {
      const audit = lhr.audits[ref.id];
      // Informative audits (null score) and those that passed are left out.
      if (audit.score === null || audit.score >= 1) continue;
      if (audit.scoreDisplayMode === 'informative') continue;
      failing.push({
        category: id,
        id: audit.id,
        title: audit.title,
        score: audit.score,
        weight: ref.weight,
        displayValue: audit.displayValue || '',
        items: itemsOf(audit),
        itemCount: ((audit.details && audit.details.items) || []).length,
      });
    }
  }
  // The metrics the performance score is made of, to see how close to the
  // edge a page is: milliseconds, and CLS as a fraction.
  const metrics = {};
  for (const [key, id] of Object.entries(METRICS)) {
    const value = lhr.audits[id] && lhr.audits[id].numericValue;
    metrics[key] = value === undefined ? null : value;
  }
  const line = {
    name: page.name,
    url: page.url,
    finalUrl: lhr.finalDisplayedUrl,
    scores,
    metrics,
    failing,
    runtimeError: lhr.runtimeError ? lhr.runtimeError.message : null,
    warnings: lhr.runWarnings,
    benchmarkIndex: lhr.environment.benchmarkIndex,
  };
  process.stdout.write(JSON.stringify(line) + '\n');
}
process.exit(0);
