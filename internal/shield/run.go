package shield

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/nacre-tee/nacre/internal/attestfs"
	"github.com/nacre-tee/nacre/internal/fileserver"
	"github.com/nacre-tee/nacre/internal/keys"
	"github.com/nacre-tee/nacre/internal/manifest"
	"github.com/nacre-tee/nacre/internal/sandbox"
	"github.com/nacre-tee/nacre/internal/trustedfs"
)

// Options of one nacre run.
type Options struct {
	Manifest string   // manifest file or application name
	Args     []string // host arguments after the manifest
	Env      []string // host environment (for passthrough and insecure__use_host_env)

	Stdin, Stdout, Stderr *os.File
	Banner                io.Writer // where the insecure-settings banner goes (stderr)
	Platform              string    // TEE platform; "none" is direct mode

	// Log is nacre's logger. SetLevel, when non-nil, is called with the
	// manifest's loader.log_level unless the user chose a level already.
	Log      *slog.Logger
	SetLevel func(level string) error

	// Exiting says that the process exits as soon as Run returns: Run
	// then leaves the garbage collector and GOMAXPROCS as start-up set
	// them. Restoring them cost ~0.5-1 ms of nacre run's exit: setting
	// GOMAXPROCS stops the world, and re-enabling the collector over the
	// start-up's garbage starts a collection.
	Exiting bool
}

// Run verifies and starts the application and returns its exit status
// (128+N when it was killed by signal N).
func Run(ctx context.Context, o Options) (int, error) {
	// Start-up (parsing a manifest with thousands of trusted files, loading
	// the chunk index) makes tens of MB of garbage in a few ms; collecting it
	// on the way cost ~12% of nacre run's CPU, and a collection that starts
	// while the app starts makes the file server's goroutines assist it
	// while the app waits for them (~10-15 ms of wall time per run). So the
	// collector is off until the app has run for gcDelay, except that a heap
	// above gcStartupLimit still triggers it.
	gcPercent := debug.SetGCPercent(-1)
	memLimit := debug.SetMemoryLimit(-1) // reads the limit ($GOMEMLIMIT)
	debug.SetMemoryLimit(min(memLimit, gcStartupLimit))
	gcOn := sync.OnceFunc(func() {
		debug.SetMemoryLimit(memLimit)
		debug.SetGCPercent(gcPercent)
	})
	if !o.Exiting {
		defer gcOn()
	}
	// More Ps than CPUs: nacre's goroutines block in syscalls (go-fuse's
	// readers in read(2) on /dev/fuse, FUSE request handlers in pread), each
	// keeping its P until sysmon takes it back, which can take up to 10 ms;
	// with 2 Ps, a request or the start-up's next step then waits for that.
	// Measured on 2 CPUs: python3 -c pass in the shield 9-15 ms faster with
	// 4 Ps. $GOMAXPROCS, if set, is left alone.
	if os.Getenv("GOMAXPROCS") == "" {
		if n := runtime.GOMAXPROCS(0); n < minProcs {
			runtime.GOMAXPROCS(minProcs)
			if !o.Exiting {
				defer runtime.GOMAXPROCS(n)
			}
		}
	}
	// The sandbox child (clone, exec and Go start of nacre in new
	// namespaces, ~10 ms) starts now and waits for its configuration, which
	// it gets only after the manifest is verified (RunChild maps its ids and
	// sends it); on any error before that, Abort kills it. Forking now also
	// copies a small address space. Start waits for the child's exec, so
	// it runs beside Open too. If it cannot start, sandbox.Run below tries
	// again and reports why, after the manifest's own errors.
	started := make(chan *sandbox.Child, 1)
	go func() {
		ch, _ := sandbox.Start(o.Stdin, o.Stdout, o.Stderr)
		sandbox.Trace("child started")
		started <- ch
	}()
	early := sync.OnceValue(func() *sandbox.Child { return <-started })
	defer func() { early().Abort() }() // no-op once RunChild has it
	// Read and hash the chunk index (if any) while the manifest is parsed
	// and verified; trustedSet checks it against the signed hash.
	var index *trustedfs.PendingIndex
	if p, err := ResolveManifestPath(o.Manifest); err == nil {
		if _, err := os.Stat(ChunkIndexPath(p)); err == nil {
			index = trustedfs.LoadIndex(ChunkIndexPath(p))
		}
	}
	l, err := Open(o.Manifest)
	if err != nil {
		return 0, err
	}
	sandbox.Trace("manifest verified")
	// The child's ids are known now: map them beside the rest of the
	// set-up (RunChild would do it first thing, on this goroutine).
	go func() {
		if ch := early(); ch != nil {
			ch.MapIDs(l.Manifest.Loader.UID, l.Manifest.Loader.GID)
		}
	}()
	if index != nil && index.Path() == ChunkIndexPath(l.Path) {
		l.index = index
	}
	m := l.Manifest
	// With debug on before the manifest was read, the manifest package
	// already logged its accepted-but-ignored keys while parsing it.
	parsedAtDebug := slog.Default().Enabled(ctx, slog.LevelDebug)
	if o.SetLevel != nil {
		if err := o.SetLevel(m.Loader.LogLevel); err != nil {
			return 0, fmt.Errorf("%s: loader.log_level: %w", l.Path, err)
		}
	}
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	if m.Loader.LogFile != "" {
		f, err := os.OpenFile(m.Loader.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return 0, fmt.Errorf("%s: loader.log_file: %w", l.Path, err)
		}
		defer f.Close()
		log = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: logLevelOf(log), ReplaceAttr: LevelNames}))
		parsedAtDebug = false // those lines went to stderr, not to the file
	}
	if !parsedAtDebug {
		if m.Loader.EntrypointURI != "" {
			log.Debug("loader.entrypoint is accepted for compatibility: nacre has no separate LibOS binary", "uri", m.Loader.EntrypointURI)
		}
		for _, k := range m.Ignored {
			log.Debug("SGX-only manifest key ignored", "key", k)
		}
	}
	if l.Signed != nil {
		log.Debug("signed manifest verified", "manifest", l.Path,
			"measurement", fmt.Sprintf("%x", l.Signed.Measurement), "signer", fmt.Sprintf("%x", l.Signed.Signer))
	}
	plat, err := l.platform(o.Platform, log)
	if err != nil {
		return 0, err
	}
	if o.Banner != nil {
		Banner(o.Banner, l, plat.Name())
	}

	fc, mounts, err := l.mountView(log)
	if err != nil {
		return 0, err
	}
	// The trusted set (for a signed manifest of 7,900 files: the entries and
	// the chunk index, ~5 ms) is built while the sandbox child starts, on
	// the other core: the child's exec and setup need no file, and the root
	// is served only from the finished set (ServeRoot waits for it), so
	// nothing of the application runs before it and its checks. An unsigned
	// manifest may have files to hash into the manifest: that stays in line.
	trusted := make(chan error, 1)
	if l.Signed != nil {
		go func() { trusted <- l.trustedView(&fc); sandbox.Trace("trusted set") }()
	} else {
		trusted <- l.trustedView(&fc)
	}
	waitTrusted := sync.OnceValue(func() error { return <-trusted })
	defer waitTrusted() // never leave it running
	sc, err := l.sandboxConfig(o)
	if err != nil {
		return 0, err
	}
	sc.Mounts = mounts
	sc.Log = log
	sc.LogDenied = log.Enabled(ctx, slog.LevelDebug)

	// Attestation and keys: everything the application may need is in
	// place before its first instruction.
	store := keys.New()
	for name, k := range m.FS.InsecureKeys {
		store.Set(name, k)
	}
	if wantsProvisioning(sc.Env) { // it reads a trusted file through fc
		if err := waitTrusted(); err != nil {
			return 0, err
		}
	}
	if sc.Env, err = l.provisionInto(ctx, sc.Env, plat, &fc, store, log); err != nil {
		return 0, err
	}
	meas, signer, err := l.Identity()
	if err != nil {
		return 0, err
	}
	if err := l.encryptedMounts(sc.Mounts, store, plat, meas, log); err != nil {
		return 0, err
	}
	afs, err := attestfs.New(attestfs.Config{
		Platform: plat, Measurement: meas, Signer: signer, Keys: store,
		ParseKey: func(_ string, b []byte) ([16]byte, error) { return keys.ParseWrite(b) },
		UID:      m.Loader.UID, GID: m.Loader.GID, Log: log,
	})
	if err != nil {
		return 0, fmt.Errorf("/dev/attestation: %w", err)
	}
	// Transient: what the application writes there (report data, keys) is
	// of no use once it has ended.
	sc.Mounts = append(sc.Mounts, sandbox.Mount{Kind: sandbox.MountFUSE, Path: "/dev/attestation", Serve: serving("/dev/attestation", afs.Serve), Name: "attestation", Transient: true})

	// Gramine's sys.enable_extra_runtime_domain_names_conf: a sanitized
	// copy of the host's resolv.conf and the hostname, shadowing whatever
	// the manifest mounts at those paths.
	var domainFiles map[string]string
	if m.Sys.EnableExtraRuntimeDomainNamesConf {
		dir, files, err := domainNameFiles(sc.Hostname)
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(dir)
		domainFiles = files
	}

	// The file server is built as soon as the trusted set is (on its own
	// goroutine, started below), not when the sandbox child hands over the
	// mounted FUSE root: the child then waits only for the INIT exchange.
	var (
		fs       *fileserver.Server
		fsErr    error
		fsReady  = make(chan struct{})
		fsOnce   sync.Once
		buildNew = func() {
			fsOnce.Do(func() {
				defer close(fsReady)
				if fsErr = waitTrusted(); fsErr != nil {
					return
				}
				for view, host := range domainFiles {
					if fc.Aliases == nil {
						fc.Aliases = map[string]string{}
					}
					fc.Aliases[view] = host
					fc.Allowed = append(fc.Allowed, host)
				}
				fs, fsErr = fileserver.New(fc)
				sandbox.Trace("fileserver new")
			})
		}
	)
	// The file server answers each write before the application's write
	// returns, and it reads nothing it must save: nacre need not wait for
	// the sandbox's teardown once the application's status is known (an
	// encrypted mount, which is not transient, still makes it wait).
	sc.RootTransient = true
	var closeOnce sync.Once
	closeFS := func() {
		buildNew() // does nothing if it ran; waits if it runs
		closeOnce.Do(func() {
			if fs != nil {
				fs.Close()
			}
		})
	}
	sc.Teardown = closeFS
	sc.ServeRoot = func(dev *os.File) (*fuse.Server, error) {
		buildNew()
		if fsErr != nil {
			return nil, fsErr
		}
		return fs.Serve(dev)
	}
	go buildNew()
	gcTimer := time.AfterFunc(gcDelay, gcOn)
	defer gcTimer.Stop()
	var code int
	if ch := early(); ch != nil {
		code, err = sandbox.RunChild(ctx, ch, sc)
	} else {
		code, err = sandbox.Run(ctx, sc)
	}
	if err != nil {
		// Teardown has run, or never will (the child failed before its
		// configuration); the server built ahead is closed either way.
		closeFS()
	}
	// Report a failed trusted set or file server as Open/fileView did
	// before they moved into ServeRoot, not as a sandbox failure.
	if terr := waitTrusted(); terr != nil {
		return 0, terr
	}
	<-fsReady
	if fsErr != nil {
		return 0, fmt.Errorf("file server: %w", fsErr)
	}
	if fs != nil {
		// Teardown runs in the background and nacre may exit first: no
		// page-cache store may be in flight then (see StopAhead), and the
		// verified copies of what the app read are published for the next run.
		fs.StopAhead()
		fs.FlushCopies()
	}
	return code, err
}

// Garbage collection during start-up; see Run.
const (
	gcDelay        = time.Second
	gcStartupLimit = 256 << 20
)

// minProcs is the least GOMAXPROCS of a run; see Run.
const minProcs = 4

// sandboxConfig resolves argv, env, ids and working directory by Gramine's rules.
func (l *Loaded) sandboxConfig(o Options) (sandbox.Config, error) {
	m := l.Manifest
	var sc sandbox.Config
	argv, err := m.ResolveArgv(o.Args)
	if err != nil {
		return sc, err
	}
	env, err := m.ResolveEnv(o.Env)
	if err != nil {
		return sc, err
	}
	start := m.FS.StartDir
	if start == "" {
		start = "/"
	}
	entry := m.LibOS.Entrypoint
	if !path.IsAbs(entry) {
		entry = path.Join(start, entry)
	}
	sc.Path = entry
	sc.Args = argv
	sc.Env = env
	sc.Dir = start
	sc.UID, sc.GID = m.Loader.UID, m.Loader.GID
	sc.Hostname = "localhost"
	if m.Sys.EnableExtraRuntimeDomainNamesConf {
		if h, err := os.Hostname(); err == nil {
			sc.Hostname = h
		}
	}
	if isSet(m, "sys", "fds", "limit") {
		sc.NoFiles = uint64(m.Sys.FDsLimit)
	}
	if isSet(m, "sys", "stack", "size") {
		sc.StackSize = uint64(m.Sys.StackSize)
	}
	sc.DisallowSubprocesses = m.Sys.DisallowSubprocesses
	sc.DisableASLR = m.Loader.DisableASLR
	sc.Stdin, sc.Stdout, sc.Stderr = o.Stdin, o.Stdout, o.Stderr
	return sc, nil
}

// isSet reports whether the manifest sets a key explicitly (rather than
// inheriting Gramine's default, which suits an enclave, not a native process).
// (Has, unlike Tree, does not build the trusted-files tables.)
func isSet(m *manifest.Manifest, keys ...string) bool { return m.Has(keys...) }

func logLevelOf(l *slog.Logger) slog.Level {
	for _, lv := range []slog.Level{LevelTrace, slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		if l.Enabled(context.Background(), lv) {
			return lv
		}
	}
	return slog.LevelError + 4 // "none"
}

// LevelTrace is the level of Gramine's "trace" and "all": below debug.
const LevelTrace = slog.LevelDebug - 4

// LevelNames is a slog ReplaceAttr that prints LevelTrace as TRACE
// rather than slog's DEBUG-4.
func LevelNames(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.LevelKey && len(groups) == 0 {
		if l, ok := a.Value.Any().(slog.Level); ok && l <= LevelTrace {
			a.Value = slog.StringValue("TRACE")
		}
	}
	return a
}
