package metrics

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Transport counts the calls that base makes to a Google REST API, by the
// API's method as Google names it (projects.getIamPolicy,
// serviceAccounts.signJwt, groups.lookup), derived from the URL's shape
// and never its identifiers.
func (m *Metrics) Transport(api string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		method := restMethod(r.Method, r.URL.Path)
		start := time.Now()
		resp, err := base.RoundTrip(r)
		code := "error" // no answer: connection refused, deadline, ...
		if err == nil {
			code = statusCode(resp.StatusCode)
		}
		m.googleCalls.WithLabelValues(api, method, code).Inc()
		m.googleLatency.WithLabelValues(api, method).Observe(time.Since(start).Seconds())
		return resp, err
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// restMethod names a REST call "collection.verb": the custom verb after
// ':' if there is one (v3/projects/p:getIamPolicy → projects.getIamPolicy),
// else get/list/create/patch/delete from the HTTP method and whether the
// path ends in a collection or in a resource. Identifiers sit at even
// positions of collection/id pairs and are never part of the name.
func restMethod(httpMethod, path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	// Drop the version prefix (v1, v3, v1beta1) and any path before it.
	for i, s := range segs {
		if len(s) > 1 && s[0] == 'v' && s[1] >= '0' && s[1] <= '9' {
			segs = segs[i+1:]
			break
		}
	}
	if len(segs) == 0 || segs[0] == "" {
		return "other"
	}
	last := segs[len(segs)-1]
	if name, verb, ok := strings.Cut(last, ":"); ok {
		collection := name
		if len(segs)%2 == 0 && len(segs) >= 2 { // .../collection/id:verb
			collection = segs[len(segs)-2]
		}
		return safeName(collection) + "." + safeName(verb)
	}
	collection := last
	onResource := len(segs)%2 == 0
	if onResource {
		collection = segs[len(segs)-2]
	}
	var verb string
	switch {
	case httpMethod == http.MethodGet && onResource:
		verb = "get"
	case httpMethod == http.MethodGet:
		verb = "list"
	case httpMethod == http.MethodPost:
		verb = "create"
	case httpMethod == http.MethodPatch:
		verb = "patch"
	case httpMethod == http.MethodDelete:
		verb = "delete"
	default:
		verb = "other"
	}
	return safeName(collection) + "." + verb
}

// safeName keeps label values to identifier characters, bounded in length,
// in case a path does not have the shape restMethod expects.
func safeName(s string) string {
	if s == "" || len(s) > 40 {
		return "other"
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return "other"
		}
	}
	return s
}

// UnaryClientInterceptor counts gRPC calls to a Google API (Cloud Asset,
// Logging, Pub/Sub, Secret Manager) by method and status code.
func (m *Metrics) UnaryClientInterceptor(api string) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		start := time.Now()
		err := invoker(ctx, method, req, reply, cc, opts...)
		m.observeGRPC(api, method, err, time.Since(start))
		return err
	}
}

// StreamClientInterceptor counts the streams a gRPC client opens.
func (m *Metrics) StreamClientInterceptor(api string) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		start := time.Now()
		s, err := streamer(ctx, desc, cc, method, opts...)
		m.observeGRPC(api, method, err, time.Since(start))
		return s, err
	}
}

func (m *Metrics) observeGRPC(api, fullMethod string, err error, elapsed time.Duration) {
	// "/google.cloud.asset.v1.AssetService/AnalyzeIamPolicy" → AnalyzeIamPolicy
	method := fullMethod[strings.LastIndex(fullMethod, "/")+1:]
	method = safeName(method)
	m.googleCalls.WithLabelValues(api, method, status.Code(err).String()).Inc()
	m.googleLatency.WithLabelValues(api, method).Observe(elapsed.Seconds())
}

func statusCode(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code)
}
