// Package admin is the key-management REST API of an apikey.Manager, as an
// http.Handler to mount under any prefix:
//
//	h, err := admin.NewHandler(m)
//	mux.Handle("/v1/", http.StripPrefix("/v1", h))
//
// Routes, relative to where the handler is mounted (JSON, snake_case,
// RFC 3339 UTC times):
//
//	POST   /api-keys               create; 201 with the key, shown only here
//	GET    /api-keys               list, masked (prefix only), ?status=&cursor=&limit=…
//	GET    /api-keys/{id}          one key
//	PATCH  /api-keys/{id}          {name, metadata, disabled}
//	DELETE /api-keys/{id}          revoke; 404 when unknown or already revoked
//	POST   /api-keys/{id}/rotate   {grace_period_seconds}; 201 with the new key
//	GET    /audit-events           the audit log, newest first, ?key_id=&action=&since=&until=…
//	GET    /openapi.json           the OpenAPI 3.1 document of these routes (no authentication)
//
// Errors have the middleware's shape, {"error":{"code":…,"message":…}}; a
// 400 names the field at fault. Every response carries Cache-Control:
// no-store. A request with a body must send it as application/json (415
// otherwise), and a state-changing request from a browser must be
// same-origin (403 csrf_failed otherwise; see WithTrustedOrigins): a
// cross-site page cannot drive the API through a signed-in browser,
// whatever the Authorizer reads.
//
// # Who may manage keys
//
// By default the handler authenticates with the Manager's middleware: the
// caller is an API key holding api_keys:manage (api_keys:read is enough for
// the GET routes). A key sees and manages only the keys of its own owner;
// other owners' keys answer 404, as unknown ones do. One rule set governs
// every operation that issues a key or acts on one: a caller that is not an
// administrator (Principal.AnyScope) may create, rotate, change, disable,
// enable or revoke only a key it could have created itself, so never a key
// with a scope it does not hold, a live key when it is a test key, a key
// that outlives it, a key of another plan or rate limit, or a key with a
// quota (a key with a quota acts only on itself); others answer 403. A leaked
// weak manage key therefore cannot rotate or revoke a stronger key. A key
// without an owner ID is the service's own key and manages every owner's
// keys within its scopes (the one the CLI bootstraps, for instance). The
// Manager's WithMaxLifetime caps every key's lifetime.
//
// WithAuthorizer replaces the middleware with the host's own
// authentication (sessions, JWTs), for services where keys must not manage
// keys: it returns a Principal, who may be an administrator of every owner.
//
// Key creation (and rotation, which creates a key) can be rate limited per
// owner with WithCreateLimit.
//
// Every action is recorded in the Manager's audit log with the caller as
// actor, the client address and the request ID (X-Request-Id).
package admin
