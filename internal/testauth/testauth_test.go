package testauth_test

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/freshpull/freshpull/internal/testauth"
	"github.com/freshpull/freshpull/internal/testregistry"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

var secrets = []string{testauth.Pusher.Password, testauth.Puller.Password}

func basic(a testauth.Account) authn.Authenticator {
	return &authn.Basic{Username: a.User, Password: a.Password}
}

func wrongPassword(a testauth.Account) authn.Authenticator {
	return &authn.Basic{Username: a.User, Password: a.Password + "-wrong"}
}

func push(t *testing.T, ref string, img v1.Image, auth authn.Authenticator, tr http.RoundTripper) error {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	return checkNoSecret(t, remote.Write(r, img, remote.WithAuth(auth), remote.WithTransport(tr)))
}

// pull fetches the manifest and one layer: a pull that reads blobs, not
// only a manifest HEAD.
func pull(t *testing.T, ref string, auth authn.Authenticator, tr http.RoundTripper) (v1.Hash, error) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithAuth(auth), remote.WithTransport(tr))
	if err != nil {
		return v1.Hash{}, checkNoSecret(t, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return v1.Hash{}, checkNoSecret(t, err)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		return v1.Hash{}, checkNoSecret(t, err)
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return v1.Hash{}, checkNoSecret(t, err)
	}
	return img.Digest()
}

// checkNoSecret fails the test when err mentions a test password. It
// does not print the error then: that would print the secret.
func checkNoSecret(t *testing.T, err error) error {
	t.Helper()
	if err == nil {
		return nil
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Fatal("an error message contains a test password")
		}
	}
	return err
}

func status(err error) int {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	return 0
}

func image(t *testing.T) v1.Image {
	return testregistry.Image(t, 1, 512, testregistry.Linux("amd64"))
}

func TestServeTLS(t *testing.T) {
	testregistry.Require(t)
	ca := testauth.NewCA(t)
	reg := testregistry.StartWithConfig(t, testauth.ServeTLS(ca.ServerCert(t, "127.0.0.1")))
	ref := reg.Ref("tls/app:1")
	img := image(t)
	if err := push(t, ref, img, authn.Anonymous, ca.Transport()); err != nil {
		t.Fatalf("push over TLS trusting the CA: %v", err)
	}
	got, err := pull(t, ref, authn.Anonymous, ca.Transport())
	if err != nil {
		t.Fatalf("pull over TLS trusting the CA: %v", err)
	}
	if want, _ := img.Digest(); got != want {
		t.Fatalf("pulled %s, pushed %s", got, want)
	}
	// The registry really serves TLS with the CA's certificate: a client
	// trusting another CA is refused.
	_, err = pull(t, ref, authn.Anonymous, testauth.NewCA(t).Transport())
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("pull trusting another CA: got %v, want an unknown-authority error", err)
	}
}

func TestHtpasswdAuth(t *testing.T) {
	testregistry.Require(t)
	ca := testauth.NewCA(t)
	htpasswd := testauth.Htpasswd(t, t.TempDir(), testauth.Pusher, testauth.Puller)
	reg := testregistry.StartWithConfig(t, testauth.Merge(
		testauth.ServeTLS(ca.ServerCert(t, "127.0.0.1")),
		testauth.HtpasswdAuth(htpasswd),
	))
	tr := ca.Transport()
	ref := reg.Ref("basic/app:1")
	img := image(t)
	want, _ := img.Digest()

	if err := push(t, ref, img, wrongPassword(testauth.Pusher), tr); status(err) != http.StatusUnauthorized {
		t.Fatalf("push with a wrong password: got %v, want 401", err)
	}
	if err := push(t, ref, img, basic(testauth.Pusher), tr); err != nil {
		t.Fatalf("push as %s: %v", testauth.Pusher.User, err)
	}
	if got, err := pull(t, ref, basic(testauth.Puller), tr); err != nil || got != want {
		t.Fatalf("pull as %s: %s, %v; want %s", testauth.Puller.User, got, err, want)
	}
	if _, err := pull(t, ref, wrongPassword(testauth.Puller), tr); status(err) != http.StatusUnauthorized {
		t.Fatalf("pull with a wrong password: got %v, want 401", err)
	}
	if _, err := pull(t, ref, authn.Anonymous, tr); status(err) != http.StatusUnauthorized {
		t.Fatalf("pull without credentials: got %v, want 401", err)
	}
}

func TestTokenAuth(t *testing.T) {
	testregistry.Require(t)
	ca := testauth.NewCA(t)
	ts := testauth.NewTokenServer(t, testauth.TokenOptions{CA: ca, Accounts: []testauth.Account{testauth.Pusher, testauth.Puller}})
	reg := testregistry.StartWithConfig(t, testauth.Merge(
		testauth.ServeTLS(ca.ServerCert(t, "127.0.0.1")),
		testauth.TokenAuth(ts),
	))
	tr := ca.Transport()
	ref := reg.Ref("team/app:1")
	img := image(t)
	want, _ := img.Digest()

	if err := push(t, ref, img, basic(testauth.Pusher), tr); err != nil {
		t.Fatalf("push as %s: %v", testauth.Pusher.User, err)
	}
	if !issued(ts, testauth.Pusher.User, "repository:team/app:push,pull") {
		t.Fatalf("the token server granted no push to %s: %+v", testauth.Pusher.User, ts.Requests())
	}
	if got, err := pull(t, ref, basic(testauth.Puller), tr); err != nil || got != want {
		t.Fatalf("pull as %s: %s, %v; want %s", testauth.Puller.User, got, err, want)
	}
	// Puller's token grants pull only, and the registry enforces it.
	if err := push(t, reg.Ref("team/app:2"), image(t), basic(testauth.Puller), tr); status(err) != http.StatusUnauthorized {
		t.Fatalf("push as %s (pull only): got %v, want 401", testauth.Puller.User, err)
	}
	// A wrong password is refused by the token server.
	n := len(ts.Requests())
	if _, err := pull(t, ref, wrongPassword(testauth.Pusher), tr); status(err) != http.StatusUnauthorized {
		t.Fatalf("pull with a wrong password: got %v, want 401", err)
	}
	if reqs := ts.Requests()[n:]; len(reqs) == 0 || reqs[len(reqs)-1].Status != http.StatusUnauthorized {
		t.Fatalf("the token server did not refuse the wrong password: %+v", reqs)
	}
	// Without credentials the token grants nothing and the registry
	// refuses it.
	if _, err := pull(t, ref, authn.Anonymous, tr); status(err) != http.StatusUnauthorized {
		t.Fatalf("pull without credentials: got %v, want 401", err)
	}
}

// TestTokenAuthUntrustedSigner proves that the registry verifies the
// token's x5c chain: tokens from a signer it does not trust are refused.
func TestTokenAuthUntrustedSigner(t *testing.T) {
	testregistry.Require(t)
	ca := testauth.NewCA(t)
	ts := testauth.NewTokenServer(t, testauth.TokenOptions{CA: ca, Accounts: []testauth.Account{testauth.Pusher}})
	ts.RootCertBundle = testauth.NewCA(t).WriteCA(t, t.TempDir(), "other-ca.pem")
	reg := testregistry.StartWithConfig(t, testauth.Merge(
		testauth.ServeTLS(ca.ServerCert(t, "127.0.0.1")),
		testauth.TokenAuth(ts),
	))
	err := push(t, reg.Ref("team/app:1"), image(t), basic(testauth.Pusher), ca.Transport())
	if status(err) != http.StatusUnauthorized {
		t.Fatalf("push with a token from an untrusted signer: got %v, want 401", err)
	}
	if !issued(ts, testauth.Pusher.User, "repository:team/app:push,pull") {
		t.Fatalf("no token was issued, so the registry's check was not reached: %+v", ts.Requests())
	}
}

// TestTokenAuthPlainHTTP: a plain-HTTP registry with an http realm, as
// go-containerregistry allows for insecure registries.
func TestTokenAuthPlainHTTP(t *testing.T) {
	testregistry.Require(t)
	ts := testauth.NewTokenServer(t, testauth.TokenOptions{HTTP: true, Accounts: []testauth.Account{testauth.Pusher}})
	reg := testregistry.StartWithConfig(t, testauth.TokenAuth(ts))
	ref := reg.Ref("plain/app:1")
	img := image(t)
	if err := push(t, ref, img, basic(testauth.Pusher), http.DefaultTransport); err != nil {
		t.Fatalf("push as %s: %v", testauth.Pusher.User, err)
	}
	if _, err := pull(t, ref, wrongPassword(testauth.Pusher), http.DefaultTransport); status(err) != http.StatusUnauthorized {
		t.Fatalf("pull with a wrong password: got %v, want 401", err)
	}
	if !strings.HasPrefix(ts.Realm, "http://localhost:") {
		t.Fatalf("realm %s: want http://localhost:PORT/token", ts.Realm)
	}
}

func issued(ts *testauth.TokenServer, user, scope string) bool {
	for _, r := range ts.Requests() {
		if r.User == user && r.Status == http.StatusOK && slices.Contains(r.Granted, scope) {
			return true
		}
	}
	return false
}

// TestTokenServer checks the issuer without a registry: credentials,
// grants, claims and the signature.
func TestTokenServer(t *testing.T) {
	ca := testauth.NewCA(t)
	ts := testauth.NewTokenServer(t, testauth.TokenOptions{CA: ca, Accounts: []testauth.Account{testauth.Pusher, testauth.Puller}})
	client := &http.Client{Transport: ca.Transport()}
	get := func(a *testauth.Account, password, query string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, ts.Realm+"?"+query, nil)
		if err != nil {
			t.Fatal(err)
		}
		if a != nil {
			req.SetBasicAuth(a.User, password)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	svc := "service=" + ts.Service

	tests := []struct {
		name     string
		account  *testauth.Account
		password string
		query    string
		status   int
		access   string // the access claim, as JSON
	}{
		{"pusher gets what it asks", &testauth.Pusher, testauth.Pusher.Password, svc + "&scope=repository:a/b:pull,push", 200, `[{"type":"repository","name":"a/b","actions":["pull","push"]}]`},
		{"puller gets pull only", &testauth.Puller, testauth.Puller.Password, svc + "&scope=repository:a/b:pull,push", 200, `[{"type":"repository","name":"a/b","actions":["pull"]}]`},
		{"several scopes", &testauth.Puller, testauth.Puller.Password, svc + "&scope=repository:a:pull&scope=repository:b:push", 200, `[{"type":"repository","name":"a","actions":["pull"]}]`},
		{"anonymous gets nothing", nil, "", svc + "&scope=repository:a/b:pull", 200, `[]`},
		{"no catalog", &testauth.Pusher, testauth.Pusher.Password, svc + "&scope=registry:catalog:*", 200, `[]`},
		{"wrong password", &testauth.Pusher, testauth.Pusher.Password + "x", svc + "&scope=repository:a/b:pull", 401, ""},
		{"another user's password", &testauth.Puller, testauth.Pusher.Password, svc + "&scope=repository:a/b:pull", 401, ""},
		{"unknown user", &testauth.Account{User: "nobody"}, "", svc + "&scope=repository:a/b:pull", 401, ""},
		{"unknown service", &testauth.Pusher, testauth.Pusher.Password, "service=other&scope=repository:a/b:pull", 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(tc.account, tc.password, tc.query)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			for _, s := range secrets {
				if strings.Contains(string(body), s) {
					t.Fatal("the answer contains a password")
				}
			}
			if tc.status != 200 {
				return
			}
			var tok struct {
				Token       string `json:"token"`
				AccessToken string `json:"access_token"`
				ExpiresIn   int    `json:"expires_in"`
			}
			if err := json.Unmarshal(body, &tok); err != nil {
				t.Fatal(err)
			}
			if tok.Token == "" || tok.AccessToken != tok.Token || tok.ExpiresIn != testauth.TokenLifetime {
				t.Fatalf("answer has token set %v, access_token equal %v, expires_in %d", tok.Token != "", tok.AccessToken == tok.Token, tok.ExpiresIn)
			}
			claims := verifyJWT(t, tok.Token, ca)
			wantSub := ""
			if tc.account != nil {
				wantSub = tc.account.User
			}
			if claims.Iss != ts.Issuer || claims.Aud != ts.Service || claims.Sub != wantSub {
				t.Errorf("iss %q aud %q sub %q; want %q %q %q", claims.Iss, claims.Aud, claims.Sub, ts.Issuer, ts.Service, wantSub)
			}
			if !(claims.Nbf <= claims.Iat && claims.Iat < claims.Exp) || claims.Jti == "" {
				t.Errorf("nbf %d iat %d exp %d jti %q: want nbf <= iat < exp and a jti", claims.Nbf, claims.Iat, claims.Exp, claims.Jti)
			}
			if string(claims.Access) != tc.access {
				t.Errorf("access %s, want %s", claims.Access, tc.access)
			}
		})
	}
}

type jwtClaims struct {
	Iss, Sub, Aud, Jti string
	Exp, Nbf, Iat      int64
	Access             json.RawMessage
}

// verifyJWT checks the token as the registry does: the x5c leaf chains to
// ca, and its key verifies the ES256 signature.
func verifyJWT(t *testing.T, token string, ca *testauth.CA) jwtClaims {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var header struct {
		Alg string   `json:"alg"`
		X5c []string `json:"x5c"`
	}
	if err := json.Unmarshal(dec(parts[0]), &header); err != nil {
		t.Fatal(err)
	}
	if header.Alg != "ES256" || len(header.X5c) == 0 {
		t.Fatalf("header alg %q with %d x5c certificates; want ES256 with a chain", header.Alg, len(header.X5c))
	}
	der, err := base64.StdEncoding.DecodeString(header.X5c[0])
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool()}); err != nil {
		t.Fatalf("x5c leaf does not chain to the CA: %v", err)
	}
	sig := dec(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	pub := leaf.PublicKey.(*ecdsa.PublicKey)
	if len(sig) != 64 || !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatal("the signature does not verify with the x5c leaf key")
	}
	var c jwtClaims
	if err := json.Unmarshal(dec(parts[1]), &c); err != nil {
		t.Fatal(err)
	}
	return c
}
