// The TOTP second factor in a real browser (issue 18): an eidas2 portal
// gets the code's page after the password, and an eidas1 session asked for
// eidas2 gets only the code's page (step-up), in French and in English,
// each page of the hub through axe-core (WCAG 2.0/2.1 A and AA), with the
// pages' own CSP in force. The codes are computed with oathtool.
// With plus=USER,SECRET,PORTAL: make run's third portal (demo-portal-plus,
// private_key_jwt and encrypted tokens) logs the demo citizen in at eidas2
// with the demo's published secret, shows acr eidas2 and amr pwd, otp (its
// page audited too), and logs out with the signed inner ID token as hint.
//
//   node tests/browser/otp.js TMPDIR fr=USER,SECRET,PORTAL_EIDAS1,PORTAL_EIDAS2 en=... [plus=...]
//
// Prints "PASS name" / "FAIL name: why" per check; exits non-zero on failure.
'use strict';

const path = require('path');
const { execFileSync } = require('child_process');
const { axeCheck, main, run, walkFailed, watch } = require('./lib');

const [tmp, ...langArgs] = process.argv.slice(2);
const STEP_MS = 15000;
const { check } = run('otp', 200000);
const LOCALE = { fr: 'fr-FR', en: 'en-GB' };
const T = {
	fr: { code: 'Saisissez votre code de vérification', bad: "Ce code n'est pas valide", help: 'Appelez la mairie' },
	en: { code: 'Enter your verification code', bad: 'This code is not valid', help: 'Call the city hall' },
};

// The code of now + ahead seconds (RFC 6238, 30 s steps, 6 digits).
function totp(secret, ahead = 0) {
	const at = Math.floor(Date.now() / 1000) + ahead;
	return execFileSync('oathtool', ['--totp', '-b', '-N', `@${at}`, secret], { encoding: 'utf8' }).trim();
}

// The code's page: its heading, language, field and help text; audited.
async function codePage(page, lang, label) {
	await page.waitForSelector('#code');
	const t = (await page.textContent('body')).replace(/\s+/g, ' ');
	check(`${label}: the code's page`, t.includes(T[lang].code), t.slice(0, 200));
	check(`${label}: html lang="${lang}"`, (await page.getAttribute('html', 'lang')) === lang);
	check(`${label}: no password asked`, (await page.$('#password')) === null);
	check(`${label}: the field is numeric, for one-time codes`,
		(await page.getAttribute('#code', 'autocomplete')) === 'one-time-code' &&
		(await page.getAttribute('#code', 'inputmode')) === 'numeric');
	check(`${label}: the text for a lost phone`, t.includes(T[lang].help), t.slice(0, 300));
	await axeCheck(page, label);
}

async function submitCode(page, code) {
	await page.fill('#code', code);
	await Promise.all([page.waitForNavigation(), page.click('form[action="/otp"] button[type="submit"]')]);
}

async function portalAcr(page, portal, label, acr) {
	await page.waitForSelector('#acr');
	check(`${label}: back at the portal`, page.url().startsWith(portal), page.url());
	const got = await page.textContent('#acr');
	check(`${label}: the ID token's acr is ${acr}`, got === acr, got);
}

async function acceptIfAsked(page) {
	await page.waitForSelector('button[value="accept"], #acr');
	if (await page.$('button[value="accept"]'))
		await Promise.all([page.waitForNavigation(), page.click('button[value="accept"]')]);
}

async function paths(browser, lang, user, secret, portal1, portal2) {
	const ctx = await browser.newContext({ locale: LOCALE[lang] });
	const page = await ctx.newPage();
	page.setDefaultTimeout(STEP_MS);
	const problems = watch(page);
	try {
		// eidas2 from scratch: password, then the code.
		await page.goto(`${portal2}/login?ui_locales=${lang}`);
		await page.waitForSelector('#password');
		await page.fill('#username', user);
		await page.fill('#password', `${user[0].toUpperCase()}${user.slice(1)}-2026!`);
		await Promise.all([page.waitForNavigation(), page.click('form[action="/login"] button')]);
		await codePage(page, lang, `${lang} eidas2 login`);
		await submitCode(page, '000000' === totp(secret) ? '111111' : '000000');
		const t = (await page.textContent('body')).replace(/\s+/g, ' ');
		check(`${lang} a wrong code: the page says so`, t.includes(T[lang].bad), t.slice(0, 300));
		await axeCheck(page, `${lang} a wrong code's page`);
		await submitCode(page, totp(secret));
		await acceptIfAsked(page);
		await portalAcr(page, portal2, `${lang} eidas2 login`, 'eidas2');
		await ctx.clearCookies();

		// Step-up: an eidas1 session, then the eidas2 portal.
		await page.goto(`${portal1}/login?ui_locales=${lang}`);
		await page.waitForSelector('#password');
		await page.fill('#username', user);
		await page.fill('#password', `${user[0].toUpperCase()}${user.slice(1)}-2026!`);
		await Promise.all([page.waitForNavigation(), page.click('form[action="/login"] button')]);
		await acceptIfAsked(page);
		await portalAcr(page, portal1, `${lang} eidas1 login`, 'eidas1');
		await page.goto(`${portal2}/login?ui_locales=${lang}`);
		await codePage(page, lang, `${lang} step-up`);
		await submitCode(page, totp(secret, 30));
		await acceptIfAsked(page);
		await portalAcr(page, portal2, `${lang} step-up`, 'eidas2');
	} catch (e) {
		await walkFailed(e, `${lang} the second factor's paths`, page, path.join(tmp, `last-otp-${lang}.html`));
	} finally {
		check(`${lang}: no CSP violation or script error`, problems.length === 0, problems.join(' | '));
		await ctx.close().catch(() => {});
	}
}

// The high-assurance portal: password, code, and what the portal shows.
async function plus(browser, user, secret, portal) {
	const ctx = await browser.newContext({ locale: LOCALE.fr });
	const page = await ctx.newPage();
	page.setDefaultTimeout(STEP_MS);
	const problems = watch(page);
	try {
		await page.goto(`${portal}/`);
		await axeCheck(page, 'plus: the portal\'s home page');
		await Promise.all([page.waitForNavigation(), page.click('text=Se connecter')]);
		await page.waitForSelector('#password');
		await page.fill('#username', user);
		await page.fill('#password', `${user[0].toUpperCase()}${user.slice(1)}-2026!`);
		await Promise.all([page.waitForNavigation(), page.click('form[action="/login"] button')]);
		await codePage(page, 'fr', 'plus: eidas2 login');
		await submitCode(page, totp(secret));
		await acceptIfAsked(page);
		await portalAcr(page, portal, 'plus: private_key_jwt, encrypted tokens', 'eidas2');
		const amr = await page.textContent('#amr');
		check('plus: the ID token\'s amr is pwd, otp', amr === 'pwd, otp', amr);
		check('plus: the userinfo answer decrypted (its given_name shown)',
			(await page.textContent('main')).includes('Marianne'));
		await axeCheck(page, 'plus: the portal\'s page of a citizen');
		await page.click('text=Se déconnecter');
		await page.waitForURL((u) => u.href.startsWith(`${portal}/logged-out`));
		const h1 = await page.textContent('h1');
		check('plus: logout with the signed inner ID token as hint comes back', h1 === 'Vous êtes déconnecté(e)',
			`${h1} at ${page.url()}`);
	} catch (e) {
		await walkFailed(e, 'plus: the high-assurance portal', page, path.join(tmp, 'last-otp-plus.html'));
	} finally {
		check('plus: no CSP violation or script error', problems.length === 0, problems.join(' | '));
		await ctx.close().catch(() => {});
	}
}

main(async (browser) => {
	for (const arg of langArgs) {
		const [lang, rest] = arg.split('=');
		const [user, secret, p1, p2] = rest.split(',');
		if (lang === 'plus')
			await plus(browser, user, secret, p1);
		else
			await paths(browser, lang, user, secret, p1, p2);
	}
}, { tmp });
