// go-gin: a small Gin HTTP service that registers itself with Nocas (or
// Nacos 2.x) through the official Go SDK, reads its settings from the
// config "<SERVICE>.yaml" and applies changes without a restart, calls
// another service through the registry with retries, and leaves the
// registry before it stops serving.
//
// Settings come from flags or, when a flag is not given, the environment:
//
//	-nocas-addr  NOCAS_ADDR  registry host:httpPort (gRPC is httpPort+1000)  [127.0.0.1:8848]
//	-service     SERVICE     this service's name                            (required)
//	-port        PORT        HTTP port on 127.0.0.1; 0 picks a free one      [8080]
//	-version     VERSION     instance metadata "version"                    [v1]
//	-zone        ZONE        instance metadata "zone"                       [default]
//	-downstream  DOWNSTREAM  service that GET /call calls                   (optional)
//	-namespace   NAMESPACE   namespace id; empty is "public"                (optional)
//	-weight      WEIGHT      instance weight                                [1]
//	-grace       GRACE       wait between deregistering and closing HTTP    [300ms]
//	-work-dir    WORK_DIR    SDK cache and log directory                    [$TMPDIR/nocas-go-gin/<service>-<port>]
//
// Stdout carries one line, "ready <port>", once the instance is registered;
// every log line goes to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

const (
	group   = "DEFAULT_GROUP"
	cluster = "DEFAULT"
	hostIP  = "127.0.0.1"
)

type options struct {
	nocasAddr  string
	service    string
	port       int
	version    string
	zone       string
	downstream string
	namespace  string
	weight     float64
	grace      time.Duration
	workDir    string
	sdkLog     string
	callTO     time.Duration
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

func parseOptions() (options, error) {
	var o options
	var port, weight, grace, callTO string
	flag.StringVar(&o.nocasAddr, "nocas-addr", env("NOCAS_ADDR", "127.0.0.1:8848"), "registry host:httpPort (env NOCAS_ADDR)")
	flag.StringVar(&o.service, "service", env("SERVICE", ""), "service name (env SERVICE)")
	flag.StringVar(&port, "port", env("PORT", "8080"), "HTTP port on 127.0.0.1, 0 for any (env PORT)")
	flag.StringVar(&o.version, "version", env("VERSION", "v1"), "metadata version (env VERSION)")
	flag.StringVar(&o.zone, "zone", env("ZONE", "default"), "metadata zone (env ZONE)")
	flag.StringVar(&o.downstream, "downstream", env("DOWNSTREAM", ""), "service called by GET /call (env DOWNSTREAM)")
	flag.StringVar(&o.namespace, "namespace", env("NAMESPACE", ""), "namespace id, empty for public (env NAMESPACE)")
	flag.StringVar(&weight, "weight", env("WEIGHT", "1"), "instance weight (env WEIGHT)")
	flag.StringVar(&grace, "grace", env("GRACE", "300ms"), "wait after deregistering before closing HTTP (env GRACE)")
	flag.StringVar(&callTO, "call-timeout", env("CALL_TIMEOUT", "1s"), "timeout of one downstream attempt (env CALL_TIMEOUT)")
	flag.StringVar(&o.workDir, "work-dir", env("WORK_DIR", ""), "SDK cache/log directory (env WORK_DIR)")
	flag.StringVar(&o.sdkLog, "sdk-log-level", env("SDK_LOG_LEVEL", "warn"), "SDK log level, written under work-dir/log (env SDK_LOG_LEVEL)")
	flag.Parse()

	var err error
	if o.service == "" {
		return o, errors.New("SERVICE (-service) is required")
	}
	if o.port, err = strconv.Atoi(port); err != nil || o.port < 0 || o.port > 65535 {
		return o, fmt.Errorf("bad PORT %q", port)
	}
	if o.weight, err = strconv.ParseFloat(weight, 64); err != nil || o.weight <= 0 {
		return o, fmt.Errorf("bad WEIGHT %q (must be > 0)", weight)
	}
	if o.grace, err = time.ParseDuration(grace); err != nil || o.grace < 0 {
		return o, fmt.Errorf("bad GRACE %q", grace)
	}
	if o.callTO, err = time.ParseDuration(callTO); err != nil || o.callTO <= 0 {
		return o, fmt.Errorf("bad CALL_TIMEOUT %q", callTO)
	}
	if _, _, err := net.SplitHostPort(o.nocasAddr); err != nil {
		return o, fmt.Errorf("bad NOCAS_ADDR %q: %v", o.nocasAddr, err)
	}
	return o, nil
}

func serverConfigs(addr string) ([]constant.ServerConfig, error) {
	host, portStr, _ := net.SplitHostPort(addr)
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("bad port in NOCAS_ADDR %q", addr)
	}
	return []constant.ServerConfig{{
		Scheme:      "http",
		ContextPath: "/nacos",
		IpAddr:      host,
		Port:        port,
		GrpcPort:    port + 1000,
	}}, nil
}

func main() {
	o, err := parseOptions()
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-gin:", err)
		os.Exit(2)
	}

	// Two loggers on stderr: "log" follows log.level from the config;
	// "life" (start-up, settings, shutdown steps) always writes.
	level := new(slog.LevelVar)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).
		With("service", o.service)
	life := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).
		With("service", o.service)
	fatal := func(msg string, args ...any) {
		life.Error(msg, args...)
		os.Exit(1)
	}
	settings := newLiveSettings(level, life)

	// Bind first, so PORT=0 resolves to a real port before anything uses it.
	ln, err := net.Listen("tcp", net.JoinHostPort(hostIP, strconv.Itoa(o.port)))
	if err != nil {
		fatal("listen", "err", err)
	}
	port := uint64(ln.Addr().(*net.TCPAddr).Port)

	if o.workDir == "" {
		o.workDir = filepath.Join(os.TempDir(), "nocas-go-gin", fmt.Sprintf("%s-%d", o.service, port))
	}
	servers, err := serverConfigs(o.nocasAddr)
	if err != nil {
		fatal("config", "err", err)
	}
	cc := constant.ClientConfig{
		NamespaceId:          o.namespace,
		TimeoutMs:            5000,
		CacheDir:             filepath.Join(o.workDir, "cache"),
		LogDir:               filepath.Join(o.workDir, "log"),
		LogLevel:             o.sdkLog,
		NotLoadCacheAtStart:  true,
		UpdateCacheWhenEmpty: true, // an empty downstream list must empty the cache too
	}
	life.Info("starting", "registry", o.nocasAddr, "namespace", o.namespace, "port", port,
		"version", o.version, "zone", o.zone, "downstream", o.downstream, "sdk_dir", o.workDir)

	// 1. Settings: read "<SERVICE>.yaml", then listen for changes.
	configClient, err := clients.NewConfigClient(vo.NacosClientParam{ClientConfig: &cc, ServerConfigs: servers})
	if err != nil {
		fatal("create config client", "err", err)
	}
	dataID := o.service + ".yaml"
	content, err := configClient.GetConfig(vo.ConfigParam{DataId: dataID, Group: group})
	if err != nil {
		life.Warn("read config failed; starting with defaults, the listener applies it when it can",
			"dataId", dataID, "group", group, "err", errLine(err))
	} else {
		if content == "" {
			life.Info("config not found; using defaults", "dataId", dataID, "group", group)
		}
		settings.Apply(content, "startup")
	}
	err = configClient.ListenConfig(vo.ConfigParam{
		DataId: dataID,
		Group:  group,
		OnChange: func(namespace, group, dataId, data string) {
			settings.Apply(data, "push")
		},
	})
	if err != nil {
		fatal("listen config", "dataId", dataID, "err", errLine(err))
	}

	// 2. Naming client; watch the downstream service so its cached list
	//    follows the registry's pushes.
	namingClient, err := clients.NewNamingClient(vo.NacosClientParam{ClientConfig: &cc, ServerConfigs: servers})
	if err != nil {
		fatal("create naming client", "err", err)
	}
	var caller *downstreamCaller
	if o.downstream != "" {
		caller = newDownstreamCaller(namingClient, o.downstream, group, o.callTO, log)
		err = namingClient.Subscribe(&vo.SubscribeParam{
			ServiceName: o.downstream,
			GroupName:   group,
			SubscribeCallback: func(instances []model.Instance, err error) {
				if err != nil {
					life.Warn("downstream view error", "downstream", o.downstream, "err", err)
					return
				}
				addrs := make([]string, 0, len(instances))
				for _, in := range instances {
					addrs = append(addrs, fmt.Sprintf("%s(healthy=%v,w=%g)", instAddr(in), in.Healthy, in.Weight))
				}
				life.Info("downstream view", "downstream", o.downstream, "instances", addrs)
			},
		})
		if err != nil {
			// Not fatal: SelectOneHealthyInstance subscribes again on first use.
			life.Warn("subscribe downstream", "downstream", o.downstream, "err", errLine(err))
		}
	}

	// 3. HTTP server.
	srv := &http.Server{
		Handler:           router(o, settings, level, caller, log),
		ReadHeaderTimeout: 5 * time.Second,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	life.Info("http server started", "addr", ln.Addr().String())

	// 4. Register (ephemeral: the registry drops it when the connection goes).
	reg := vo.RegisterInstanceParam{
		Ip:          hostIP,
		Port:        port,
		Weight:      o.weight,
		Enable:      true,
		Healthy:     true,
		Metadata:    map[string]string{"version": o.version, "zone": o.zone},
		ClusterName: cluster,
		ServiceName: o.service,
		GroupName:   group,
		Ephemeral:   true,
	}
	if err := registerWithRetry(namingClient, reg, 5, life); err != nil {
		srv.Close()
		fatal("register failed; giving up", "err", errLine(err))
	}
	life.Info("registered", "instance", fmt.Sprintf("%s:%d", hostIP, port), "metadata", reg.Metadata)
	fmt.Printf("ready %d\n", port) // os.Stdout is unbuffered

	// 5. Wait for a signal (or the server failing), then leave in order.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	code := 0
	select {
	case sig := <-sigs:
		life.Info("shutdown: signal received", "signal", sig.String())
	case err := <-serveErr:
		life.Error("shutdown: http server failed", "err", err)
		code = 1
	}

	life.Info("shutdown: deregistering")
	if err := withTimeout(5*time.Second, func() error {
		ok, err := namingClient.DeregisterInstance(vo.DeregisterInstanceParam{
			Ip: hostIP, Port: port, Cluster: cluster,
			ServiceName: o.service, GroupName: group, Ephemeral: true,
		})
		if err == nil && !ok {
			err = errors.New("registry answered not ok")
		}
		return err
	}); err != nil {
		life.Error("shutdown: deregister failed (the registry drops the instance when the connection closes)", "err", errLine(err))
	} else {
		life.Info("shutdown: deregistered")
	}

	life.Info("shutdown: grace period, so subscribers get the push", "grace", o.grace)
	time.Sleep(o.grace)

	life.Info("shutdown: stopping http server (in-flight requests finish)")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := srv.Shutdown(ctx); err != nil {
		life.Error("shutdown: http server did not stop cleanly", "err", err)
	} else {
		life.Info("shutdown: http server stopped")
	}
	cancel()

	_ = withTimeout(3*time.Second, func() error {
		configClient.CloseClient()
		namingClient.CloseClient()
		return nil
	})
	life.Info("shutdown: done", "exit", code)
	os.Exit(code)
}

func registerWithRetry(c naming_client.INamingClient, p vo.RegisterInstanceParam, attempts int, life *slog.Logger) error {
	var err error
	for n := 1; n <= attempts; n++ {
		var ok bool
		ok, err = c.RegisterInstance(p)
		if err == nil && ok {
			return nil
		}
		if err == nil {
			err = errors.New("registry answered not ok")
		}
		if n < attempts {
			wait := backoff(200*time.Millisecond, n)
			life.Warn("register failed; retrying", "attempt", n, "wait", wait, "err", errLine(err))
			time.Sleep(wait)
		}
	}
	return err
}

// errLine is an error's first line: some SDK errors carry a stack trace.
func errLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func withTimeout(d time.Duration, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		return fmt.Errorf("timed out after %v", d)
	}
}

func router(o options, settings *liveSettings, level *slog.LevelVar, caller *downstreamCaller, log *slog.Logger) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	gin.DefaultWriter = os.Stderr
	gin.DefaultErrorWriter = os.Stderr
	r := gin.New()
	r.Use(gin.Recovery(), func(c *gin.Context) {
		start := time.Now()
		c.Next()
		log.Debug("request", "method", c.Request.Method, "path", c.Request.URL.Path,
			"status", c.Writer.Status(), "took", time.Since(start))
	})

	r.GET("/health", func(c *gin.Context) {
		c.String(http.StatusOK, "ok")
	})

	r.GET("/hello", func(c *gin.Context) {
		s := settings.Get()
		greeting := "hello"
		if s.FeatureGreeting && s.Greeting != "" {
			greeting = s.Greeting
		}
		c.JSON(http.StatusOK, gin.H{
			"service":  o.service,
			"version":  o.version,
			"zone":     o.zone,
			"greeting": greeting,
			"logLevel": levelName(level.Level()),
		})
	})

	r.GET("/call", func(c *gin.Context) {
		if caller == nil {
			c.JSON(http.StatusNotImplemented, gin.H{"error": "no DOWNSTREAM configured for this service"})
			return
		}
		res, fail := caller.Call(c.Request.Context())
		if fail != nil {
			c.JSON(http.StatusBadGateway, fail)
			return
		}
		c.JSON(http.StatusOK, res)
	})
	return r
}
