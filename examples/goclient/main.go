// Command goclient is an example back-end client of the token server: it
// gets caller tokens (from the sandbox when none is given), then asks for a
// host's ZAK, a participant's OBF and a batch of OBFs. It prints what it got
// without printing any token.
//
//	go run ./examples/goclient -url http://localhost:3000
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

type client struct {
	base string
	http *http.Client
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("goclient", flag.ContinueOnError)
	base := fs.String("url", envOr("TOKEN_SERVER_URL", "http://localhost:3000"), "token server base URL")
	meeting := fs.String("meeting", "85746065432", "Zoom meeting number")
	host := fs.String("host", "host@example.com", "host's Zoom user id or email")
	participant := fs.String("participant", "participant@example.com", "participant's Zoom user id or email")
	hostToken := fs.String("host-token", os.Getenv("HOST_TOKEN"), "caller JWT or API key for the host (default: from POST /sandbox/tokens)")
	partToken := fs.String("participant-token", os.Getenv("PARTICIPANT_TOKEN"), "caller JWT for the participant (default: from POST /sandbox/tokens)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c := &client{base: *base, http: &http.Client{Timeout: 60 * time.Second}}

	var health map[string]any
	if err := c.call(ctx, "GET", "/api/health", "", nil, &health); err != nil {
		return fmt.Errorf("health: %w", err)
	}
	fmt.Fprintf(out, "health: %v (zoom: %v)\n", health["status"], health["zoom"])

	var err error
	if *hostToken == "" {
		if *hostToken, err = c.sandboxToken(ctx, *host, "host"); err != nil {
			return err
		}
	}
	if *partToken == "" {
		if *partToken, err = c.sandboxToken(ctx, *participant, "participant"); err != nil {
			return err
		}
	}

	var start struct {
		ZAKToken  string `json:"zakToken"`
		ExpiresIn string `json:"expiresIn"`
		ExpiresAt string `json:"expiresAt"`
	}
	if err := c.call(ctx, "POST", "/api/meetings/start", *hostToken, map[string]any{"meetingId": *meeting, "hostUserId": *host}, &start); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	fmt.Fprintf(out, "start ok: ZAK for %s, %d characters, expires in %s (%s)\n", *host, len(start.ZAKToken), start.ExpiresIn, start.ExpiresAt)

	var join struct {
		OBFToken  string `json:"obfToken"`
		ExpiresIn string `json:"expiresIn"`
	}
	if err := c.call(ctx, "POST", "/api/meetings/join", *partToken, map[string]any{"meetingId": *meeting, "participantUserId": *participant}, &join); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	fmt.Fprintf(out, "join ok: OBF for %s, %d characters, expires in %s\n", *participant, len(join.OBFToken), join.ExpiresIn)

	var batch struct {
		Summary struct{ Total, Successful, Failed int } `json:"summary"`
	}
	ids := []string{*participant, "second@example.com", "third@example.com"}
	if err := c.call(ctx, "POST", "/api/meetings/batch-join", *hostToken, map[string]any{"meetingId": *meeting, "participantUserIds": ids}, &batch); err != nil {
		return fmt.Errorf("batch-join: %w", err)
	}
	fmt.Fprintf(out, "batch-join ok: %d of %d minted, %d failed\n", batch.Summary.Successful, batch.Summary.Total, batch.Summary.Failed)
	if start.ZAKToken == "" || join.OBFToken == "" || batch.Summary.Successful != len(ids) {
		return errors.New("the server answered 200 without the tokens asked for")
	}
	return nil
}

func (c *client) sandboxToken(ctx context.Context, sub, role string) (string, error) {
	var r struct {
		Token string `json:"token"`
	}
	if err := c.call(ctx, "POST", "/sandbox/tokens", "", map[string]string{"sub": sub, "role": role}, &r); err != nil {
		return "", fmt.Errorf("sandbox token (pass -host-token/-participant-token outside sandbox mode): %w", err)
	}
	return r.Token, nil
}

// call sends a JSON request and decodes a 200 answer into out; any other
// answer becomes an error with the server's code and sentence.
func (c *client) call(ctx context.Context, method, path, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error, Code string }
		_ = json.Unmarshal(raw, &e)
		return fmt.Errorf("HTTP %d %s: %s", resp.StatusCode, e.Code, e.Error)
	}
	return json.Unmarshal(raw, out)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
