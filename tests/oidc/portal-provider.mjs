// The identity provider the Learning Portal's browser tests sign in with: panva/oidc-provider
// with its own login and consent pages (devInteractions: any login name, any password), an
// authorisation-code client for the portal (public, PKCE) and client-credentials clients for
// the suite's services and for the test's administrator. Every access token is an RS256 JWT
// for the resource `urn:lms` carrying the suite's `tenant` and `roles` claims; a person's
// `sub` is the login name typed, their `name` "Name <login>".
// Usage: node portal-provider.mjs PORT REDIRECT_URI TENANT ACCESS_TOKEN_TTL_SECONDS
// Prints "ready <issuer>" once it listens.
import Provider from "oidc-provider";
import { generateKeyPair, exportJWK } from "jose";

const [port, redirectUri, tenant, ttl] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = await generateKeyPair("RS256", { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: "portal-test-key", alg: "RS256", use: "sig" };
const machines = {
  "lms-services": { roles: ["service"], tenant: "system" },
  "lms-admin": { roles: ["admin"], tenant },
};

const provider = new Provider(issuer, {
  jwks: { keys: [jwk] },
  clients: [
    {
      client_id: "portal",
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code"],
      response_types: ["code"],
      redirect_uris: [redirectUri],
    },
    ...Object.keys(machines).map((id) => ({
      client_id: id,
      client_secret: `${id}-secret-of-some-length`,
      grant_types: ["client_credentials"],
      redirect_uris: [],
      response_types: [],
    })),
  ],
  pkce: { required: () => true },
  scopes: ["openid", "profile", "lms"],
  claims: { openid: ["sub"], profile: ["name"] },
  findAccount: (ctx, id) => ({
    accountId: id,
    claims: () => ({ sub: id, name: `Name ${id}` }),
  }),
  ttl: { AccessToken: Number(ttl), ClientCredentials: Number(ttl), IdToken: 3600 },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => "urn:lms",
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: "lms",
        audience: "urn:lms",
        accessTokenTTL: Number(ttl),
        accessTokenFormat: "jwt",
        jwt: { sign: { alg: "RS256" } },
      }),
    },
  },
  extraTokenClaims: (ctx, token) => {
    if (token.kind === "ClientCredentials") {
      const machine = machines[token.clientId];
      return { roles: machine.roles, tenant: machine.tenant };
    }
    // People: instructors log in with a name starting "teacher", everyone else is a learner.
    const roles = token.accountId.startsWith("teacher") ? ["learner", "instructor"] : ["learner"];
    return { roles, tenant };
  },
});
provider.listen(Number(port), "127.0.0.1", () => {
  console.log(`ready ${issuer}`);
});
