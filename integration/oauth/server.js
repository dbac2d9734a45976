// A real OAuth 2.0 authorization server (oidc-provider 9.x) for hemopa's
// SMART Backend Services integration tests: client_credentials grant with
// private_key_jwt client authentication signed RS384 or ES384.
//
// Usage: node server.js CONFIG.json   (or OAUTH_CONFIG=CONFIG.json, or the
// JSON itself in OAUTH_CONFIG_JSON). Prints "listening <issuer>" on stdout
// once it accepts requests. Config:
//
//   {
//     "host": "127.0.0.1",          // default 127.0.0.1
//     "port": 0,                    // 0: any free port (default)
//     "issuer": "",                 // default http://HOST:PORT
//     "tokenTTL": 300,              // access token lifetime, seconds (>= 1)
//     "scopes": ["system/Patient.rs", ...],   // every scope clients may get;
//                                   // others are silently dropped
//     "clients": [{
//       "client_id": "hemopa",
//       "jwks": {"keys": [...]},    // public keys, or:
//       "jwks_uri": "http://127.0.0.1:PORT/jwks.json",
//       "scope": "system/Patient.rs ..."  // default: all "scopes"
//     }],
//     "introspection": {            // optional: a resource server that may
//       "client_id": "fhir",        // introspect any token, authenticating
//       "client_secret": "..."      // with client_secret_post
//     }
//   }
//
// Failed grants are logged on stderr with oidc-provider's error_detail
// (which the HTTP response does not carry). Tokens and assertions are never
// logged.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

function loadConfig() {
  const path = process.argv[2] || process.env.OAUTH_CONFIG;
  if (path) return JSON.parse(readFileSync(path, 'utf8'));
  if (process.env.OAUTH_CONFIG_JSON) return JSON.parse(process.env.OAUTH_CONFIG_JSON);
  throw new Error('usage: node server.js CONFIG.json (or set OAUTH_CONFIG / OAUTH_CONFIG_JSON)');
}

function fail(msg) {
  console.error(`oauth server: ${msg}`);
  process.exit(2);
}

const cfg = loadConfig();
const host = cfg.host || '127.0.0.1';
const port = Number(cfg.port ?? 0);
const tokenTTL = Number(cfg.tokenTTL ?? 300);
if (!Number.isInteger(tokenTTL) || tokenTTL < 1) fail(`tokenTTL ${cfg.tokenTTL} must be a whole number of seconds >= 1`);
const scopes = cfg.scopes || [];
if (!Array.isArray(cfg.clients) || cfg.clients.length === 0) fail('config needs at least one client');

const clients = cfg.clients.map((c) => {
  if (!c.client_id) fail('a client has no client_id');
  if (!c.jwks && !c.jwks_uri) fail(`client ${c.client_id} needs jwks or jwks_uri`);
  const client = {
    client_id: c.client_id,
    token_endpoint_auth_method: 'private_key_jwt',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: c.scope || scopes.join(' '),
  };
  if (c.jwks) client.jwks = c.jwks;
  if (c.jwks_uri) client.jwks_uri = c.jwks_uri;
  return client;
});

const authMethods = ['private_key_jwt'];
const intro = cfg.introspection;
if (intro) {
  if (!intro.client_id || !intro.client_secret) fail('introspection needs client_id and client_secret');
  authMethods.push('client_secret_post');
  clients.push({
    client_id: intro.client_id,
    client_secret: intro.client_secret,
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: [],
    response_types: [],
    redirect_uris: [],
  });
}

// The provider's own signing key (ID tokens, unused here); made per run so
// that no development keys are used.
const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const server = createServer();
server.on('error', (err) => fail(err.message));
server.listen(port, host, () => {
  const actual = server.address().port;
  const issuer = cfg.issuer || `http://${host}:${actual}`;
  const provider = new Provider(issuer, {
    clients,
    clientAuthMethods: authMethods,
    // The default list has neither RS384 nor ES384.
    enabledJWA: { clientAuthSigningAlgValues: ['RS384', 'ES384'] },
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
      introspection: {
        enabled: Boolean(intro),
        allowedPolicy: async (ctx, client, token) => client.clientId === intro?.client_id || client.clientId === token.clientId,
      },
    },
    scopes,
    ttl: { ClientCredentials: tokenTTL },
    jwks: { keys: [{ ...signingKey, kid: 'provider', alg: 'RS256', use: 'sig' }] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    // oidc-provider refuses to fetch a jwks_uri that resolves to a loopback
    // or private address (SSRF protection). Test clients publish their JWKS
    // on 127.0.0.1, so drop the protecting dispatcher.
    fetch: (url, options) => {
      const { dispatcher, ...rest } = options;
      return globalThis.fetch(url, rest);
    },
  });
  const logError = (event) => (ctx, err) => {
    const client = ctx?.oidc?.client?.clientId || ctx?.oidc?.params?.client_id || '-';
    const detail = err.error_detail ? ` (detail: ${err.error_detail})` : '';
    const cause = err.cause?.message ? ` (cause: ${err.cause.message})` : '';
    console.error(`${event} client=${client} ${err.error || err.name}: ${err.error_description || err.message}${detail}${cause}`);
  };
  provider.on('grant.error', logError('grant.error'));
  provider.on('introspection.error', logError('introspection.error'));
  provider.on('server_error', logError('server_error'));
  provider.on('grant.success', (ctx) => {
    console.error(`grant.success client=${ctx.oidc.client?.clientId} ttl=${tokenTTL}s`);
  });
  server.on('request', provider.callback());
  console.log(`listening ${issuer}`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
