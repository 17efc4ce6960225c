// soak-client: a long-running Nacos naming client built on the official Go
// SDK (github.com/nacos-group/nacos-sdk-go/v2), used unchanged, for cluster
// fault tests against Nocas.
//
// Environment:
//
//	NOCAS_SERVERS  comma-separated host:httpPort list (gRPC = httpPort+1000)
//	NOCAS_SERVICE  service name (group DEFAULT_GROUP, namespace public)
//	NOCAS_IP       instance ip to register
//	NOCAS_PORT     instance port to register
//	NOCAS_WORKDIR  optional: directory for SDK cache and logs (default: a new
//	               temp dir, printed on stderr)
//
// Stdout carries only JSON lines, one per event:
//
//	{"event":"registered","t":<unix ms>}
//	{"event":"view","t":<unix ms>,"ports":[sorted ports]}
//
// SIGTERM/SIGINT: deregister, then exit 0.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

const group = "DEFAULT_GROUP"

var outMu sync.Mutex

type registeredEvent struct {
	Event string `json:"event"`
	T     int64  `json:"t"`
}

type viewEvent struct {
	Event string   `json:"event"`
	T     int64    `json:"t"`
	Ports []uint64 `json:"ports"`
}

func emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fatalf("marshal: %v", err)
	}
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(b, '\n')) // os.Stdout is unbuffered
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "soak-client: "+format+"\n", args...)
	os.Exit(1)
}

func nowMs() int64 { return time.Now().UnixMilli() }

func mustEnv(name string) string {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		fatalf("environment variable %s is required", name)
	}
	return v
}

func parseServers(list string) []constant.ServerConfig {
	var out []constant.ServerConfig
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		host, portStr, err := net.SplitHostPort(item)
		if err != nil {
			fatalf("bad server %q in NOCAS_SERVERS: %v", item, err)
		}
		port, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil {
			fatalf("bad port in %q: %v", item, err)
		}
		out = append(out, constant.ServerConfig{
			Scheme:      "http",
			ContextPath: "/nacos",
			IpAddr:      host,
			Port:        port,
			GrpcPort:    port + 1000,
		})
	}
	if len(out) == 0 {
		fatalf("NOCAS_SERVERS lists no server")
	}
	return out
}

func main() {
	servers := parseServers(mustEnv("NOCAS_SERVERS"))
	service := mustEnv("NOCAS_SERVICE")
	ip := mustEnv("NOCAS_IP")
	port, err := strconv.ParseUint(mustEnv("NOCAS_PORT"), 10, 16)
	if err != nil {
		fatalf("bad NOCAS_PORT: %v", err)
	}

	workDir := os.Getenv("NOCAS_WORKDIR")
	if workDir == "" {
		workDir, err = os.MkdirTemp("", "soak-client-go-")
		if err != nil {
			fatalf("temp dir: %v", err)
		}
	} else if err := os.MkdirAll(workDir, 0o755); err != nil {
		fatalf("work dir: %v", err)
	}
	fmt.Fprintf(os.Stderr, "soak-client: SDK cache/log dir %s\n", workDir)

	cc := constant.ClientConfig{
		NamespaceId:          "", // public
		TimeoutMs:            5000,
		CacheDir:             workDir + "/cache",
		LogDir:               workDir + "/log",
		LogLevel:             "warn",
		NotLoadCacheAtStart:  true,
		DisableUseSnapShot:   true,
		UpdateCacheWhenEmpty: true, // deliver empty views to the callback too
		AppendToStdout:       false,
	}

	client, err := clients.NewNamingClient(vo.NacosClientParam{
		ClientConfig:  &cc,
		ServerConfigs: servers,
	})
	if err != nil {
		fatalf("create naming client: %v", err)
	}

	// An application retries its first registration (a loaded registry
	// may time out), with backoff, for up to a minute.
	deadline := time.Now().Add(60 * time.Second)
	backoff := 200 * time.Millisecond
	for {
		ok, err := client.RegisterInstance(vo.RegisterInstanceParam{
			Ip:          ip,
			Port:        port,
			Weight:      1,
			Enable:      true,
			Healthy:     true,
			ClusterName: "DEFAULT",
			ServiceName: service,
			GroupName:   group,
			Ephemeral:   true,
		})
		if err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			fatalf("register instance: ok=%v err=%v", ok, err)
		}
		fmt.Fprintf(os.Stderr, "soak-client: register failed (ok=%v err=%v), retrying\n", ok, err)
		time.Sleep(backoff)
		if backoff < 2*time.Second {
			backoff *= 2
		}
	}
	emit(registeredEvent{Event: "registered", T: nowMs()})

	err = client.Subscribe(&vo.SubscribeParam{
		ServiceName: service,
		GroupName:   group,
		SubscribeCallback: func(instances []model.Instance, cbErr error) {
			if cbErr != nil {
				fmt.Fprintf(os.Stderr, "soak-client: subscribe callback error: %v\n", cbErr)
				return
			}
			ports := make([]uint64, 0, len(instances))
			for _, in := range instances {
				ports = append(ports, in.Port)
			}
			sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
			emit(viewEvent{Event: "view", T: nowMs(), Ports: ports})
		},
	})
	if err != nil {
		fatalf("subscribe: %v", err)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	sig := <-sigs
	fmt.Fprintf(os.Stderr, "soak-client: got %v, deregistering\n", sig)
	shutdown(client, service, ip, port)
	os.Exit(0)
}

func shutdown(client naming_client.INamingClient, service, ip string, port uint64) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		ok, err := client.DeregisterInstance(vo.DeregisterInstanceParam{
			Ip:          ip,
			Port:        port,
			Cluster:     "DEFAULT",
			ServiceName: service,
			GroupName:   group,
			Ephemeral:   true,
		})
		if err != nil || !ok {
			fmt.Fprintf(os.Stderr, "soak-client: deregister: ok=%v err=%v\n", ok, err)
		}
		client.CloseClient()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		fmt.Fprintf(os.Stderr, "soak-client: deregister timed out\n")
	}
}
