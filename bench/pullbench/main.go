// Command pullbench times freshpull against skopeo, crane and podman on the
// same machine in the same run, against a local distribution registry:
// cold pulls, a pull that shares most layers with an image already present,
// and the up-to-date check, with medians over several runs, the number of
// HTTP requests each tool makes for the check, and freshpull's peak RSS.
//
// Run it with bash bench/pull.sh (which installs crane into bench/.tools).
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/freshpull/freshpull/internal/countproxy"
	"github.com/freshpull/freshpull/internal/localregistry"
	"github.com/freshpull/freshpull/internal/testauth"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var (
	runs     = flag.Int("runs", 11, "runs per measurement (the median and the middle half are reported)")
	freshbin = flag.String("freshpull", "bin/freshpull", "freshpull binary")
	crane    = flag.String("crane", "bench/.tools/crane", "crane binary")
	scale    = flag.Float64("scale", 1, "scale image sizes (0.1 for a quick run)")
	bigGB    = flag.Float64("rss-gb", 0, "also pull an image of this many GB with freshpull and report its peak RSS")
	serve    = flag.Bool("serve", false, "push the images, print the registry's address and wait (for profiling by hand)")
)

// settle is the pause between the sync before a timed run and the run.
const settle = 200 * time.Millisecond

// latency is the round trip added to each request in the second
// up-to-date check.
const latency = 20 * time.Millisecond

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pullbench:", err)
		os.Exit(1)
	}
}

type tool struct {
	name string
	// cold pulls ref into a fresh destination under dir.
	pull func(dir, ref string) *exec.Cmd
	// pullTLS is pull from the TLS registry, trusting the CA in certDir
	// (ca.crt).
	pullTLS func(dir, ref, certDir string) *exec.Cmd
	// check asks whether ref is current (the up-to-date check).
	check func(dir, ref string) *exec.Cmd
}

type row struct {
	op, tool  string
	median    time.Duration
	q1, q3    time.Duration // the middle half of the runs lies between them
	counted   bool          // requests and bytes were seen by the counting proxy
	requests  int
	bytes     int64
	maxRSSKiB int64
	err       string
}

func run() error {
	work, err := os.MkdirTemp("", "pullbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	reg, err := localregistry.Start(filepath.Join(work, "registry"), localregistry.Config{})
	if err != nil {
		return err
	}
	defer reg.Stop()
	proxy := countproxy.New(reg.Host)
	defer proxy.Close()

	mb := func(n float64) int64 { return int64(n * *scale * 1e6) }
	fmt.Fprintln(os.Stderr, "building and pushing test images…")
	single, err := image(mb(50))
	if err != nil {
		return err
	}
	var layers []v1.Layer
	for range 8 {
		l, err := random.Layer(mb(25), types.OCILayer, random.WithSource(rand.NewSource(rand.Int63())))
		if err != nil {
			return err
		}
		layers = append(layers, l)
	}
	multi, err := withLayers(layers...)
	if err != nil {
		return err
	}
	extra, err := random.Layer(mb(25), types.OCILayer, random.WithSource(rand.NewSource(rand.Int63())))
	if err != nil {
		return err
	}
	second, err := withLayers(append(slices.Clone(layers[:7]), extra)...)
	if err != nil {
		return err
	}
	for ref, img := range map[string]v1.Image{"bench/single:1": single, "bench/multi:1": multi, "bench/second:1": second} {
		if _, err := localregistry.Push(reg.Ref(ref), img); err != nil {
			return err
		}
	}

	// The same multi-layer image on a registry that speaks TLS, as real
	// ones do; its CA goes in certs/ca.crt. No counting proxy in front.
	certDir := filepath.Join(work, "certs")
	cert, err := selfSigned(certDir, filepath.Join(work, "server.key"))
	if err != nil {
		return err
	}
	tlsReg, err := localregistry.Start(filepath.Join(work, "tls-registry"), testauth.ServeTLS(cert))
	if err != nil {
		return err
	}
	defer tlsReg.Stop()
	if err := pushTLS(tlsReg.Ref("bench/multi:1"), multi, cert.X509); err != nil {
		return err
	}

	if *serve {
		fmt.Printf("registry %s (through the counting proxy: %s); images bench/single:1 bench/multi:1 bench/second:1; Ctrl-C stops\n", reg.Host, proxy.Host)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		return nil
	}
	ref := func(r string) string { return proxy.Host + "/" + r }
	tools := []tool{{
		name: "freshpull",
		pull: func(dir, r string) *exec.Cmd { return exec.Command(*freshbin, "--store", dir, "-q", "pull", r) },
		pullTLS: func(dir, r, certDir string) *exec.Cmd {
			return exec.Command(*freshbin, "--store", dir, "-q", "pull", "--cert-dir", certDir, r)
		},
		check: func(dir, r string) *exec.Cmd {
			return exec.Command(*freshbin, "--store", dir, "-q", "pull", "--policy", "newer", r)
		},
	}}
	if _, err := exec.LookPath("skopeo"); err == nil {
		tools = append(tools, tool{
			name: "skopeo",
			pull: func(dir, r string) *exec.Cmd {
				return exec.Command("skopeo", "copy", "-q", "--src-tls-verify=false", "docker://"+r, "oci:"+dir+":img")
			},
			pullTLS: func(dir, r, certDir string) *exec.Cmd {
				return exec.Command("skopeo", "copy", "-q", "--src-cert-dir", certDir, "docker://"+r, "oci:"+dir+":img")
			},
			check: func(dir, r string) *exec.Cmd {
				return exec.Command("skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+r)
			},
		})
	}
	if _, err := os.Stat(*crane); err == nil {
		tools = append(tools, tool{
			name: "crane",
			pull: func(dir, r string) *exec.Cmd {
				return exec.Command(*crane, "pull", "--insecure", "--format=oci", r, dir)
			},
			pullTLS: func(dir, r, certDir string) *exec.Cmd {
				c := exec.Command(*crane, "pull", "--format=oci", r, dir)
				c.Env = append(os.Environ(), "SSL_CERT_FILE="+filepath.Join(certDir, "ca.crt"))
				return c
			},
			check: func(dir, r string) *exec.Cmd { return exec.Command(*crane, "digest", "--insecure", r) },
		})
	}
	if _, err := os.Stat(*crane); err == nil {
		// crane does not fsync what it writes; freshpull does before a
		// blob becomes visible. This row is crane made as durable.
		tools = append(tools, tool{
			name: "crane+sync",
			pull: func(dir, r string) *exec.Cmd {
				return exec.Command("sh", "-c", `"$0" pull --insecure --format=oci "$1" "$2" && sync -f "$2"`, *crane, r, dir)
			},
			pullTLS: func(dir, r, certDir string) *exec.Cmd {
				c := exec.Command("sh", "-c", `"$0" pull --format=oci "$1" "$2" && sync -f "$2"`, *crane, r, dir)
				c.Env = append(os.Environ(), "SSL_CERT_FILE="+filepath.Join(certDir, "ca.crt"))
				return c
			},
		})
	}
	if _, err := exec.LookPath("podman"); err == nil {
		// podman refuses a runroot path longer than 50 characters.
		short, err := os.MkdirTemp("/tmp", "pb")
		if err != nil {
			return err
		}
		defer os.RemoveAll(short)
		podman := func(dir string, args ...string) *exec.Cmd {
			run := filepath.Join(short, filepath.Base(dir))
			return exec.Command("podman", append([]string{"--root", filepath.Join(dir, "root"), "--runroot", run, "--storage-driver", "vfs"}, args...)...)
		}
		tools = append(tools, tool{
			name: "podman",
			pull: func(dir, r string) *exec.Cmd { return podman(dir, "pull", "-q", "--tls-verify=false", r) },
			pullTLS: func(dir, r, certDir string) *exec.Cmd {
				return podman(dir, "pull", "-q", "--cert-dir", certDir, r)
			},
			// podman 4.3 (Debian 12) has no pull --policy; a plain pull
			// asks the registry and reuses what is present, which is
			// its up-to-date check.
			check: func(dir, r string) *exec.Cmd { return podman(dir, "pull", "-q", "--tls-verify=false", r) },
		})
	}

	var rows []row
	seq := 0
	// measure times each tool's run of one operation, in rounds: round r
	// runs every tool once, so that drift of the machine over the run
	// falls on all tools alike. Before each timed run the page cache is
	// written back (sync) and the disk left to settle: one tool's unsynced
	// writes and deletions are not left for the next tool to pay for.
	type trial struct {
		name  string
		setup func(dir string) error
		cmd   func(dir string) *exec.Cmd
		// uncounted: the requests do not go through the counting proxy.
		uncounted bool
	}
	measure := func(op string, trials []trial) {
		first := len(rows)
		times := make([][]time.Duration, len(trials))
		for _, t := range trials {
			rows = append(rows, row{op: op, tool: t.name})
		}
		for round := range *runs {
			for k := range trials {
				// Each round starts with the next tool: no tool always
				// follows the same one.
				i := (round + k) % len(trials)
				t := trials[i]
				r := &rows[first+i]
				if r.err != "" {
					continue
				}
				// A plain name: skopeo's oci:PATH:REF splits the path at
				// a colon, and podman's storage options at a comma.
				seq++
				dir := filepath.Join(work, fmt.Sprintf("run%d", seq))
				os.MkdirAll(dir, 0o755)
				if t.setup != nil {
					if err := t.setup(dir); err != nil {
						r.err = err.Error()
						continue
					}
				}
				syscall.Sync()
				// Let the disk finish what the sync and the previous
				// run's deletions (discards) started.
				time.Sleep(settle)
				proxy.Reset()
				out, err := timed(t.cmd(dir))
				if err != nil {
					r.err = fmt.Sprintf("%v: %s", err, firstLine(out.output))
					continue
				}
				times[i] = append(times[i], out.wall)
				if !t.uncounted {
					r.counted = true
					r.requests, r.bytes = proxy.Count("", ""), proxy.Bytes("", "")
				}
				if os.Getenv("PULLBENCH_DEBUG") != "" {
					fmt.Fprintf(os.Stderr, "%s %s:\n%s", op, t.name, proxy)
				}
				r.maxRSSKiB = max(r.maxRSSKiB, out.maxRSS)
				os.RemoveAll(dir)
			}
		}
		for i := range trials {
			r := &rows[first+i]
			if len(times[i]) > 0 {
				slices.Sort(times[i])
				t := times[i]
				r.median, r.q1, r.q3 = t[len(t)/2], t[len(t)/4], t[(3*len(t))/4]
			}
			fmt.Fprintf(os.Stderr, "  %-28s %-10s %v\n", op, r.tool, r.median.Round(time.Millisecond))
		}
	}

	fmt.Fprintln(os.Stderr, "measuring…")
	for _, img := range []string{"bench/single:1", "bench/multi:1"} {
		var trials []trial
		for _, t := range tools {
			trials = append(trials, trial{name: t.name, cmd: func(dir string) *exec.Cmd { return t.pull(dir, ref(img)) }})
		}
		measure("cold pull "+img, trials)
	}
	var trials []trial
	for _, t := range tools {
		trials = append(trials, trial{name: t.name, uncounted: true, cmd: func(dir string) *exec.Cmd {
			return t.pullTLS(dir, tlsReg.Ref("bench/multi:1"), certDir)
		}})
	}
	measure("cold pull over TLS bench/multi:1", trials)
	trials = nil
	for _, t := range tools {
		if strings.HasPrefix(t.name, "crane") {
			// crane pull writes a fresh layout every time; it has no
			// notion of blobs already present.
			continue
		}
		trials = append(trials, trial{
			name:  t.name,
			setup: func(dir string) error { _, err := timed(t.pull(dir, ref("bench/multi:1"))); return err },
			cmd:   func(dir string) *exec.Cmd { return t.pull(dir, ref("bench/second:1")) },
		})
	}
	measure("second image, first present", trials)
	trials = nil
	for _, t := range tools {
		if t.check == nil {
			continue
		}
		trials = append(trials, trial{
			name:  t.name,
			setup: func(dir string) error { _, err := timed(t.pull(dir, ref("bench/single:1"))); return err },
			cmd:   func(dir string) *exec.Cmd { return t.check(dir, ref("bench/single:1")) },
		})
	}
	if _, err := exec.LookPath("curl"); err == nil {
		trials = append(trials, trial{name: "curl -I", cmd: func(string) *exec.Cmd {
			return exec.Command("curl", "-sfI", "-H", "Accept: application/vnd.oci.image.manifest.v1+json", "http://"+ref("v2/bench/single/manifests/1"))
		}})
	}
	measure("up-to-date check", trials)
	// The same check with 20 ms added to every request, as a registry
	// across a network would: what each request costs a builder.
	proxy.SetLatency(latency)
	measure(fmt.Sprintf("up-to-date check, %v/request", latency), trials)
	proxy.SetLatency(0)
	if *bigGB > 0 {
		big, err := bigImage(int64(*bigGB * 1e9))
		if err != nil {
			return err
		}
		if _, err := localregistry.Push(reg.Ref("bench/big:1"), big); err != nil {
			return err
		}
		measure(fmt.Sprintf("cold pull %.1f GB", *bigGB), []trial{{name: "freshpull", cmd: func(dir string) *exec.Cmd { return tools[0].pull(dir, ref("bench/big:1")) }}})
	}
	report(rows, *scale)
	return nil
}

func image(size int64) (v1.Image, error) {
	l, err := random.Layer(size, types.OCILayer, random.WithSource(rand.NewSource(rand.Int63())))
	if err != nil {
		return nil, err
	}
	return withLayers(l)
}

func bigImage(size int64) (v1.Image, error) {
	var ls []v1.Layer
	for size > 0 {
		n := min(size, 250e6)
		l, err := random.Layer(n, types.OCILayer, random.WithSource(rand.NewSource(rand.Int63())))
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		size -= n
	}
	return withLayers(ls...)
}

func withLayers(ls ...v1.Layer) (v1.Image, error) {
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), ls...)
	if err != nil {
		return nil, err
	}
	return localregistry.AsOCI(img, v1.Platform{OS: "linux", Architecture: "amd64"})
}

type timing struct {
	wall   time.Duration
	maxRSS int64
	output string
}

// timed runs c and measures its wall time and, through GNU time when it is
// installed, its peak RSS. (The rusage of a child of this process would
// count this process's own memory: Go starts children with vfork.)
func timed(c *exec.Cmd) (timing, error) {
	var rssFile string
	if _, err := os.Stat("/usr/bin/time"); err == nil {
		f, err := os.CreateTemp("", "rss-")
		if err == nil {
			rssFile = f.Name()
			f.Close()
			defer os.Remove(rssFile)
			c.Args = append([]string{"/usr/bin/time", "-f", "%M", "-o", rssFile}, c.Args...)
			c.Path = "/usr/bin/time"
		}
	}
	start := time.Now()
	out, err := c.CombinedOutput()
	t := timing{wall: time.Since(start), output: string(out)}
	if rssFile != "" {
		b, _ := os.ReadFile(rssFile)
		fmt.Sscan(strings.TrimSpace(string(b)), &t.maxRSS)
	}
	return t, err
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func report(rows []row, scale float64) {
	fmt.Printf("\npullbench: %d runs each, median wall time; images scaled by %g; %s\n\n", *runs, scale, machine())
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\ttool\tmedian\tmiddle half\tfreshpull ratio\trequests\tMB moved\tpeak RSS MB\t")
	var failures []string
	fresh := map[string]time.Duration{}
	for _, r := range rows {
		if r.tool == "freshpull" {
			fresh[r.op] = r.median
		}
	}
	for _, r := range rows {
		if r.err != "" {
			fmt.Fprintf(tw, "%s\t%s\tfailed (below)\t\t\t\t\t\t\n", r.op, r.tool)
			failures = append(failures, fmt.Sprintf("%s, %s: %s", r.op, r.tool, r.err))
			continue
		}
		ratio := ""
		if f := fresh[r.op]; f > 0 && r.median > 0 {
			ratio = fmt.Sprintf("%.2fx", float64(f)/float64(r.median))
		}
		ms := func(d time.Duration) int64 { return d.Round(time.Millisecond).Milliseconds() }
		requests, moved := "–", "–"
		if r.counted {
			requests, moved = fmt.Sprint(r.requests), fmt.Sprintf("%.1f", float64(r.bytes)/1e6)
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%d–%d ms\t%s\t%s\t%s\t%.0f\t\n", r.op, r.tool, r.median.Round(time.Millisecond), ms(r.q1), ms(r.q3), ratio, requests, moved, float64(r.maxRSSKiB)/1024)
	}
	tw.Flush()
	for _, f := range failures {
		fmt.Println("failed:", f)
	}
	fmt.Println("\nfreshpull ratio = freshpull's median / the tool's median (below 1.00x: freshpull is faster).")
}

func machine() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	model := ""
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			_, model, _ = strings.Cut(l, ":")
			break
		}
	}
	return fmt.Sprintf("%d CPUs, %s", cpuCount(), strings.TrimSpace(model))
}

func cpuCount() int {
	out, err := exec.Command("nproc").Output()
	if err != nil {
		return 0
	}
	var n int
	fmt.Sscan(string(out), &n)
	return n
}

// selfSigned writes a self-signed certificate for 127.0.0.1 that is its own
// CA as dir/ca.crt (the certs.d name) and its key as keyFile (outside dir: a
// key in a certs.d directory is taken for a client certificate's).
func selfSigned(dir, keyFile string) (*testauth.Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pullbench registry"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(cryptorand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	c := &testauth.Cert{CertFile: filepath.Join(dir, "ca.crt"), KeyFile: keyFile, X509: parsed}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(c.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	return c, os.WriteFile(c.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
}

// pushTLS pushes img to ref on a registry whose certificate is ca.
func pushTLS(ref string, img v1.Image, ca *x509.Certificate) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	return remote.Write(r, img, remote.WithTransport(tr))
}
