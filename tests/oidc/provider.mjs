// A real OIDC provider for the tests: panva/oidc-provider with client-credentials clients whose
// access tokens are RS256 JWTs for the resource `urn:lms`, carrying the suite's `roles` and
// `tenant` claims. Usage: node provider.mjs PORT TOKEN_TTL_SECONDS CLIENTS_JSON
//   CLIENTS_JSON: [{"client_id": "...", "client_secret": "...", "roles": ["service"],
//                   "auth": "client_secret_basic" | "client_secret_post" | "private_key_jwt",
//                   "jwks": {"keys": [...]}}]  (the client's public keys, for private_key_jwt)
// A token's audience is the resource it was asked for (RFC 8707; `urn:lms` by default), so one
// issuer can mint tokens for the right and for a wrong audience.
// Prints "ready <issuer>" once it listens.
import Provider from "oidc-provider";
import { generateKeyPair, exportJWK } from "jose";

const [port, ttl, clientsJson] = process.argv.slice(2);
const clients = JSON.parse(clientsJson);
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = await generateKeyPair("RS256", { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: "test-key", alg: "RS256", use: "sig" };
const rolesOf = Object.fromEntries(clients.map((c) => [c.client_id, c.roles ?? ["service"]]));

const provider = new Provider(issuer, {
  jwks: { keys: [jwk] },
  ttl: { ClientCredentials: Number(ttl) },
  clients: clients.map((c) => ({
    client_id: c.client_id,
    ...(c.client_secret ? { client_secret: c.client_secret } : {}),
    grant_types: ["client_credentials"],
    token_endpoint_auth_method: c.auth ?? "client_secret_basic",
    ...(c.jwks ? { jwks: c.jwks } : {}),
    redirect_uris: [],
    response_types: [],
  })),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => "urn:lms",
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator) => ({
        scope: "lms",
        audience: resourceIndicator,
        accessTokenTTL: Number(ttl),
        accessTokenFormat: "jwt",
        jwt: { sign: { alg: "RS256" } },
      }),
    },
  },
  extraTokenClaims: (ctx, token) => ({
    roles: rolesOf[token.clientId] ?? [],
    tenant: "system",
  }),
});
provider.listen(Number(port), "127.0.0.1", () => {
  console.log(`ready ${issuer}`);
});
