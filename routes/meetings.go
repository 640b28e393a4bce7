package routes

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/zoomtoken/tokenserver/internal/wire"
)

// serve answers one operation of the table over REST: a caller whose role
// may never do it is refused before its body is read; the body is read once,
// within the limit, and the operation decodes and runs it.
func (a *api) serve(op wire.Op) gin.HandlerFunc {
	env := wire.Env{Domain: a.Domain, Info: a.MeetingInfo, Now: a.Now}
	if a.Awaits != nil {
		env.Candidates = a.Awaits
	}
	return func(c *gin.Context) {
		who := caller(c)
		if op.May != nil {
			if err := op.May(who); err != nil {
				fail(c, a.Logger, err)
				return
			}
		}
		body, err := readBody(c, a.BodyLimit)
		if err != nil {
			fail(c, a.Logger, err)
			return
		}
		if op.Streams && wantsNDJSON(c.GetHeader("Accept")) {
			a.stream(c, op, env, who, body)
			return
		}
		answer, err := op.Do(c.Request.Context(), env, who, body)
		if err != nil {
			fail(c, a.Logger, err)
			return
		}
		noStore(c)
		writeJSON(c, http.StatusOK, answer)
	}
}

// decoded reads the body and parses it with decode; on failure it writes
// the error and reports false.
func decoded[T any](a *api, c *gin.Context, decode func([]byte) (T, error)) (T, bool) {
	var zero T
	body, err := readBody(c, a.BodyLimit)
	if err == nil {
		var in T
		if in, err = decode(body); err == nil {
			return in, true
		}
	}
	fail(c, a.Logger, err)
	return zero, false
}
