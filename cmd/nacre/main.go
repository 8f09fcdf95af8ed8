// Command nacre runs an unmodified Linux application inside a shield described
// by a Gramine-syntax security manifest, and lets a remote party attest it.
//
// Each subcommand lives in its own file and registers itself with addCommand
// from an init function, so features can be added without touching this file.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/nacre-tee/nacre/internal/sandbox"
)

var rootCmd = &cobra.Command{
	Use:   "nacre",
	Short: "Run unmodified Linux applications inside an attested shield",
	Long: `nacre runs an unmodified Linux application inside a shield described by a
Gramine-syntax security manifest (template -> manifest -> sign -> run), and lets a
remote party attest that exactly that application runs there.`,
	SilenceUsage:  true,
	SilenceErrors: true,
}

var logLevel string

func init() {
	rootCmd.PersistentFlags().StringVar(&logLevel, "log-level", "", "log level of nacre itself: error, warning, info, debug, trace (default: error, or the manifest's loader.log_level for run)")
	rootCmd.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if logLevel != "" {
			lvl, err := parseLevel(logLevel)
			if err != nil {
				return err
			}
			setLogLevel(lvl)
		}
		return nil
	}
}

// addCommand registers a subcommand; called from init functions.
func addCommand(c *cobra.Command) { rootCmd.AddCommand(c) }

// exitError carries a specific exit status out of a subcommand (for example
// the application's own status from nacre run).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func main() {
	// The sandbox re-executes this binary as the first process inside the new
	// namespaces; that path must be taken before any CLI parsing.
	if sandbox.IsChild() {
		sandbox.Trace("child main")
		sandbox.ChildMain()
		return
	}
	sandbox.Trace("main")
	initLogging()
	err := rootCmd.Execute()
	sandbox.Trace("main done")
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(os.Stderr, "nacre: error: %v\n", ee.err)
		}
		os.Exit(ee.code)
	}
	fmt.Fprintf(os.Stderr, "nacre: error: %v\n", err)
	slog.Debug("command failed", "err", err)
	os.Exit(2)
}
