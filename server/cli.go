package main

import (
	"fmt"
	"io"
	"strings"
)

// usage is what --help prints: what the binary is, how to start it, where
// its variables are described, and its subcommands.
const usage = `tokenserver: a Zoom token server. It mints Zoom ZAK and OBF tokens (and Meeting SDK
signatures) for callers that authenticate with a JWT or an API key, over REST and Socket.IO on one port.

Usage:
  bin/server               serve on HOST:PORT (default 0.0.0.0:3000) until SIGINT or SIGTERM
  bin/server healthcheck   probe a running server's /api/live (the container image's HEALTHCHECK); exit 1 unless alive
  bin/server version       print the version and exit (also --version)
  bin/server help          print this and exit (also --help, -h)

From a checkout, 'make run' builds and starts it. With no Zoom credentials set it runs in sandbox mode:
an in-process stand-in for Zoom, no account needed. Then open http://localhost:3000/ (the API's index),
/console/ (a browser console) and /docs/api/ (the API reference).

Configuration comes from the environment and from a .env file in the working directory (never overriding
the environment): ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET for zoom mode, AUTH_JWT_SECRET or
API_KEYS for callers, PORT, HOST, LOG_LEVEL and the rest: every variable is described in docs/CONFIGURATION.md.
`

// command handles the arguments that do not serve: help, version and a
// mistake. done is false when the server should start (no argument); code is
// the process's exit status otherwise. healthcheck is main's, as it needs a
// context.
func command(args []string, stdout, stderr io.Writer) (code int, done bool) {
	if len(args) == 0 {
		return 0, false
	}
	switch args[0] {
	case "help", "--help", "-help", "-h":
		fmt.Fprint(stdout, usage)
		return 0, true
	case "version", "--version", "-version", "-v":
		fmt.Fprintln(stdout, "tokenserver", version)
		return 0, true
	}
	what := "argument"
	if strings.HasPrefix(args[0], "-") {
		what = "flag"
	}
	fmt.Fprintf(stderr, "unknown %s %q\n\n%s", what, args[0], usage)
	return 2, true
}
