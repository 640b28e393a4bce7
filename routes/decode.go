package routes

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/zoomtoken/tokenserver/internal/apperr"
)

// readBody reads at most limit bytes of the request body. The services
// parse it (wire.DecodeStart and its siblings), for REST and Socket.IO alike.
func readBody(c *gin.Context, limit int64) ([]byte, error) {
	const op = "read body"
	// The body must be a JSON object whatever the Content-Type says (curl -d
	// sends a form type); only a multipart upload is refused outright.
	if ct := c.GetHeader("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil && strings.HasPrefix(mt, "multipart/") {
			return nil, apperr.InvalidInput(op, apperr.FieldError{Field: "Content-Type", Reason: "must be application/json"})
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &apperr.Error{Kind: apperr.ErrTooLarge, Op: op,
				Message: fmt.Sprintf("The request body is larger than %d bytes.", limit)}
		}
		return nil, apperr.InvalidInput(op, apperr.FieldError{Field: "body", Reason: "could not be read"})
	}
	return body, nil
}
