// Package echo shows the middleware in an echo router, through echo's own
// WrapMiddleware.
package echo

import (
	"net/http"

	"github.com/keyward/apikey"
	"github.com/labstack/echo/v4"
)

// NewRouter returns a public /health and API-key-protected webhook routes.
func NewRouter(m *apikey.Manager) *echo.Echo {
	e := echo.New()
	e.GET("/health", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	api := e.Group("", echo.WrapMiddleware(m.Middleware()))
	api.GET("/webhooks", listWebhooks, echo.WrapMiddleware(apikey.RequireScopes("webhooks:read")))
	api.POST("/webhooks", listWebhooks, echo.WrapMiddleware(apikey.RequireScopes("webhooks:write")))
	return e
}

func listWebhooks(c echo.Context) error {
	key, _ := apikey.FromContext(c.Request().Context())
	return c.String(http.StatusOK, "webhooks of "+key.Name)
}
