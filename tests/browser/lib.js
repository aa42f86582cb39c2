// What the browser tests share: Debian's chromium through playwright-core
// (the npm packages of tests/node), axe-core on a page, the PASS/FAIL lines
// the t_*.sh wrappers count, the watchdog that bounds a whole run, what a
// page must never do (CSP violations, script errors), and a run's main().
//
//   const { check } = run('name', totalMs);            // once, first
//   main(async (browser) => { ... }, { tmp });        // or { tmp, context: {options} }
'use strict';

const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const req = createRequire(path.join(__dirname, '..', 'node', 'package.json'));
const { chromium } = req('playwright-core');

// WCAG 2.0 and 2.1, levels A and AA.
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
let axeSource;

// chromium as every test starts it: headless, no sandbox (no user
// namespaces in CI containers), nothing fetched in the background. extra:
// playwright's options for launchPersistentContext (locale, bypassCSP...).
function launchOptions(extra = {}) {
	return {
		executablePath: '/usr/bin/chromium',
		headless: true,
		timeout: 30000,
		args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
			'--disable-component-update', '--disable-sync', '--no-first-run'],
		...extra,
	};
}

// A browser with a fresh profile under tmp, as one context.
function launchContext(tmp, extra) {
	return chromium.launchPersistentContext(fs.mkdtempSync(path.join(tmp, 'chromium-')), launchOptions(extra));
}

function launchBrowser() {
	return chromium.launch(launchOptions());
}

// axe-core's violations on the page as it is. axe is evaluated through the
// DevTools protocol, which the page's CSP does not govern: the CSP stays in
// force for everything the page itself does.
async function axeViolations(page) {
	if (axeSource === undefined)
		axeSource = fs.readFileSync(req.resolve('axe-core/axe.min.js'), 'utf8');
	await page.evaluate(axeSource);
	return page.evaluate(async (tags) => {
		// eslint-disable-next-line no-undef
		const r = await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
		return r.violations;
	}, AXE_TAGS);
}

// The checks of the run (run()), which the helpers below count into.
let current;

// The checks of one run: check() prints "PASS name" or "FAIL name: why";
// finish() prints the count and exits, non-zero on a failure or when
// nothing was checked. The run ends by itself (FAIL, exit 3) after totalMs.
function run(suite, totalMs) {
	let passed = 0;
	let failed = 0;
	const watchdog = setTimeout(() => {
		console.log(`FAIL the browser run ended within ${totalMs / 1000} s: timed out`);
		process.exit(3);
	}, totalMs);
	current = {
		check(name, cond, why) {
			if (cond) {
				passed++;
				console.log(`PASS ${name}`);
			} else {
				failed++;
				console.log(`FAIL ${name}: ${why === undefined ? '' : why}`);
			}
			return cond;
		},
		finish() {
			clearTimeout(watchdog);
			console.log(`${suite}: ${passed} passed, ${failed} failed`);
			process.exit(failed === 0 && passed > 0 ? 0 : 1);
		},
	};
	return current;
}

// One check: axe-core finds nothing on the page as it is (the first nodes
// of each violation named). Returns the violations, for a caller that
// prints more.
async function axeCheck(page, label) {
	const v = await axeViolations(page);
	current.check(`${label}: zero axe violations (${AXE_TAGS.join(', ')})`, v.length === 0,
		v.map((x) => `${x.id} (${x.help}) at ${x.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`)
			.join('; '));
	return v;
}

// What a page must never do, collected as it happens: a CSP violation (the
// console reports it), a script error, and with requests, a request the
// browser gave up on (a form whose answer it refused to follow). Returns
// the list; the caller checks it is empty at the end of its path.
function watch(page, { requests = false } = {}) {
	const problems = [];
	page.on('console', (m) => {
		const t = m.text();
		if (/Content Security Policy|violates/i.test(t))
			problems.push(`console: ${t.slice(0, 300)}`);
	});
	page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
	if (requests)
		page.on('requestfailed', (r) => problems.push(`request failed: ${r.method()} ` +
			`${r.url().slice(0, 120)}: ${r.failure() && r.failure().errorText}`));
	return problems;
}

// A walk that threw (e): the check label fails with e's first line, and
// page's HTML is kept in file (when given) for reading.
async function walkFailed(e, label, page, file) {
	current.check(label, false, e.message.split('\n')[0]);
	if (page && file)
		fs.writeFileSync(file, await page.content().catch(() => ''));
}

// The run's main: chromium, a browser (or, with context, a persistent
// context under tmp with those options), handed to fn; whatever fn throws
// fails the run; chromium is closed, then finish().
async function main(fn, { tmp, context } = {}) {
	let b;
	try {
		b = context ? await launchContext(tmp, context) : await launchBrowser();
		await fn(b);
	} catch (e) {
		await walkFailed(e, 'the browser run');
	} finally {
		if (b)
			await b.close().catch(() => {});
	}
	current.finish();
}

module.exports = { AXE_TAGS, axeCheck, axeViolations, launchBrowser, launchContext, main, run, walkFailed, watch };
