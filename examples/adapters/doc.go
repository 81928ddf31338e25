// Package adapters shows apikey's middleware in chi, echo and gin. It is a
// module of its own so that these routers never become requirements of
// github.com/keyward/apikey.
package adapters
