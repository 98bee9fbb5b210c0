// Loads a page of `netpol graph --format html` in jsdom (its scripts run, nothing is fetched),
// clicks every node of the picture and every name in the list, and prints, as JSON, what the
// panel shows for each: {"<node id>": {"title": …, "items": [every list item]}}.
// Used by tests/review.rs; installed by .ci/run (`npm ci` here).
'use strict';
const fs = require('fs');
const { JSDOM, VirtualConsole } = require('jsdom');

const html = fs.readFileSync(process.argv[2], 'utf8');
const errors = [];
const virtualConsole = new VirtualConsole();
virtualConsole.on('jsdomError', (e) => errors.push(String(e && e.message ? e.message : e)));
virtualConsole.on('error', (e) => errors.push(String(e)));
const dom = new JSDOM(html, { runScripts: 'dangerously', virtualConsole });
const doc = dom.window.document;
const panel = () => {
  const info = doc.getElementById('info');
  const title = info.querySelector('h2');
  return {
    title: title ? title.textContent : null,
    items: Array.from(info.querySelectorAll('li')).map((li) => li.textContent),
  };
};
const click = (el) => el.dispatchEvent(new dom.window.MouseEvent('click', { bubbles: true }));
const out = { svg: {}, list: {}, errors };
for (const g of doc.querySelectorAll('svg g.node')) {
  // Click the shape's text inside the node, as a person would.
  click(g.querySelector('text') || g);
  out.svg[g.id] = panel();
}
for (const li of doc.querySelectorAll('#nodes li')) {
  click(li);
  out.list[li.textContent] = panel();
}
// Zoom buttons change the picture's viewBox.
const svg = doc.querySelector('#view svg');
const before = svg.getAttribute('viewBox');
click(doc.getElementById('zin'));
out.zoomed = svg.getAttribute('viewBox') !== before;
click(doc.getElementById('fit'));
out.fitted = svg.getAttribute('viewBox') === before;
process.stdout.write(JSON.stringify(out, null, 1) + '\n');
