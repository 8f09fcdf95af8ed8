// Package shield turns a (signed) manifest into a running shield: it opens and
// verifies the manifest, prints the insecure-settings banner, resolves argv,
// environment, ids and working directory by Gramine's rules, and builds the
// configurations of the file server (internal/fileserver) and the sandbox
// (internal/sandbox) that together present the application its view.
package shield
