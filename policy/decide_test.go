package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

const (
	dOld = digest.Digest("sha256:1111111111111111111111111111111111111111111111111111111111111111")
	dNew = digest.Digest("sha256:2222222222222222222222222222222222222222222222222222222222222222")
)

var errDown = errors.New("dial tcp 127.0.0.1:5000: connection refused")

func TestDecide(t *testing.T) {
	present := Local{Present: true, Digest: dOld}
	absent := Local{}
	notAsked := Remote{}
	same := Remote{Asked: true, Digest: dOld}
	moved := Remote{Asked: true, Digest: dNew}
	down := Remote{Asked: true, Err: errDown}
	gone := Remote{Asked: true, Err: errors.New("MANIFEST_UNKNOWN"), NotFound: true}

	tests := []struct {
		name string
		f    Facts
		want Action
	}{
		// always: present
		{"always/present/first", Facts{Policy: Always, Local: present, Remote: notAsked}, AskRegistry},
		{"always/present/same", Facts{Policy: Always, Local: present, Remote: same}, Pull},
		{"always/present/moved", Facts{Policy: Always, Local: present, Remote: moved}, Pull},
		{"always/present/down", Facts{Policy: Always, Local: present, Remote: down}, Fail},
		{"always/present/pinned asks", Facts{Policy: Always, Pinned: true, Local: present, Remote: notAsked}, AskRegistry},
		// always: absent
		{"always/absent/first", Facts{Policy: Always, Local: absent, Remote: notAsked}, AskRegistry},
		{"always/absent/ok", Facts{Policy: Always, Local: absent, Remote: moved}, Pull},
		{"always/absent/down", Facts{Policy: Always, Local: absent, Remote: down}, Fail},
		{"always/absent/notfound", Facts{Policy: Always, Local: absent, Remote: gone}, Fail},

		// missing: present uses local without network, even if the registry is down
		{"missing/present", Facts{Policy: Missing, Local: present, Remote: notAsked}, UseLocal},
		{"missing/present/pinned", Facts{Policy: Missing, Pinned: true, Local: present}, UseLocal},
		{"missing/absent/first", Facts{Policy: Missing, Local: absent, Remote: notAsked}, AskRegistry},
		{"missing/absent/ok", Facts{Policy: Missing, Local: absent, Remote: moved}, Pull},
		{"missing/absent/down", Facts{Policy: Missing, Local: absent, Remote: down}, Fail},
		{"missing/absent/notfound", Facts{Policy: Missing, Local: absent, Remote: gone}, Fail},

		// newer
		{"newer/present/first", Facts{Policy: Newer, Local: present, Remote: notAsked}, AskRegistry},
		{"newer/present/same", Facts{Policy: Newer, Local: present, Remote: same}, UpToDate},
		{"newer/present/moved", Facts{Policy: Newer, Local: present, Remote: moved}, Pull},
		{"newer/present/down", Facts{Policy: Newer, Local: present, Remote: down}, Fallback},
		{"newer/present/down/strict", Facts{Policy: Newer, Strict: true, Local: present, Remote: down}, Fail},
		{"newer/present/notfound", Facts{Policy: Newer, Local: present, Remote: gone}, Fail},
		{"newer/present/pinned: no network", Facts{Policy: Newer, Pinned: true, Local: present, Remote: notAsked}, UseLocal},
		{"newer/absent/first", Facts{Policy: Newer, Local: absent, Remote: notAsked}, AskRegistry},
		{"newer/absent/pinned asks", Facts{Policy: Newer, Pinned: true, Local: absent, Remote: notAsked}, AskRegistry},
		{"newer/absent/ok", Facts{Policy: Newer, Local: absent, Remote: moved}, Pull},
		{"newer/absent/down", Facts{Policy: Newer, Local: absent, Remote: down}, Fail},
		{"newer/absent/down/strict", Facts{Policy: Newer, Strict: true, Local: absent, Remote: down}, Fail},

		// never
		{"never/present", Facts{Policy: Never, Local: present}, UseLocal},
		{"never/present/pinned", Facts{Policy: Never, Pinned: true, Local: present}, UseLocal},
		{"never/absent", Facts{Policy: Never, Local: absent}, Fail},
		{"never/absent/even if asked", Facts{Policy: Never, Local: absent, Remote: moved}, Fail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.f)
			if d.Action != tc.want {
				t.Fatalf("Decide(%+v) = %v (%s), want %v", tc.f, d.Action, d.Reason, tc.want)
			}
			if d.Reason == "" {
				t.Errorf("Decide(%+v): empty reason; every decision must say why", tc.f)
			}
			if (d.Action == Fail) != (d.Err != nil) {
				t.Errorf("Decide(%+v): action %v with err %v; Fail and only Fail carries an error", tc.f, d.Action, d.Err)
			}
		})
	}
}

// A fallback must never be silent: its reason names the failure and the
// local digest being used.
func TestFallbackReasonNamesCauseAndDigest(t *testing.T) {
	d := Decide(Facts{Policy: Newer, Local: Local{Present: true, Digest: dOld}, Remote: Remote{Asked: true, Err: errDown}})
	for _, want := range []string{errDown.Error(), dOld.String()} {
		if !strings.Contains(d.Reason, want) {
			t.Errorf("fallback reason %q does not mention %q", d.Reason, want)
		}
	}
}

func TestNeverAbsentIsNotPresent(t *testing.T) {
	d := Decide(Facts{Policy: Never})
	if !errors.Is(d.Err, ErrNotPresent) {
		t.Fatalf("never/absent err = %v, want ErrNotPresent", d.Err)
	}
}

func TestParse(t *testing.T) {
	good := map[string]Policy{
		"always": Always, "Always": Always,
		"missing": Missing, "ifmissing": Missing, "ifnotpresent": Missing, "IfNotPresent": Missing, "if-not-present": Missing,
		"newer": Newer, "ifnewer": Newer, "IfNewer": Newer, " newer ": Newer,
		"never": Never, "NEVER": Never,
	}
	for in, want := range good {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "sometimes", "if", "newest", "missingx", "pull"} {
		_, err := Parse(in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error", in)
			continue
		}
		for _, v := range []string{"always", "missing", "newer", "never", in} {
			if !strings.Contains(err.Error(), v) {
				t.Errorf("Parse(%q) error %q does not list %q", in, err, v)
			}
		}
	}
	if Default != Newer {
		t.Errorf("default policy = %v, want newer", Default)
	}
}
