// Service account issuer discovery (pkg/serviceaccount/openidmetadata.go): the OpenID provider configuration at
// /.well-known/openid-configuration and the issuer's public keys at /openid/v1/jwks, so that others can verify
// service account tokens without asking this server.
import type { ServiceAccountTokens } from './tokens'

export const OPENID_CONFIGURATION_PATH = '/.well-known/openid-configuration'
export const JWKS_PATH = '/openid/v1/jwks'

const CACHE_CONTROL = 'public, max-age=3600'

export function openIDConfiguration(tokens: ServiceAccountTokens, requestUrl: URL): Response {
  const jwksUri =
    tokens.config.jwksUri ?? new URL(JWKS_PATH, `https://${requestUrl.host}`).toString()
  const algs = [
    ...new Set(
      tokens
        .publicKeys()
        .map((k) => k.alg)
        .filter((a): a is string => !!a),
    ),
  ].sort()
  const body = {
    issuer: tokens.issuers[0],
    jwks_uri: jwksUri,
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: algs,
  }
  return new Response(JSON.stringify(body), {
    status: 200,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': CACHE_CONTROL },
  })
}

export function jwks(tokens: ServiceAccountTokens): Response {
  return new Response(JSON.stringify({ keys: tokens.publicKeys() }), {
    status: 200,
    headers: { 'Content-Type': 'application/jwk-set+json', 'Cache-Control': CACHE_CONTROL },
  })
}
