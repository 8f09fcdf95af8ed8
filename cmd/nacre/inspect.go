package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/nacre-tee/nacre/internal/measure"
)

// inspectInfo is the --json output of nacre inspect.
type inspectInfo struct {
	Measurement      string  `json:"measurement"`
	Signer           string  `json:"signer"`
	ISVProdID        uint16  `json:"isvprodid"`
	ISVSVN           uint16  `json:"isvsvn"`
	Debug            bool    `json:"debug"`
	Date             string  `json:"date"`
	ChunkIndexSHA256 *string `json:"chunk_index_sha256"`
	TrustedFiles     int     `json:"trusted_files"`
}

func newInspectCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "inspect SIGNED-MANIFEST",
		Short: "Verify a signed manifest and show its measurement and signer",
		Long: `inspect verifies a signed manifest (signature and measurement) and prints
its measurement, signer (same value as Gramine's MRSIGNER for the same key),
isvprodid, isvsvn, debug flag, date and chunk-index hash. It exits with
status 1 if the file is not signed, the signature is bad or the manifest was
modified after signing.`,
		Example: `  nacre inspect python.manifest.signed
  nacre inspect --json python.manifest.signed | jq -r .measurement`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			info, err := inspectFile(args[0])
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			return printInspect(cmd.OutOrStdout(), info, asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func inspectFile(path string) (*inspectInfo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading signed manifest: %w", err)
	}
	s, err := measure.Open(path, data)
	if err != nil {
		return nil, err
	}
	info := &inspectInfo{
		Measurement:  hex.EncodeToString(s.Measurement[:]),
		Signer:       hex.EncodeToString(s.Signer[:]),
		ISVProdID:    s.ISVProdID,
		ISVSVN:       s.ISVSVN,
		Debug:        s.Debug,
		Date:         s.Date,
		TrustedFiles: len(s.Manifest.TrustedFiles),
	}
	if s.ChunkIndexSHA256 != nil {
		h := hex.EncodeToString(s.ChunkIndexSHA256[:])
		info.ChunkIndexSHA256 = &h
	}
	return info, nil
}

func printInspect(w io.Writer, info *inspectInfo, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	ci := "none"
	if info.ChunkIndexSHA256 != nil {
		ci = *info.ChunkIndexSHA256
	}
	_, err := fmt.Fprintf(w, "measurement:   %s\nsigner:        %s\nisvprodid:     %d\nisvsvn:        %d\ndebug:         %t\ndate:          %s\nchunk index:   %s\ntrusted files: %d\n",
		info.Measurement, info.Signer, info.ISVProdID, info.ISVSVN, info.Debug, info.Date, ci, info.TrustedFiles)
	return err
}

func init() { addCommand(newInspectCmd()) }
