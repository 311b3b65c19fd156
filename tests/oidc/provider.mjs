// A real OIDC provider for the tests: panva/oidc-provider with client-credentials clients whose
// access tokens are RS256 JWTs for the resource `urn:lms`, carrying the suite's `roles` and
// `tenant` claims. Usage: node provider.mjs PORT TOKEN_TTL_SECONDS CLIENTS_JSON
//   CLIENTS_JSON: [{"client_id": "...", "client_secret": "...", "roles": ["service"]}]
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
    client_secret: c.client_secret,
    grant_types: ["client_credentials"],
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
      getResourceServerInfo: () => ({
        scope: "lms",
        audience: "urn:lms",
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
