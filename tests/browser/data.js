// The demo's data-sharing loop in a real browser (issue 17): a portal asks
// for the quotient familial the family allowance office holds; the consent
// page names the office and the data (French and English, axe-core on
// both); ticked, the portal shows the quotient the office gave it, and the
// next login remembers that consent; left unticked on another portal, the
// citizen is logged in without it and the office refused the token.
// Then the whole loop's end, in French: the citizen opens /account at the
// hub, sees the release to the portal with the office and its time,
// downloads its signed receipt, which idpctl verifies against the hub's
// published JWKS, withdraws the consent, and the portal, asking the office
// again with its access token, is refused (401: inactive at /introspect).
// axe-core on each hub page; no CSP violation or script error on the way.
//
//   node tests/browser/data.js PORTAL_D PORTAL_E TMPDIR HUB IDPCTL CONFIG
//
// Prints "PASS name" / "FAIL name: why" per check; exits non-zero on failure.
'use strict';

const path = require('path');
const { spawnSync } = require('child_process');
const { axeCheck, main, run, walkFailed, watch } = require('./lib');

const [portalD, portalE, tmp, hub, idpctl, config] = process.argv.slice(2);
const STEP_MS = 15000;
const { check } = run('data', 190000);

// After a click that leaves the page: the landmark the next page has.
const LANDMARKS = { '#password': 'password', 'button[value="accept"]': 'consent', '#acr': 'portal' };
async function landing(page) {
	await page.waitForSelector(Object.keys(LANDMARKS).join(', '), { state: 'attached' });
	for (const [sel, name] of Object.entries(LANDMARKS))
		if (await page.$(sel)) return name;
	return 'none';
}

async function login(page) {
	await page.fill('#username', 'marianne');
	await page.fill('#password', 'Marianne-2026!');
	await Promise.all([page.waitForNavigation(), page.click('form[action="/login"] button')]);
}

async function consentPage(page, lang, t) {
	const body = (await page.textContent('main')).replace(/\s+/g, ' ');
	check(`${lang} consent page names the office`, body.includes("Caisse d'allocations familiales, démo"), body.slice(0, 300));
	check(`${lang} consent page names the data in plain words`, body.includes(t.data), body.slice(0, 300));
	const box = await page.$('input[type="checkbox"][name="share:cnaf_quotient_familial"]');
	check(`${lang} the data has its own box`, box !== null);
	check(`${lang} the box is unticked: sharing is the citizen's act`, box !== null && !(await box.isChecked()));
	const label = box ? await page.textContent(`label[for="${await box.getAttribute('id')}"]`) : '';
	check(`${lang} the box's label says what and from whom`, label.includes(t.data) && label.includes('Caisse'), label);
	await axeCheck(page, `${lang} consent page with data to share`);
}

// The citizen at the hub's /account: the release, its receipt, the
// withdrawal; then the portal asks the office again and is refused.
async function accountWalk(page) {
	await page.goto(`${hub}/account`);
	check('account: the French page', (await page.textContent('h1')) === 'Mon compte');
	const rows = await page.$$('tbody tr');
	let row = null;
	for (const r of rows) {
		const t = (await r.textContent()).replace(/\s+/g, ' ');
		if (t.includes('Cantine scolaire (démo) (connexion)') && t.includes("Caisse d'allocations familiales, démo")) {
			row = r;
			break;
		}
	}
	const rt = row ? (await row.textContent()).replace(/\s+/g, ' ') : '';
	check('account: the release to the portal, naming the office', row !== null, `${rows.length} rows`);
	check('... its time', /\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/.test(rt), rt);
	check('... the data', rt.includes('cnaf_quotient_familial'), rt);
	await axeCheck(page, 'fr account page with a release');

	// The receipt, downloaded as the citizen would, then verified with the
	// hub's published keys only.
	const file = path.join(tmp, 'walk-receipt.jwt');
	const [dl] = await Promise.all([page.waitForEvent('download'), row.$('a[download]').then((a) => a.click())]);
	await dl.saveAs(file);
	const v = spawnSync(idpctl, ['--config', config, 'receipts', 'verify', file, '--jwks', `${hub}/jwks`],
		{ encoding: 'utf8', timeout: 20000 });
	check('the downloaded receipt verifies against the hub\'s JWKS', v.status === 0 && /valid/.test(v.stdout),
		`${v.status} ${v.stdout} ${v.stderr}`);
	check('... it is the release to the portal', /to portal-d/.test(v.stdout), v.stdout);

	// Withdrawal: the button names the service; the page says what it ended.
	const btn = page.locator('button', { hasText: 'Retirer mon accord à Cantine scolaire (démo)' });
	check('account: a withdraw button naming the portal', (await btn.count()) === 1);
	await Promise.all([page.waitForNavigation(), btn.first().click()]);
	const st = (await page.$('p[role="status"]')) ? await page.textContent('p[role="status"]') : '';
	check('withdrawn: the page says the service lost its access', st.includes('Votre accord a été retiré'), st);
	check('... the consent is no longer listed',
		(await page.locator('button', { hasText: 'Retirer mon accord à Cantine scolaire (démo)' }).count()) === 0);
	await axeCheck(page, 'fr account page after a withdrawal');

	// The portal asks the office again with the token it holds.
	await page.goto(`${portalD}/`);
	await Promise.all([page.waitForNavigation(), page.click('#data-again')]);
	const refused = (await page.$('#data-status')) ? await page.textContent('#data-status') : '';
	check('after the withdrawal: the office refuses the portal\'s token (401)', refused === '401', refused);
	check('... and the portal shows no data', (await page.$('#data')) === null);
}

async function walk(ctx) {
	let page = await ctx.newPage();
	page.setDefaultTimeout(STEP_MS);
	const problems = watch(page);
	try {
		// Ticked: the portal shows what the office gave it.
		await page.goto(`${portalD}/`);
		await page.click('text=Se connecter');
		await page.waitForSelector('#password');
		await login(page);
		check('fr after the login: the consent page', (await landing(page)) === 'consent', page.url());
		await consentPage(page, 'fr', { data: 'votre quotient familial' });
		await page.check('input[name="share:cnaf_quotient_familial"]');
		await Promise.all([page.waitForNavigation(), page.click('button[value="accept"]')]);
		await page.waitForSelector('#acr');
		const shown = (await page.$('#data')) ? await page.textContent('#data') : '';
		check('accepted: the portal shows the quotient familial', shown.includes('quotient_familial') && shown.includes('712'), shown);
		check('... from the office', shown.includes("Caisse d'allocations familiales, démo"), shown);

		// The next login there: the consent (data included) is remembered.
		await page.goto(`${portalD}/login`);
		const seen = await landing(page);
		check('next login: no consent page (remembered, data included)', seen === 'portal', `${seen} at ${page.url()}`);
		check('... and the quotient again', (await page.$('#data')) !== null && (await page.textContent('#data')).includes('712'));
		await accountWalk(page);
		check('the whole walk: no CSP violation or script error', problems.length === 0, problems.join(' | '));

		// Unticked, on another portal, in English: logged in without the data.
		await ctx.clearCookies();
		await page.close();
		page = await ctx.newPage();
		page.setDefaultTimeout(STEP_MS);
		await page.goto(`${portalE}/login?ui_locales=en`);
		await page.waitForSelector('#password');
		await login(page);
		check('en after the login: the consent page', (await landing(page)) === 'consent', page.url());
		await consentPage(page, 'en', { data: 'your family quotient' });
		await Promise.all([page.waitForNavigation(), page.click('button[value="accept"]')]);
		await page.waitForSelector('#acr');
		const content = await page.content();
		check('unticked: logged in all the same', content.includes('Marianne'));
		check('... no data shown', (await page.$('#data')) === null);
		const st = (await page.$('#data-status')) ? await page.textContent('#data-status') : '';
		check('... the portal says it was not shared: the office refused the token (403)', st === '403', st);
	} catch (e) {
		await walkFailed(e, 'the data-sharing walk', page, path.join(tmp, 'last-page.html'));
	}
}

main(walk, { tmp, context: { locale: 'fr-FR', acceptDownloads: true } });
