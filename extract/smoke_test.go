package extract

import "testing"

func TestSmoke(t *testing.T) {
	ls := layers(t,
		l(dir("etc", 0o755), reg("etc/a", "A", 0o644), reg("etc/b", "B", 0o600), sym("etc/c", "a"), hard("etc/d", "etc/a"), dir("var", 0o755), reg("var/x", "x", 0o644)),
		l(reg("etc/a", "A2", 0o644), wh("var/x"), dir("usr", 0o755), reg("usr/f", "f", 0o4755)),
	)
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			dest, res := mustExtract(t, e.e, ls, Options{})
			t.Logf("%+v", res)
			for k, v := range snapshot(t, dest, snapOpts{}) {
				t.Logf("%s: %s", k, v)
			}
		})
	}
}
