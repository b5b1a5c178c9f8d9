package server

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
)

// RequestObserver is told about every request once it is answered, for
// metrics: route is the router's pattern, such as
// "/api/projects/{projectId}/roles", never the raw path, so that the
// number of distinct values stays fixed whatever clients send; "" when no
// route matched.
type RequestObserver func(route, method string, status int, elapsed time.Duration)

// routePattern is the pattern chi matched; it is complete once the
// handler has returned.
func routePattern(r *http.Request) string {
	rctx := chi.RouteContext(r.Context())
	if rctx == nil {
		return ""
	}
	return rctx.RoutePattern()
}
