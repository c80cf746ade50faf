package testauth

import (
	"cmp"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Defaults of TokenOptions.
const (
	DefaultService = "freshpull-test-registry"
	DefaultIssuer  = "freshpull-test-token-issuer"
	// TokenLifetime is the expires_in of every token, in seconds.
	TokenLifetime = 300
)

// TokenOptions configure NewTokenServer.
type TokenOptions struct {
	// CA issues the server's TLS certificate and the certificate of the
	// key that signs tokens. Nil: a CA of the server's own.
	CA *CA
	// HTTP serves plain HTTP. go-containerregistry accepts an http realm
	// only from a registry it speaks plain HTTP to.
	HTTP bool
	// Accounts are the users the server knows. A request without
	// credentials gets a token that grants only Anonymous (nothing by
	// default, as Docker Hub for a private repository); a wrong password
	// or unknown user gets 401.
	Accounts []Account
	// Anonymous are the actions granted on every repository to a request
	// without credentials ("pull" for a public registry, as Docker Hub
	// grants on public images). None by default.
	Anonymous []string
	// Service and Issuer default to DefaultService and DefaultIssuer.
	Service, Issuer string
}

// TokenServer is a token issuer for the registry's "auth: token:" mode,
// following the Docker registry token specification: GET
// /token?service=…&scope=repository:NAME:pull,push with Basic credentials
// answers {"token", "access_token", "expires_in"}. Tokens are ES256 JWTs
// whose "x5c" header carries the signing certificate, which chains to CA;
// the registry verifies that chain against RootCertBundle.
type TokenServer struct {
	// URL is the base URL, http(s)://localhost:PORT. The host is a name
	// on purpose: go-containerregistry refuses token realms at loopback
	// or private IP literals.
	URL string
	// Realm is the token endpoint, URL + "/token".
	Realm           string
	Service, Issuer string
	// RootCertBundle is a PEM file holding CA: the registry's
	// auth.token.rootcertbundle.
	RootCertBundle string
	// CA signs the server's TLS certificate and the token signer.
	CA *CA

	signer    *Cert
	accounts  map[string]Account
	anonymous Account

	mu       sync.Mutex
	requests []TokenRequest
}

// TokenRequest is what the server saw of one request: never a password or
// a token.
type TokenRequest struct {
	// User is the Basic user name, "" for a request without credentials.
	User string
	// Scopes are the scopes asked for.
	Scopes []string
	// Granted are the scopes granted, in the same form
	// ("repository:NAME:pull,push"); a scope with no action granted is
	// left out.
	Granted []string
	// Status is the HTTP status of the answer.
	Status int
}

// NewTokenServer starts a token server on 127.0.0.1 for the life of the
// test.
func NewTokenServer(t testing.TB, opts TokenOptions) *TokenServer {
	t.Helper()
	ca := opts.CA
	if ca == nil {
		ca = NewCA(t)
	}
	s := &TokenServer{
		Service:        cmp.Or(opts.Service, DefaultService),
		Issuer:         cmp.Or(opts.Issuer, DefaultIssuer),
		CA:             ca,
		RootCertBundle: ca.WriteCA(t, t.TempDir(), "token-ca.pem"),
		signer:         ca.signingCert(t),
		accounts:       map[string]Account{},
		anonymous:      Account{Actions: opts.Anonymous},
	}
	for _, a := range opts.Accounts {
		s.accounts[a.User] = a
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if opts.HTTP {
		srv.Start()
		s.URL = "http://localhost:" + port
	} else {
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.ServerCert(t, "localhost", "127.0.0.1", "::1").TLS}}
		srv.StartTLS()
		s.URL = "https://localhost:" + port
	}
	t.Cleanup(srv.Close)
	s.Realm = s.URL + "/token"
	return s
}

// Requests returns the requests served so far, oldest first.
func (s *TokenServer) Requests() []TokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func (s *TokenServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := TokenRequest{Scopes: q["scope"]}
	defer func() {
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
	}()
	fail := func(status int, code, msg string) {
		req.Status = status
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
	}
	if r.URL.Path != "/token" {
		fail(http.StatusNotFound, "NOT_FOUND", "the token endpoint is /token")
		return
	}
	if r.Method != http.MethodGet {
		// The OAuth2 POST flow is not implemented; 404 tells clients to
		// fall back to GET, as the specification says.
		fail(http.StatusNotFound, "UNSUPPORTED", "use GET /token")
		return
	}
	if svc := q.Get("service"); svc != s.Service {
		fail(http.StatusBadRequest, "DENIED", "unknown service "+svc)
		return
	}
	acct := &s.anonymous
	if user, pass, ok := r.BasicAuth(); ok {
		req.User = user
		a, known := s.accounts[user]
		// Compare in constant time even for an unknown user.
		if subtle.ConstantTimeCompare([]byte(pass), []byte(a.Password)) != 1 || !known {
			w.Header().Set("WWW-Authenticate", `Basic realm="freshpull test token server"`)
			fail(http.StatusUnauthorized, "UNAUTHORIZED", "invalid username or password")
			return
		}
		acct = &a
	}
	var grants []access
	for _, param := range q["scope"] {
		for _, scope := range strings.Fields(param) {
			if g, ok := grant(acct, scope); ok {
				grants = append(grants, g)
				req.Granted = append(req.Granted, g.Type+":"+g.Name+":"+strings.Join(g.Actions, ","))
			}
		}
	}
	now := time.Now()
	tok, err := s.sign(claims{
		Issuer:     s.Issuer,
		Subject:    req.User,
		Audience:   s.Service,
		Expiration: now.Add(TokenLifetime * time.Second).Unix(),
		// A little back-dating absorbs clock differences between this
		// process and the registry.
		NotBefore: now.Add(-10 * time.Second).Unix(),
		IssuedAt:  now.Unix(),
		JWTID:     randomID(),
		Access:    append([]access{}, grants...),
	})
	if err != nil {
		fail(http.StatusInternalServerError, "UNKNOWN", "cannot sign the token")
		return
	}
	req.Status = http.StatusOK
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"token":        tok,
		"access_token": tok,
		"expires_in":   TokenLifetime,
		"issued_at":    now.UTC().Format(time.RFC3339),
	})
}

// grant returns what acct may do of scope "TYPE:NAME:ACTION[,ACTION…]":
// the actions both asked for and allowed, on repositories only.
func grant(acct *Account, scope string) (access, bool) {
	i, j := strings.Index(scope, ":"), strings.LastIndex(scope, ":")
	if i < 0 || i == j || scope[:i] != "repository" {
		return access{}, false
	}
	g := access{Type: scope[:i], Name: scope[i+1 : j]}
	for _, a := range strings.Split(scope[j+1:], ",") {
		if slices.Contains(acct.Actions, "*") || slices.Contains(acct.Actions, a) {
			g.Actions = append(g.Actions, a)
		}
	}
	return g, len(g.Actions) > 0
}

type claims struct {
	Issuer     string   `json:"iss"`
	Subject    string   `json:"sub"`
	Audience   string   `json:"aud"`
	Expiration int64    `json:"exp"`
	NotBefore  int64    `json:"nbf"`
	IssuedAt   int64    `json:"iat"`
	JWTID      string   `json:"jti"`
	Access     []access `json:"access"`
}

type access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// sign returns the compact JWS of c, signed ES256 by the signer, whose
// certificate travels in the x5c header.
func (s *TokenServer) sign(c claims) (string, error) {
	header, err := json.Marshal(map[string]any{
		"typ": "JWT",
		"alg": "ES256",
		"x5c": []string{base64.StdEncoding.EncodeToString(s.signer.X509.Raw)},
	})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	sum := sha256.Sum256([]byte(input))
	r, ss, err := ecdsa.Sign(rand.Reader, s.signer.key, sum[:])
	if err != nil {
		return "", err
	}
	// JWS ES256 signatures are R and S as two 32-byte big-endian numbers,
	// not ASN.1.
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return input + "." + enc.EncodeToString(sig), nil
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
