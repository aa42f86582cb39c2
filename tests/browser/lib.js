// What the browser tests share: Debian's chromium through playwright-core
// (the npm packages of tests/node), axe-core on a page, the PASS/FAIL lines
// the t_*.sh wrappers count, and the watchdog that bounds a whole run.
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
	return {
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
}

module.exports = { AXE_TAGS, axeViolations, launchBrowser, launchContext, run };
