package registry

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

type okTransport struct{ hosts []string }

func (o *okTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	o.hosts = append(o.hosts, req.URL.Host)
	return nil, errors.New("sent")
}

func TestHTTPGuard(t *testing.T) {
	inner := &okTransport{}
	g := &httpGuard{inner: inner, allow: func(h string) bool { return h == "named.example.com:5000" }}
	for _, tc := range []struct {
		url     string
		allowed bool
	}{
		{"http://127.0.0.1:5000/v2/", true},
		{"http://localhost/v2/", true},
		{"http://[::1]:5000/v2/", true},
		{"http://named.example.com:5000/v2/", true},
		{"https://10.0.0.5/v2/", true},
		{"http://10.0.0.5/v2/", false},
		{"http://192.168.1.2:5000/v2/", false},
		{"http://registry.example.com/v2/", false},
		{"http://named.example.com/v2/", false},
	} {
		req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
		_, err := g.RoundTrip(req)
		refused := err != nil && strings.Contains(err.Error(), "refusing plain HTTP")
		if refused == tc.allowed {
			t.Errorf("%s: err %v, want allowed=%v", tc.url, err, tc.allowed)
		}
	}
}
