package main

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"github.com/nacre-tee/nacre/internal/shield"
)

func newRunCmd() *cobra.Command {
	var platform string
	cmd := &cobra.Command{
		Use:   "run [flags] MANIFEST [ARGS...]",
		Short: "Run an application under the shield described by a (signed) manifest",
		Long: `Run verifies a signed manifest (measurement and signature), then starts its
libos.entrypoint in fresh user, mount, PID, IPC and UTS namespaces. The application
sees exactly the manifest's filesystem view; trusted files are verified on every read
and unlisted files are refused. nacre exits with the application's status (128+N when
it was killed by signal N); a failure of nacre itself (a broken or tampered manifest,
a setup step) exits with 125, as podman does.

MANIFEST is a manifest file, or an application name whose APP.manifest.sgx (signed)
or APP.manifest (unsigned: insecure, development only) exists. ARGS are passed to the
application only if the manifest sets loader.insecure__use_cmdline_argv.`,
		Example: `  nacre run bash.manifest.sgx -c 'echo hello from the shield'
  nacre run python hello.py          # uses python.manifest.sgx
  nacre --log-level debug run app.manifest.sgx
  nacre run --platform sim app.manifest.sgx   # simulated TEE: /dev/attestation/quote works, proves nothing`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The sandbox catches SIGINT, SIGTERM and SIGHUP itself and forwards
			// them to the application, whose exit status becomes nacre's.
			code, err := shield.Run(context.Background(), shield.Options{
				Manifest: args[0],
				Args:     args[1:],
				Env:      os.Environ(),
				Stdin:    os.Stdin,
				Stdout:   os.Stdout,
				Stderr:   os.Stderr,
				Banner:   os.Stderr,
				Platform: platform,
				Exiting:  true, // main exits with the status
				SetLevel: func(level string) error {
					if logLevel != "" { // --log-level wins over the manifest
						return nil
					}
					lvl, err := parseLevel(level)
					if err != nil {
						return err
					}
					setLogLevel(lvl)
					return nil
				},
			})
			if err != nil {
				return &exitError{code: 125, err: err}
			}
			if code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
	cmd.Flags().SetInterspersed(false) // everything after MANIFEST belongs to the app
	cmd.Flags().StringVar(&platform, "platform", "auto", "TEE platform: auto (detect through configfs-tsm), tdx, snp, sim (simulated, insecure) or none (direct mode)")
	return cmd
}

func init() { addCommand(newRunCmd()) }
