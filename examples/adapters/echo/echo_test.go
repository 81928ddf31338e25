package echo_test

import (
	"net/http"
	"testing"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/examples/adapters/echo"
	"github.com/keyward/apikey/examples/adapters/internal/adaptertest"
)

func TestRouter(t *testing.T) {
	adaptertest.Run(t, func(m *apikey.Manager) http.Handler { return echo.NewRouter(m) })
}
