package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/realtime/rawclient"
)

const attackHeading = "## Under attack"

// runAttack measures the server while it is attacked and writes the
// "Under attack" section of out, leaving the rest of the file alone.
func runAttack(bin, out string, floodFor time.Duration, trials int) error {
	var rs []result
	add := func(r result) {
		rs = append(rs, r)
		fmt.Printf("  %-58s %s\n", r.name, r.value)
	}
	fmt.Println("attacking (the server is the real binary; Zoom is the sandbox on loopback)")
	if err := flood(bin, floodFor, add); err != nil {
		return fmt.Errorf("flood: %w", err)
	}
	if err := closeTimes(bin, add); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	if err := lostPushes(bin, trials, add); err != nil {
		return fmt.Errorf("lost pushes: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nWritten by `make attack` (`go run ./internal/bench -attack -out BENCHMARKS.md`) on %s, on the machine above.\n\n",
		attackHeading, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "The server is the real binary in zoom mode against the sandbox, with its default limits. Medians unless said otherwise.\n\n")
	b.WriteString("| measure | result | target |\n|---|---|---|\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", r.name, r.value, r.target)
	}
	fmt.Println()
	fmt.Print(b.String())
	if out == "" {
		return nil
	}
	old, _ := os.ReadFile(out)
	return os.WriteFile(out, []byte(withSection(string(old), b.String())), 0o644)
}

// withSection replaces the Under attack section of doc (to the next "## "
// heading or the end) with section, or appends it.
func withSection(doc, section string) string {
	i := strings.Index(doc, attackHeading)
	if i < 0 {
		if doc != "" && !strings.HasSuffix(doc, "\n\n") {
			doc = strings.TrimRight(doc, "\n") + "\n\n"
		}
		return doc + section
	}
	rest := doc[i+len(attackHeading):]
	tail := ""
	if j := strings.Index(rest, "\n## "); j >= 0 {
		tail = rest[j+1:]
	}
	return doc[:i] + section + tail
}

// flood runs the binary-attachment flood over websockets and the endless
// chunked polling POST at once, from unauthenticated clients, and samples
// the server's RSS.
func flood(bin string, d time.Duration, add func(result)) error {
	_, srv, stop, err := harness(bin, sandbox.Options{}, "AUTH_JWT_SECRET=bench-secret-0123456789abcdef0123456789")
	if err != nil {
		return err
	}
	defer stop()
	time.Sleep(300 * time.Millisecond)
	rss0 := rssKB(srv.cmd.Process.Pid)
	done := make(chan struct{})
	var n floodCounts
	var wg sync.WaitGroup
	wg.Go(func() { binaryFlood(srv.url, done, &n) })
	wg.Go(func() { endlessPosts(srv.url, done, &n) })
	samples := sampleRSS(srv.cmd.Process.Pid, d)
	close(done)
	wg.Wait()
	peak := slices.Max(samples)
	add(result{name: fmt.Sprintf("RSS during %v of binary flood + chunked polling POSTs", d),
		value: fmt.Sprintf("median %.0f MB, peak %.0f MB (%.0f MB idle); %d binary frames of 64 KB sent, %d floods cut off, %d POSTs refused",
			median(samples), peak, float64(rss0)/1024, n.frames.Load(), n.kicked.Load(), n.posts.Load()),
		target: "< 100 MB"})
	return nil
}

// floodCounts is what the flood sent: binary frames, connections cut off
// mid-flood, polling POSTs.
type floodCounts struct {
	frames, kicked, posts atomic.Int64
}

// binaryFlood sends 64 KB binary attachments over websockets, a new
// connection each time the server cuts one off, until done closes.
func binaryFlood(url string, done <-chan struct{}, n *floodCounts) {
	chunk := bytes.Repeat([]byte{0xff}, 64<<10)
	for {
		select {
		case <-done:
			return
		default:
		}
		c, err := rawclient.Dial(url, nil, nil)
		if err != nil {
			continue
		}
		c.Raw(`451000000-["ping"]`)
		for {
			if c.Binary(chunk) != nil {
				n.kicked.Add(1)
				break
			}
			n.frames.Add(1)
			select {
			case <-done:
				c.Close()
				return
			default:
			}
		}
		c.Close()
	}
}

// endlessPosts sends chunked polling POSTs that never end, one after
// another, until done closes.
func endlessPosts(url string, done <-chan struct{}, n *floodCounts) {
	for {
		select {
		case <-done:
			return
		default:
		}
		sid, err := pollingSid(url)
		if err != nil {
			continue
		}
		req, _ := http.NewRequest("POST", url+"/socket.io/?EIO=4&transport=polling&sid="+sid, io.LimitReader(endless{}, 1<<30))
		req.ContentLength = -1
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		n.posts.Add(1)
	}
}

// sampleRSS samples the RSS of process pid, in MB, every 250 ms for d.
func sampleRSS(pid int, d time.Duration) []float64 {
	var samples []float64
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		samples = append(samples, float64(rssKB(pid))/1024)
	}
	return samples
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

func pollingSid(base string) (string, error) {
	resp, err := http.Get(base + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		return "", err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, rest, ok := strings.Cut(string(b), `"sid":"`)
	if !ok {
		return "", fmt.Errorf("no sid in %q", b)
	}
	sid, _, _ := strings.Cut(rest, `"`)
	return sid, nil
}

// closeTimes times a client's close over websocket: socket.io-client 4's
// close() until its websocket reports closed, and the raw client's close
// handshake until the server has ended the TCP connection.
func closeTimes(bin string, add func(result)) error {
	_, srv, stop, err := harness(bin, sandbox.Options{}, "AUTH_JWT_SECRET=bench-secret-0123456789abcdef0123456789")
	if err != nil {
		return err
	}
	defer stop()
	const rounds = 50
	cmd := exec.Command("node", "disconnect.js", "close")
	cmd.Dir = "examples/node"
	cmd.Env = append(os.Environ(), "SERVER_URL="+srv.url, "TOKEN="+jwtFor("closer@example.com"), fmt.Sprintf("ROUNDS=%d", rounds), "WAIT_MS=120000")
	outp, err := cmd.Output()
	nodeVal := "not measured: " + fmt.Sprint(err) + " (run make node-deps)"
	if err == nil {
		sc := bufio.NewScanner(bytes.NewReader(outp))
		for sc.Scan() {
			var m struct {
				Event           string
				MedianMs, MaxMs float64
			}
			if json.Unmarshal(sc.Bytes(), &m) == nil && m.Event == "done" {
				nodeVal = fmt.Sprintf("median %.1f ms, max %.1f ms (%d rounds)", m.MedianMs, m.MaxMs, rounds)
			}
		}
	}
	add(result{name: "socket.io-client 4 close() over websocket, until its websocket is closed", value: nodeVal, target: "< 100 ms"})

	var times []float64
	for range rounds {
		c, _, err := participant(srv.url, jwtFor("closer@example.com"))
		if err != nil {
			return err
		}
		d, err := c.CloseHandshake(10 * time.Second)
		if err != nil {
			return err
		}
		times = append(times, ms(d))
	}
	add(result{name: "raw client close handshake, until the server ends the TCP connection",
		value: fmt.Sprintf("median %.2f ms, max %.2f ms (%d rounds)", median(times), slices.Max(times), rounds), target: "< 100 ms"})
	return nil
}

// lostPushes runs two-socket trials: a user connects twice, one socket
// leaves abruptly (several "41"s, then the TCP connection drops), and a REST
// join for that user must be delivered to the other.
func lostPushes(bin string, trials int, add func(result)) error {
	_, srv, stop, err := harness(bin, sandbox.Options{}, "AUTH_JWT_SECRET=bench-secret-0123456789abcdef0123456789")
	if err != nil {
		return err
	}
	defer stop()
	lost := 0
	start := time.Now()
	for i := range trials {
		user := fmt.Sprintf("two%05d@example.com", i)
		keep, _, err := participant(srv.url, jwtFor(user))
		if err != nil {
			return err
		}
		leave, _, err := participant(srv.url, jwtFor(user))
		if err != nil {
			return err
		}
		for range 4 {
			leave.Raw("41")
		}
		leave.Close()
		delivered, err := joinDelivered(srv.url, user)
		if err != nil {
			return err
		}
		if _, ok := keep.WaitEvent("meeting:credentials", 5*time.Second); !ok || !delivered {
			lost++
		}
		keep.Close()
	}
	add(result{name: fmt.Sprintf("pushes lost in %d two-socket trials (one socket leaves abruptly)", trials),
		value: fmt.Sprintf("%d (in %v)", lost, time.Since(start).Round(time.Second)), target: "0"})
	return nil
}

func joinDelivered(base, user string) (bool, error) {
	b, _ := json.Marshal(map[string]any{"meetingId": meeting, "participantUserId": user})
	req, _ := http.NewRequest("POST", base+"/api/meetings/join", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", apiKey)
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var r struct {
		Delivered bool `json:"delivered"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&r)
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("join: HTTP %d", resp.StatusCode)
	}
	return r.Delivered, nil
}
