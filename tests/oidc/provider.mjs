// A real OpenID Connect provider for the server's sign-in tests: panva's certified
// `oidc-provider` (package.json pins it), one instance per tenant, each at an Entra-shaped issuer
// (`http://127.0.0.1:<port>/<tenant id>/v2.0`) with its own signing keys.
//
//   node provider.mjs <config.json>
//
// config.json: {"tenants": [{"name": "contoso", "id": "<guid>"}],
//               "client": {"client_id", "client_secret"?, "certificate"?, "redirect_uris": [...]},
//               "accounts": {"<login>": {"tenant": "contoso", "claims": {...}}}}
// Prints one JSON line: {"issuers": {"contoso": "<issuer>"}, "control": "<url>"}.
// `POST <control>/rotate/<tenant>` rotates that tenant's keys as Entra does: a new key signs from
// then on, the old one stays published beside it. Sign-in: the development login form (any
// password); consent is granted at once (a first-party app, as an admin-consented Entra app).
import { X509Certificate, createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function newKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' };
}

// A client with a certificate authenticates with a signed assertion (private_key_jwt), checked
// against the certificate's public key, as Entra checks an uploaded certificate.
function clientMetadata() {
  const { certificate, ...client } = config.client;
  const base = { grant_types: ['authorization_code'], response_types: ['code'], ...client };
  if (!certificate) return { token_endpoint_auth_method: 'client_secret_post', ...base };
  const cert = new X509Certificate(certificate);
  const jwk = cert.publicKey.export({ format: 'jwk' });
  const thumbprint = createHash('sha256').update(cert.raw).digest('base64url');
  return {
    ...base,
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: { keys: [{ ...jwk, use: 'sig', 'x5t#S256': thumbprint }] },
  };
}

function makeProvider(tenant, issuer, keys) {
  const client = clientMetadata();
  const provider = new Provider(issuer, {
    clients: [client],
    jwks: { keys },
    cookies: { keys: ['test-cookie-key'] },
    pkce: { required: () => true },
    conformIdTokenClaims: false,
    claims: {
      openid: ['sub', 'tid', 'oid'],
      profile: ['name', 'preferred_username', 'roles', 'groups'],
      email: ['email'],
    },
    features: { devInteractions: { enabled: true } },
    clientAuthMethods: ['client_secret_post', 'private_key_jwt'],
    enabledJWA: {
      clientAuthSigningAlgValues: ['RS256', 'PS256'],
    },
    async findAccount(ctx, id) {
      const account = config.accounts[id];
      if (!account || account.tenant !== tenant.name) return undefined;
      return {
        accountId: id,
        async claims() {
          return { sub: id, ...account.claims };
        },
      };
    },
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid profile email');
      await grant.save();
      return grant;
    },
  });
  provider.on('server_error', (ctx, err) => console.error(`${tenant.name}: ${err.stack}`));
  return provider;
}

function listen(server) {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

const tenants = {};
const issuers = {};
for (const tenant of config.tenants) {
  const state = { keys: [newKey()], provider: null, prefix: `/${tenant.id}/v2.0` };
  const server = http.createServer((req, res) => {
    if (!req.url.startsWith(state.prefix)) {
      res.writeHead(404).end();
      return;
    }
    // Mounted under the issuer's path, as Entra's endpoints are.
    req.originalUrl = req.url;
    req.url = req.url.substring(state.prefix.length) || '/';
    state.provider.callback()(req, res);
  });
  const port = await listen(server);
  state.issuer = `http://127.0.0.1:${port}${state.prefix}`;
  state.provider = makeProvider(tenant, state.issuer, state.keys);
  tenants[tenant.name] = { tenant, state };
  issuers[tenant.name] = state.issuer;
}

const control = http.createServer((req, res) => {
  const match = req.method === 'POST' && req.url.match(/^\/rotate\/([^/]+)$/);
  const entry = match && tenants[match[1]];
  if (!entry) {
    res.writeHead(404).end();
    return;
  }
  const { tenant, state } = entry;
  state.keys = [newKey(), state.keys[0]];
  state.provider = makeProvider(tenant, state.issuer, state.keys);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ signing_kid: state.keys[0].kid }));
});
const controlPort = await listen(control);

console.log(JSON.stringify({ issuers, control: `http://127.0.0.1:${controlPort}` }));
