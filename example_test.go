package apikey_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
)

func Example() {
	ctx := context.Background()
	m, err := apikey.New(memstore.New())
	if err != nil {
		panic(err)
	}
	defer m.Close()

	// Create shows the key once; only its digest is stored.
	key, secret, err := m.Create(ctx, apikey.CreateParams{
		Name:    "CI pipeline",
		OwnerID: "org_42",
		Scopes:  []string{"webhooks:read", "webhooks:write"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(secret), key.Prefix == secret[:12])

	// Verify checks the key and the scopes a route needs.
	if _, err := m.Verify(ctx, secret, "webhooks:write"); err == nil {
		fmt.Println("authorized")
	}
	_, err = m.Verify(ctx, secret, "billing:read")
	fmt.Println(errors.Is(err, apikey.ErrInsufficientScope))

	// After Revoke, the key is refused like any invalid key.
	_ = m.Revoke(ctx, key.ID)
	_, err = m.Verify(ctx, secret)
	fmt.Println(errors.Is(err, apikey.ErrInvalidKey), errors.Is(err, apikey.ErrRevoked))
	// Output:
	// 57 true
	// authorized
	// true
	// true true
}

func ExampleManager_Verify() {
	ctx := context.Background()
	m, _ := apikey.New(memstore.New())
	defer m.Close()
	_, secret, _ := m.Create(ctx, apikey.CreateParams{Name: "reader", Scopes: []string{"webhooks:read"}})

	for _, presented := range []string{secret, "sk_live_forged", ""} {
		_, err := m.Verify(ctx, presented, "webhooks:read")
		switch {
		case err == nil:
			fmt.Println("200")
		case errors.Is(err, apikey.ErrInvalidKey):
			fmt.Println("401") // the same answer for every reason
		case errors.Is(err, apikey.ErrInsufficientScope):
			fmt.Println("403")
		default:
			fmt.Println("503") // the store failed: fail closed
		}
	}
	// Output:
	// 200
	// 401
	// 401
}

func ExampleManager_Rotate() {
	ctx := context.Background()
	m, _ := apikey.New(memstore.New())
	defer m.Close()
	old, oldSecret, _ := m.Create(ctx, apikey.CreateParams{Name: "deploy"})

	// The new key is shown once; the old one keeps working for an hour.
	next, newSecret, _ := m.Rotate(ctx, old.ID, time.Hour)
	_, errOld := m.Verify(ctx, oldSecret)
	_, errNew := m.Verify(ctx, newSecret)
	fmt.Println(next.RotatedFromID == old.ID, errOld == nil, errNew == nil)
	// Output: true true true
}

func ExampleWithScopeImplications() {
	ctx := context.Background()
	m, _ := apikey.New(memstore.New(),
		apikey.WithScopeVocabulary("webhooks:read", "webhooks:write", "billing:read"),
		apikey.WithScopeImplications(map[string][]string{"write": {"read"}}))
	defer m.Close()
	_, secret, _ := m.Create(ctx, apikey.CreateParams{Name: "writer", Scopes: []string{"webhooks:write"}})
	_, err := m.Verify(ctx, secret, "webhooks:read")
	fmt.Println(err == nil)

	_, _, err = m.Create(ctx, apikey.CreateParams{Name: "typo", Scopes: []string{"webhook:read"}})
	fmt.Println(err)
	// Output:
	// true
	// apikey: invalid parameters: scopes: unknown scope "webhook:read"
}

func ExamplePattern() {
	re, _ := apikey.Pattern("hd")
	fmt.Println(re)
	fmt.Println(apikey.ValidChecksum("sk_live_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg2LOcWk"))
	// Output:
	// ^hd_(live|test)_[0-9A-Za-z]{49}$
	// true
}
