// Package gin shows the middleware in a gin router, through Middleware,
// an adapter from net/http middleware to a gin.HandlerFunc.
package gin

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/keyward/apikey"
)

// NewRouter returns a public /health and API-key-protected webhook routes.
func NewRouter(m *apikey.Manager) *gin.Engine {
	r := gin.New()
	r.GET("/health", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	api := r.Group("", Middleware(m.Middleware()))
	api.GET("/webhooks", Middleware(apikey.RequireScopes("webhooks:read")), listWebhooks)
	api.POST("/webhooks", Middleware(apikey.RequireScopes("webhooks:write")), listWebhooks)
	return r
}

// Middleware runs net/http middleware in a gin chain: if the middleware
// calls its next handler, the chain goes on with the request it passed
// (carrying the key in its context); if it answers itself, the chain
// stops. It wraps the handler per request (one small allocation), since
// gin's chain is per request.
func Middleware(mw func(http.Handler) http.Handler) gin.HandlerFunc {
	return func(c *gin.Context) {
		passed := false
		mw(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			passed = true
			c.Request = r
			c.Next()
		})).ServeHTTP(c.Writer, c.Request)
		if !passed {
			c.Abort()
		}
	}
}

func listWebhooks(c *gin.Context) {
	key, _ := apikey.FromContext(c.Request.Context())
	c.String(http.StatusOK, "webhooks of "+key.Name)
}
