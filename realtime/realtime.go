// Package realtime serves Socket.IO on the REST port.
package realtime

import (
	_ "github.com/zishang520/socket.io/v2/socket"
)
