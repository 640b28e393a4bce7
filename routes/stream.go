package routes

import (
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/zoomtoken/tokenserver/internal/wire"
	"github.com/zoomtoken/tokenserver/services"
)

// ndjson is the media type of a streamed batch: one JSON object a line.
const ndjson = "application/x-ndjson"

// wantsNDJSON reports whether an Accept header asks for ndjson (with a q
// other than 0); any other Accept, or none, gets the usual JSON answer.
func wantsNDJSON(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || mt != ndjson {
			continue
		}
		if q, ok := params["q"]; ok {
			if v, err := strconv.ParseFloat(q, 64); err != nil || v <= 0 {
				continue
			}
		}
		return true
	}
	return false
}

// stream runs an operation that streams (batch-join) and writes each user's
// answer as one line as soon as it is minted, flushed, then a last line
// {done: true, summary}. Until the first line is written, an error is the
// usual JSON error answer; after it no error can arise (a batch's per-user
// failures are lines of their own). A client that stops reading stops
// getting lines; the batch still ends, within the server's write timeout.
func (a *api) stream(c *gin.Context, op wire.Op, env wire.Env, who services.Identity, body []byte) {
	w := c.Writer
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // as every JSON answer: "<jwt>", not "\u003cjwt\u003e"
	started := false
	var werr error
	line := func(v any) {
		if werr != nil {
			return
		}
		if !started {
			started = true
			noStore(c)
			w.Header().Set("Content-Type", ndjson)
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusOK)
		}
		if werr = enc.Encode(v); werr == nil {
			werr = rc.Flush()
		}
	}
	env.Each = line
	answer, err := op.Do(c.Request.Context(), env, who, body)
	if err != nil {
		if !started {
			fail(c, a.Logger, err)
			return
		}
		a.Logger.Warn("stream: the operation failed after its first line", "op", op.Name, "error", err)
		return
	}
	line(wire.NewStreamEnd(answer))
	if werr != nil {
		a.Logger.Info("stream: the client stopped reading", "op", op.Name, "error", werr)
	}
}
