// A service written with openid-client (panva), which nobody here wrote:
// private_key_jwt with its own assertions, the ID token and userinfo
// encrypted to it (ECDH-ES, A256GCM) and decrypted and verified by it.
//   node openid_client_keys.mjs ISSUER TMP CLIENT_ID SIGKEY ENCKEY
// TMP/priv.json holds the service's private JWKs. Prints "PASS name" or
// "FAIL name: why" per check.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../node/package.json', import.meta.url));
const client = await import(require.resolve('openid-client'));
const jose = await import(require.resolve('jose'));

const [issuer, tmp, clientId, sigName, encName] = process.argv.slice(2);
const priv = JSON.parse(readFileSync(`${tmp}/priv.json`, 'utf8'));
const redirect = 'http://127.0.0.1:8091/cb';
const check = (name, ok, why = '') => console.log(ok ? `PASS openid-client: ${name}` : `FAIL openid-client: ${name}: ${String(why).slice(0, 400)}`);

// The citizen's browser, by hand: cookies kept, redirects not followed.
const jar = new Map();
async function browse(url, body) {
	const r = await fetch(url, {
		method: body ? 'POST' : 'GET', redirect: 'manual', body,
		headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
			...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
	});
	for (const c of r.headers.getSetCookie()) {
		const [kv] = c.split(';');
		const i = kv.indexOf('=');
		jar.set(kv.slice(0, i), kv.slice(i + 1));
	}
	return r;
}

try {
	const { kid: skid, use: _su, ...sjwk } = priv[sigName];
	const { kid: ekid, use: _eu, ...ejwk } = priv[encName];
	const sigKey = await jose.importJWK(sjwk, 'ES256');
	const encKey = await jose.importJWK(ejwk, 'ECDH-ES');
	const config = await client.discovery(new URL(issuer), clientId,
		{ redirect_uris: [redirect], response_types: ['code'] },
		client.PrivateKeyJwt({ key: sigKey, kid: skid }), { execute: [client.allowInsecureRequests] });
	client.enableDecryptingResponses(config, ['A256GCM'], { key: encKey, kid: ekid, alg: 'ECDH-ES' });
	check('discovery', config.serverMetadata().issuer === issuer);

	const verifier = client.randomPKCECodeVerifier();
	const state = client.randomState();
	const nonce = client.randomNonce();
	const url = client.buildAuthorizationUrl(config, {
		redirect_uri: redirect, scope: 'openid profile email', state, nonce,
		code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
	});
	let r = await browse(url);
	for (let i = 0; i < 3 && r.status === 200; i++) {
		const page = await r.text();
		const field = (n) => (page.match(new RegExp(`name="${n}" value="([^"]*)"`)) || [])[1] || '';
		const action = (page.match(/<form[^>]*action="([^"]*)"/) || [])[1];
		const form = new URLSearchParams({ txn: field('txn'), csrf: field('csrf'), username: 'marianne', password: 'Marianne-2026!' });
		r = await browse(new URL(action, r.url), form);
	}
	const back = r.headers.get('location') || '';
	check('the login comes back with a code', back.startsWith(redirect + '?'), back);

	const tokens = await client.authorizationCodeGrant(config, new URL(back),
		{ pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
	check('private_key_jwt: tokens', typeof tokens.access_token === 'string');
	check('the ID token was a JWE (five parts)', tokens.id_token.split('.').length === 5, tokens.id_token.slice(0, 60));
	const claims = tokens.claims();
	check('ID token decrypted and verified: iss, aud, nonce', claims.iss === issuer && claims.aud === clientId && claims.nonce === nonce, JSON.stringify(claims));
	const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
	check('userinfo decrypted and verified, same sub', info.sub === claims.sub && info.given_name === 'Marianne', JSON.stringify(info));
} catch (e) {
	check('the flow', false, `${e.name}: ${e.message} ${e.cause ? JSON.stringify(e.cause).slice(0, 200) : ''}`);
}
console.log('openid-client: done');
