package shield

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/nacre-tee/nacre/internal/fileserver"
	"github.com/nacre-tee/nacre/internal/keys"
	"github.com/nacre-tee/nacre/internal/pffs"
	"github.com/nacre-tee/nacre/internal/sandbox"
	"github.com/nacre-tee/nacre/internal/tee"
)

// Gramine's special key names: sealing keys bound to the enclave's or the
// signer's identity. nacre derives them where the TEE can (SNP).
const (
	keyMREnclave = "_sgx_mrenclave"
	keyMRSigner  = "_sgx_mrsigner"
)

// encryptedMounts attaches a protected-files server to every encrypted mount
// (fileView put them in mounts as MountFUSE entries without Serve).
func (l *Loaded) encryptedMounts(mounts []sandbox.Mount, store *keys.Store, p tee.Platform, meas [32]byte, log *slog.Logger) error {
	m := l.Manifest
	for i := range mounts {
		if mounts[i].Kind != sandbox.MountFUSE || mounts[i].Name != "pf" {
			continue
		}
		var em *encryptedMount
		for j := range l.encrypted {
			if l.encrypted[j].Path == mounts[i].Path {
				em = &l.encrypted[j]
			}
		}
		if em == nil {
			return fmt.Errorf("internal error: encrypted mount %s not recorded", mounts[i].Path)
		}
		name := em.KeyName
		if name == "" {
			name = "default"
		}
		store.Declare(name)
		if _, ok := store.Get(name); !ok && (name == keyMREnclave || name == keyMRSigner) {
			k, err := tee.DerivedKey(p.Name(), "", meas, name)
			if err != nil {
				return fmt.Errorf("%s: encrypted mount %s: key %q is a sealing key: %w", l.Path, em.Path, name, err)
			}
			store.Set(name, k)
		}
		fsys, err := pffs.New(pffs.Config{
			HostDir: em.host, BindDir: strings.TrimPrefix(em.URI, "file:"), Path: em.Path,
			KeyName: name, Keys: store, EnableRecovery: em.EnableRecovery,
			UID: m.Loader.UID, GID: m.Loader.GID, Log: log,
		})
		if err != nil {
			return fmt.Errorf("%s: encrypted mount %s: %w", l.Path, em.Path, err)
		}
		if mounts[i].Path == "/" { // encrypted fs.root (encroot.go)
			if err := fsys.SetMountPoints(rootMountPoints(mounts)); err != nil {
				return fmt.Errorf("%s: encrypted fs.root: %w", l.Path, err)
			}
		}
		mounts[i].Serve = serving("encrypted mount "+em.Path, fsys.Serve)
		mounts[i].Source = ""
	}
	return nil
}

// provisionInto runs secret provisioning (if the manifest asks for it) and
// installs a provisioned key in store.
func (l *Loaded) provisionInto(ctx context.Context, env []string, p tee.Platform, fc *fileserver.Config, store *keys.Store, log *slog.Logger) ([]string, error) {
	env, secret, err := l.provision(ctx, env, p, fc, log)
	if err != nil {
		return nil, err
	}
	if secret != nil && secret.KeyName != "" {
		store.Set(secret.KeyName, secret.Key)
		secret.Wipe()
	}
	return env, nil
}
