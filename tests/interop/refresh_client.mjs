// SPDX-License-Identifier: EUPL-1.2
// openid-client (panva), a relying-party library nobody here wrote, refreshes
// and revokes against our provider: node refresh_client.mjs ISSUER CLIENT_ID
// SECRET RT_A RT_B SUB. One "PASS name" or "FAIL name: why" line per check;
// run by tests/interop/t_refresh_node.sh.
const here = new URL('.', import.meta.url);
const client = await import(new URL('../node/node_modules/openid-client/build/index.js', here));

const [issuer, clientId, secret, rtA, rtB, sub] = process.argv.slice(2);
let failed = false;
const check = (name, cond, why = '') => {
  console.log(cond ? `PASS ${name}` : `FAIL ${name}: ${why}`);
  if (!cond) failed = true;
};
// The OAuth error code of a refused grant (ResponseBodyError), or the message.
const errorOf = (e) => e?.error ?? e?.cause?.error ?? String(e?.message ?? e);

const config = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(secret),
  { execute: [client.allowInsecureRequests] });
check('discovery read by openid-client', config.serverMetadata().issuer === issuer,
  config.serverMetadata().issuer);
check('discovery: grant_types_supported has refresh_token',
  (config.serverMetadata().grant_types_supported ?? []).includes('refresh_token'));

let t1;
try {
  t1 = await client.refreshTokenGrant(config, rtA);
  check('openid-client refreshes: new tokens, the refresh token rotated',
    t1.access_token && t1.refresh_token && t1.refresh_token !== rtA, JSON.stringify(Object.keys(t1)));
  const c = t1.claims();
  check('... the refreshed ID token validated, of the same sub, without nonce',
    c && c.sub === sub && c.nonce === undefined, JSON.stringify(c));
} catch (e) {
  check('openid-client refreshes', false, errorOf(e));
  process.exit(1);
}
try {
  const ui = await client.fetchUserInfo(config, t1.access_token, sub);
  check('userinfo with the refreshed access token', ui.sub === sub, JSON.stringify(ui));
} catch (e) {
  check('userinfo with the refreshed access token', false, errorOf(e));
}
try {
  const t2 = await client.refreshTokenGrant(config, t1.refresh_token, { scope: 'openid' });
  check('a narrower scope', t2.scope === 'openid', t2.scope);
  await client.tokenRevocation(config, t2.refresh_token, { token_type_hint: 'refresh_token' });
  check('tokenRevocation of the refresh token', true);
  try {
    await client.refreshTokenGrant(config, t2.refresh_token);
    check('the revoked refresh token is refused', false, 'accepted');
  } catch (e) {
    check('the revoked refresh token is refused (invalid_grant)', errorOf(e) === 'invalid_grant', errorOf(e));
  }
} catch (e) {
  check('a narrower scope, then tokenRevocation', false, errorOf(e));
}
try {
  await client.refreshTokenGrant(config, rtA);
  check('the first refresh token again is refused', false, 'accepted');
} catch (e) {
  check('the first refresh token again is refused (invalid_grant)', errorOf(e) === 'invalid_grant', errorOf(e));
}
try {
  await client.refreshTokenGrant(config, rtB, { scope: 'openid phone' });
  check('a wider scope is refused', false, 'accepted');
} catch (e) {
  check('a wider scope is refused (invalid_scope)', errorOf(e) === 'invalid_scope', errorOf(e));
}
try {
  const t3 = await client.refreshTokenGrant(config, rtB);
  check('... and the token it was tried with still refreshes', !!t3.refresh_token);
} catch (e) {
  check('... and the token it was tried with still refreshes', false, errorOf(e));
}
process.exit(failed ? 1 : 0);
