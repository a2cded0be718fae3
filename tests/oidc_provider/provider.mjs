// A real OpenID Provider for PAI's tests: the `oidc-provider` package (npm), served over HTTPS
// on loopback. The test writes its configuration (TLS files, clients, signing keys, accounts,
// token lifetimes) to a JSON file named by the first argument, and reads "listening <port>"
// from stdout. The login page is a plain username and password form, like a plan's portal.
import fs from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const accounts = config.accounts;
let handle = (req, res) => { res.statusCode = 503; res.end('starting'); };
const server = https.createServer(
  { key: fs.readFileSync(config.key), cert: fs.readFileSync(config.cert) },
  (req, res) => handle(req, res),
);

function page(res, status, body) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Member Portal</title></head><body><main>${body}</main></body></html>`);
}

function loginForm(uid, error) {
  return `<h1>Member Portal sign-in</h1>${error ? `<p role="alert">${error}</p>` : ''}
<form method="post" action="/interaction/${uid}/login">
<label for="username">Username</label><input id="username" name="username" autocomplete="username">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password">
<button type="submit">Sign in</button></form>`;
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

server.listen(config.port || 0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = config.issuer || `https://localhost:${port}`;
  const provider = new Provider(issuer, {
    clients: config.clients,
    jwks: config.jwks,
    cookies: { keys: ['pai-tests-cookie-key-0123456789abcdef'] },
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    scopes: ['openid', 'profile', 'email', 'member'],
    claims: {
      openid: ['sub'],
      profile: ['given_name', 'family_name', 'birthdate'],
      email: ['email', 'email_verified'],
      member: ['member_id', 'represents'],
    },
    ttl: config.ttl || {},
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, id) {
      if (!accounts[id]) return undefined;
      return { accountId: id, async claims() { return { sub: id, ...accounts[id].claims }; } };
    },
  });
  provider.proxy = false;
  const callback = provider.callback();
  handle = async (req, res) => {
    const url = new URL(req.url, issuer);
    const match = url.pathname.match(/^\/interaction\/([^/]+)(\/login)?$/);
    if (!match) return callback(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      if (details.prompt.name === 'consent') {
        // The plan's own portal trusts PAI: no consent screen, the grant is what PAI asked for.
        const grant = new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
        const missing = details.prompt.details;
        if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
        if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
        const grantId = await grant.save();
        return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      }
      if (req.method !== 'POST') return page(res, 200, loginForm(details.uid));
      const form = await readForm(req);
      const account = accounts[form.get('username')];
      if (!account || account.password !== form.get('password')) {
        return page(res, 401, loginForm(details.uid, 'That username and password did not work.'));
      }
      return provider.interactionFinished(req, res, { login: { accountId: form.get('username') } }, { mergeWithLastSubmission: false });
    } catch (error) {
      return page(res, 400, `<p>${String(error.message).replace(/</g, '&lt;')}</p>`);
    }
  };
  process.stdout.write(`listening ${port}\n`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
