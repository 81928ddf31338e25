package e2e

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/chromedp/chromedp"
)

var keyPattern = regexp.MustCompile(`^sk_(live|test)_[0-9A-Za-z]{49}$`)

// rowJS finds the row of the key named name in the list.
func rowJS(name string) string {
	return "[...document.querySelectorAll('#keys-body tr')].find(r => r.querySelector('td.name').textContent === " + jsString(name) + ")"
}

func badgeIs(name, status string) string {
	return "(" + rowJS(name) + "||{querySelector:()=>null}).querySelector('.badge')?.textContent === " + jsString(status)
}

// page is the admin page in a browser tab.
type page struct {
	t       *testing.T
	ctx     context.Context
	console *consoleLog
}

// setSelect chooses value in a <select> as a person would, firing change.
func (p *page) setSelect(id, value string) {
	p.t.Helper()
	do(p.t, p.ctx, "select "+id, chromedp.Evaluate[chromedp.Void](
		"(() => { const s = document.getElementById("+jsString(id)+"); s.value = "+jsString(value)+
			"; s.dispatchEvent(new Event('change', {bubbles: true})); })()"))
}

func (p *page) click(sel string) {
	p.t.Helper()
	do(p.t, p.ctx, "click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// readSecret reads the key from the open key dialog, closes the dialog
// and checks that the key left the page with it.
func (p *page) readSecret() string {
	p.t.Helper()
	waitJS(p.t, p.ctx, "the key dialog", "document.getElementById('secret-dialog').open && document.getElementById('secret-value').value !== ''")
	key, err := chromedp.Run(p.ctx, chromedp.Value(chromedp.ID("secret-value")))
	if err != nil {
		p.t.Fatal(err)
	}
	if !keyPattern.MatchString(key) {
		p.t.Fatalf("the dialog shows %q, not a key", key)
	}
	warning, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.ID("secret-warning")))
	if err != nil || !bytes.Contains([]byte(warning), []byte("won't be shown again")) {
		p.t.Errorf("the key dialog warns %q (%v)", warning, err)
	}
	p.extraShot("key-dialog.png")
	p.click("#secret-dialog [data-close]")
	waitJS(p.t, p.ctx, "the key dialog to close", "!document.getElementById('secret-dialog').open")
	k := jsString(key)
	gone, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`(() => {
		const k = `+k+`;
		const inputs = [...document.querySelectorAll('input, textarea')].some(i => i.value.includes(k));
		return !inputs && !document.documentElement.outerHTML.includes(k) && !document.body.innerText.includes(k) &&
			!location.href.includes(k) && localStorage.length === 0 && sessionStorage.length === 0;
	})()`))
	if err != nil || !gone {
		where, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`(() => { const k = `+k+`; return JSON.stringify({
			inputs: [...document.querySelectorAll('input, textarea')].filter(i => i.value.includes(k)).map(i => i.id),
			html: document.documentElement.outerHTML.includes(k), text: document.body.innerText.includes(k),
			url: location.href.includes(k), storage: localStorage.length + sessionStorage.length}); })()`))
		p.t.Fatalf("the key is still in the page, a URL or storage after its dialog closed (%v): %s", err, where)
	}
	return key
}

// create fills the Create dialog and returns the key it shows.
func (p *page) create(name string, scopes []string, env, expiry string) string {
	p.t.Helper()
	p.click("#create-open")
	waitJS(p.t, p.ctx, "the create dialog", "document.getElementById('create-dialog').open")
	do(p.t, p.ctx, "type the name", chromedp.SendKeys(chromedp.ID("create-name"), name))
	for _, s := range scopes {
		p.click(`#scope-list input[value="` + s + `"]`)
	}
	p.click("#env-" + env)
	p.setSelect("create-expiry", expiry)
	p.extraShot("create-dialog.png")
	p.click("#create-form button[type=submit]")
	key := p.readSecret()
	waitJS(p.t, p.ctx, "the new row", rowJS(name))
	return key
}

func TestAdminPage(t *testing.T) {
	q := startQuickstart(t)
	ctx, console := browser(t, 1280, 820)
	p := &page{t: t, ctx: ctx, console: console}

	// The one-time link signs in and lands on the page, without the token.
	do(t, ctx, "sign in", chromedp.Navigate(q.login))
	waitJS(t, ctx, "the page to load", "document.body.dataset.ready === 'true'")
	where, err := chromedp.Run(ctx, chromedp.Evaluate[string]("location.href"))
	if err != nil || where != q.base+"/admin/ui/" {
		t.Fatalf("signed in to %q (%v), want %s/admin/ui/", where, err, q.base)
	}
	// The link is single-use.
	resp, err := http.Get(q.login)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a second use of the sign-in link: %s, want 401", resp.Status)
	}

	// Create a key in the page and use it.
	ci := p.create("CI pipeline", []string{"webhooks:read", "webhooks:write"}, "live", "90")
	if got := q.status(t, ci); got != http.StatusOK {
		t.Fatalf("GET /webhooks with the new key: %d, want 200", got)
	}
	staging := p.create("Staging deploy", []string{"webhooks:read"}, "test", "30")
	if got := q.status(t, staging); got != http.StatusOK {
		t.Fatalf("GET /webhooks with the test key: %d, want 200", got)
	}

	// Disable, then enable.
	p.click(`button[aria-label="Disable CI pipeline"]`)
	waitJS(t, ctx, "disabled", badgeIs("CI pipeline", "disabled"))
	if got := q.status(t, ci); got != http.StatusUnauthorized {
		t.Errorf("a disabled key: %d, want 401", got)
	}
	p.click(`button[aria-label="Enable CI pipeline"]`)
	waitJS(t, ctx, "enabled", badgeIs("CI pipeline", "active"))
	if got := q.status(t, ci); got != http.StatusOK {
		t.Errorf("an enabled key: %d, want 200", got)
	}

	// Rotate with no grace period: the new key works, the old one not.
	p.click(`button[aria-label="Rotate Staging deploy"]`)
	waitJS(t, ctx, "the rotate dialog", "document.getElementById('rotate-dialog').open")
	p.setSelect("rotate-grace", "0")
	p.click("#rotate-form button[type=submit]")
	rotated := p.readSecret()
	if rotated == staging {
		t.Fatal("rotation showed the old key")
	}
	if got := q.status(t, rotated); got != http.StatusOK {
		t.Errorf("the rotated key: %d, want 200", got)
	}
	if got := q.status(t, staging); got != http.StatusUnauthorized {
		t.Errorf("the key rotated away with no grace: %d, want 401", got)
	}

	// Revoke, after a confirmation that starts on Cancel.
	p.click(`button[aria-label="Revoke CI pipeline"]`)
	waitJS(t, ctx, "the confirmation", "document.getElementById('revoke-dialog').open")
	waitJS(t, ctx, "focus on Cancel", "document.activeElement.textContent === 'Cancel'")
	p.extraShot("revoke-dialog.png")
	p.click("#revoke-confirm")
	waitJS(t, ctx, "the row to go", "!document.getElementById('revoke-dialog').open && !"+rowJS("CI pipeline"))
	if got := q.status(t, ci); got != http.StatusUnauthorized {
		t.Fatalf("GET /webhooks with the revoked key: %d, want 401", got)
	}

	// The revoked key's audit events.
	p.setSelect("status-filter", "all")
	waitJS(t, ctx, "revoked keys listed", badgeIs("CI pipeline", "revoked"))
	p.click(`button[aria-label="Events CI pipeline"]`)
	waitJS(t, ctx, "the events", `(() => { const t = document.getElementById('events-body').textContent;
		return ['key.created', 'key.disabled', 'key.enabled', 'key.revoked'].every(a => t.includes(a)); })()`)
	p.extraShot("events-dialog.png")
	do(t, ctx, "close with Escape", chromedp.KeyEvent("\x1b"))
	waitJS(t, ctx, "the events dialog to close", "!document.getElementById('events-dialog').open")

	p.setSelect("status-filter", "")
	waitJS(t, ctx, "the current keys", "!"+rowJS("CI pipeline")+" && document.querySelectorAll('#keys-body tr').length === 3")
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	p.save("admin-page.png", shot)

	do(t, ctx, "narrow screen", chromedp.EmulateViewport(390, 844))
	narrow, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	p.save("admin-page-narrow.png", narrow)

	if errs := console.take(); len(errs) > 0 {
		t.Errorf("the page logged errors (a CSP violation?):\n%q", errs)
	}
}

// save checks that img is a PNG and keeps it: in ../docs with
// -update-docs, else in the test's temporary directory.
func (p *page) save(name string, img []byte) {
	p.t.Helper()
	if !bytes.HasPrefix(img, []byte("\x89PNG\r\n\x1a\n")) {
		p.t.Fatalf("%s is not a PNG", name)
	}
	dir := p.t.TempDir()
	if *updateDocs {
		dir = filepath.Join("..", "docs")
	}
	if err := os.WriteFile(filepath.Join(dir, name), img, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// extraShot saves a screenshot of the page as it is into $E2E_SHOTS, when
// set, to look at the dialogs.
func (p *page) extraShot(name string) {
	p.t.Helper()
	dir := os.Getenv("E2E_SHOTS")
	if dir == "" {
		return
	}
	img, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), img, 0o600); err != nil {
		p.t.Fatal(err)
	}
}
