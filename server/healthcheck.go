package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// healthcheckTimeout bounds the probe: Docker's HEALTHCHECK gives it 4 s.
const healthcheckTimeout = 3 * time.Second

// healthcheck is the `healthcheck` subcommand, the container image's
// HEALTHCHECK: the image has no shell and no curl, so the binary probes its
// own liveness route at HOST:PORT (loopback when HOST is every address) and exits non-zero, saying why, when
// the server does not answer 200.
func healthcheck(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	port := 3000
	if p := getenv("PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("PORT: %q is not a port the server can be probed on", p)
		}
		port = n
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	host := "127.0.0.1" // the server listens on every address (HOST=0.0.0.0 or ::)
	if h := getenv("HOST"); h != "" && !net.ParseIP(h).IsUnspecified() {
		host = h // it listens on one address only
	}
	u := "http://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/api/live"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %s: %w", u, err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", u, res.StatusCode)
	}
	fmt.Fprintln(stderr, "healthcheck: alive")
	return nil
}
