package relaybench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/tandem-rc/tandem/internal/apiclient"
	"github.com/tandem-rc/tandem/transport/wire"
)

// Options configure a bench run.
type Options struct {
	Hosts       []int         // one row per count, each on a fresh relay
	Presence    int           // Hosts connected one at a time after the rest, timed until the API lists them online
	Sessions    int           // session setups driven after the ramp
	Rate        float64       // session setups per second
	Concurrency int           // Hosts connecting at once during the ramp
	PerSource   int           // Hosts per 127.0.0.x source address
	Settle      time.Duration // wait after the ramp before measuring memory
	Exe         string        // this program (the node runs as "Exe relay-node")
	HeapProfile string        // write the relay's heap profile after the ramp here (a %d takes the Host count)
}

// Row is one line of the table.
type Row struct {
	Hosts                   int
	ConnectPerSec           float64
	RSS0, RSS1              uint64
	Heap0, Heap1            uint64
	Gor0, Gor1              int
	CPURamp                 float64
	Handshake, Presence     []time.Duration
	Setup                   []time.Duration
	ConnectErrs, SetupErrs  int
	FirstConnErr, FirstSErr string
}

// Run drives one relay per host count and prints the table to w.
func Run(ctx context.Context, w io.Writer, o Options) error {
	limit := RaiseNoFile()
	var rows []Row
	for _, n := range o.Hosts {
		if need := uint64(n + o.Presence + 200); limit < need {
			return fmt.Errorf("RLIMIT_NOFILE hard limit is %d, %d Hosts need %d descriptors in this process and in the relay's (raise the hard limit: needs CAP_SYS_RESOURCE)", limit, n, need)
		}
		fmt.Fprintf(os.Stderr, "relay bench: %d Hosts...\n", n)
		r, err := runOne(ctx, o, n)
		if err != nil {
			print(w, rows) // what was measured before
			return fmt.Errorf("%d Hosts: %w", n, err)
		}
		rows = append(rows, r)
	}
	print(w, rows)
	return nil
}

func runOne(ctx context.Context, o Options, n int) (Row, error) {
	row := Row{Hosts: n}
	dir, err := os.MkdirTemp("", "tandem-bench-relay-")
	if err != nil {
		return row, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.Exe, "relay-node", "--data", dir, "--hosts", fmt.Sprint(n+o.Presence))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return row, err
	}
	if err := cmd.Start(); err != nil {
		return row, err
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	line, err := bufio.NewReaderSize(out, 1<<20).ReadBytes('\n')
	if err != nil {
		return row, fmt.Errorf("relay node: %w", err)
	}
	var rd ready
	if err := json.Unmarshal(line, &rd); err != nil {
		return row, fmt.Errorf("relay node: %w", err)
	}
	kb, _ := base64.StdEncoding.DecodeString(rd.PublicKey)
	relayKey := ed25519.PublicKey(kb)
	pid := cmd.Process.Pid
	fmt.Fprintf(os.Stderr, "  enrolled %d devices in %.1f s\n", n+o.Presence, rd.EnrollSec)

	hc := &http.Client{Timeout: 30 * time.Second}
	m0, err := mem(ctx, hc, rd.URL)
	if err != nil {
		return row, err
	}
	row.RSS0, row.Heap0, row.Gor0 = m0.RSS, m0.HeapInuse+m0.StackInuse, m0.Goroutines
	cpu0 := cpuSeconds(pid)

	// The ramp: Concurrency Hosts connecting at once.
	hosts := make([]*simHost, n+o.Presence)
	clients := map[int]*http.Client{}
	client := func(i int) *http.Client {
		src := i / o.PerSource
		if clients[src] == nil {
			clients[src] = dialer(net.IPv4(127, 0, 1, byte(10+src)))
		}
		return clients[src]
	}
	for i := range hosts {
		hosts[i] = &simHost{id: rd.Devices[i], key: hostKey(i), grants: make(chan time.Time, 1)}
		client(i)
	}
	var next atomic.Int64
	var errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	t0 := time.Now()
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				cctx, cc := context.WithTimeout(ctx, 60*time.Second)
				if err := hosts[i].connect(cctx, clients[i/o.PerSource], rd.URL, relayKey); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
				cc()
			}
		}()
	}
	wg.Wait()
	ramp := time.Since(t0)
	row.ConnectErrs = int(errs.Load())
	if v := firstErr.Load(); v != nil {
		row.FirstConnErr = v.(string)
	}
	row.ConnectPerSec = float64(n-row.ConnectErrs) / ramp.Seconds()
	row.CPURamp = cpuSeconds(pid) - cpu0
	fmt.Fprintf(os.Stderr, "  connected %d in %.1f s (%d errors %s)\n", n-row.ConnectErrs, ramp.Seconds(), row.ConnectErrs, row.FirstConnErr)
	select {
	case <-time.After(o.Settle):
	case <-ctx.Done():
		return row, ctx.Err()
	}
	m1, err := mem(ctx, hc, rd.URL)
	if err != nil {
		return row, err
	}
	row.RSS1, row.Heap1, row.Gor1 = m1.RSS, m1.HeapInuse+m1.StackInuse, m1.Goroutines
	if o.HeapProfile != "" {
		if err := saveHeap(ctx, hc, rd.URL, fmt.Sprintf(o.HeapProfile, n)); err != nil {
			return row, err
		}
	}

	var login wire.LoginResponse
	if err := apiclient.Call(ctx, hc, "POST", rd.URL, "/api/v1/login", "", wire.LoginRequest{Email: ownerEmail, Password: ownerPass}, &login); err != nil {
		return row, fmt.Errorf("login: %w", err)
	}

	// Presence: one Host at a time, from its dial to the API listing it.
	for i := n; i < n+o.Presence; i++ {
		t := time.Now()
		if err := hosts[i].connect(ctx, client(i), rd.URL, relayKey); err != nil {
			row.ConnectErrs++
			continue
		}
		row.Handshake = append(row.Handshake, time.Since(t))
		for deadline := time.Now().Add(10 * time.Second); ; {
			var d wire.Device
			if err := apiclient.Call(ctx, hc, "GET", rd.URL, "/api/v1/accounts/"+rd.Account+"/devices/"+hosts[i].id, login.Token, nil, &d); err != nil {
				return row, fmt.Errorf("presence: %w", err)
			}
			if d.Online {
				row.Presence = append(row.Presence, time.Since(t))
				break
			}
			if time.Now().After(deadline) {
				return row, errors.New("presence: a connected Host not listed online within 10 s")
			}
		}
	}

	// Session setups at a fixed rate, each on another Host: from the
	// request to the grant at the Host.
	var mu sync.Mutex
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.Rate))
	defer tick.Stop()
	for k := range o.Sessions {
		<-tick.C
		h := hosts[(k*7919)%n]
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.Now()
			var sr wire.SessionResponse
			err := apiclient.Call(ctx, hc, "POST", rd.URL, "/api/v1/sessions", login.Token, wire.SessionRequest{Device: h.id}, &sr)
			if err == nil {
				select {
				case g := <-h.grants:
					mu.Lock()
					row.Setup = append(row.Setup, g.Sub(t))
					mu.Unlock()
					return
				case <-time.After(30 * time.Second):
					err = errors.New("no grant within 30 s")
				}
			}
			mu.Lock()
			row.SetupErrs++
			if row.FirstSErr == "" {
				row.FirstSErr = err.Error()
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, h := range hosts {
		if h.conn != nil {
			h.conn.CloseNow()
		}
	}
	return row, nil
}

func mem(ctx context.Context, hc *http.Client, base string) (Mem, error) {
	var m Mem
	err := apiclient.Call(ctx, hc, "GET", base, "/__bench/mem", "", nil, &m)
	return m, err
}

func pct(d []time.Duration, p float64) string {
	if len(d) == 0 {
		return "-"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	v := s[min(len(s)-1, int(p*float64(len(s))))]
	return fmt.Sprintf("%.1f", float64(v.Microseconds())/1000)
}

func print(w io.Writer, rows []Row) {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "hosts\tconnect/s\trelay RSS MiB\tRSS KiB/Host\theap+stack KiB/Host\tgoroutines/Host\tramp CPU s\thandshake p50/p95 ms\tpresence p50/p95 ms\tsetup p50/p95/p99 ms\tsetups\terrors\t")
	for _, r := range rows {
		per := func(a, b uint64) float64 { return (float64(b) - float64(a)) / 1024 / float64(r.Hosts) }
		fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%.1f\t%.1f\t%.2f\t%.1f\t%s/%s\t%s/%s\t%s/%s/%s\t%d\t%d\t\n",
			r.Hosts, r.ConnectPerSec, float64(r.RSS1)/(1<<20), per(r.RSS0, r.RSS1), per(r.Heap0, r.Heap1),
			float64(r.Gor1-r.Gor0)/float64(r.Hosts), r.CPURamp,
			pct(r.Handshake, .5), pct(r.Handshake, .95), pct(r.Presence, .5), pct(r.Presence, .95),
			pct(r.Setup, .5), pct(r.Setup, .95), pct(r.Setup, .99), len(r.Setup), r.ConnectErrs+r.SetupErrs)
	}
	tw.Flush()
	w.Write(b.Bytes())
	for _, r := range rows {
		if r.FirstConnErr != "" || r.FirstSErr != "" {
			fmt.Fprintf(w, "%d Hosts: first connect error %q, first setup error %q\n", r.Hosts, r.FirstConnErr, r.FirstSErr)
		}
	}
}

func saveHeap(ctx context.Context, hc *http.Client, base, path string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/__bench/heap", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
