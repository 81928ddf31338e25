package gin_test

import (
	"net/http"
	"testing"

	gingonic "github.com/gin-gonic/gin"
	"github.com/keyward/apikey"
	"github.com/keyward/apikey/examples/adapters/gin"
	"github.com/keyward/apikey/examples/adapters/internal/adaptertest"
)

func TestRouter(t *testing.T) {
	gingonic.SetMode(gingonic.TestMode)
	adaptertest.Run(t, func(m *apikey.Manager) http.Handler { return gin.NewRouter(m) })
}
