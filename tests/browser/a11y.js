// Accessibility of every page, in French and in English: Debian's chromium,
// driven by playwright-core, runs axe-core (WCAG 2.0/2.1 A and AA) on the
// login page, the login page with an error, the consent page (and with data
// held by another administration to share), the error page,
// the account page (with a release, then after withdrawing the consent),
// the logout confirmation and the logged-out page; then a keyboard user logs
// in with Tab, typing and Enter.
//
//   node tests/browser/a11y.js ISSUER TMPDIR
//
// Prints "PASS name" or "FAIL name: why" per check (t_a11y.sh counts them)
// and exits non-zero on any failure. The npm packages come from tests/node.
'use strict';

const { axeCheck, main, run } = require('./lib');

const [issuer, tmp] = process.argv.slice(2);
if (!issuer || !tmp) {
	console.error('usage: node a11y.js ISSUER TMPDIR');
	process.exit(2);
}
const STEP_MS = 10000; // any one wait
const TOTAL_MS = 150000; // the whole run
const R1 = 'http://127.0.0.1:8081/callback';
// One PKCE pair for every authorization request: the account page's code is
// exchanged with it.
const VERIFIER = 'a11y-verifier-0123456789abcdefghijklmnopqrstuvwxyz';
const CHALLENGE = require('crypto').createHash('sha256').update(VERIFIER).digest('base64url');
const { check } = run('a11y', TOTAL_MS);

function authorizeUrl(extra) {
	// A fixed, valid S256 challenge.
	const q = new URLSearchParams({
		response_type: 'code', client_id: 'demo-portal', redirect_uri: R1,
		scope: 'openid profile email', state: 'a11y-state',
		nonce: 'a11y-nonce-0123456789abcdef',
		code_challenge: CHALLENGE,
		code_challenge_method: 'S256', ...extra,
	});
	return `${issuer}/authorize?${q}`;
}

function describe(v) {
	const nodes = v.nodes.slice(0, 5).map((n) =>
		`      ${n.target.join(' ')}\n        ${(n.failureSummary || '').replace(/\n/g, '\n        ')}`);
	return `    [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})\n${nodes.join('\n')}`;
}

// Injects axe-core and runs it; one check per page, violations printed.
async function audit(page, name, expect) {
	const lang = await page.getAttribute('html', 'lang', { timeout: STEP_MS });
	check(`${name}: html lang="${expect.lang}"`, lang === expect.lang, `lang="${lang}"`);
	if (expect.text) {
		const body = await page.textContent('body', { timeout: STEP_MS });
		check(`${name}: is the expected page`, body.includes(expect.text),
			`"${expect.text}" not in: ${body.replace(/\s+/g, ' ').slice(0, 200)}`);
	}
	const violations = await axeCheck(page, name);
	if (violations.length > 0) {
		console.log(`  ${name}: ${violations.length} axe violation(s) at ${page.url()}`);
		for (const v of violations)
			console.log(describe(v));
	}
}

async function goto(page, url) {
	const resp = await page.goto(url, { waitUntil: 'load', timeout: STEP_MS });
	return resp ? resp.status() : 0;
}

// Submits the form holding the element, and waits for the next page.
async function submit(page, selector) {
	await Promise.all([
		page.waitForNavigation({ waitUntil: 'load', timeout: STEP_MS }),
		page.click(selector, { timeout: STEP_MS }),
	]);
}

const T = {
	fr: {
		error: "n'est pas reconnu", login: 'Connectez-vous', bad: 'Identifiant ou mot de passe incorrect',
		consent: 'Transmettre vos informations', logout: 'Se déconnecter ?', out: 'Vous êtes déconnecté',
		data: 'Partager votre quotient familial',
		choice: 'Choisissez comment vous connecter', account: 'Informations transmises',
		withdrawn: 'Votre accord a été retiré',
	},
	en: {
		error: 'not recognised', login: 'Log in', bad: 'Wrong username or password',
		consent: 'Share your information', logout: 'Log out?', out: 'You are logged out',
		data: 'Share your family quotient',
		choice: 'Choose how to log in', account: 'Data shared', withdrawn: 'Your consent is withdrawn',
	},
};

async function pagesIn(browserCtx, lang) {
	const extra = lang === 'en' ? { ui_locales: 'en' } : {};
	const t = T[lang];
	await browserCtx.clearCookies();
	let page = await browserCtx.newPage();
	page.setDefaultTimeout(STEP_MS);
	page.setDefaultNavigationTimeout(STEP_MS);
	try {
		let st = await goto(page, authorizeUrl({ ...extra, client_id: 'no-such-service' }));
		check(`${lang} error page: status 400`, st === 400, st);
		await audit(page, `${lang} error page (unknown client)`, { lang, text: t.error });

		st = await goto(page, authorizeUrl({ ...extra, prompt: 'select_account' }));
		check(`${lang} choice page: status 200`, st === 200, st);
		await audit(page, `${lang} identity provider choice page`, { lang, text: t.choice });

		st = await goto(page, authorizeUrl(extra));
		check(`${lang} login page: status 200`, st === 200, st);
		await audit(page, `${lang} login page`, { lang, text: t.login });

		await page.fill('#username', 'marianne');
		await page.fill('#password', 'not-the-password');
		await submit(page, 'form[action="/login"] button[type="submit"]');
		const alert = await page.$('[role="alert"]');
		check(`${lang} login error: announced (role=alert)`, alert !== null);
		const inv = await page.getAttribute('#password', 'aria-invalid');
		check(`${lang} login error: the field is marked aria-invalid and described`, inv === 'true' &&
			(await page.getAttribute('#password', 'aria-describedby')) !== null, inv);
		await audit(page, `${lang} login page with an error`, { lang, text: t.bad });

		await page.fill('#username', 'marianne');
		await page.fill('#password', 'Marianne-2026!');
		await submit(page, 'form[action="/login"] button[type="submit"]');
		await audit(page, `${lang} consent page`, { lang, text: t.consent });

		// Accepted: the browser goes to the service (not running here) with
		// the code, which the test exchanges as the service would.
		const toService = page.waitForRequest((q) => q.url().startsWith('http://127.0.0.1:8081/'), { timeout: STEP_MS });
		await page.click('button[name="decision"][value="accept"]', { timeout: STEP_MS });
		const code = new URL((await toService).url()).searchParams.get('code');
		const tr = await fetch(`${issuer}/token`, {
			method: 'POST',
			headers: { Authorization: `Basic ${Buffer.from('demo-portal:demo-portal-secret').toString('base64')}` },
			body: new URLSearchParams({ grant_type: 'authorization_code', code: code || '', redirect_uri: R1,
				code_verifier: VERIFIER }),
		});
		check(`${lang} the service exchanges its code`, tr.status === 200, tr.status);
		// A new tab (the browser's own error page may still be loading in
		// this one), with the same cookies.
		const old = page;
		page = await browserCtx.newPage();
		page.setDefaultTimeout(STEP_MS);
		page.setDefaultNavigationTimeout(STEP_MS);
		await old.close();
		st = await goto(page, `${issuer}/account${lang === 'en' ? '?ui_locales=en' : ''}`);
		check(`${lang} account page: status 200`, st === 200, st);
		check(`${lang} account page: the release and its receipt`, (await page.$('a[href^="/account?receipt="]')) !== null);
		await audit(page, `${lang} account page`, { lang, text: t.account });
		await submit(page, 'form[action="/account"] button.secondary');
		await audit(page, `${lang} account page after withdrawing a consent`, { lang, text: t.withdrawn });

		// The same session, a service asking for another administration's
		// data (conf/demo.json: demo-portal-2 may ask demo-cnaf's scope).
		st = await goto(page, authorizeUrl({ ...extra, client_id: 'demo-portal-2',
			redirect_uri: 'http://127.0.0.1:8082/callback', scope: 'openid profile cnaf_quotient_familial' }));
		check(`${lang} consent page with data to share: status 200`, st === 200, st);
		await audit(page, `${lang} consent page with data to share`, { lang, text: t.data });

		st = await goto(page, `${issuer}/logout${lang === 'en' ? '?ui_locales=en' : ''}`);
		check(`${lang} logout confirmation: status 200`, st === 200, st);
		await audit(page, `${lang} logout confirmation page`, { lang, text: t.logout });

		await submit(page, 'form[action="/logout"] button[type="submit"]');
		await audit(page, `${lang} logged-out page (after confirming)`, { lang, text: t.out });

		st = await goto(page, `${issuer}/logout${lang === 'en' ? '?ui_locales=en' : ''}`);
		await audit(page, `${lang} logged-out page (no session)`, { lang, text: t.out });
	} catch (e) {
		check(`${lang} pages: the walk completed`, false, e.message.split('\n')[0]);
	} finally {
		await page.close();
	}
}

// A keyboard user: Tab to the username, type, Tab to the password, type, Enter.
async function keyboard(browserCtx) {
	await browserCtx.clearCookies();
	const page = await browserCtx.newPage();
	page.setDefaultTimeout(STEP_MS);
	try {
		await goto(page, authorizeUrl({ scope: 'openid email' }));
		let focused = '';
		for (let i = 0; i < 10 && focused !== 'username'; i++) {
			await page.keyboard.press('Tab');
			focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
		}
		check('keyboard: Tab reaches the username field', focused === 'username', `focus on "${focused}"`);
		const ring = await page.evaluate(() => {
			const s = getComputedStyle(document.activeElement);
			return { outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0, shadow: s.boxShadow !== 'none' };
		});
		check('keyboard: the focused field shows a focus indicator', ring.outline || ring.shadow, JSON.stringify(ring));
		await page.keyboard.type('marianne');
		await page.keyboard.press('Tab');
		focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
		check('keyboard: the next Tab reaches the password field', focused === 'password', `focus on "${focused}"`);
		await page.keyboard.type('Marianne-2026!');
		await Promise.all([
			page.waitForNavigation({ waitUntil: 'load', timeout: STEP_MS }),
			page.keyboard.press('Enter'),
		]);
		const decision = await page.$('button[name="decision"]');
		check('keyboard: Enter logs in (the consent page follows)', decision !== null,
			(await page.textContent('body')).replace(/\s+/g, ' ').slice(0, 200));
		// The consent buttons are reachable by keyboard too.
		let onButton = false;
		for (let i = 0; i < 15 && !onButton; i++) {
			await page.keyboard.press('Tab');
			onButton = await page.evaluate(() => document.activeElement &&
				document.activeElement.getAttribute('name') === 'decision');
		}
		check('keyboard: Tab reaches the consent buttons', onButton);
	} catch (e) {
		check('keyboard: the walk completed', false, e.message.split('\n')[0]);
	} finally {
		await page.close();
	}
}

main(async (ctx) => {
	check('chromium starts', true);
	for (const lang of ['fr', 'en'])
		await pagesIn(ctx, lang);
	await keyboard(ctx);
}, {
	tmp,
	context: {
		// The pages' CSP (default-src 'none') stays out of the way of
		// what this test looks at: the pages as rendered.
		bypassCSP: true,
		locale: 'fr-FR',
		viewport: { width: 1280, height: 900 },
	},
});
