package testauth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Account is a test user. Its password is a test secret: tests grep their
// outputs for it to prove that freshpull never prints credentials.
type Account struct {
	User     string
	Password string
	// Actions are what the token server grants this account on every
	// repository ("pull", "push", or "*" for everything asked). Htpasswd
	// ignores them: the registry's htpasswd mode lets every valid user do
	// everything.
	Actions []string
}

// The test accounts. Their passwords are distinctive so that a leak is
// easy to find in any output.
var (
	// Pusher may pull and push.
	Pusher = Account{User: "pusher", Password: "pusher-Pw-3kQ9vT7x", Actions: []string{"pull", "push"}}
	// Puller may only pull.
	Puller = Account{User: "puller", Password: "puller-Pw-8mZ2rY4c", Actions: []string{"pull"}}
)

// bcryptHashes holds precomputed bcrypt hashes (cost 5) of the test
// accounts: the registry's htpasswd mode accepts only bcrypt, and
// golang.org/x/crypto/bcrypt is not a dependency of this module. Once it
// is, Htpasswd can hash any password and this table can go.
var bcryptHashes = map[[2]string]string{
	{"pusher", "pusher-Pw-3kQ9vT7x"}: "$2y$05$35HZ/H63oMMavNT79jwDpupwpM/eViO90ilg/BSQ21Ype7zlEUYVy",
	{"puller", "puller-Pw-8mZ2rY4c"}: "$2y$05$L5Vfnn0rjlOvwkw3Qzw9ZuJJHitVnIfxAHRRHAz7nTO2ohFIY8oze",
}

// Htpasswd writes the htpasswd file dir/htpasswd for accounts (bcrypt, as
// the distribution registry requires) and returns its path. Only Pusher and
// Puller have hashes; see bcryptHashes.
func Htpasswd(t testing.TB, dir string, accounts ...Account) string {
	t.Helper()
	var b strings.Builder
	for _, a := range accounts {
		h, ok := bcryptHashes[[2]string{a.User, a.Password}]
		if !ok {
			// The password is not named: it is a secret even in tests.
			t.Fatalf("testauth: no bcrypt hash for user %q with that password; use testauth.Pusher or testauth.Puller (golang.org/x/crypto/bcrypt is not a dependency)", a.User)
		}
		b.WriteString(a.User + ":" + h + "\n")
	}
	p := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
