// features: an interop feature test of the official Go SDK
// (github.com/nacos-group/nacos-sdk-go/v2), used unchanged, against a single
// Nocas (or Nacos) server: naming, config and namespace isolation.
//
// Environment:
//
//	NOCAS_ADDR           host:httpPort of the server (gRPC = httpPort+1000)
//	NOCAS_USERNAME       optional: log in with these credentials, through
//	NOCAS_PASSWORD       the SDK's Username/Password client config
//	NOCAS_TEST_ID        optional: unique suffix for the namespace, services
//	                     and data ids (default: derived from time and pid)
//	NOCAS_SDK_LOG_LEVEL  optional: SDK log level (default warn); the SDK log
//	                     is written under the work dir printed on stderr
//	NOCAS_KEEP_WORKDIR   optional: if set, keep the work dir after a pass
//
// Stdout carries one line per step, `PASS: <name>` or
// `FAIL: <name> -- <reason>`, then `RESULT: PASS` (exit 0) or `RESULT: FAIL`
// (exit 1). Each step has a 15 s timeout; a watchdog ends the whole run with
// exit code 2 after 120 s. Details go to stderr. The work dir (SDK cache and
// logs) is removed after a passing run (unless NOCAS_KEEP_WORKDIR is set) and
// kept after a failing one.
package main

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/config_client"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

const (
	stepTimeout  = 15 * time.Second
	pushTimeout  = 5 * time.Second
	watchdogTime = 120 * time.Second
	group        = "DEFAULT_GROUP"
	configGroup  = "GO_FEAT"
	instanceIP   = "127.0.0.1"
)

var (
	outMu   sync.Mutex
	failed  bool
	workDir string
)

func say(format string, args ...any) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Fprintf(os.Stdout, format+"\n", args...)
}

func info(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "features: "+format+"\n", args...)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "features: "+format+"\n", args...)
	os.Exit(1)
}

// step runs fn with a timeout and prints its result line. A step that times
// out is reported as failed; its goroutine is left behind.
func step(name string, fn func() error) bool {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v", p)
			}
		}()
		done <- fn()
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(stepTimeout):
		err = fmt.Errorf("timed out after %v", stepTimeout)
	}
	outMu.Lock()
	defer outMu.Unlock()
	if err != nil {
		failed = true
		reason := strings.ReplaceAll(err.Error(), "\n", " ")
		fmt.Fprintf(os.Stdout, "FAIL: %s -- %s\n", name, reason)
		return false
	}
	fmt.Fprintf(os.Stdout, "PASS: %s\n", name)
	return true
}

// ---------------------------------------------------------------- HTTP side

type server struct {
	host     string
	httpPort uint64
	username string
	password string
}

func (s server) base() string {
	return "http://" + net.JoinHostPort(s.host, strconv.FormatUint(s.httpPort, 10)) + "/nacos"
}

func postForm(u string, form url.Values) (int, string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.PostForm(u, form)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func getURL(u string) (int, string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// login returns an access token from POST /nacos/v1/auth/login, or "" when
// no credentials are configured.
func (s server) login() (string, error) {
	if s.username == "" {
		return "", nil
	}
	code, body, err := postForm(s.base()+"/v1/auth/login",
		url.Values{"username": {s.username}, "password": {s.password}})
	if err != nil {
		return "", fmt.Errorf("POST /nacos/v1/auth/login: %v", err)
	}
	if code != 200 {
		return "", fmt.Errorf("POST /nacos/v1/auth/login: HTTP %d: %s", code, body)
	}
	var r struct {
		AccessToken string `json:"accessToken"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.AccessToken == "" {
		return "", fmt.Errorf("POST /nacos/v1/auth/login: no accessToken in %q", body)
	}
	return r.AccessToken, nil
}

func (s server) createNamespace(id string) error {
	token, err := s.login()
	if err != nil {
		return err
	}
	form := url.Values{
		"customNamespaceId": {id},
		"namespaceName":     {id},
		"namespaceDesc":     {"nacos-sdk-go feature test"},
	}
	q := ""
	if token != "" {
		form.Set("accessToken", token)
		q = "?accessToken=" + url.QueryEscape(token)
	}
	code, body, err := postForm(s.base()+"/v1/console/namespaces", form)
	if err != nil {
		return fmt.Errorf("POST /nacos/v1/console/namespaces: %v", err)
	}
	if code != 200 || strings.TrimSpace(body) != "true" {
		return fmt.Errorf("POST /nacos/v1/console/namespaces: HTTP %d: %q (want 200 \"true\")", code, body)
	}
	// The namespace must now be listed.
	code, body, err = getURL(s.base() + "/v1/console/namespaces" + q)
	if err != nil {
		return fmt.Errorf("GET /nacos/v1/console/namespaces: %v", err)
	}
	if code != 200 {
		return fmt.Errorf("GET /nacos/v1/console/namespaces: HTTP %d: %s", code, body)
	}
	var r struct {
		Data []struct {
			Namespace         string `json:"namespace"`
			NamespaceShowName string `json:"namespaceShowName"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return fmt.Errorf("GET /nacos/v1/console/namespaces: bad JSON %q: %v", body, err)
	}
	for _, ns := range r.Data {
		if ns.Namespace == id {
			if ns.NamespaceShowName != id {
				return fmt.Errorf("namespace %s listed with name %q, want %q", id, ns.NamespaceShowName, id)
			}
			return nil
		}
	}
	return fmt.Errorf("namespace %s created but not listed by GET /nacos/v1/console/namespaces: %s", id, body)
}

// ---------------------------------------------------------------- SDK side

func (s server) serverConfigs() []constant.ServerConfig {
	return []constant.ServerConfig{{
		Scheme:      "http",
		ContextPath: "/nacos",
		IpAddr:      s.host,
		Port:        s.httpPort,
		GrpcPort:    s.httpPort + 1000,
	}}
}

func (s server) clientConfig(namespace, name string) *constant.ClientConfig {
	level := os.Getenv("NOCAS_SDK_LOG_LEVEL")
	if level == "" {
		level = "warn"
	}
	return &constant.ClientConfig{
		NamespaceId:          namespace,
		TimeoutMs:            5000,
		CacheDir:             filepath.Join(workDir, name, "cache"),
		LogDir:               filepath.Join(workDir, "log"),
		LogLevel:             level,
		NotLoadCacheAtStart:  true,
		UpdateCacheWhenEmpty: true,
		DisableUseSnapShot:   true, // surface server errors instead of reading the cache
		Username:             s.username,
		Password:             s.password,
	}
}

func (s server) namingClient(namespace, name string) (naming_client.INamingClient, error) {
	return clients.NewNamingClient(vo.NacosClientParam{
		ClientConfig:  s.clientConfig(namespace, name),
		ServerConfigs: s.serverConfigs(),
	})
}

func (s server) configClient(namespace, name string) (config_client.IConfigClient, error) {
	return clients.NewConfigClient(vo.NacosClientParam{
		ClientConfig:  s.clientConfig(namespace, name),
		ServerConfigs: s.serverConfigs(),
	})
}

// ---------------------------------------------------------------- helpers

func ports(instances []model.Instance) []uint64 {
	out := make([]uint64, 0, len(instances))
	for _, in := range instances {
		out = append(out, in.Port)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func samePorts(instances []model.Instance, want ...uint64) bool {
	got := ports(instances)
	w := append([]uint64(nil), want...)
	sort.Slice(w, func(i, j int) bool { return w[i] < w[j] })
	if len(got) != len(w) {
		return false
	}
	for i := range got {
		if got[i] != w[i] {
			return false
		}
	}
	return true
}

func findPort(instances []model.Instance, port uint64) *model.Instance {
	for i := range instances {
		if instances[i].Port == port {
			return &instances[i]
		}
	}
	return nil
}

// pushes collects the instance lists a subscribe callback receives.
type pushes struct {
	ch chan []model.Instance
}

func newPushes() *pushes { return &pushes{ch: make(chan []model.Instance, 256)} }

func (p *pushes) callback(instances []model.Instance, err error) {
	if err != nil {
		info("subscribe callback error: %v", err)
		return
	}
	cp := append([]model.Instance(nil), instances...)
	info("push: ports %v", ports(cp))
	select {
	case p.ch <- cp:
	default:
		info("push buffer full, dropping a push")
	}
}

func (p *pushes) drain() {
	for {
		select {
		case <-p.ch:
		default:
			return
		}
	}
}

// wait returns nil once a push satisfying ok arrives within timeout.
func (p *pushes) wait(timeout time.Duration, what string, ok func([]model.Instance) bool) error {
	start := time.Now()
	deadline := time.After(timeout)
	var seen [][]uint64
	for {
		select {
		case in := <-p.ch:
			if ok(in) {
				info("%s: push after %v", what, time.Since(start).Round(time.Millisecond))
				return nil
			}
			seen = append(seen, ports(in))
		case <-deadline:
			return fmt.Errorf("no push with %s within %v (pushes seen, as port lists: %v)", what, timeout, seen)
		}
	}
}

// until polls fn every interval until it returns nil or timeout passes, and
// returns its last error. The SDK rate-limits config queries per key to 5/s,
// so config polls use 300 ms.
func until(timeout, interval time.Duration, fn func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(interval)
	}
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func closeAll(fns ...func()) {
	done := make(chan struct{})
	go func() {
		for _, f := range fns {
			f()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		info("closing clients timed out")
	}
}

// ---------------------------------------------------------------- main

func main() {
	time.AfterFunc(watchdogTime, func() {
		outMu.Lock()
		fmt.Fprintf(os.Stdout, "FAIL: watchdog -- run did not finish within %v\n", watchdogTime)
		fmt.Fprintf(os.Stdout, "RESULT: FAIL\n")
		fmt.Fprintf(os.Stderr, "features: watchdog fired; work dir kept: %s\n", workDir)
		os.Exit(2)
	})

	addr := strings.TrimSpace(os.Getenv("NOCAS_ADDR"))
	if addr == "" {
		fatalf("environment variable NOCAS_ADDR (host:httpPort) is required")
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		fatalf("bad NOCAS_ADDR %q: %v", addr, err)
	}
	httpPort, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		fatalf("bad port in NOCAS_ADDR %q: %v", addr, err)
	}
	srv := server{
		host:     host,
		httpPort: httpPort,
		username: os.Getenv("NOCAS_USERNAME"),
		password: os.Getenv("NOCAS_PASSWORD"),
	}
	id := strings.TrimSpace(os.Getenv("NOCAS_TEST_ID"))
	if id == "" {
		id = fmt.Sprintf("%d-%d", time.Now().Unix(), os.Getpid())
	}
	workDir, err = os.MkdirTemp("", "nocas-go-features-")
	if err != nil {
		fatalf("temp dir: %v", err)
	}
	info("server %s, auth %v, test id %s, work dir %s", addr, srv.username != "", id, workDir)

	namespace := "go-" + id
	service := "go-feat-svc-" + id
	persistService := "go-feat-persist-" + id
	dataID := "go-feat-" + id + ".properties"
	isoDataID := "go-feat-iso-" + id + ".properties"

	var (
		naming1, naming2, namingPublic naming_client.INamingClient
		config1, configPublic          config_client.IConfigClient
	)

	// ------------------------------------------------------------ 1. setup
	step("namespace.create", func() error { return srv.createNamespace(namespace) })

	clientsOK := step("clients.create", func() error {
		var err error
		if naming1, err = srv.namingClient(namespace, "naming1"); err != nil {
			return fmt.Errorf("naming client 1: %v", err)
		}
		if naming2, err = srv.namingClient(namespace, "naming2"); err != nil {
			return fmt.Errorf("naming client 2: %v", err)
		}
		if config1, err = srv.configClient(namespace, "config1"); err != nil {
			return fmt.Errorf("config client: %v", err)
		}
		if namingPublic, err = srv.namingClient("", "naming-public"); err != nil {
			return fmt.Errorf("public naming client: %v", err)
		}
		if configPublic, err = srv.configClient("", "config-public"); err != nil {
			return fmt.Errorf("public config client: %v", err)
		}
		return nil
	})
	if !clientsOK {
		say("RESULT: FAIL")
		info("work dir kept: %s", workDir)
		os.Exit(1)
	}

	// ------------------------------------------------------------ 2. naming
	const (
		port1, port2, port3, port4, portP = 40001, 40002, 40003, 40004, 40005
	)
	inst := func(port uint64, ephemeral bool, meta map[string]string) vo.RegisterInstanceParam {
		return vo.RegisterInstanceParam{
			Ip: instanceIP, Port: port, Weight: 1, Enable: true, Healthy: true,
			Metadata: meta, ClusterName: "DEFAULT", ServiceName: service,
			GroupName: group, Ephemeral: ephemeral,
		}
	}

	step("naming.register-instance", func() error {
		ok, err := naming1.RegisterInstance(inst(port1, true, map[string]string{"version": "v1"}))
		if err != nil || !ok {
			return fmt.Errorf("RegisterInstance: ok=%v err=%v", ok, err)
		}
		return nil
	})

	step("naming.select-instances", func() error {
		in, err := naming1.SelectInstances(vo.SelectInstancesParam{
			ServiceName: service, GroupName: group, HealthyOnly: true,
		})
		if err != nil {
			return fmt.Errorf("SelectInstances: %v", err)
		}
		if !samePorts(in, port1) {
			return fmt.Errorf("SelectInstances(healthy): ports %v, want [%d]", ports(in), port1)
		}
		got := in[0]
		if got.Ip != instanceIP || !got.Healthy || !got.Enable || got.Weight != 1 || !got.Ephemeral {
			return fmt.Errorf("instance fields wrong: %+v", got)
		}
		if got.Metadata["version"] != "v1" {
			return fmt.Errorf("instance metadata %v, want version=v1", got.Metadata)
		}
		return nil
	})

	step("naming.select-one-healthy-instance", func() error {
		in, err := naming1.SelectOneHealthyInstance(vo.SelectOneHealthInstanceParam{
			ServiceName: service, GroupName: group,
		})
		if err != nil {
			return fmt.Errorf("SelectOneHealthyInstance: %v", err)
		}
		if in == nil || in.Port != port1 || in.Ip != instanceIP {
			return fmt.Errorf("SelectOneHealthyInstance: got %+v, want %s:%d", in, instanceIP, port1)
		}
		return nil
	})

	step("naming.get-service", func() error {
		svc, err := naming1.GetService(vo.GetServiceParam{ServiceName: service, GroupName: group})
		if err != nil {
			return fmt.Errorf("GetService: %v", err)
		}
		if !samePorts(svc.Hosts, port1) {
			return fmt.Errorf("GetService: hosts ports %v, want [%d] (service %+v)", ports(svc.Hosts), port1, svc)
		}
		if !strings.HasSuffix(svc.Name, service) {
			return fmt.Errorf("GetService: name %q, want %q", svc.Name, service)
		}
		return nil
	})

	sub := newPushes()
	subParam := &vo.SubscribeParam{
		ServiceName:       service,
		GroupName:         group,
		SubscribeCallback: sub.callback,
	}
	step("naming.subscribe", func() error {
		if err := naming1.Subscribe(subParam); err != nil {
			return fmt.Errorf("Subscribe: %v", err)
		}
		return nil
	})

	step("naming.push-on-register", func() error {
		sub.drain()
		ok, err := naming2.RegisterInstance(inst(port2, true, map[string]string{"version": "v2"}))
		if err != nil || !ok {
			return fmt.Errorf("RegisterInstance (client 2): ok=%v err=%v", ok, err)
		}
		return sub.wait(pushTimeout, fmt.Sprintf("ports [%d %d]", port1, port2),
			func(in []model.Instance) bool { return samePorts(in, port1, port2) })
	})

	step("naming.push-on-deregister", func() error {
		sub.drain()
		ok, err := naming2.DeregisterInstance(vo.DeregisterInstanceParam{
			Ip: instanceIP, Port: port2, Cluster: "DEFAULT", ServiceName: service,
			GroupName: group, Ephemeral: true,
		})
		if err != nil || !ok {
			return fmt.Errorf("DeregisterInstance (client 2): ok=%v err=%v", ok, err)
		}
		return sub.wait(pushTimeout, fmt.Sprintf("ports [%d]", port1),
			func(in []model.Instance) bool { return samePorts(in, port1) })
	})

	step("naming.batch-register-instance", func() error {
		sub.drain()
		ok, err := naming2.BatchRegisterInstance(vo.BatchRegisterInstanceParam{
			ServiceName: service,
			GroupName:   group,
			Instances: []vo.RegisterInstanceParam{
				inst(port3, true, map[string]string{"batch": "1"}),
				inst(port4, true, map[string]string{"batch": "2"}),
			},
		})
		if err != nil || !ok {
			return fmt.Errorf("BatchRegisterInstance (client 2): ok=%v err=%v", ok, err)
		}
		if err := sub.wait(pushTimeout, fmt.Sprintf("ports [%d %d %d]", port1, port3, port4),
			func(in []model.Instance) bool { return samePorts(in, port1, port3, port4) }); err != nil {
			return err
		}
		in, err := naming1.SelectAllInstances(vo.SelectAllInstancesParam{ServiceName: service, GroupName: group})
		if err != nil {
			return fmt.Errorf("SelectAllInstances: %v", err)
		}
		if i := findPort(in, port4); i == nil || i.Metadata["batch"] != "2" {
			return fmt.Errorf("batch instance %d missing or without metadata batch=2: %+v", port4, in)
		}
		return nil
	})

	step("naming.persistent-instance", func() error {
		p := inst(portP, false, map[string]string{"kind": "persistent"})
		p.ServiceName = persistService
		ok, err := naming1.RegisterInstance(p)
		if err != nil || !ok {
			return fmt.Errorf("RegisterInstance (Ephemeral=false, HTTP): ok=%v err=%v", ok, err)
		}
		// A second client that has not looked at the service yet queries it.
		in, err := naming2.SelectAllInstances(vo.SelectAllInstancesParam{ServiceName: persistService, GroupName: group})
		if err != nil {
			return fmt.Errorf("SelectAllInstances after persistent register: %v", err)
		}
		got := findPort(in, portP)
		if got == nil {
			return fmt.Errorf("persistent instance not listed: ports %v", ports(in))
		}
		if got.Ephemeral {
			return fmt.Errorf("persistent instance listed with ephemeral=true: %+v", *got)
		}
		if got.Metadata["kind"] != "persistent" {
			return fmt.Errorf("persistent instance metadata %v, want kind=persistent", got.Metadata)
		}
		ok, err = naming1.DeregisterInstance(vo.DeregisterInstanceParam{
			Ip: instanceIP, Port: portP, Cluster: "DEFAULT", ServiceName: persistService,
			GroupName: group, Ephemeral: false,
		})
		if err != nil || !ok {
			return fmt.Errorf("DeregisterInstance (Ephemeral=false, HTTP): ok=%v err=%v", ok, err)
		}
		// naming2 is subscribed to the service since SelectAllInstances, so
		// the removal reaches its cache by push.
		return until(pushTimeout, 200*time.Millisecond, func() error {
			in, err := naming2.SelectAllInstances(vo.SelectAllInstancesParam{ServiceName: persistService, GroupName: group})
			if err != nil {
				return fmt.Errorf("SelectAllInstances after persistent deregister: %v", err)
			}
			if findPort(in, portP) != nil {
				return fmt.Errorf("persistent instance still listed %v after deregister", pushTimeout)
			}
			return nil
		})
	})

	step("naming.get-all-services-info", func() error {
		list, err := naming1.GetAllServicesInfo(vo.GetAllServiceInfoParam{
			NameSpace: namespace, GroupName: group, PageNo: 1, PageSize: 100,
		})
		if err != nil {
			return fmt.Errorf("GetAllServicesInfo: %v", err)
		}
		for _, d := range list.Doms {
			if d == service {
				if list.Count < 1 {
					return fmt.Errorf("GetAllServicesInfo: count %d with doms %v", list.Count, list.Doms)
				}
				return nil
			}
		}
		return fmt.Errorf("GetAllServicesInfo: %q not in %+v", service, list)
	})

	step("naming.unsubscribe", func() error {
		if err := naming1.Unsubscribe(subParam); err != nil {
			return fmt.Errorf("Unsubscribe: %v", err)
		}
		sub.drain()
		// After Unsubscribe the callback must stay silent. (The SDK also
		// drops its cached view of the service on Unsubscribe, and any later
		// query subscribes again, so whether the server really stopped
		// pushing is not observable through the SDK's API.)
		ok, err := naming2.RegisterInstance(inst(port2, true, nil))
		if err != nil || !ok {
			return fmt.Errorf("RegisterInstance (client 2) after Unsubscribe: ok=%v err=%v", ok, err)
		}
		select {
		case in := <-sub.ch:
			return fmt.Errorf("callback called after Unsubscribe with ports %v", ports(in))
		case <-time.After(2 * time.Second):
		}
		return nil
	})

	// ------------------------------------------------------------ 3. config
	getIs := func(c config_client.IConfigClient, dataID, want string) error {
		return until(pushTimeout, 300*time.Millisecond, func() error {
			got, err := c.GetConfig(vo.ConfigParam{DataId: dataID, Group: configGroup})
			if err != nil {
				return fmt.Errorf("GetConfig: %v", err)
			}
			if got != want {
				return fmt.Errorf("GetConfig: %q, want %q", got, want)
			}
			return nil
		})
	}
	publish := func(c config_client.IConfigClient, dataID, content, casMd5 string) (bool, error) {
		return c.PublishConfig(vo.ConfigParam{
			DataId: dataID, Group: configGroup, Content: content, Type: "properties", CasMd5: casMd5,
		})
	}
	v1 := "feature.test=v1\nid=" + id
	v2 := "feature.test=v2\nid=" + id
	v3 := "feature.test=v3-cas\nid=" + id
	v4 := "feature.test=v4-bad-cas\nid=" + id

	step("config.publish", func() error {
		ok, err := publish(config1, dataID, v1, "")
		if err != nil || !ok {
			return fmt.Errorf("PublishConfig: ok=%v err=%v", ok, err)
		}
		return nil
	})

	step("config.get", func() error { return getIs(config1, dataID, v1) })

	changes := make(chan string, 64)
	step("config.listen", func() error {
		err := config1.ListenConfig(vo.ConfigParam{
			DataId: dataID, Group: configGroup,
			OnChange: func(ns, g, d, data string) {
				info("config change: namespace=%q group=%q dataId=%q content=%q", ns, g, d, data)
				select {
				case changes <- data:
				default:
				}
			},
		})
		if err != nil {
			return fmt.Errorf("ListenConfig: %v", err)
		}
		// The SDK registers listeners with the server from a loop that runs
		// every 5 s; wait one round so the change below arrives by server
		// push (ConfigChangeNotifyRequest), not by the first listen round.
		time.Sleep(6 * time.Second)
		ok, err := publish(config1, dataID, v2, "")
		if err != nil || !ok {
			return fmt.Errorf("PublishConfig (new content): ok=%v err=%v", ok, err)
		}
		start := time.Now()
		deadline := time.After(pushTimeout)
		var seen []string
		for {
			select {
			case data := <-changes:
				if data == v2 {
					info("config listener got the change after %v", time.Since(start).Round(time.Millisecond))
					return nil
				}
				seen = append(seen, data)
			case <-deadline:
				return fmt.Errorf("listener got no change to %q within %v (got %q)", v2, pushTimeout, seen)
			}
		}
	})

	step("config.publish-cas-right-md5", func() error {
		if err := getIs(config1, dataID, v2); err != nil {
			return err
		}
		ok, err := publish(config1, dataID, v3, md5Hex(v2))
		if err != nil || !ok {
			return fmt.Errorf("PublishConfig with CasMd5=md5(current): ok=%v err=%v", ok, err)
		}
		return getIs(config1, dataID, v3)
	})

	step("config.publish-cas-wrong-md5", func() error {
		ok, err := publish(config1, dataID, v4, md5Hex("not the current content"))
		if err == nil || ok {
			return fmt.Errorf("PublishConfig with a wrong CasMd5 succeeded: ok=%v err=%v", ok, err)
		}
		info("PublishConfig with wrong CasMd5 failed as expected: %v", err)
		time.Sleep(500 * time.Millisecond)
		return getIs(config1, dataID, v3)
	})

	step("config.search-accurate", func() error {
		page, err := config1.SearchConfig(vo.SearchConfigParam{
			Search: "accurate", DataId: dataID, Group: configGroup, PageNo: 1, PageSize: 10,
		})
		if err != nil {
			return fmt.Errorf("SearchConfig(accurate): %v", err)
		}
		for _, it := range page.PageItems {
			if it.DataId == dataID && it.Group == configGroup {
				if it.Content != v3 {
					return fmt.Errorf("SearchConfig(accurate): content %q, want %q", it.Content, v3)
				}
				if it.Tenant != namespace {
					return fmt.Errorf("SearchConfig(accurate): tenant %q, want %q", it.Tenant, namespace)
				}
				return nil
			}
		}
		return fmt.Errorf("SearchConfig(accurate): %s not found in %+v", dataID, page)
	})

	step("config.search-blur", func() error {
		page, err := config1.SearchConfig(vo.SearchConfigParam{
			Search: "blur", DataId: "go-feat-*" + id + "*", Group: configGroup, PageNo: 1, PageSize: 10,
		})
		if err != nil {
			return fmt.Errorf("SearchConfig(blur): %v", err)
		}
		for _, it := range page.PageItems {
			if it.DataId == dataID {
				return nil
			}
		}
		return fmt.Errorf("SearchConfig(blur): %s not found in %+v", dataID, page)
	})

	step("config.delete", func() error {
		if err := config1.CancelListenConfig(vo.ConfigParam{DataId: dataID, Group: configGroup}); err != nil {
			return fmt.Errorf("CancelListenConfig: %v", err)
		}
		ok, err := config1.DeleteConfig(vo.ConfigParam{DataId: dataID, Group: configGroup})
		if err != nil || !ok {
			return fmt.Errorf("DeleteConfig: ok=%v err=%v", ok, err)
		}
		return getIs(config1, dataID, "")
	})

	// ------------------------------------------------------------ 4. isolation
	step("namespace.isolation-config", func() error {
		content := "isolated=true\nid=" + id
		ok, err := publish(config1, isoDataID, content, "")
		if err != nil || !ok {
			return fmt.Errorf("PublishConfig in %s: ok=%v err=%v", namespace, ok, err)
		}
		if err := getIs(config1, isoDataID, content); err != nil {
			return fmt.Errorf("in %s: %v", namespace, err)
		}
		got, err := configPublic.GetConfig(vo.ConfigParam{DataId: isoDataID, Group: configGroup})
		if err != nil {
			return fmt.Errorf("GetConfig from public: %v", err)
		}
		if got != "" {
			return fmt.Errorf("config published in %s visible from public: %q", namespace, got)
		}
		page, err := configPublic.SearchConfig(vo.SearchConfigParam{
			Search: "accurate", DataId: isoDataID, Group: configGroup, PageNo: 1, PageSize: 10,
		})
		if err != nil {
			return fmt.Errorf("SearchConfig from public: %v", err)
		}
		for _, it := range page.PageItems {
			if it.DataId == isoDataID {
				return fmt.Errorf("config published in %s found by SearchConfig from public: %+v", namespace, it)
			}
		}
		if ok, err := config1.DeleteConfig(vo.ConfigParam{DataId: isoDataID, Group: configGroup}); err != nil || !ok {
			return fmt.Errorf("DeleteConfig (cleanup): ok=%v err=%v", ok, err)
		}
		return nil
	})

	step("namespace.isolation-naming", func() error {
		in, err := namingPublic.SelectAllInstances(vo.SelectAllInstancesParam{ServiceName: service, GroupName: group})
		if err != nil {
			return fmt.Errorf("SelectAllInstances from public: %v", err)
		}
		if len(in) != 0 {
			return fmt.Errorf("service registered in %s visible from public: ports %v", namespace, ports(in))
		}
		list, err := namingPublic.GetAllServicesInfo(vo.GetAllServiceInfoParam{GroupName: group, PageNo: 1, PageSize: 1000})
		if err != nil {
			return fmt.Errorf("GetAllServicesInfo from public: %v", err)
		}
		for _, d := range list.Doms {
			if d == service {
				return fmt.Errorf("service registered in %s listed in public: %v", namespace, list.Doms)
			}
		}
		return nil
	})

	// ------------------------------------------------------------ cleanup
	closeAll(
		func() {
			naming1.DeregisterInstance(vo.DeregisterInstanceParam{
				Ip: instanceIP, Port: port1, Cluster: "DEFAULT", ServiceName: service, GroupName: group, Ephemeral: true,
			})
		},
		naming1.CloseClient, naming2.CloseClient, namingPublic.CloseClient,
		config1.CloseClient, configPublic.CloseClient,
	)

	if failed {
		say("RESULT: FAIL")
		info("work dir kept: %s", workDir)
		os.Exit(1)
	}
	say("RESULT: PASS")
	if os.Getenv("NOCAS_KEEP_WORKDIR") != "" {
		info("work dir kept: %s", workDir)
		os.Exit(0)
	}
	if err := os.RemoveAll(workDir); err != nil && !errors.Is(err, os.ErrNotExist) {
		info("removing work dir: %v", err)
	}
	os.Exit(0)
}
