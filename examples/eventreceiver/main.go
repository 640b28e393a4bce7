// Command eventreceiver is a minimal back-end for the token server's
// events (EVENTS_URL): it checks each delivery's signature with
// EVENTS_SECRET, refuses one that is wrong or older than 5 minutes, and
// prints the event. Ids repeat on retries: act on each id once.
//
//	EVENTS_SECRET=… go run ./examples/eventreceiver -addr 127.0.0.1:8080
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// verify checks X-Tokenserver-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
func verify(header string, body, secret []byte) bool {
	var t, v1 string
	for _, kv := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(kv, "=")
		if k == "t" {
			t = v
		} else if k == "v1" {
			v1 = v
		}
	}
	sec, err := strconv.ParseInt(t, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(t + "." + string(body)))
	return hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(v1))
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "where to listen")
	flag.Parse()
	secret := []byte(os.Getenv("EVENTS_SECRET"))
	http.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil || !verify(r.Header.Get("X-Tokenserver-Signature"), body, secret) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var e struct {
			ID, Type string
			Data     struct{ Sub, Status, Reason string }
		}
		_ = json.Unmarshal(body, &e)
		fmt.Printf("event %s %s sub=%s status=%s reason=%s\n", e.ID, e.Type, e.Data.Sub, e.Data.Status, e.Data.Reason)
		w.WriteHeader(http.StatusNoContent) // any 2xx: delivered; anything else is retried with the same id
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("listening on", ln.Addr())
	log.Fatal(http.Serve(ln, nil))
}
