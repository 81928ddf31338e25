// Package e2e drives the admin page of examples/quickstart in headless
// Chromium (Debian's chromium package, /usr/bin/chromium) with chromedp.
// It is a module of its own, so that the library does not depend on
// chromedp.
//
// The tests skip when Chromium is missing, unless CI is set: then they
// fail. Run them with `go test ./...` in this directory; add
// `-args -update-docs` to rewrite ../docs/admin-page.png.
package e2e
