// An OpenID provider nobody here wrote (panva's oidc-provider), for librp's
// interoperability test. Listens on 127.0.0.1 on a port the kernel picks,
// writes "http://127.0.0.1:PORT" to the file named by argv[2] once ready.
//
//   node tests/rp/op.mjs PORT_FILE REDIRECT_BASE
//
// Two clients: svc-basic (client_secret_basic, RS256 ID tokens, JSON
// userinfo) and svc-post (client_secret_post, ES256 ID tokens, userinfo as
// a signed JWT, as FranceConnect does). Two more for the demo portals,
// demo1 and demo2, registered as native clients so that any loopback port
// is accepted in their redirect URIs (RFC 8252 7.3): the demos pick their
// ports after this provider has started. One citizen, citizen1/motdepasse,
// logged in through a plain HTML form at /interaction/UID; consent is
// granted without a page.
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync, renameSync } from 'node:fs';

const here = new URL('.', import.meta.url);
const { default: Provider } = await import(
  new URL('../node/node_modules/oidc-provider/lib/index.js', here));

const [portFile, redirectBase] = process.argv.slice(2);
if (!portFile || !redirectBase) {
  console.error('usage: node op.mjs PORT_FILE REDIRECT_BASE');
  process.exit(2);
}

function signingKey(type, options, kid, alg) {
  const jwk = generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' });
  return { ...jwk, kid, alg, use: 'sig' };
}

const accounts = {
  citizen1: {
    password: 'motdepasse',
    claims: {
      sub: 'citizen1',
      given_name: 'Marianne',
      family_name: 'Dupont',
      birthdate: '1980-07-14',
      email: 'marianne.dupont@example.fr',
    },
  },
};

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const clientBase = {
  redirect_uris: [`${redirectBase}/cb`],
  post_logout_redirect_uris: [`${redirectBase}/bye`],
  grant_types: ['authorization_code'],
  response_types: ['code'],
};

const provider = new Provider(issuer, {
  clients: [
    {
      ...clientBase,
      client_id: 'svc-basic',
      client_secret: 'b4sic:&=secret',
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    {
      ...clientBase,
      client_id: 'svc-post',
      client_secret: 'p0st-secret-with-enough-length',
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: 'ES256',
      userinfo_signed_response_alg: 'ES256',
    },
    ...['demo1', 'demo2'].map((id) => ({
      client_id: id,
      client_secret: `${id}-secret-with-enough-length`,
      application_type: 'native',
      redirect_uris: ['http://127.0.0.1/callback'],
      post_logout_redirect_uris: ['http://127.0.0.1/logged-out'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    })),
  ],
  jwks: {
    keys: [
      signingKey('rsa', { modulusLength: 2048 }, 'op-rsa', 'RS256'),
      signingKey('ec', { namedCurve: 'P-256' }, 'op-ec', 'ES256'),
    ],
  },
  acrValues: ['eidas1', 'eidas2', 'eidas3'],
  claims: {
    acr: null,
    auth_time: null,
    openid: ['sub'],
    profile: ['given_name', 'family_name', 'birthdate'],
    email: ['email'],
  },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  features: {
    devInteractions: { enabled: false },
    jwtUserinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { required: () => true },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return { accountId: id, claims: async () => account.claims };
  },
});
provider.on('server_error', (ctx, err) => console.error('op: server_error', err));

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(res, uid, status, message) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(`<!doctype html><html lang="fr"><title>Connexion</title>
<form method="post" action="/interaction/${escape(uid)}">
${message ? `<p role="alert">${escape(message)}</p>` : ''}
<label>Identifiant <input name="login" autocomplete="username"></label>
<label>Mot de passe <input name="password" type="password" autocomplete="current-password"></label>
<button>Se connecter</button></form></html>`);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 8192) throw new Error('form too big');
  }
  return new URLSearchParams(body);
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params, session } = details;
  if (prompt.name === 'consent') {
    // Consent is not what this test is about: grant what was asked.
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } },
      { mergeWithLastSubmission: true });
  }
  if (req.method === 'GET') return loginPage(res, uid, 200);
  const form = await readForm(req);
  const account = accounts[form.get('login')];
  if (!account || account.password !== form.get('password')) {
    return loginPage(res, uid, 401, 'Identifiant ou mot de passe incorrect');
  }
  // The level the login reached: eidas2 for a password in this test.
  return provider.interactionFinished(req, res, {
    login: { accountId: form.get('login'), acr: 'eidas2', amr: ['pwd'] },
  }, { mergeWithLastSubmission: false });
}

const callback = provider.callback();
server.on('request', (req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      console.error('op: interaction', err);
      res.writeHead(500).end();
    });
    return;
  }
  callback(req, res);
});

// Written to a temporary name then renamed: the reader never sees half.
writeFileSync(`${portFile}.tmp`, `${issuer}\n`);
renameSync(`${portFile}.tmp`, portFile);
// Stop at once: keep-alive connections would hold server.close() open.
process.on('SIGTERM', () => process.exit(0));
