// Package relaybench is tandem-bench relay: a relay in a child process
// (so its RSS and CPU are its own) holding N simulated Hosts that speak the
// real agent protocol over loopback from several 127.0.0.x addresses, and
// the figures: connect rate, relay memory per Host, presence latency and
// session-start latency.
package relaybench

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tandem-rc/tandem/relay"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
)

// Owner is the bench account's owner (a throw-away data directory).
const (
	ownerEmail = "bench@example.com"
	ownerPass  = "Bench-pass-1"
)

// hostKey is simulated Host i's device key: the node enrolls it, the
// driver signs with it.
func hostKey(i int) ed25519.PrivateKey {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	seed := sha256.Sum256(append([]byte("tandem-bench host\x00"), b[:]...))
	return ed25519.NewKeyFromSeed(seed[:])
}

// ready is what the node prints (one JSON line) once it serves.
type ready struct {
	URL       string   `json:"url"`
	PublicKey string   `json:"public_key"`
	Account   string   `json:"account"`
	Devices   []string `json:"devices"` // device id of Host i
	EnrollSec float64  `json:"enroll_sec"`
}

// Mem is the node's memory and goroutines (/__bench/mem).
type Mem struct {
	RSS        uint64 `json:"rss"`
	HeapInuse  uint64 `json:"heap_inuse"`
	StackInuse uint64 `json:"stack_inuse"`
	Goroutines int    `json:"goroutines"`
}

// RaiseNoFile lifts the soft RLIMIT_NOFILE to the hard one and returns it:
// every Host is a file descriptor on each side.
func RaiseNoFile() uint64 {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil {
		return 0
	}
	l.Cur = l.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	return l.Cur
}

// Node runs the relay of the bench on dataDir with hosts enrolled Hosts
// (fresh directory: SQLite) until ctx ends; it writes the ready line to out.
func Node(ctx context.Context, out io.Writer, dataDir string, hosts int) error {
	RaiseNoFile()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	srv, err := relay.New(relay.Config{DataDir: dataDir, Logger: log, Version: "bench",
		TURN: relay.TURNConfig{Host: "127.0.0.1", Port: 3478}})
	if err != nil {
		return err
	}
	defer srv.Close()
	adm := srv.Admin()
	res, err := adm.Init(ctx, ownerEmail, ownerPass, "Bench")
	if err != nil {
		return err
	}
	_, key, err := adm.CreatePackage(ctx, relay.PackageSpec{Name: "bench"})
	if err != nil {
		return err
	}
	hash, _ := secret.EnrollmentKeyHash(key)
	t0 := time.Now()
	r := ready{PublicKey: srv.PublicKeyString(), Account: res.Account.ID, Devices: make([]string, hosts)}
	for i := range hosts {
		pub := hostKey(i).Public().(ed25519.PublicKey)
		er, err := srv.Store().Enroll(ctx, store.EnrollParams{KeyHash: hash, PublicKey: base64.StdEncoding.EncodeToString(pub),
			Inventory: store.Inventory{Hostname: "bench-" + strconv.Itoa(i), OS: "linux"}, Now: time.Now()})
		if err != nil {
			return fmt.Errorf("enroll host %d: %w", i, err)
		}
		r.Devices[i] = er.Device.ID
	}
	r.EnrollSec = time.Since(t0).Seconds()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	mux.HandleFunc("GET /__bench/mem", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(readMem())
	})
	// The heap profile, for where the bytes per Host go:
	// go tool pprof -top -sample_index=inuse_space URL/__bench/heap
	mux.HandleFunc("GET /__bench/heap", func(w http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		_ = pprof.Lookup("heap").WriteTo(w, 0)
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	r.URL = "http://" + ln.Addr().String()
	b, _ := json.Marshal(r)
	fmt.Fprintf(out, "%s\n", b)
	<-ctx.Done()
	return nil
}

// readMem: RSS as the kernel counts it, and the Go heap after a GC.
func readMem() Mem {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Mem{RSS: rss(os.Getpid()), HeapInuse: ms.HeapInuse, StackInuse: ms.StackInuse, Goroutines: runtime.NumGoroutine()}
}

// rss reads VmRSS of pid in bytes.
func rss(pid int) uint64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// cpuSeconds is pid's user+system CPU time.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+2:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100 // USER_HZ
}
