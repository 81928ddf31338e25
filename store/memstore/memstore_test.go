package memstore_test

import (
	"testing"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
	"github.com/keyward/apikey/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) apikey.Store { return memstore.New() })
}
