// Package auth authenticates requests at the edge: API keys from a hashed key
// file and JWTs (HS256, RS256, ES256) from PEM, secret or JWK Set files, with
// a bounded cache of verified tokens. It reads fasthttp request headers and
// knows nothing of routes: the router calls Authenticator.Authenticate on
// routes that require a credential and StripIdentityHeaders on the others.
//
// Credentials, checked in this order of exclusivity (more than one credential
// on a request is refused, so that no layer behind edged can pick another):
//
//	Authorization: Bearer <JWT>     HS256, RS256 or ES256 only
//	Authorization: ApiKey <key>     an API key from the key file
//	X-API-Key: <key>                the same, for clients that cannot set Authorization
//
// The verified identity travels to guests and the upstream as request headers
// under Options.HeaderPrefix (default "X-Edged-Auth-"):
//
//	<prefix>Method          "jwt" or "api-key"
//	<prefix>Sub             JWT sub claim, or the API key's name
//	<prefix>Key             the API key's name (API keys only)
//	<prefix>Scope           the granted scopes, space-separated
//	<prefix>Claim-<Name>    each claim of Options.ForwardClaims the token has
//
// Every inbound header whose name starts with the prefix, in any letter case
// and with '-' and '_' taken as the same character (CGI, WSGI and PHP
// upstreams read X_Edged_Auth_Sub as X-Edged-Auth-Sub), is deleted before
// anything else, so a client cannot forge an identity. A Connection token
// naming an identity header is dropped before the identity is added, so a
// client cannot have the proxy strip it as hop-by-hop. The credential headers
// themselves are left for the upstream.
//
// Keys are hashed at rest: the key file holds "sha256:<hex> name [scope ...]"
// lines, which KeyLine writes for a key NewKey made. Authenticator.Reload
// re-reads every file and swaps the keys in atomically, so keys rotate
// without a restart. An API key is checked without allocating; a JWT costs a
// signature check the first time it is seen and a cache lookup after.
package auth
