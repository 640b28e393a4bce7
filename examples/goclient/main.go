// Command goclient is an example back-end client of the token server: it
// gets caller tokens (from the sandbox when none is given), then asks for a
// host's ZAK, a participant's OBF and a batch of OBFs. It prints what it got
// without printing any token.
//
// With -join it then joins the meeting as a Meeting SDK bot on behalf of the
// participant, with the OBF and the SDK bundle (`sdk`) the join answer
// carried. In sandbox mode the join goes to the sandbox's judge
// (POST /sandbox/sdk/join), a stand-in for the Meeting SDK's join; against
// real Zoom the example prints the parameters an SDK app would pass and does
// not join. An OBF join succeeds only while its user is in the meeting, so
// with -join-wait the bot tries again, with a fresh OBF each time (an OBF is
// single use), as bots do.
//
//	go run ./examples/goclient -url http://localhost:3000
//	go run ./examples/goclient -join -join-wait 5m
//
// Sandbox mode makes meeting 85746065432 (the default -meeting) at start; a
// user is put in it with POST /sandbox/meetings/85746065432/participants
// {"user": "participant@example.com"}, as their Zoom client would join.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	base := fs.String("url", envOr("TOKEN_SERVER_URL", "http://localhost:"+envOr("PORT", "3000")), "token server base URL (default: $TOKEN_SERVER_URL, else http://localhost:$PORT)")
	meeting := fs.String("meeting", "85746065432", "Zoom meeting number")
	host := fs.String("host", "host@example.com", "host's Zoom user id or email")
	participant := fs.String("participant", "participant@example.com", "participant's Zoom user id or email")
	hostToken := fs.String("host-token", os.Getenv("HOST_TOKEN"), "caller JWT or API key for the host (default: from POST /sandbox/tokens)")
	partToken := fs.String("participant-token", os.Getenv("PARTICIPANT_TOKEN"), "caller JWT for the participant (default: from POST /sandbox/tokens)")
	var jf joinFlags
	fs.BoolVar(&jf.join, "join", false, "then join the meeting as a Meeting SDK bot on behalf of -participant, with its OBF and SDK bundle")
	fs.StringVar(&jf.name, "join-name", "Token server example bot", "the bot's name in the meeting (the SDK's userName)")
	fs.DurationVar(&jf.wait, "join-wait", 0, "keep trying this long while the participant is not in the meeting (0: one try)")
	fs.DurationVar(&jf.every, "join-every", 3*time.Second, "pause between join attempts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if jf.every <= 0 || jf.wait < 0 {
		return errors.New("-join-every must be positive and -join-wait not negative")
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

	var join joinAnswer
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
	if !jf.join {
		return nil
	}
	bot := &bot{c: c, out: out, flags: jf, token: *partToken, meeting: *meeting, user: *participant,
		sandbox: health["mode"] == "sandbox"}
	return bot.joinMeeting(ctx, join)
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

type joinFlags struct {
	join        bool
	name        string
	wait, every time.Duration
}

// joinAnswer is what POST /api/meetings/join answers that a bot uses: the
// OBF and the Meeting SDK bundle for the same meeting.
type joinAnswer struct {
	OBFToken  string `json:"obfToken"`
	ExpiresIn string `json:"expiresIn"`
	SDK       *struct {
		Signature     string `json:"signature"`
		SDKKey        string `json:"sdkKey"`
		MeetingNumber string `json:"meetingNumber"`
		Role          int    `json:"role"`
	} `json:"sdk"`
}

// bot joins a meeting on behalf of a user, as a Meeting SDK app would.
type bot struct {
	c       *client
	out     io.Writer
	flags   joinFlags
	token   string // the caller JWT that may mint the user's OBF
	meeting string
	user    string
	sandbox bool
}

// notInMeeting is the SDK's error when an OBF's user is not in the meeting
// (docs/ZOOM.md): the one refusal worth trying again.
const notInMeeting = 65535

// joinMeeting joins with the OBF and bundle it was given; while the user is
// not in the meeting and -join-wait allows, it tries again with a fresh OBF.
func (b *bot) joinMeeting(ctx context.Context, first joinAnswer) error {
	if first.SDK == nil {
		return errors.New("sdk join: the join answer has no sdk bundle: the server has no Meeting SDK signing configured (ZOOM_SDK_KEY and ZOOM_SDK_SECRET, or a General app)")
	}
	if !b.sandbox {
		b.printParams(first)
		return nil
	}
	fmt.Fprintf(b.out, "sdk join: SANDBOX: the sandbox's judge (POST /sandbox/sdk/join) stands in for the Meeting SDK's join; no real meeting is joined\n")
	deadline := time.Now().Add(b.flags.wait)
	ans := first
	for attempt := 1; ; attempt++ {
		refusal, err := b.judge(ctx, ans)
		if err != nil {
			return fmt.Errorf("sdk join: %w", err)
		}
		if refusal == nil {
			fmt.Fprintf(b.out, "sdk join attempt %d: JOINED meeting %s as %q on behalf of %s (OBF %s)\n",
				attempt, ans.SDK.MeetingNumber, b.flags.name, b.user, fingerprint(ans.OBFToken))
			return nil
		}
		fmt.Fprintf(b.out, "sdk join attempt %d: REFUSED by the judge: %d %s (%s) (OBF %s)\n",
			attempt, refusal.ErrorCode, refusal.ErrorMessage, refusal.Reason, fingerprint(ans.OBFToken))
		if refusal.ErrorCode != notInMeeting {
			return fmt.Errorf("sdk join refused: %d %s", refusal.ErrorCode, refusal.ErrorMessage)
		}
		if attempt == 1 {
			fmt.Fprintf(b.out, "sdk join: in the sandbox, %s joins the meeting (as in their Zoom client) with: "+
				"curl -s -X POST %s/sandbox/meetings/%s/participants -d '{\"user\":\"%s\"}'\n", b.user, b.c.base, b.meeting, b.user)
		}
		if !time.Now().Add(b.flags.every).Before(deadline) {
			return fmt.Errorf("sdk join refused: %s is not in meeting %s (an OBF joins only while its user is in the meeting; -join-wait waits for them)", b.user, b.meeting)
		}
		fmt.Fprintf(b.out, "sdk join: %s is not in the meeting yet; trying again in %s with a fresh OBF (an OBF is single use)\n", b.user, b.flags.every)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(b.flags.every):
		}
		ans = joinAnswer{}
		if err := b.c.call(ctx, "POST", "/api/meetings/join", b.token, map[string]any{"meetingId": b.meeting, "participantUserId": b.user}, &ans); err != nil {
			return fmt.Errorf("join: %w", err)
		}
		if ans.SDK == nil {
			return errors.New("sdk join: the join answer has no sdk bundle")
		}
	}
}

// judgeRefusal is the judge's answer to a refused join, in the web SDK's terms.
type judgeRefusal struct {
	ErrorCode    int    `json:"errorCode"`
	ErrorMessage string `json:"errorMessage"`
	Reason       string `json:"reason"`
}

// judge asks the sandbox's judge to join; nil when it let the bot in.
func (b *bot) judge(ctx context.Context, ans joinAnswer) (*judgeRefusal, error) {
	body, err := json.Marshal(map[string]any{"signature": ans.SDK.Signature, "meetingNumber": ans.SDK.MeetingNumber,
		"obfToken": ans.OBFToken, "userName": b.flags.name})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", b.c.base+"/sandbox/sdk/join", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	var r struct {
		Joined bool `json:"joined"`
		judgeRefusal
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("the judge answered HTTP %d without JSON", resp.StatusCode)
	}
	if resp.StatusCode == http.StatusOK && r.Joined {
		return nil, nil
	}
	if r.ErrorCode == 0 {
		return nil, fmt.Errorf("the judge answered HTTP %d: %s", resp.StatusCode, r.ErrorMessage)
	}
	return &r.judgeRefusal, nil
}

// printParams says what a Meeting SDK app would pass to join, with the
// tokens shown by length and fingerprint only.
func (b *bot) printParams(ans joinAnswer) {
	sig := fmt.Sprintf("<signature: %d chars, %s>", len(ans.SDK.Signature), fingerprint(ans.SDK.Signature))
	obf := fmt.Sprintf("<OBF: %d chars, %s>", len(ans.OBFToken), fingerprint(ans.OBFToken))
	fmt.Fprintf(b.out, "sdk join: ZOOM MODE: this example does not join a real meeting; a Meeting SDK app would now pass these (mint a fresh OBF for each join):\n")
	fmt.Fprintf(b.out, "  web:    ZoomMtg.join({signature: %s, sdkKey: %q, meetingNumber: %q, obfToken: %s, userName: %q})\n",
		sig, ans.SDK.SDKKey, ans.SDK.MeetingNumber, obf, b.flags.name)
	fmt.Fprintf(b.out, "  native: authenticate the SDK with the signature as its JWT, then join without login with {meetingNumber: %s, userName: %q, onBehalfToken: %s}\n",
		ans.SDK.MeetingNumber, b.flags.name, obf)
}

// fingerprint names a token without revealing it: the first 16 hex digits
// of its SHA-256.
func fingerprint(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])[:16]
}
