// Single sign-on end to end in a real browser (Debian's chromium driven by
// playwright-core): log in on the first demo portal, open the second and see
// the verified claims without a password, log out, and see that the next
// visit asks for the password again.
//
//   node tests/browser/sso.js PORTAL_A PORTAL_B TMPDIR
//
// Prints "PASS name" / "FAIL name: why" per check; exits non-zero on failure.
'use strict';

const path = require('path');
const { main, run, walkFailed } = require('./lib');

const [portalA, portalB, tmp] = process.argv.slice(2);
const STEP_MS = 15000;
const { check } = run('sso', 150000);

// After a click that leaves the page: waits for a landmark that only the
// next pages have (the provider's password field, its consent button, the
// portal's verified acr) and says which appeared. The page being left has
// none of them, so nothing is read from it, however slow the navigation.
const LANDMARKS = { '#password': 'password', 'button[value="accept"]': 'consent', '#acr': 'claims' };
async function landing(page) {
	await page.waitForSelector(Object.keys(LANDMARKS).join(', '), { state: 'attached' });
	for (const [sel, name] of Object.entries(LANDMARKS))
		if (await page.$(sel)) return name;
	return 'none';
}

async function walk(ctx) {
	const page = await ctx.newPage();
	page.setDefaultTimeout(STEP_MS);
	try {
		// The first portal: the citizen logs in with a password.
		await page.goto(`${portalA}/`);
		await page.click('text=Se connecter');
		await page.waitForSelector('#password');
		check('first portal: the provider asks for the password', true);
		await page.fill('#username', 'marianne');
		await page.fill('#password', 'Marianne-2026!');
		await Promise.all([page.waitForNavigation(), page.click('form[action="/login"] button')]);
		await Promise.all([page.waitForNavigation(), page.click('button[value="accept"]')]);
		await page.waitForSelector('#acr');
		check('first portal: logged in, the verified claims are shown',
			(await page.content()).includes('Marianne'));
		check('first portal: the acr is shown', (await page.textContent('#acr')) === 'eidas1',
			await page.textContent('#acr'));

		// The second portal: single sign-on, no password.
		await page.goto(`${portalB}/`);
		await page.click('text=Se connecter');
		let seen = await landing(page);
		check('second portal: no password asked', seen !== 'password', `${seen} at ${page.url()}`);
		if (seen === 'consent') {
			await page.click('button[value="accept"]');
			seen = await landing(page);
		}
		check('second portal: back with claims', seen === 'claims', `${seen} at ${page.url()}`);
		check('second portal: logged in with the same identity', (await page.content()).includes('Marianne'));
		check('second portal: it is the second portal', page.url().startsWith(portalB), page.url());

		// Logout from the second portal ends the SSO session at the provider.
		await page.click('text=Se déconnecter');
		await page.waitForURL((u) => u.href.startsWith(`${portalB}/logged-out`));
		await page.waitForSelector('h1');
		check('logout comes back to the portal, its state accepted',
			(await page.textContent('h1')) === 'Vous êtes déconnecté(e)',
			`${await page.textContent('h1')} at ${page.url()}`);

		// The next visit asks for the password again.
		await page.goto(`${portalB}/`);
		await page.click('text=Se connecter');
		seen = await landing(page);
		check('after logout the provider asks for the password again', seen === 'password',
			`${seen} at ${page.url()}`);
	} catch (e) {
		await walkFailed(e, 'the single sign-on walk', page, path.join(tmp, 'last-page.html'));
	}
}

main(walk, { tmp, context: { locale: 'fr-FR' } });
