// Every citizen path in a real browser (Debian's chromium driven by
// playwright-core), in French and in English, with the pages' own CSP in
// force: a form whose answer the browser refuses to follow must fail here,
// as it fails for a citizen. Each path runs in a fresh context; every page
// reached goes through axe-core (WCAG 2.0/2.1 A and AA; each distinct page
// once); every step checks
// the URL it lands on. t_paths.sh starts the servers.
//
//   node paths.js TMPDIR HUB UPSTREAM fr=PORTAL_EIDAS1,PORTAL_EIDAS2 en=...
//
// Prints "PASS name" or "FAIL name: why" per check; exits non-zero on failure.
'use strict';

const path = require('path');
const { axeCheck, main, run, walkFailed, watch } = require('./lib');

const [tmp, hub, upstream, ...portalArgs] = process.argv.slice(2);
if (!tmp || !hub || !upstream || portalArgs.length === 0) {
	console.error('usage: node paths.js TMPDIR HUB UPSTREAM LANG=PORTAL1,PORTAL2...');
	process.exit(2);
}
const STEP_MS = 10000; // any one wait
const TOTAL_MS = 280000; // the whole run (a loaded machine: three times the quiet one)
const AUDITED = new Set();
const { check } = run('paths', TOTAL_MS);

// What the hub and the upstream provider say, per language; the portals
// (rp-demo) speak French only.
const T = {
	fr: {
		choice: 'Choisissez comment vous connecter', login: 'Connectez-vous',
		consent: 'Transmettre vos informations', logout: 'Se déconnecter ?',
		unknown: "n'est pas reconnu", badRedirect: 'a fait une demande incorrecte',
		cont: 'Vous êtes renvoyé(e) vers le service',
	},
	en: {
		choice: 'Choose how to log in', login: 'Log in', consent: 'Share your information',
		logout: 'Log out?', unknown: 'not recognised', badRedirect: 'made an incorrect request',
		cont: 'You are being sent back to the service',
	},
};
const LOCALE = { fr: 'fr-FR', en: 'en-GB' };

// One browser context per path, its page watched: a CSP report in the
// console, a request the browser gave up on, a script error: each is a
// failure of the path, whatever the page shows next.
async function open(browser, lang, name) {
	const ctx = await browser.newContext({ locale: LOCALE[lang], viewport: { width: 1280, height: 900 } });
	const page = await ctx.newPage();
	page.setDefaultTimeout(STEP_MS);
	page.setDefaultNavigationTimeout(STEP_MS);
	const w = { ctx, page, lang, name, problems: watch(page, { requests: true }), docs: [], audited: 0 };
	page.on('response', (r) => {
		if (r.request().isNavigationRequest() && r.frame() === page.mainFrame())
			w.docs.push({ url: r.url(), status: r.status() });
	});
	return w;
}

async function close(w) {
	check(`${w.lang} ${w.name}: no CSP violation, blocked navigation or script error`, w.problems.length === 0,
		w.problems.join(' | '));
	await w.ctx.close().catch(() => {});
}

function body(page) {
	return page.textContent('body').then((t) => t.replace(/\s+/g, ' ').trim());
}

// The page is the one expected: its URL, its language, a text; then axe
// (lib.js: the page's CSP stays in force for what the page itself does).
async function at(w, step, urlPrefix, expect = {}) {
	const { page } = w;
	const label = `${w.lang} ${w.name}: ${step}`;
	try {
		await page.waitForURL((u) => u.href.startsWith(urlPrefix), { timeout: STEP_MS });
		await page.waitForLoadState('load');
	} catch (e) {
		check(`${label}: at ${urlPrefix}`, false, `still at ${page.url()}`);
		throw new Error(`${label}: not at ${urlPrefix}`);
	}
	check(`${label}: at ${urlPrefix.replace(/^http:\/\/127\.0\.0\.1:\d+/, '')}`, true);
	if (expect.lang) {
		const lang = await page.getAttribute('html', 'lang');
		check(`${label}: html lang="${expect.lang}"`, lang === expect.lang, `lang="${lang}"`);
	}
	if (expect.text) {
		const t = await body(page);
		check(`${label}: says "${expect.text}"`, t.includes(expect.text), t.slice(0, 200));
	}
	if (expect.selector)
		check(`${label}: shows ${expect.selector}`, (await page.$(expect.selector)) !== null);
	// One audit per distinct page (origin, path, language, heading): the
	// same page met again on another path is not audited twice.
	const u = new URL(page.url());
	const alert = await page.$('[role="alert"]');
	const key = `${u.origin}${u.pathname}|${await page.getAttribute('html', 'lang')}|` +
		`${await page.textContent('h1').catch(() => '')}|${alert ? await alert.textContent() : ''}`;
	if (AUDITED.has(key))
		return;
	AUDITED.add(key);
	w.audited++;
	await axeCheck(page, label);
}

// Clicks and waits for the next document; the check of where it lands is
// at()'s.
async function click(w, selector) {
	await w.page.click(selector);
}

async function loginForm(w, user, password) {
	await w.page.fill('#username', user);
	await w.page.fill('#password', password);
	await click(w, 'form[action="/login"] button[type="submit"]');
}

async function portalShows(w, portal, step, who, acr) {
	await at(w, step, `${portal}/`, { selector: '#acr' });
	const t = await body(w.page);
	check(`${w.lang} ${w.name}: ${step}: the portal shows ${who}`, t.includes(who), t.slice(0, 200));
	const got = await w.page.textContent('#acr');
	check(`${w.lang} ${w.name}: ${step}: the ID token's acr is ${acr}`, got === acr, got);
}

// From the portal to the hub's choice page, then one backend.
async function toChoice(w, portal, extra = '') {
	await w.page.goto(`${portal}/login?ui_locales=${w.lang}${extra}`);
	await at(w, 'the choice page', `${hub}/authorize`, { lang: w.lang, text: T[w.lang].choice });
}

async function localLogin(w, portal) {
	await toChoice(w, portal);
	await click(w, 'button[value="local"]');
	await at(w, 'the login page', `${hub}/choose`, { lang: w.lang, text: T[w.lang].login, selector: '#password' });
	await loginForm(w, 'marianne', 'Marianne-2026!');
	await at(w, 'the consent page', `${hub}/login`, { lang: w.lang, text: T[w.lang].consent });
}

async function upstreamLogin(w, portal) {
	await toChoice(w, portal);
	await click(w, 'button[value="upstream"]');
	await at(w, 'the upstream login page', `${upstream}/authorize`, { lang: w.lang, text: T[w.lang].login, selector: '#password' });
	await loginForm(w, 'jean', 'Jean-2026!xx');
}

// Runs one path; a step that throws fails the path, not the run.
async function path1(browser, lang, name, fn) {
	let w;
	const t0 = Date.now();
	try {
		w = await open(browser, lang, name);
		await fn(w);
	} catch (e) {
		await walkFailed(e, `${lang} ${name}: the path completed`, w && w.page,
			path.join(tmp, `last-${lang}-${name.replace(/\W+/g, '-')}.html`));
	} finally {
		if (w)
			await close(w);
		console.log(`  ${lang} ${name}: ${w ? w.audited : 0} pages audited, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
	}
}

async function paths(browser, lang, portalA, portalC) {
	const t = T[lang];

	await path1(browser, lang, 'consent refused', async (w) => {
		await localLogin(w, portalA);
		await click(w, 'button[value="refuse"]');
		await at(w, 'back at the portal', `${portalA}/callback`, { selector: '#oauth-error', text: 'Vous avez annulé la connexion' });
		check(`${lang} consent refused: the portal got access_denied`,
			(await w.page.textContent('#oauth-error')) === 'access_denied');
	});

	await path1(browser, lang, 'local account, prompt=none, step-up', async (w) => {
		await localLogin(w, portalA);
		await click(w, 'button[value="accept"]');
		await portalShows(w, portalA, 'logged in', 'Marianne', 'eidas1');

		// prompt=none with a session: a code, no page of the hub.
		w.docs.length = 0;
		await w.page.goto(`${portalA}/login?prompt=none&ui_locales=${lang}`);
		await portalShows(w, portalA, 'prompt=none with a session', 'Marianne', 'eidas1');
		const pages = w.docs.filter((d) => (d.url.startsWith(hub) && d.status < 300) || d.status >= 400);
		check(`${lang} prompt=none with a session: no page on the way, only redirects`, pages.length === 0,
			pages.map((d) => `${d.status} ${d.url.slice(0, 80)}`).join(', '));
		check(`${lang} prompt=none with a session: through the hub`, w.docs.some((d) => d.url.startsWith(`${hub}/authorize`)));

		// Step-up: the eidas1 session does not do for an eidas2 portal.
		await w.page.goto(`${portalC}/login?ui_locales=${lang}`);
		await at(w, 'step-up: the choice page', `${hub}/authorize`, { lang, text: t.choice });
		check(`${lang} step-up: the eidas1 backend is not offered`, (await w.page.$('button[value="local"]')) === null);
		await click(w, 'button[value="annuaire"]');
		await at(w, 'step-up: a password is asked', `${hub}/choose`, { lang, text: t.login, selector: '#password' });
		await loginForm(w, 'camille', 'Camille-2026!');
		await at(w, 'step-up: the consent page', `${hub}/login`, { lang, text: t.consent });
		await click(w, 'button[value="accept"]');
		await portalShows(w, portalC, 'step-up', 'Camille', 'eidas2');
	});

	await path1(browser, lang, 'LDAP account', async (w) => {
		await toChoice(w, portalA);
		await click(w, 'button[value="annuaire"]');
		await at(w, 'the login page', `${hub}/choose`, { lang, text: t.login, selector: '#password' });
		await loginForm(w, 'camille', 'Camille-2026!');
		await at(w, 'the consent page', `${hub}/login`, { lang, text: t.consent });
		await click(w, 'button[value="accept"]');
		await portalShows(w, portalA, 'logged in', 'Camille', 'eidas2');
	});

	await path1(browser, lang, 'upstream provider, RP-initiated logout', async (w) => {
		await upstreamLogin(w, portalA);
		await at(w, 'the consent page, back at the hub', `${hub}/callback/upstream`, { lang, text: t.consent });
		await click(w, 'button[value="accept"]');
		await portalShows(w, portalA, 'logged in', 'Jean', 'eidas2');

		// The portal's logout ends the hub's session and, chained, the upstream's.
		w.docs.length = 0;
		await click(w, 'form[action="/logout"] button');
		await at(w, 'logged out', `${portalA}/logged-out`, { text: 'Vous êtes déconnecté(e)' });
		check(`${lang} logout: chained through the upstream provider`, w.docs.some((d) => d.url.startsWith(`${upstream}/logout`)),
			w.docs.map((d) => d.url.slice(0, 60)).join(' '));
		await toChoice(w, portalA);
		await click(w, 'button[value="local"]');
		await at(w, 'after logout the hub asks for a password', `${hub}/choose`, { selector: '#password' });
		await toChoice(w, portalA);
		await click(w, 'button[value="upstream"]');
		await at(w, 'after logout the upstream asks for a password', `${upstream}/authorize`, { selector: '#password' });
	});

	await path1(browser, lang, 'upstream provider again, logout confirmed on the hub', async (w) => {
		// Consent is remembered: the hub carries the upstream's answer on to
		// the portal by a page (Refresh), which the upstream's form-action
		// does not govern.
		let back;
		w.page.on('response', (r) => {
			if (back === undefined && r.url().startsWith(`${hub}/callback/upstream`) && r.status() === 200)
				back = { refresh: r.headers().refresh };
		});
		await upstreamLogin(w, portalA);
		await portalShows(w, portalA, 'logged in (consent remembered)', 'Jean', 'eidas2');
		check(`${lang} the page back to the service: a Refresh to the portal's callback`,
			back !== undefined && (back.refresh || '').startsWith(`0; url=${portalA}/callback?code=`),
			back && back.refresh);
		// A logout without id_token_hint: the hub asks the citizen.
		await w.page.goto(`${hub}/logout?client_id=${encodeURIComponent(clientOf(portalA))}` +
			`&post_logout_redirect_uri=${encodeURIComponent(`${portalA}/logged-out`)}&ui_locales=${lang}`);
		await at(w, 'the logout confirmation', `${hub}/logout`, { lang, text: t.logout });
		w.docs.length = 0;
		await click(w, 'form[action="/logout"] button[type="submit"]');
		await at(w, 'back at the portal', `${portalA}/logged-out`);
		check(`${lang} confirmed logout: chained through the upstream provider`, w.docs.some((d) => d.url.startsWith(`${upstream}/logout`)),
			w.docs.map((d) => d.url.slice(0, 60)).join(' '));
		await toChoice(w, portalA);
		await click(w, 'button[value="upstream"]');
		await at(w, 'after logout the upstream asks for a password', `${upstream}/authorize`, { selector: '#password' });
	});

	await path1(browser, lang, 'prompt=none without a session', async (w) => {
		await w.page.goto(`${portalA}/login?prompt=none&ui_locales=${lang}`);
		await at(w, 'back at the portal', `${portalA}/callback`, { selector: '#oauth-error', text: "Vous n'êtes pas connecté(e)" });
		check(`${lang} prompt=none without a session: login_required`,
			(await w.page.textContent('#oauth-error')) === 'login_required');
		check(`${lang} prompt=none without a session: no page of the hub`,
			!w.docs.some((d) => d.url.startsWith(hub) && d.status < 300));
	});

	await path1(browser, lang, 'error pages', async (w) => {
		const q = (cid, ruri) => new URLSearchParams({
			response_type: 'code', client_id: cid, redirect_uri: ruri, scope: 'openid', state: 's',
			nonce: 'paths-nonce-0123456789abcdef', ui_locales: lang,
			code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
		});
		let resp = await w.page.goto(`${hub}/authorize?${q('no-such-service', `${portalA}/callback`)}`);
		check(`${lang} unknown client: status 400`, resp.status() === 400, resp.status());
		await at(w, 'unknown client: a page, no redirect', `${hub}/authorize`, { lang, text: t.unknown });
		resp = await w.page.goto(`${hub}/authorize?${q(clientOf(portalA), 'http://127.0.0.1:1/elsewhere')}`);
		check(`${lang} bad redirect_uri: status 400`, resp.status() === 400, resp.status());
		await at(w, 'bad redirect_uri: a page, no redirect', `${hub}/authorize`, { lang, text: t.badRedirect });
	});
}

// The portals' client ids are named after their language (t_paths.sh).
const CLIENTS = {};
function clientOf(portal) {
	return CLIENTS[portal];
}

main(async (browser) => {
	for (const arg of portalArgs) {
		const [lang, list] = arg.split('=');
		const [portalA, portalC] = list.split(',');
		CLIENTS[portalA] = `pa-${lang}`;
		CLIENTS[portalC] = `pc-${lang}`;
		await paths(browser, lang, portalA, portalC);
	}
}, { tmp });
